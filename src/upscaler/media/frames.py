"""The one contract between the media layer and the model runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy.typing as npt

FrameUpscaler = Callable[[npt.NDArray[Any]], npt.NDArray[Any]]
"""One frame upscaled: an HxWxC array (C 3 or 4; uint8, or uint16 for 10/16-bit video)
in, the (sH)x(sW)xC array of the same dtype out. Built by the facade around its tiled
runner; the media code calls it once per frame and never sees a model. It may raise
:class:`~upscaler.errors.Cancelled`, which the caller must let through after cleaning up."""

ProgressCallback = Callable[[int, int], None]
"""``(frames done, frames in all)``; the total may be an estimate (a container's
declared frame count) until the last frame is known."""
