"""Apply the resolver's planned adapters around the model(s).

Models consume RGB (3 channels), luma (1 channel, Y) or RGBA (4 channels); this is where
gray and alpha images, colour images for luma models, images of any kind for RGBA models,
chains of models and a final resize are handled, so every adaptation lives in one place
and is reported by ``describe()``. A *step* maps HxWxC pixels (C the model's channels;
uint8, uint16 or float32 in [0, 1]) to the upscaled HxWxC pixels of the same dtype; the
tiled runner provides them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.arguments import AlphaMode, output_size
from upscaler.runtime.image_io import white_of

Pixels = npt.NDArray[Any]
RgbStep = Callable[[Pixels], Pixels]

# ITU-R BT.601 luma weights (PIL's convert("L") uses the same).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
# Full-range BT.601 YCbCr (JPEG, PIL's "YCbCr" mode): the Y the 1-channel models in the
# catalog were trained on. Rows give Cb and Cr from RGB; both are centred on zero here.
_CHROMA = np.array([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float64)
# Inverse: R = Y + 1.402 Cr, G = Y - 0.344136 Cb - 0.714136 Cr, B = Y + 1.772 Cb.
_FROM_CHROMA = np.array([[0.0, 1.402], [-0.344136, -0.714136], [1.772, 0.0]], dtype=np.float64)
_BLEED_LEVELS = 12


@dataclass
class PipelineReport:
    """What the pipeline did to this image, for describe()."""

    adapters: list[str] = field(default_factory=list)


def resize(pixels: Pixels, size: tuple[int, int], *, sharp: bool = True) -> Pixels:
    """Resize HxWxC pixels of any supported dtype to (width, height) in float precision.

    Lanczos for colour (sharp), bicubic for alpha; done per channel in PIL's float mode so
    16-bit and float inputs keep their precision.
    """
    from PIL import Image

    resample = Image.Resampling.LANCZOS if sharp else Image.Resampling.BICUBIC
    white = white_of(pixels.dtype)
    planes = [
        np.asarray(
            Image.fromarray(pixels[:, :, c].astype(np.float32), "F").resize(size, resample),
            dtype=np.float32,
        )
        for c in range(pixels.shape[2])
    ]
    out = np.clip(np.stack(planes, axis=-1), 0.0, white)
    if np.issubdtype(pixels.dtype, np.integer):
        return np.rint(out).astype(pixels.dtype)
    return out.astype(pixels.dtype)


def _box_sum(values: npt.NDArray[np.float32], radius: int) -> npt.NDArray[np.float32]:
    """Sum over a (2r+1)² window with edge clamping, by cumulative sums (O(pixels))."""
    padded = np.pad(values, ((radius + 1, radius), (radius + 1, radius), (0, 0)), mode="edge")
    padded[0, :, :] = 0
    padded[:, 0, :] = 0
    table = padded.cumsum(0).cumsum(1)
    k = 2 * radius + 1
    window: npt.NDArray[np.float32] = (
        table[k:, k:] - table[:-k, k:] - table[k:, :-k] + table[:-k, :-k]
    )
    return window


def bleed_colour(rgb: Pixels, alpha: Pixels) -> Pixels:
    """Give fully transparent pixels the colour of their nearest visible neighbours.

    Transparent pixels often hold black; a model that sees it smears dark fringes into
    the visible edge. Normalised convolution (alpha-weighted colour average over growing
    windows) fills them with nearby visible colour; visible pixels are untouched.
    """
    hidden = alpha[:, :, 0] == 0
    if not hidden.any() or hidden.all():
        return rgb
    weight = (~hidden).astype(np.float32)[:, :, np.newaxis]
    colour = rgb.astype(np.float32) * weight
    filled = rgb.astype(np.float32)
    todo = hidden.copy()
    radius = 1
    for _ in range(_BLEED_LEVELS):
        total = _box_sum(weight, radius)
        mean = _box_sum(colour, radius) / np.maximum(total, 1e-6)
        reach = todo & (total[:, :, 0] > 0)
        filled[reach] = mean[reach]
        todo &= ~reach
        if not todo.any():
            break
        radius *= 2
    if np.issubdtype(rgb.dtype, np.integer):
        return np.rint(filled).astype(rgb.dtype)
    return filled.astype(rgb.dtype)


def run_rgb_chain(steps: Sequence[RgbStep], rgb: Pixels) -> Pixels:
    """Run one model or a chain of models on pixels with the models' channel count."""
    for step in steps:
        rgb = step(rgb)
    return rgb


def _to_unit(pixels: Pixels) -> npt.NDArray[np.float32]:
    return pixels.astype(np.float32) / np.float32(white_of(pixels.dtype))


def _from_unit(unit: npt.NDArray[Any], dtype: np.dtype[Any]) -> Pixels:
    white = white_of(dtype)
    clipped = np.clip(unit, 0.0, 1.0) * white
    result: Pixels = (
        np.rint(clipped).astype(dtype)
        if np.issubdtype(dtype, np.integer)
        else clipped.astype(dtype)
    )
    return result


def run_luma_model(steps: Sequence[RgbStep], rgb: Pixels) -> Pixels:
    """A colour image through a luma (Y) model: Y through the model, chroma resized.

    The 1-channel models were trained on the Y of full-range BT.601 YCbCr, so the image is
    split the same way; Cb and Cr carry little detail the eye can resolve (JPEG halves
    them), so a bicubic resize to the model's output size costs little. Y stays float
    between the two, so no rounding happens before the colours are put back.
    """
    unit = _to_unit(rgb).astype(np.float64)
    luma = (unit @ _LUMA).astype(np.float32)[:, :, np.newaxis]
    chroma = (unit @ _CHROMA.T).astype(np.float32)
    y_out = run_rgb_chain(steps, np.ascontiguousarray(luma)).astype(np.float64)
    size = (y_out.shape[1], y_out.shape[0])
    # Centred chroma is in [-0.5, 0.5]; shift it into [0, 1] for the float resize.
    chroma_out = resize(np.clip(chroma + np.float32(0.5), 0.0, 1.0), size, sharp=False)
    chroma_out = chroma_out.astype(np.float64) - 0.5
    colour = y_out + chroma_out @ _FROM_CHROMA.T
    return _from_unit(colour, rgb.dtype)


def _split(pixels: Pixels) -> tuple[Pixels, Pixels | None]:
    """(colour, alpha or None) of HxWxC pixels: C = 2 and 4 carry alpha last."""
    channels = pixels.shape[2]
    if channels in (2, 4):
        return pixels[:, :, : channels - 1], pixels[:, :, channels - 1 :]
    return pixels, None


def _to_gray(rgb: Pixels) -> Pixels:
    """HxWx3 → HxWx1 with BT.601 luma weights, in the pixels' dtype (what a gray image
    replicated to RGB comes back as)."""
    luma = rgb.astype(np.float64) @ _LUMA
    if np.issubdtype(rgb.dtype, np.integer):
        out: Pixels = np.rint(np.clip(luma, 0, white_of(rgb.dtype))).astype(rgb.dtype)
    else:
        out = np.clip(luma, 0.0, 1.0).astype(rgb.dtype)
    return out[:, :, np.newaxis]


def _bled(colour: Pixels, alpha_plane: Pixels, notes: list[str]) -> Pixels:
    """``colour`` with the colour under fully transparent pixels bled from visible ones
    (noted only when some pixels are transparent and some visible: else nothing changes)."""
    hidden = alpha_plane == 0
    if not hidden.any() or hidden.all():
        return colour
    notes.append("alpha: colour under transparent pixels bled from visible neighbours")
    return bleed_colour(colour, alpha_plane)


def _opaque(alpha_plane: Pixels | None) -> bool:
    return alpha_plane is not None and bool(np.all(alpha_plane == white_of(alpha_plane.dtype)))


def _opaque_plane(height: int, width: int, dtype: np.dtype[Any]) -> Pixels:
    return np.full((height, width, 1), white_of(dtype), dtype=dtype)


def upscale_pixels(
    steps: Sequence[RgbStep],
    pixels: Pixels,
    *,
    model_scale: int,
    outscale: float,
    alpha: AlphaMode = "model",
    report: PipelineReport | None = None,
    model_channels: int = 3,
) -> Pixels:
    """Upscale HxWxC pixels (C in 1..4) by ``outscale`` with ``steps`` of total ``model_scale``.

    For RGB models (``model_channels=3``) gray (C = 1, 2) goes gray → RGB → model → BT.601
    luma. For luma models (``model_channels=1``) gray goes through natively (Y in, Y out)
    and colour through :func:`run_luma_model`. Alpha (C = 2, 4) is upscaled by the model
    on the alpha plane (replicated to RGB for an RGB model; ``alpha="model"``) or
    bicubically, and the colour under transparent pixels is bled from visible neighbours
    first. Opaque alpha costs nothing: it is recreated, not upscaled. RGBA models
    (``model_channels=4``) take every kind through :func:`run_rgba_model`.
    """
    if model_channels not in (1, 3, 4):
        raise ValueError(f"models with {model_channels} channels are not supported here")
    notes = report.adapters if report is not None else []
    height, width = pixels.shape[:2]
    if model_channels == 4:
        out = run_rgba_model(steps, pixels, alpha=alpha, notes=notes)
    else:
        out = _run_colour_model(steps, pixels, alpha=alpha, notes=notes, luma=model_channels == 1)
    target = output_size(width, height, outscale)
    if target != (out.shape[1], out.shape[0]):
        out = resize(out, target, sharp=True)
        notes.append(f"resize: x{model_scale} model output resized to x{outscale:g} (Lanczos)")
    return out


def _run_colour_model(
    steps: Sequence[RgbStep], pixels: Pixels, *, alpha: AlphaMode, notes: list[str], luma: bool
) -> Pixels:
    """Any image through an RGB (``luma=False``) or a luma model, at the model's scale."""
    channels = pixels.shape[2]
    colour, alpha_plane = _split(pixels)
    if colour.shape[2] == 1 and luma:
        notes.append("gray: native 1-channel model (Y in, Y out)")
    elif colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
        notes.append("gray: replicated to RGB, model, back to gray (BT.601 luma)")
    elif luma:
        notes.append("luma: model on Y (full-range BT.601 YCbCr), Cb and Cr resized bicubically")
    opaque = _opaque(alpha_plane)
    if alpha_plane is not None and not opaque:
        colour = _bled(colour, alpha_plane, notes)
    colour = np.ascontiguousarray(colour)
    if luma and colour.shape[2] == 3:
        out = run_luma_model(steps, colour)
    else:
        out = run_rgb_chain(steps, colour)
    if channels in (1, 2) and not luma:
        out = _to_gray(out)
    if alpha_plane is None:
        return out
    plane = alpha_plane

    def model_alpha() -> Pixels:
        replicated = np.ascontiguousarray(np.repeat(plane, 1 if luma else 3, axis=2))
        upscaled: Pixels = run_rgb_chain(steps, replicated).mean(axis=2, keepdims=True)
        if np.issubdtype(pixels.dtype, np.integer):
            upscaled = np.rint(upscaled)
        return upscaled.astype(pixels.dtype)

    return _attach_alpha(
        out,
        plane,
        opaque=opaque,
        alpha=alpha,
        model_alpha=model_alpha,
        notes=notes,
        says=(
            "alpha: fully opaque, recreated",
            "alpha: upscaled by the model on replicated alpha",
            "alpha: upscaled bicubically",
        ),
    )


def _attach_alpha(
    out: Pixels,
    alpha_plane: Pixels,
    *,
    opaque: bool,
    alpha: AlphaMode,
    model_alpha: Callable[[], Pixels],
    notes: list[str],
    says: tuple[str, str, str],
) -> Pixels:
    """The output with its alpha: opaque recreated exactly (a model may drift off 255),
    the model's when asked (computed only then), else a bicubic upscale of the input's.
    ``says`` is the note for each of the three, in that order."""
    height, width = out.shape[:2]
    if opaque:
        upscaled, note = _opaque_plane(height, width, alpha_plane.dtype), says[0]
    elif alpha == "model":
        upscaled, note = model_alpha(), says[1]
    else:
        upscaled, note = resize(alpha_plane, (width, height), sharp=False), says[2]
    notes.append(note)
    return np.concatenate([out, upscaled], axis=2)


def run_rgba_model(
    steps: Sequence[RgbStep], pixels: Pixels, *, alpha: AlphaMode, notes: list[str]
) -> Pixels:
    """Any image through a native 4-channel (RGBA) model, at the model's scale.

    RGBA goes in as is and comes out as the model's RGBA; gray is replicated to RGB first
    and folded back to BT.601 luma after, as for RGB models; an image without alpha gets
    an opaque plane and the model's alpha output is dropped. A fully opaque alpha skips
    nothing (the model takes four channels either way): the image runs as is and the
    output alpha is recreated opaque, so an opaque image stays exactly opaque.
    ``alpha="bicubic"`` replaces the model's alpha with a bicubic upscale of the input's.

    Colour under fully transparent pixels is bled from visible neighbours here too. The
    training data (:mod:`upscaler.train.data`) lays a synthetic matte over a whole photo,
    so under alpha 0 the model always saw the photo's own colour continuing smoothly
    across the matte's edge, with the L1 loss counting it; it never saw the flat black or
    stale colour real files keep there, and would sharpen that step into a fringe along
    the visible edge exactly as an RGB model does. Bleeding restores what it was trained
    on, and changes only pixels nobody sees.
    """
    height, width = pixels.shape[:2]
    colour, alpha_plane = _split(pixels)
    gray = colour.shape[2] == 1
    if gray:
        colour = np.repeat(colour, 3, axis=2)
        notes.append("gray: replicated to RGB, model, back to gray (BT.601 luma)")
    opaque = _opaque(alpha_plane)
    if alpha_plane is None:
        plane = _opaque_plane(height, width, pixels.dtype)
        notes.append("alpha: opaque plane added for the native 4-channel model, its alpha dropped")
    else:
        plane = alpha_plane
        if not opaque:
            colour = _bled(colour, alpha_plane, notes)
    out = run_rgb_chain(steps, np.ascontiguousarray(np.concatenate([colour, plane], axis=2)))
    rgb = _to_gray(out[:, :, :3]) if gray else out[:, :, :3]
    if alpha_plane is None:
        return np.ascontiguousarray(rgb)
    return _attach_alpha(
        rgb,
        alpha_plane,
        opaque=opaque,
        alpha=alpha,
        model_alpha=lambda: out[:, :, 3:],
        notes=notes,
        says=(
            "alpha: fully opaque; run through the native 4-channel model, recreated",
            "alpha: native 4-channel model (RGBA in, RGBA out)",
            "alpha: colour by the native 4-channel model, alpha upscaled bicubically",
        ),
    )
