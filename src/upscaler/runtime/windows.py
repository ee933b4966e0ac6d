"""Pixels into a model's windows and back: the value-range arithmetic, window filling, cores.

Why apart from the runner: the tile pass and the statistics passes of a globally pooling
model (:mod:`upscaler.runtime.pooled_tiling`) fill the same windows from the same image
the same way, and the arithmetic is what makes a one-window image bit-identical to
:func:`~upscaler.runtime.whole_image.upscale_rgb`; it has one home so they cannot drift.

Pixel arithmetic generalises :mod:`upscaler.runtime.whole_image` (UpscalerJS's exact
mapping) from white = 255 to white = 65535 (uint16) and white = 1.0 (float32). Windows of
the image extended by replicated edge pixels are written straight into each float32 slot,
so no padded or float copy of the whole image ever exists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.errors import Cancelled, ImageError
from upscaler.runtime.tiling import Tile, TilePlan

__all__ = [
    "STRIP_BYTES",
    "PixelMap",
    "Pixels",
    "TileJob",
    "check_pixels",
    "fill_window",
    "write_cores",
]

Pixels = npt.NDArray[Any]

STRIP_BYTES = 1 << 20
"""Float32 bytes of a window's output mapped back to pixels at a time: the only host
memory a window adds beyond its float32 input (see :meth:`PixelMap.from_model`)."""


_WHITE: dict[np.dtype[Any], float] = {
    np.dtype(np.uint8): 255.0,
    np.dtype(np.uint16): 65535.0,
    np.dtype(np.float32): 1.0,
}


def check_pixels(pixels: Any, channels: int = 3) -> Pixels:
    """Refuse anything but a non-empty HxWxC uint8, uint16 or float32 array (C: the
    model's channels, 3 for RGB, 1 for luma and 4 for RGBA models)."""
    if not isinstance(pixels, np.ndarray):
        raise ImageError(f"expected an HxWx{channels} numpy array, got {type(pixels).__name__}")
    if pixels.dtype not in _WHITE:
        raise ImageError(
            f"expected a uint8, uint16 or float32 image, got dtype {pixels.dtype}",
            hint="convert with array.astype(np.float32) / white for other types",
        )
    if pixels.ndim != 3 or pixels.shape[2] != channels:
        kind = _KINDS.get(channels, f"{channels}-channel")
        raise ImageError(f"expected an HxWx{channels} {kind} image, got shape {list(pixels.shape)}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageError(f"image of shape {list(pixels.shape)} is empty")
    return pixels


_KINDS = {1: "1-channel (luma)", 3: "RGB", 4: "RGBA"}


class PixelMap:
    """The value-range arithmetic for one (pixel dtype, model range) pair.

    Integer pixels are divided by ``white / span`` (for uint8 and a [0, 1] model this is
    UpscalerJS's ``tf.div(pixels, 255)``, bit for bit); float pixels in [0, 1] are
    multiplied by ``span``. The way back clips to the model's range first, as
    UpscalerJS does, then to the pixel range; integers round half-to-even.
    """

    def __init__(self, dtype: np.dtype[Any], value_range: tuple[float, float]) -> None:
        self.dtype = dtype
        self.white = _WHITE[dtype]
        self.lo, self.hi = value_range
        self.span = self.hi - self.lo
        self.integer = dtype.kind == "u"

    def to_model(self, window: Pixels, out: npt.NDArray[np.float32]) -> None:
        """Write ``window`` mapped onto the model's range into ``out`` (float32)."""
        if self.integer:
            np.copyto(out, window, casting="unsafe")
            if self.span != self.white:
                np.divide(out, np.float32(self.white / self.span), out=out)
        else:
            if not np.all(np.isfinite(window)):
                raise ImageError("the image holds NaN or infinite values")
            np.clip(window, np.float32(0.0), np.float32(1.0), out=out)
            if self.span != 1.0:
                np.multiply(out, np.float32(self.span), out=out)
        if self.lo != 0.0:
            np.add(out, np.float32(self.lo), out=out)

    def from_model(self, result: npt.NDArray[np.float32], out: Pixels) -> None:
        """Map a model output region back to pixels of ``self.dtype``, written into ``out``.

        Why in strips: ``result`` is the model's float32 window (a read-only view of
        TensorFlow's tensor, counted by the memory budget), up to 16 times the window's
        input pixels times 12 bytes. Clipping a float copy of it whole would add that
        again outside the budget; strips of :data:`STRIP_BYTES` keep the extra host memory
        constant, whatever the window.
        """
        if not np.all(np.isfinite(result)):
            raise ImageError("the model produced NaN or infinite values for this image")
        row_bytes = max(1, result[0].nbytes)
        step = max(1, STRIP_BYTES // row_bytes)
        strip = np.empty((min(step, result.shape[0]), *result.shape[1:]), dtype=np.float32)
        for top in range(0, result.shape[0], step):
            rows = result[top : top + step]
            y = strip[: rows.shape[0]]
            np.clip(rows, np.float32(self.lo), np.float32(self.hi), out=y)
            if self.lo != 0.0:
                y -= np.float32(self.lo)
            target = out[top : top + step]
            if self.integer:
                if self.span != self.white:
                    y *= np.float32(self.white / self.span)
                np.rint(np.clip(y, 0.0, self.white, out=y), out=y)
                np.copyto(target, y, casting="unsafe")
            else:
                if self.span != 1.0:
                    y /= np.float32(self.span)
                np.clip(y, 0.0, 1.0, out=target)


def fill_window(
    image: Pixels, tile: Tile, pad: int, mapping: PixelMap, slot: npt.NDArray[np.float32]
) -> None:
    """Write ``tile``'s window of the image extended by ``pad`` replicated edge pixels into
    ``slot``: the real pixels are mapped once, the extension copied from the slot's own
    edge rows and columns, so no padded copy of the image ever exists."""
    height, width = image.shape[:2]
    top, left = tile.y0 - pad, tile.x0 - pad
    r0, r1 = max(top, 0), min(top + tile.height, height)
    c0, c1 = max(left, 0), min(left + tile.width, width)
    a, b = r0 - top, r1 - top
    c, d = c0 - left, c1 - left
    mapping.to_model(image[r0:r1, c0:c1], slot[a:b, c:d])
    if a > 0:
        slot[:a, c:d] = slot[a, c:d]
    if b < tile.height:
        slot[b:, c:d] = slot[b - 1, c:d]
    if c > 0:
        slot[:, :c] = slot[:, c : c + 1]
    if d < tile.width:
        slot[:, d:] = slot[:, d - 1 : d]


def write_cores(
    group: list[Tile],
    result: npt.NDArray[np.float32],
    out: Pixels,
    mapping: PixelMap,
    *,
    pad: int,
    scale: int,
) -> None:
    """Map each window's kept core into the output. A function of its own so that no
    view of ``result`` (which keeps TensorFlow's output tensor alive) outlives the batch:
    a loop variable in the caller would hold it through the next model call."""
    height, width = out.shape[0] // scale, out.shape[1] // scale
    for tile, tile_out in zip(group, result, strict=True):
        place = _placement(tile, pad, height, width, scale)
        if place is not None:
            mapping.from_model(tile_out[place[0]], out[place[1]])


def _placement(
    tile: Tile, pad: int, height: int, width: int, scale: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """(where in the window's output, where in the image's output) the part of ``tile``'s
    core that lies on the real image goes; None when its core is all extension."""
    y0, y1 = max(tile.core_y0, pad), min(tile.core_y1, pad + height)
    x0, x1 = max(tile.core_x0, pad), min(tile.core_x1, pad + width)
    if y0 >= y1 or x0 >= x1:
        return None
    in_window = (
        slice((y0 - tile.y0) * scale, (y1 - tile.y0) * scale),
        slice((x0 - tile.x0) * scale, (x1 - tile.x0) * scale),
    )
    in_output = (
        slice((y0 - pad) * scale, (y1 - pad) * scale),
        slice((x0 - pad) * scale, (x1 - pad) * scale),
    )
    return in_window, in_output


@dataclass
class TileJob:
    """One image's run over one plan: what the statistics passes and the tile pass share.

    ``batches()`` yields each group of tiles with their windows filled (in one reused
    buffer), checking ``cancel`` first; ``advance(n)`` counts ``n`` of ``total`` tiles
    done and tells ``progress`` (the bar and the caller's callback)."""

    image: Pixels
    plan: TilePlan
    mapping: PixelMap
    pad: int
    buffer: npt.NDArray[np.float32]
    cancel: threading.Event | None
    progress: Callable[[int, int, int], None]
    total: int
    done: int = 0

    def batches(self) -> Iterator[tuple[list[Tile], npt.NDArray[np.float32]]]:
        for group in self.plan.batches():
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled(f"upscaling cancelled after {self.done} of {self.total} tiles")
            batch = self.buffer[: len(group)]
            for slot, tile in zip(batch, group, strict=True):
                fill_window(self.image, tile, self.pad, self.mapping, slot)
            yield group, batch

    def advance(self, count: int) -> None:
        self.done += count
        self.progress(count, self.done, self.total)
