"""Draw examples/sample.png: a small synthetic test card for the README's first command.

Generated rather than copied so the repository ships no third-party image. It mixes the
things upscalers are judged on: smooth gradients, hard diagonal edges, fine stripes and
round shapes. Run `python examples/make_sample.py` to redraw it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 96


def draw() -> Image.Image:
    """The test card, deterministic (no randomness)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1)
    rgb = np.stack([x, y, 1.0 - 0.5 * (x + y)], axis=-1)
    image = Image.fromarray((rgb * 255).round().astype(np.uint8), "RGB")
    pen = ImageDraw.Draw(image)
    for i in range(0, SIZE // 2, 4):  # fine vertical stripes, top left
        pen.line([(i, 4), (i, 40)], fill=(20, 20, 20), width=1)
    pen.ellipse([52, 8, 88, 44], outline=(250, 250, 250), width=3, fill=(200, 40, 60))
    pen.polygon([(8, 88), (44, 52), (44, 88)], fill=(30, 120, 40))
    pen.line([(52, 88), (88, 52)], fill=(10, 10, 80), width=2)
    pen.rectangle([60, 60, 76, 76], outline=(255, 255, 0), width=1)
    return image


if __name__ == "__main__":
    target = Path(__file__).with_name("sample.png")
    draw().save(target, optimize=True)
    print(f"wrote {target}")
