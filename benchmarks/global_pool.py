"""Tiling models that pool globally: tiled output against one whole-image call.

waifu2x cunet and Real-CUGAN scale their channels by means over the whole feature map
(squeeze-and-excitation), so a tile run alone differs from the whole image however much
context it has. For each model this runs one image:

- ``whole``: the whole image in one call (the reference; needs the memory of it),
- ``tiles (default)``: the runner's defaults (statistics from one call when it fits the
  statistics budget, else summed over the tiles, one pooling layer at a time),
- ``whole-image statistics``: statistics from one call on the whole image, forced by a
  statistics budget that fits it,
- ``downscaled statistics``: statistics from an area downscale that fits the default
  budget (``pool_stats="downscale"``),
- ``naive``: every tile pools over itself,

and prints, per run, what describe() said, the tiles, max / mean / 99.9th-percentile
absolute difference from ``whole`` in grey levels, and the wall time (one run each: the
differences are the point, and each run takes minutes on a small CPU).

The image is a BSD100 photo (``$UPSCALER_DATASETS``, else ``../shared/datasets`` beside
the repository) cropped to 4:3 and bicubic-upscaled to ``--size``, or a synthetic one
(``--synthetic``). Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

MODELS = ["waifu2x-cunet.x2", "realcugan.se-x2"]
PHOTO = "img_050_SRF_3_HR.png"
WHOLE_HEADROOM = 1.5
"""The whole-image run is skipped unless free memory is this many times its estimate."""


def photo(width: int, height: int) -> np.ndarray:
    """The BSD100 photo, centre-cropped to ``width:height`` and upscaled to that size."""
    from PIL import Image

    root = Path(os.environ.get("UPSCALER_DATASETS") or common.REPO / ".." / "shared" / "datasets")
    with Image.open(root / "BSD100" / "HR" / PHOTO) as image:
        rgb = image.convert("RGB")
    w, h = rgb.size
    crop_w, crop_h = (
        (w, round(w * height / width))
        if w * height <= h * width
        else (
            round(h * width / height),
            h,
        )
    )
    box = ((w - crop_w) // 2, (h - crop_h) // 2, (w + crop_w) // 2, (h + crop_h) // 2)
    return np.asarray(rgb.crop(box).resize((width, height), Image.Resampling.BICUBIC))


def free_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run(
    model: Any, entry: Any, pixels: np.ndarray, **options: Any
) -> tuple[np.ndarray, Any, float]:
    """One upscale with a fresh runner: (output, describe(), seconds)."""
    runner = common.runner_for(entry, model, **options)
    _ = runner.bytes_per_pixel  # the one-off memory probe is not part of the time
    start = time.perf_counter()
    out = runner.run(pixels, progress=False)
    seconds = time.perf_counter() - start
    return out, runner.describe(pixels.shape), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--size", default="2000x1500", help="WIDTHxHEIGHT")
    parser.add_argument("--synthetic", action="store_true", help="a synthetic image")
    args = parser.parse_args()
    from upscaler.runtime.savedmodel import require_tensorflow

    require_tensorflow()  # before anything imports TensorFlow: the memory probe needs BFC
    width, height = (int(v) for v in args.size.lower().split("x"))
    pixels = common.sample_image(height, width) if args.synthetic else photo(width, height)
    print(f"# Global-pool tiling, {width}x{height} input, {common.today()}")
    print(f"machine: {common.machine()}; load average {common.load_average()}")
    print(f"command: {common.command_line()}\n")
    for model_id in args.models:
        entry, model = common.load_model(model_id)
        probe = run(model, entry, pixels[:64, :64])[1]
        per_pixel = float(probe["bytes_per_pixel"] or 0)
        area = (height + 2 * probe["border_pad"]) * (width + 2 * probe["border_pad"])
        estimate = per_pixel * area
        print(
            f"## {model_id}: {per_pixel:,.0f} B/px probed, whole image ~{estimate / 2**30:.1f} GiB"
        )
        available = free_memory()
        whole: np.ndarray | None = None
        rows = []
        if available is None or available > WHOLE_HEADROOM * estimate:
            whole, info, seconds = run(model, entry, pixels, tile=1 << 20)
            rows.append(
                [
                    "whole (one call)",
                    info["global_pool"],
                    info["tiles"],
                    "-",
                    "-",
                    "-",
                    f"{seconds:.0f}",
                ]
            )
        else:
            print(f"(whole-image run skipped: {available / 2**30:.1f} GiB free)")
        cases: list[tuple[str, dict[str, Any]]] = [
            ("tiles (default)", {}),
            ("whole-image statistics", {"stats_budget": math.ceil(estimate * 1.1) + (64 << 20)}),
            ("downscaled statistics", {"pool_stats": "downscale"}),
            ("naive per-tile pooling", {"global_pool": False}),
        ]
        for name, options in cases:
            out, info, seconds = run(model, entry, pixels, **options)
            if whole is None:
                whole = out  # the first tiled run is the reference then
            delta = np.abs(out.astype(np.int16) - whole.astype(np.int16))
            rows.append(
                [
                    name,
                    info["global_pool"],
                    info["tiles"],
                    int(delta.max()),
                    f"{delta.mean():.4f}",
                    f"{np.percentile(delta, 99.9):.0f}",
                    f"{seconds:.0f}",
                ]
            )
        headers = ["run", "describe(): global pool", "tiles", "max", "mean", "99.9th pct", "s"]
        print(common.table(headers, rows))
        print()


if __name__ == "__main__":
    main()
