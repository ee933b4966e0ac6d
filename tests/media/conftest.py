"""Fixtures shared by the media tests (animations and video).

The model is the real tiny nearest-x2 TF.js model of ``tests/tiny_models.py``, run by a
real :class:`upscaler.Upscaler` through the tiled runner, so every expected frame is
known exactly (``nearest_x2``). The catalog and its cache are built once per session:
the TF.js → SavedModel conversion is the slow part and every test reuses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from tiny_models import write_tiny_catalog

from upscaler.media.frames import FrameUpscaler


@pytest.fixture(scope="session")
def tiny_upscaler(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A strict ``Upscaler`` on the tiny nearest-x2 model (RGB; RGBA frames go through
    its alpha adapter, which is exact for nearest neighbour too)."""
    pytest.importorskip("tensorflow")
    from upscaler import Upscaler
    from upscaler.catalog import load_catalog

    base = tmp_path_factory.mktemp("media-tiny")
    root = write_tiny_catalog(base)
    return Upscaler(model="tiny.x2", catalog=load_catalog(root), cache_dir=base / "cache")


@pytest.fixture(scope="session")
def frame_upscaler(tiny_upscaler: Any) -> FrameUpscaler:
    """The :data:`~upscaler.media.frames.FrameUpscaler` the facade would build: one
    HxWxC frame in, the 2H x 2W x C frame of the same dtype out."""

    def upscale(frame: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = tiny_upscaler.upscale(frame, progress=False)
        return np.asarray(out)

    return upscale
