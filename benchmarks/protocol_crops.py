"""Before/after crops for docs/protocols.md: what each protocol does to an input, and what
a clean-input model and a denoiser make of it.

One row per protocol: the LR input the protocol makes (shown enlarged by nearest
neighbour, so its blocks and noise stay visible), the outputs of the models given, and
the ground truth. The picture is the gallery's cat crop (scikit-image's CC0
``data.chelsea()``), never an evaluation or training image.

    python benchmarks/protocol_crops.py -o docs/assets/protocols-x2.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from contact_sheet import contact_sheet, labelled_tile

from upscaler import Upscaler
from upscaler.catalog.protocols import PROTOCOLS
from upscaler.evaluate.degradations import degraded_lr
from upscaler.evaluate.metrics import psnr
from upscaler.evaluate.protocol import luminance, modcrop
from upscaler.gallery.crops import sample_crops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument(
        "--protocols", nargs="+", default=["bicubic", "jpeg-q50", "jpeg-q30", "real-world"]
    )
    parser.add_argument(
        "--models", nargs="+", default=["span.ch48-x2", "waifu2x-upconv7.photo-noise2-x2"]
    )
    args = parser.parse_args(argv)
    crop = next(c for c in sample_crops() if c.kind == "photo")
    hr = modcrop(crop.hr, args.scale)
    models = [Upscaler(model=m) for m in args.models]
    rows = []
    for name in args.protocols:
        lr, _ = degraded_lr(hr, args.scale, PROTOCOLS[name])
        tiles = [
            labelled_tile(np.repeat(np.repeat(lr, args.scale, 0), args.scale, 1), f"{name} input")
        ]
        for model in models:
            out = model.upscale(lr, progress=False)
            score = psnr(luminance(hr, gray=False), luminance(out, gray=False))
            tiles.append(labelled_tile(out, f"{model.model.variant} {score:.1f} dB"))
        tiles.append(labelled_tile(hr, "original"))
        rows.append(tiles)
    sheet = contact_sheet(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, optimize=True)
    print(f"wrote {args.output} ({crop.source}); PSNR-Y of the whole crop, no shave")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
