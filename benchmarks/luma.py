"""A native 1-channel (Y) model against RGB models on the same grayscale photo.

A gray image through an RGB model is replicated to three channels and folded back, so
the network reads and writes three times what a luma model does. This section runs the
luma model natively and each RGB model the usual way on the same gray photo, interleaved
round by round so machine load hits all alike, through the public ``Upscaler`` (what a
user gets), and prints time and the PSNR of each result against the photo it was
downscaled from. Nothing asserts; it prints a table.

    python benchmarks/run.py --sections luma --luma-models Y_MODEL RGB_MODEL [RGB_MODEL ...]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

# BSD100's first photo (a manifest-listed evaluation image), made gray; a photo, so the
# PSNR column means something, and never a training image.
DEFAULT_SET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "BSD100"


def gray_photo(folder: Path | None, scale: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(HR gray, LR gray made by MATLAB bicubic, where it came from)."""
    from PIL import Image

    from upscaler.evaluate.protocol import make_lr, modcrop

    source = folder if folder is not None else DEFAULT_SET
    images = sorted(p for p in (source / "HR").glob("*.png")) if source.is_dir() else []
    if images:
        hr = np.asarray(Image.open(images[0]).convert("L"))
        where = f"{source.name}/{images[0].name}, gray"
    else:
        hr = np.asarray(Image.fromarray(common.sample_image(320, 480)).convert("L"))
        where = "synthetic 480x320 (no evaluation set found)"
    hr = modcrop(hr, scale)
    lr = make_lr(np.repeat(hr[:, :, np.newaxis], 3, axis=2), scale)[:, :, 0]
    return hr, np.ascontiguousarray(lr), where


def psnr_gray(reference: np.ndarray, test: np.ndarray, shave: int) -> float:
    """PSNR of two gray images with ``shave`` border pixels cropped (the eval protocol's)."""
    a = reference[shave:-shave, shave:-shave].astype(np.float64)
    b = test[shave:-shave, shave:-shave].astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def section_luma(models: list[str], repeats: int, folder: Path | None = None) -> str:
    """Time and quality of each model on one gray photo; the first should be a Y model."""
    from upscaler import Upscaler

    upscalers: list[Any] = [Upscaler(model=m) for m in models]
    scales = {u.scale for u in upscalers}
    if len(scales) != 1:
        raise SystemExit(f"luma: the models must share a scale, got {sorted(scales)}")
    scale = scales.pop()
    hr, lr, where = gray_photo(folder, scale)
    for up in upscalers:  # load, convert and trace once, outside the timing
        up.upscale(lr, progress=False)
    best = [math.inf] * len(upscalers)
    outputs: list[np.ndarray] = [np.empty(0)] * len(upscalers)
    for _ in range(repeats):
        for i, up in enumerate(upscalers):
            seconds, _ = common.best_of(lambda up=up: up.upscale(lr, progress=False), 1, 0)
            best[i] = min(best[i], seconds)
        for i, up in enumerate(upscalers):
            outputs[i] = up.upscale(lr, progress=False)
    megapixels = hr.shape[0] * hr.shape[1] / 1e6
    rows = []
    for up, seconds, out in zip(upscalers, best, outputs, strict=True):
        path = "native Y" if up.model.channels == 1 else "gray → RGB → gray"
        rows.append(
            [
                up.model.id,
                up.model.channels,
                path,
                f"{seconds * 1000:.0f}",
                f"{seconds * 1000 / megapixels:,.0f}",
                f"{psnr_gray(hr, out, scale):.2f}",
                f"{best[0] / seconds:.2f}×" if seconds else "",
            ]
        )
    header = (
        f"### Native luma vs RGB models on one gray photo ({where}; {lr.shape[1]}x"
        f"{lr.shape[0]} in, x{scale}; best of {repeats} interleaved rounds)\n\n"
    )
    return header + common.table(
        ["model", "channels", "path", "ms", "ms/MP out", "PSNR (dB)", "× as fast as the first"],
        rows,
    )
