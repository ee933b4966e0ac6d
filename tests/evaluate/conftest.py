"""Fixtures for the evaluation tests: where the standard sets are, tiny generated sets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import Ran
from PIL import Image

from upscaler.cli.main import main


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """A 3-image set in the standard layout: two RGB images and one gray (like bridge)."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "Tiny"
    (folder / "HR").mkdir(parents=True)
    y, x = np.mgrid[0:50, 0:46]
    smooth = np.stack([2 * x + y, 3 * y + 20, 200 - x - y], axis=-1).clip(0, 255)
    Image.fromarray(smooth.astype(np.uint8), "RGB").save(folder / "HR" / "a.png")
    noisy = rng.integers(0, 256, size=(40, 52, 3), dtype=np.uint8)
    Image.fromarray(noisy, "RGB").save(folder / "HR" / "b.png")
    gray = (4 * x[:40, :40] + 2 * y[:40, :40]).clip(0, 255).astype(np.uint8)
    Image.fromarray(gray, "L").save(folder / "HR" / "c.png")
    return folder


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., Ran]]:
    """Run the real `upscaler` entry point in-process; restore its logger afterwards."""
    logger = logging.getLogger("upscaler")
    handlers, level = list(logger.handlers), logger.level

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    yield run
    logger.handlers[:] = handlers
    logger.setLevel(level)
