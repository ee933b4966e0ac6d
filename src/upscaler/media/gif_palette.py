"""One palette for a whole GIF animation, built from every upscaled frame.

A palette per frame makes colours flicker from frame to frame (a gradient's bands move as
each frame's quantiser decides differently); one global palette keeps a colour the same
index everywhere. It is built from all the pixels of all the frames, not a sample:

* When all frames together hold at most 256 visible colours (255 when one index is kept
  for transparency), which is the case for an upscaled GIF whose model only repeats
  pixels, the palette is exactly those colours and the GIF is lossless.
* Otherwise every pixel is counted in a 32x32x32 colour histogram (RGB at 5 bits,
  keeping each cell's exact mean colour), median cut (Heckbert, "Color image
  quantization for frame buffer display", SIGGRAPH 1982) splits it into boxes, always
  the box with the largest weighted squared error, at the weighted median of its widest
  channel, and a few rounds of Lloyd's k-means on the cell means refine the boxes'
  centres.

Frames are mapped to the palette without dithering: error diffusion differs from frame
to frame, which in an animation is visible noise over still areas. Every colour goes to
its nearest palette entry (squared RGB distance), computed once per distinct colour.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_BITS = 5
_CELLS = 1 << (3 * _BITS)
_LLOYD_ROUNDS = 4
_CHUNK = 2048
ALPHA_THRESHOLD = 128
"""GIF transparency is on or off: alpha below this is transparent."""


def _visible_rgb(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The RGB of the pixels a GIF would show, as an Nx3 array."""
    if frame.shape[2] == 4:
        return frame[frame[..., 3] >= ALPHA_THRESHOLD][:, :3]
    return frame.reshape(-1, 3)


def _pack(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    wide = rgb.astype(np.uint32)
    return (wide[:, 0] * 65536 + wide[:, 1] * 256 + wide[:, 2]).astype(np.uint32)


def _unpack(packed: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(
        np.uint8
    )


class PaletteBuilder:
    """Counts the colours of the frames :meth:`add` is given; :meth:`palette` then
    returns at most ``colours`` entries for all of them."""

    def __init__(self, colours: int) -> None:
        self.colours = colours
        self.exact: npt.NDArray[np.uint32] | None = np.empty(0, dtype=np.uint32)
        self.counts = np.zeros(_CELLS, dtype=np.int64)
        self.sums = np.zeros((_CELLS, 3), dtype=np.float64)

    def add(self, frame: npt.NDArray[np.uint8]) -> None:
        """Count one HxWx3 or HxWx4 frame's visible pixels."""
        rgb = _visible_rgb(frame)
        if rgb.size == 0:
            return
        if self.exact is not None:
            merged = np.union1d(self.exact, np.unique(_pack(rgb)))
            self.exact = merged if merged.size <= self.colours else None
        coarse = rgb >> (8 - _BITS)
        cell = coarse[:, 0].astype(np.int32) << (2 * _BITS)
        cell |= coarse[:, 1].astype(np.int32) << _BITS
        cell |= coarse[:, 2]
        self.counts += np.bincount(cell, minlength=_CELLS)
        for channel in range(3):
            self.sums[:, channel] += np.bincount(cell, weights=rgb[:, channel], minlength=_CELLS)

    def palette(self) -> npt.NDArray[np.uint8]:
        """The palette: Kx3 uint8, K ≤ ``colours`` (at least one entry)."""
        if self.exact is not None:
            return _unpack(self.exact) if self.exact.size else np.zeros((1, 3), np.uint8)
        used = np.flatnonzero(self.counts)
        weights = self.counts[used].astype(np.float64)
        points = self.sums[used] / weights[:, None]
        centres = _median_cut(points, weights, self.colours)
        centres = _lloyd(points, weights, centres)
        return np.unique(np.clip(np.rint(centres), 0, 255).astype(np.uint8), axis=0)


def _sse(points: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]) -> float:
    """Weighted squared error of points around their weighted mean."""
    mean = np.average(points, axis=0, weights=weights)
    return float((weights[:, None] * (points - mean) ** 2).sum())


def _median_cut(
    points: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], count: int
) -> npt.NDArray[np.float64]:
    """Split the weighted points into at most ``count`` boxes; their weighted means."""
    boxes = [np.arange(len(points))]
    scores = [_sse(points, weights)]
    while len(boxes) < count:
        target = int(np.argmax(scores))
        if scores[target] <= 0.0:
            break
        members = boxes[target]
        spread = points[members].max(axis=0) - points[members].min(axis=0)
        channel = int(np.argmax(spread))
        order = members[np.argsort(points[members, channel], kind="stable")]
        cumulative = np.cumsum(weights[order])
        cut = int(np.searchsorted(cumulative, cumulative[-1] / 2.0))
        cut = min(max(cut, 1), len(order) - 1)
        low, high = order[:cut], order[cut:]
        boxes[target : target + 1] = [low, high]
        scores[target : target + 1] = [
            _sse(points[low], weights[low]),
            _sse(points[high], weights[high]),
        ]
    return np.stack([np.average(points[b], axis=0, weights=weights[b]) for b in boxes])


def _nearest(
    colours: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    palette: npt.NDArray[np.floating] | npt.NDArray[np.integer],
) -> npt.NDArray[np.intp]:
    """The index of the nearest palette entry (squared distance) for each colour.

    |c - p|² = |c|² - 2 c·p + |p|², the middle term one matrix product; in float64 it is
    exact for 8-bit colours (every term is an integer far below 2^53), so ties and exact
    matches come out as with a direct subtraction, at a fraction of the cost.
    """
    result = np.empty(len(colours), dtype=np.intp)
    table = palette.astype(np.float64)
    table_norms = (table**2).sum(axis=1)
    for start in range(0, len(colours), _CHUNK):
        block = colours[start : start + _CHUNK].astype(np.float64)
        distance = table_norms[None, :] - 2.0 * (block @ table.T)
        distance += (block**2).sum(axis=1)[:, None]
        result[start : start + _CHUNK] = distance.argmin(axis=1)
    return result


def _lloyd(
    points: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    centres: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """A few rounds of weighted k-means from the median-cut centres."""
    for _ in range(_LLOYD_ROUNDS):
        owner = _nearest(points, centres)
        totals = np.bincount(owner, weights=weights, minlength=len(centres))
        moved = centres.copy()
        for channel in range(3):
            sums = np.bincount(owner, weights=weights * points[:, channel], minlength=len(centres))
            np.divide(sums, totals, out=moved[:, channel], where=totals > 0)
        centres = moved
    return centres


class PaletteMapper:
    """Maps frames to a fixed palette and keeps the palette error it causes.

    ``transparent`` is the index kept for transparent pixels (alpha below
    :data:`ALPHA_THRESHOLD`), or None for an opaque animation. Each distinct colour's
    nearest entry is computed once and kept in a table over all 2^24 colours (16 MiB,
    plus a 2 MiB bitmap of the entries known; pages no colour touches are never
    allocated), so a colour costs one lookup in every later frame.
    """

    def __init__(self, palette: npt.NDArray[np.uint8], *, transparent: int | None) -> None:
        self.palette = palette
        self.transparent = transparent
        self.error_sum = 0.0
        self.samples = 0
        self.lookup = np.zeros(1 << 24, dtype=np.uint8)
        self.known = np.zeros(1 << 21, dtype=np.uint8)  # one bit a colour

    def table_bytes(self) -> bytes:
        """The 256-entry colour table as written in the GIF (unused entries black)."""
        table = np.zeros((256, 3), dtype=np.uint8)
        table[: len(self.palette)] = self.palette
        return table.tobytes()

    def map(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """An HxWx3 or HxWx4 frame as HxW palette indices."""
        height, width = frame.shape[:2]
        indices = np.full((height, width), self.transparent or 0, dtype=np.uint8)
        if frame.shape[2] == 4:
            visible = frame[..., 3] >= ALPHA_THRESHOLD
            rgb = frame[visible][:, :3]
        else:
            visible = None
            rgb = frame.reshape(-1, 3)
        if rgb.size == 0:
            return indices
        packed = _pack(rgb)
        bit = np.left_shift(1, packed & 7, dtype=np.uint8)
        unknown = (self.known[packed >> 3] & bit) == 0
        if unknown.any():
            new = np.unique(packed[unknown])
            self.lookup[new] = _nearest(_unpack(new), self.palette)
            np.bitwise_or.at(self.known, new >> 3, np.left_shift(1, new & 7, dtype=np.uint8))
        mapped = self.lookup[packed]
        if visible is None:
            indices = mapped.reshape(height, width)
        else:
            indices[visible] = mapped
        written = self.palette[mapped]
        difference = np.maximum(written, rgb)
        difference -= np.minimum(written, rgb)  # |a - b| without leaving uint8
        self.error_sum += float(difference.sum(dtype=np.uint64))
        self.samples += difference.size
        return indices

    @property
    def error(self) -> float:
        """Mean absolute difference per channel of the mapped visible pixels so far."""
        return self.error_sum / self.samples if self.samples else 0.0
