"""Apply the resolver's planned adapters around the RGB model(s).

The models consume RGB only; this is where gray and alpha images, chains of models and
a final resize are handled, so every adaptation lives in one place and is reported by
``describe()``. The tiled runner replaces the per-model call later; the adapters stay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

RgbStep = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]

# ITU-R BT.601 luma weights, the ones PIL's convert("L") uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _resize(
    pixels: npt.NDArray[np.uint8], size: tuple[int, int], *, sharp: bool
) -> npt.NDArray[np.uint8]:
    """Resize HxWxC uint8 to (width, height): Lanczos for colour, bicubic for alpha."""
    from PIL import Image

    resample = Image.Resampling.LANCZOS if sharp else Image.Resampling.BICUBIC
    planes = [
        np.asarray(Image.fromarray(pixels[:, :, c], "L").resize(size, resample), dtype=np.uint8)
        for c in range(pixels.shape[2])
    ]
    return np.stack(planes, axis=-1)


def run_rgb_chain(steps: Sequence[RgbStep], rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Run one model or a chain of models on RGB pixels."""
    for step in steps:
        rgb = step(rgb)
    return rgb


def upscale_pixels(
    steps: Sequence[RgbStep],
    pixels: npt.NDArray[np.uint8],
    *,
    model_scale: int,
    outscale: float,
) -> npt.NDArray[np.uint8]:
    """Upscale HxWxC uint8 (C in 1, 3, 4) by ``outscale`` with ``steps`` of total ``model_scale``.

    Gray is replicated to RGB and folded back with BT.601 luma; alpha is resized
    bicubically to the colour result (tiles and fringe handling come with the tiled runner).
    """
    height, width, channels = pixels.shape
    rgb = pixels[:, :, :3] if channels >= 3 else np.repeat(pixels, 3, axis=2)
    out = run_rgb_chain(steps, np.ascontiguousarray(rgb))
    if channels == 1:
        luma = out.astype(np.float32) @ _LUMA
        out = np.rint(np.clip(luma, 0, 255)).astype(np.uint8)[:, :, np.newaxis]
    elif channels == 4:
        alpha = _resize(pixels[:, :, 3:], (out.shape[1], out.shape[0]), sharp=False)
        out = np.concatenate([out, alpha], axis=2)
    target = (round(width * outscale), round(height * outscale))
    if abs(outscale - model_scale) > 1e-9 and target != (out.shape[1], out.shape[0]):
        out = _resize(out, target, sharp=True)
    return out
