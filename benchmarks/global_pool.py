"""Tiling models that pool globally: tiled output against a whole-image run.

waifu2x cunet and Real-CUGAN scale their channels by means over the whole feature map
(squeeze-and-excitation), so a tile run alone differs from the whole image however much
context it has. For each model and image this runs:

- ``whole``: the whole image in one call (the reference),
- ``whole-image statistics``: tiles with statistics from one call on the whole image
  (forced by a statistics budget that fits it),
- ``summed statistics``: tiles with statistics summed over the tiles, one pooling layer
  at a time (``pool_stats="tiles"``; the default for images too large for one call),
- ``downscaled statistics``: statistics from an area downscale that fits the default
  statistics budget, forced (``pool_stats="downscale"``),
- ``naive``: every tile pools over itself,

and prints, per run, what describe() said, the tiles, max / mean / 99.9th-percentile
absolute difference from the reference in grey levels, and the wall time (one run each:
the differences are the point, and each run takes minutes on a small CPU).

One call on a large image needs more memory than tiles ever do: on a 2000x1500 image
TensorFlow's CPU convolution asks for 27.7 GB at once for one layer of waifu2x cunet x2
(and the ncnn runtime peaks near 17 GB). So the two one-call runs are made on
``--whole-size`` (default 1000x750), and on ``--size`` (default 2000x1500) only with
``--whole-at-size``; without it the reference there is the summed statistics, which the
smaller image (and the test suite) shows equal to a whole-image run.

The image is a BSD100 photo (``$UPSCALER_DATASETS``, else ``../shared/datasets`` beside
the repository) cropped to 4:3 and bicubic-upscaled, or a synthetic one (``--synthetic``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

MODELS = ["waifu2x-cunet.x2", "realcugan.se-x2"]
PHOTO = "img_050_SRF_3_HR.png"
UNBOUNDED = 1 << 50
"""A statistics budget every image fits: one call on the whole image."""


def photo(width: int, height: int) -> np.ndarray:
    """The BSD100 photo, centre-cropped to ``width:height`` and upscaled to that size."""
    from PIL import Image

    root = Path(os.environ.get("UPSCALER_DATASETS") or common.REPO / ".." / "shared" / "datasets")
    with Image.open(root / "BSD100" / "HR" / PHOTO) as opened:
        rgb = opened.convert("RGB")
    w, h = rgb.size
    if w * height <= h * width:
        crop_w, crop_h = w, round(w * height / width)
    else:
        crop_w, crop_h = round(h * width / height), h
    box = ((w - crop_w) // 2, (h - crop_h) // 2, (w + crop_w) // 2, (h + crop_h) // 2)
    return np.asarray(rgb.crop(box).resize((width, height), Image.Resampling.BICUBIC))


def run(
    entry: Any, model: Any, pixels: np.ndarray, **options: Any
) -> tuple[np.ndarray, Any, float]:
    """One upscale with a fresh runner: (output, describe(), seconds)."""
    runner = common.runner_for(entry, model, **options)
    _ = runner.bytes_per_pixel  # the one-off memory probe is not part of the time
    start = time.perf_counter()
    out = runner.run(pixels, progress=False)
    seconds = time.perf_counter() - start
    return out, runner.describe(pixels.shape), seconds


def section(entry: Any, model: Any, pixels: np.ndarray, *, whole: bool) -> str:
    """The markdown table of one model on one image."""
    cases: list[tuple[str, dict[str, Any]]] = []
    if whole:
        cases += [
            ("whole image, one call", {"tile": 1 << 20}),
            ("whole-image statistics", {"stats_budget": UNBOUNDED}),
        ]
    cases += [
        ("summed statistics", {"pool_stats": "tiles"}),
        ("downscaled statistics", {"pool_stats": "downscale"}),
        ("naive per-tile pooling", {"global_pool": False}),
    ]
    rows: list[list[object]] = []
    reference: np.ndarray | None = None
    for name, options in cases:
        out, info, seconds = run(entry, model, pixels, **options)
        if reference is None:
            reference, delta = out, ["-", "-", "-"]
        else:
            diff = np.abs(out.astype(np.int16) - reference.astype(np.int16))
            delta = [int(diff.max()), f"{diff.mean():.4f}", f"{np.percentile(diff, 99.9):.0f}"]
        rows.append([name, info["global_pool"], info["tiles"], *delta, f"{seconds:.0f}"])
    headers = ["run", "describe(): global pool", "tiles", "max", "mean", "99.9th pct", "s"]
    return common.table(headers, rows)


def size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--size", type=size, default=(2000, 1500), help="WIDTHxHEIGHT")
    parser.add_argument("--whole-size", type=size, default=(1000, 750), help="WIDTHxHEIGHT")
    parser.add_argument("--whole-at-size", action="store_true", help="one call at --size too")
    parser.add_argument("--synthetic", action="store_true", help="a synthetic image")
    args = parser.parse_args()
    from upscaler.runtime.savedmodel import require_tensorflow

    require_tensorflow()  # before anything imports TensorFlow: the memory probe needs BFC
    print(f"# Global-pool tiling, {common.today()}")
    print(f"machine: {common.machine()}; load average {common.load_average()}")
    print(f"command: {common.command_line()}\n")
    images = [(args.whole_size, True), (args.size, args.whole_at_size)]
    for model_id in args.models:
        entry, model = common.load_model(model_id)
        for (width, height), whole in images:
            pixels = common.sample_image(height, width) if args.synthetic else photo(width, height)
            reference = "one whole-image call" if whole else "summed statistics"
            print(f"## {model_id}, {width}x{height} (reference: {reference})\n")
            print(section(entry, model, pixels, whole=whole))
            print(flush=True)


if __name__ == "__main__":
    main()
