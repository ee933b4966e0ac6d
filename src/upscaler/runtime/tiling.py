"""Where the tiles of an image go: a pure-numpy plan, no TensorFlow.

The runner cuts an image into windows of one fixed shape, runs each window through the
model, and keeps only the *core* of each result: the part whose every output pixel saw at
least ``context`` input pixels of real image on every side (or the image border itself).
When ``context`` is at least the model's receptive field, a core pixel's value depends only
on pixels inside its window, so the assembled output equals a whole-image run up to
float32 rounding.

Why windows are *clamped* inside the image instead of padded: the models pad with zeros
inside every convolution, so a whole-image run sees "zeros beyond the border" at every
layer. A window that ends exactly at the image border sees the same thing; a window padded
with reflected or replicated pixels does not, and its border pixels would differ from the
whole-image result by far more than one grey level. So edge windows are shifted inward
until they touch the border (their core is then wider on that side), every window keeps
the same shape, and nothing is ever padded. The only image-specific shape is the degenerate
one: along an axis shorter than a full window, the window is the whole axis (one tile
along it), so small images pay for exactly their own pixels and an image that fits in one
window is run in one call, bit-identical to the whole-image path.

Cores partition the input, and output cores are the input cores times the scale, so they
partition the output: every output pixel is written exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from upscaler.errors import ImageError

__all__ = ["AxisPlan", "Tile", "TilePlan", "plan_axis", "plan_tiles"]


@dataclass(frozen=True)
class AxisPlan:
    """The tiling of one axis: window length and, per tile, window start and core span."""

    length: int
    window: int
    starts: tuple[int, ...]
    cores: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        """Number of tiles along this axis."""
        return len(self.starts)


def plan_axis(length: int, tile: int, context: int) -> AxisPlan:
    """Split ``[0, length)`` into cores of at most ``tile`` pixels (``tile + context`` at the
    two ends) and windows of ``tile + 2 * context`` pixels, clamped inside the axis.

    The number of tiles is the smallest that covers the axis (edge windows need context on
    one side only), and the slack is spread evenly over the cores so no tile is a sliver.
    Along an axis no longer than one window, there is one tile: the whole axis.
    """
    if length < 1:
        raise ImageError(f"cannot tile an axis of length {length}")
    if tile < 1 or context < 0:
        raise ValueError(f"tile must be >= 1 and context >= 0, got tile={tile} context={context}")
    window = tile + 2 * context
    if length <= window:
        return AxisPlan(length=length, window=length, starts=(0,), cores=((0, length),))
    count = math.ceil((length - 2 * context) / tile)  # >= 2 because length > window
    sizes = [tile + context] + [tile] * (count - 2) + [tile + context]
    slack = sum(sizes) - length  # 0 <= slack < tile, by the choice of count
    share, extra = divmod(slack, count)
    sizes = [size - share - (1 if i < extra else 0) for i, size in enumerate(sizes)]
    starts: list[int] = []
    cores: list[tuple[int, int]] = []
    position = 0
    for size in sizes:
        core = (position, position + size)
        start = min(max(core[0] - context, 0), length - window)
        starts.append(start)
        cores.append(core)
        position += size
    return AxisPlan(length=length, window=window, starts=tuple(starts), cores=tuple(cores))


@dataclass(frozen=True)
class Tile:
    """One window of the input and the core of it that the output keeps.

    Coordinates are input pixels, half-open: rows ``[y0, y0 + height)`` of the input are
    fed to the model, and input rows ``[core_y0, core_y1)`` are kept (output rows
    ``[core_y0 * scale, core_y1 * scale)``).
    """

    index: int
    y0: int
    x0: int
    height: int
    width: int
    core_y0: int
    core_y1: int
    core_x0: int
    core_x1: int

    @property
    def window(self) -> tuple[slice, slice]:
        """Input rows and columns this tile feeds to the model."""
        return slice(self.y0, self.y0 + self.height), slice(self.x0, self.x0 + self.width)

    def core_in_window(self, scale: int) -> tuple[slice, slice]:
        """Where the kept core lies inside this tile's model output."""
        return (
            slice((self.core_y0 - self.y0) * scale, (self.core_y1 - self.y0) * scale),
            slice((self.core_x0 - self.x0) * scale, (self.core_x1 - self.x0) * scale),
        )

    def core_in_output(self, scale: int) -> tuple[slice, slice]:
        """Where the kept core goes in the assembled output."""
        return (
            slice(self.core_y0 * scale, self.core_y1 * scale),
            slice(self.core_x0 * scale, self.core_x1 * scale),
        )


@dataclass(frozen=True)
class TilePlan:
    """Every tile of one image, all of one window shape, in row-major order."""

    height: int
    width: int
    scale: int
    tile: int
    context: int
    batch: int
    rows: AxisPlan
    cols: AxisPlan

    @property
    def window(self) -> tuple[int, int]:
        """The one input shape (height, width) every tile has."""
        return self.rows.window, self.cols.window

    @property
    def count(self) -> int:
        """Number of tiles."""
        return self.rows.count * self.cols.count

    @property
    def output_shape(self) -> tuple[int, int]:
        """Output height and width."""
        return self.height * self.scale, self.width * self.scale

    @property
    def single(self) -> bool:
        """True when the whole image is one window (bit-identical to a whole-image run)."""
        return self.count == 1

    @property
    def overhead(self) -> float:
        """Pixels the model computes per image pixel, minus one (0.0 for a single tile)."""
        computed = self.count * self.rows.window * self.cols.window
        return computed / (self.height * self.width) - 1.0

    def tiles(self) -> Iterator[Tile]:
        """The tiles, row by row."""
        index = 0
        for y0, (cy0, cy1) in zip(self.rows.starts, self.rows.cores, strict=True):
            for x0, (cx0, cx1) in zip(self.cols.starts, self.cols.cores, strict=True):
                yield Tile(
                    index=index,
                    y0=y0,
                    x0=x0,
                    height=self.rows.window,
                    width=self.cols.window,
                    core_y0=cy0,
                    core_y1=cy1,
                    core_x0=cx0,
                    core_x1=cx1,
                )
                index += 1

    def batches(self) -> Iterator[list[Tile]]:
        """The tiles in groups of ``batch`` (the last group may be smaller)."""
        group: list[Tile] = []
        for tile in self.tiles():
            group.append(tile)
            if len(group) == self.batch:
                yield group
                group = []
        if group:
            yield group

    def describe(self) -> dict[str, int | float | list[int]]:
        """JSON-friendly facts for describe()."""
        return {
            "tile": self.tile,
            "context": self.context,
            "batch": self.batch,
            "window": list(self.window),
            "tiles": self.count,
            "grid": [self.rows.count, self.cols.count],
            "overhead": round(self.overhead, 4),
        }


def plan_tiles(
    height: int, width: int, *, tile: int, context: int, scale: int, batch: int = 1
) -> TilePlan:
    """Plan the tiles of an ``height`` x ``width`` image (see the module docstring).

    ``tile`` is the core size in input pixels, ``context`` the input pixels of overlap each
    window keeps on every inner side, ``batch`` how many tiles go to the model per call.
    """
    if height < 1 or width < 1:
        raise ImageError(f"image of size {height}x{width} is empty")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    return TilePlan(
        height=height,
        width=width,
        scale=scale,
        tile=tile,
        context=context,
        batch=batch,
        rows=plan_axis(height, tile, context),
        cols=plan_axis(width, tile, context),
    )
