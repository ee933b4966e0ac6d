"""Pixel work the animation readers and writers share: alpha compositing, the box a
frame changed, and Pillow as a decoder of one frame's payload.

Compositing is done here rather than by Pillow's readers because they differ from what
viewers show in the cases that matter: Pillow's APNG ``OP_OVER`` pastes through the alpha
as a mask (wrong for half-transparent pixels over half-transparent ones), and its GIF
reader keeps a frame's disposal for later frames that specify none and restores to the
background colour rather than to transparency.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.errors import MediaError
from upscaler.runtime.image_io import _PIL_ERRORS, _pil_unlimited

Canvas = npt.NDArray[np.uint8]
"""An HxWx4 RGBA frame, uint8, not premultiplied (what viewers show)."""

Box = tuple[int, int, int, int]
"""``(left, top, right, bottom)``, right and bottom exclusive."""


def blend_over(under: Canvas, over: Canvas) -> None:
    """Composite ``over`` onto ``under`` in place, Porter-Duff "source over destination"
    on straight (non-premultiplied) alpha: the formula of the APNG specification's
    ``APNG_BLEND_OP_OVER`` and of WebP's alpha-blending, rounded to the nearest level."""
    alpha = over[..., 3]
    opaque = alpha == 255
    if opaque.all():
        under[...] = over
        return
    partial = (alpha > 0) & ~opaque
    under[opaque] = over[opaque]
    if not partial.any():
        return
    src = over[partial].astype(np.float64) / 255.0
    dst = under[partial].astype(np.float64) / 255.0
    src_a = src[:, 3:4]
    dst_a = dst[:, 3:4] * (1.0 - src_a)
    out_a = src_a + dst_a
    colour = (src[:, :3] * src_a + dst[:, :3] * dst_a) / out_a
    result = np.concatenate([colour, out_a], axis=1)
    under[partial] = np.rint(result * 255.0).astype(np.uint8)


def mask_box(mask: npt.NDArray[np.bool_]) -> Box | None:
    """The smallest box holding every true pixel of an HxW mask; None if there is none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def changed_box(previous: npt.NDArray[Any], current: npt.NDArray[Any]) -> Box | None:
    """The smallest box outside which ``current`` equals ``previous``; None if equal."""
    differs = previous != current
    return mask_box(differs.any(axis=2) if differs.ndim == 3 else differs)


def union(first: Box | None, second: Box | None) -> Box | None:
    """The smallest box holding both (either may be None: nothing)."""
    if first is None:
        return second
    if second is None:
        return first
    return (
        min(first[0], second[0]),
        min(first[1], second[1]),
        max(first[2], second[2]),
        max(first[3], second[3]),
    )


@contextlib.contextmanager
def pillow_errors(what: str) -> Iterator[Callable[[bytes], Any]]:
    """Turn what Pillow raises on damaged data into a MediaError naming ``what``; yields
    an opener for in-memory files.

    The opener lifts Pillow's own pixel limit while it reads the header, as the still
    path does: sizes were checked against ours from the animation's headers already.
    """
    from PIL import Image

    def opened(data: bytes) -> Any:
        with _pil_unlimited():
            return Image.open(io.BytesIO(data))

    try:
        yield opened
    except MediaError:
        raise
    except _PIL_ERRORS as exc:
        raise MediaError(
            f"cannot decode {what} ({exc or type(exc).__name__})",
            hint="the file is damaged; export the animation again",
        ) from None


def pillow_decode(data: bytes, what: str) -> Any:
    """Decode a one-frame image file built in memory (a frame's payload in a minimal
    container) with Pillow, fully loaded; an undecodable payload is a MediaError."""
    with pillow_errors(what) as opened:
        image = opened(data)
        image.load()
    return image
