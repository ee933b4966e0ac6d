"""Where the tiles of an image go: a pure-numpy plan, no TensorFlow.

The runner cuts an image into windows of one shape, runs each window through the model,
and keeps only the *core* of each result: the part whose every output pixel saw at least
``context`` input pixels of real image on every side (or the image border itself). When
``context`` is at least the model's receptive field, a core pixel's value depends only on
pixels inside its window, so the assembled output equals a whole-image run up to float32
rounding.

Design choices, and why:

* **Windows are clamped inside the image, never padded.** The models zero-pad inside
  every convolution, so a whole-image run sees "zeros beyond the border" at every layer. A
  window that ends exactly at the image border sees the same; a window padded with
  reflected or replicated pixels does not, and its border pixels would differ from the
  whole-image result by far more than one grey level. Edge windows therefore touch the
  border and their cores are wider on that side.
  (The runner's default ``border="replicate"`` plans over the image already extended by
  its own edge pixels, see :mod:`upscaler.runtime.tiled`: the same holds for that image.)
* **One window shape per image.** Every tile of an image has the same input shape, so a
  run never retraces or re-plans anything between tiles, and tiles batch.
* **Balanced windows.** For ``n`` windows along an axis the window is the shortest that
  covers it (``ceil((length + 2 * context * (n - 1)) / n)``, rounded up to ``align``), so
  the model computes ``length + 2 * context * (n - 1)`` pixels along the axis: the
  overlap, nothing more. A fixed ``tile + 2 * context`` window would waste up to a whole
  window per axis on an image just larger than one tile (a 537-pixel image with 536-pixel
  windows would cost four windows).
* **Along an axis no longer than one window there is one window: the whole axis,**
  unaligned, so an image that fits is run in one call, bit-identical to the whole-image
  path, and a small image pays for exactly its own pixels.
* **Window origins on the network's grid** (``origin_step``, the model's tile alignment, see
  :mod:`upscaler.convert.geometry`). A network that downsamples by 2 is not
  shift-invariant: a window starting at an odd pixel samples the other half of the
  positions and computes other values than the whole image there. With ``origin_step``
  > 1 every window starts on a multiple of it, and windows are congruent to the axis
  length modulo it, so the last window, which ends at the axis end, starts on the
  grid too (and sees the same size-dependent padding phase as the whole axis). Its
  length is then within ``origin_step - 1`` pixels of the multiple of ``align``.

Two ways to size windows: :func:`plan_tiles` from a core size (``tile``), the same number
of windows per axis a square tiling of that size needs; and :func:`plan_tiles_for_budget`
from a pixel budget per window (what fits in memory), choosing the grid, possibly
rectangular, that computes the fewest pixels.

Cores partition the input, and output cores are the input cores times the scale, so they
partition the output: every output pixel is written exactly once.

The argument checks below are the preconditions of pure functions (``ValueError``, like
any numpy helper's), not the checks users meet: ``patch_size``, ``padding`` and
``batch_size`` are checked where users pass them (:mod:`upscaler.arguments`), and the
runner plans only with values that passed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from upscaler.errors import ImageError

__all__ = [
    "AxisPlan",
    "Tile",
    "TilePlan",
    "axis_count_for_tile",
    "plan_axis",
    "plan_tiles",
    "plan_tiles_for_budget",
    "window_length",
]

ALIGN = 8
"""Windows (when an axis needs more than one) are a multiple of this many pixels."""


@dataclass(frozen=True)
class AxisPlan:
    """The tiling of one axis: window length and, per tile, window start and core span."""

    length: int
    window: int
    starts: tuple[int, ...]
    cores: tuple[tuple[int, int], ...]
    origin_step: int = 1

    @property
    def count(self) -> int:
        """Number of tiles along this axis."""
        return len(self.starts)

    @property
    def computed(self) -> int:
        """Pixels along this axis the model computes (windows overlap by the context)."""
        return self.count * self.window


def _check(length: int, context: int) -> None:
    if length < 1:
        raise ImageError(f"cannot tile an axis of length {length}")
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")


def window_length(
    length: int, count: int, context: int, align: int = ALIGN, origin_step: int = 1
) -> int:
    """The shortest window (rounded up to ``align``) with which ``count`` windows cover an
    axis of ``length`` while keeping ``context`` pixels on every inner side of each core;
    with ``origin_step`` > 1, the shortest such window congruent to ``length`` modulo it
    whose windows can all start on multiples of ``origin_step`` (see the module docstring)."""
    _check(length, context)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if origin_step < 1:
        raise ValueError(f"origin_step must be >= 1, got {origin_step}")
    if count == 1:
        return length
    needed = math.ceil((length + 2 * context * (count - 1)) / count)
    window = align * math.ceil(needed / align)
    if origin_step > 1:
        window += (length - window) % origin_step
        # Starts on the grid are spread as evenly as whole grid steps allow: the widest
        # gap between them must still leave 2 * context pixels of overlap.
        while window < length and (
            origin_step * math.ceil((length - window) / origin_step / (count - 1))
            > window - 2 * context
        ):
            window += origin_step
    return min(length, window)


def axis_count_for_tile(length: int, tile: int, context: int) -> int:
    """How many windows an axis needs when cores may be at most ``tile`` pixels (edge
    cores, which need context on one side only, ``tile + context``)."""
    _check(length, context)
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    if length <= tile + 2 * context:
        return 1
    return math.ceil((length - 2 * context) / tile)


def _fit(
    length: int, count: int, context: int, align: int, origin_step: int = 1
) -> tuple[int, int]:
    """(count, window) for up to ``count`` windows: the count is reduced while windows
    would be the whole axis, or so close to it that some core would be empty (every gap
    between window starts must be at least one pixel, one ``origin_step``)."""
    window = window_length(length, count, context, align, origin_step)
    while count > 1 and (window >= length or (length - window) // origin_step < count - 1):
        count -= 1
        window = window_length(length, count, context, align, origin_step)
    return count, window


def plan_axis(
    length: int, count: int, context: int, align: int = ALIGN, origin_step: int = 1
) -> AxisPlan:
    """``count`` windows of one length over ``[0, length)``, starts spread evenly (on
    multiples of ``origin_step``), each core ending in the middle of the overlap with the next
    window.

    Every overlap is at least ``2 * context`` pixels, so each side of a boundary keeps
    ``context`` pixels of its window beyond its core; gaps between starts differ by at
    most one pixel (one ``origin_step``) and are at least that, so no core is empty. A count
    so large that this cannot hold is reduced.
    """
    count, window = _fit(length, count, context, align, origin_step)
    if count == 1:
        return AxisPlan(
            length=length,
            window=length,
            starts=(0,),
            cores=((0, length),),
            origin_step=origin_step,
        )
    gap, extra = divmod((length - window) // origin_step, count - 1)
    starts = [0]
    for i in range(count - 1):
        starts.append(starts[-1] + (gap + (1 if i < extra else 0)) * origin_step)
    bounds = [0]
    for i in range(count - 1):
        overlap = starts[i] + window - starts[i + 1]  # >= 2 * context by the window length
        bounds.append(starts[i + 1] + overlap // 2)
    bounds.append(length)
    cores = tuple((bounds[i], bounds[i + 1]) for i in range(count))
    return AxisPlan(
        length=length, window=window, starts=tuple(starts), cores=cores, origin_step=origin_step
    )


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
    """Every tile of one image, all of one window shape, in row-major order.

    ``tile`` is the largest core a tile has (input pixels); ``budget`` the window pixel
    budget the plan was made for, when it was made from one.
    """

    height: int
    width: int
    scale: int
    tile: int
    context: int
    batch: int
    rows: AxisPlan
    cols: AxisPlan
    budget: int | None = None

    @property
    def window(self) -> tuple[int, int]:
        """The one input shape (height, width) every tile has."""
        return self.rows.window, self.cols.window

    @property
    def grid(self) -> tuple[int, int]:
        """Tiles per column and per row."""
        return self.rows.count, self.cols.count

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
        return self.rows.computed * self.cols.computed / (self.height * self.width) - 1.0

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

    def describe(self) -> dict[str, int | float | list[int] | None]:
        """JSON-friendly facts for describe()."""
        return {
            "tile": self.tile,
            "context": self.context,
            "batch": self.batch,
            "window": list(self.window),
            "grid": list(self.grid),
            "tiles": self.count,
            "overhead": round(self.overhead, 4),
            "window_pixel_budget": self.budget,
            "alignment": self.rows.origin_step,
        }


def _check_image(height: int, width: int, scale: int, batch: int) -> None:
    if height < 1 or width < 1:
        raise ImageError(f"image of size {height}x{width} is empty")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")


def _plan(
    height: int,
    width: int,
    rows: AxisPlan,
    cols: AxisPlan,
    *,
    context: int,
    scale: int,
    batch: int,
    budget: int | None = None,
) -> TilePlan:
    largest = max(b - a for a, b in rows.cores + cols.cores)
    return TilePlan(
        height=height,
        width=width,
        scale=scale,
        tile=largest,
        context=context,
        batch=batch,
        rows=rows,
        cols=cols,
        budget=budget,
    )


def plan_tiles(
    height: int,
    width: int,
    *,
    tile: int,
    context: int,
    scale: int,
    batch: int = 1,
    align: int = ALIGN,
    origin_step: int = 1,
) -> TilePlan:
    """Plan an ``height`` x ``width`` image with cores of at most ``tile`` input pixels.

    ``context`` is the input pixels of overlap each window keeps on every inner side,
    ``batch`` how many tiles go to the model per call, ``origin_step`` the multiple window
    origins keep (the model's tile alignment). The number of windows per axis is what
    cores of ``tile`` pixels need; the windows are then balanced (see the module
    docstring), so they are at most ``tile + 2 * context`` pixels (plus the rounding to
    ``origin_step``).
    """
    _check_image(height, width, scale, batch)
    rows = plan_axis(
        height, axis_count_for_tile(height, tile, context), context, align, origin_step
    )
    cols = plan_axis(width, axis_count_for_tile(width, tile, context), context, align, origin_step)
    return _plan(height, width, rows, cols, context=context, scale=scale, batch=batch)


def plan_tiles_for_budget(
    height: int,
    width: int,
    *,
    max_window_pixels: int,
    context: int,
    scale: int,
    batch: int = 1,
    max_tile: int | None = None,
    align: int = ALIGN,
    origin_step: int = 1,
) -> TilePlan:
    """Plan an image so that every window has at most ``max_window_pixels`` input pixels
    (what the model's memory per call allows), computing as few pixels as possible.

    Every grid (rows x columns of windows) is considered; for each number of rows the
    fewest columns that fit the budget is found by bisection, and the grid with the least
    computed area wins (ties: fewer tiles). Windows may be rectangular: a 512x512 image
    whose full window does not fit is better split once (512x272 windows, 6 % more
    pixels) than in four (272x272, 13 %). ``max_tile`` caps the core size as well. If no
    grid fits (a budget below what one minimal window needs), the smallest windows are
    used and the caller's out-of-memory handling decides.
    """
    _check_image(height, width, scale, batch)
    if max_window_pixels < 1:
        raise ValueError(f"max_window_pixels must be >= 1, got {max_window_pixels}")
    min_rows = axis_count_for_tile(height, max_tile, context) if max_tile else 1
    min_cols = axis_count_for_tile(width, max_tile, context) if max_tile else 1
    max_rows = max(min_rows, height)  # _fit lowers counts that cannot keep a core
    max_cols = max(min_cols, width)

    def cols_window(count: int) -> int:
        return _fit(width, count, context, align, origin_step)[1]

    best: tuple[int, int, int, int] | None = None  # cost, tiles, rows, columns
    for wanted_rows in range(min_rows, max_rows + 1):
        n_rows, row_window = _fit(height, wanted_rows, context, align, origin_step)
        if n_rows < wanted_rows:  # no more rows possible: larger counts repeat this plan
            break
        if best is not None and n_rows * row_window * width >= best[0]:
            break  # more rows only cost more, whatever the columns
        if row_window * cols_window(max_cols) > max_window_pixels:
            continue
        low, high = min_cols, max_cols
        while low < high:  # fewest columns whose window fits (windows shrink as count grows)
            middle = (low + high) // 2
            if row_window * cols_window(middle) <= max_window_pixels:
                high = middle
            else:
                low = middle + 1
        n_cols, col_window = _fit(width, low, context, align, origin_step)
        cost = n_rows * row_window * n_cols * col_window
        tiles = n_rows * n_cols
        if best is None or (cost, tiles) < (best[0], best[1]):
            best = (cost, tiles, n_rows, n_cols)
    n_rows, n_cols = (max_rows, max_cols) if best is None else (best[2], best[3])
    rows = plan_axis(height, n_rows, context, align, origin_step)
    cols = plan_axis(width, n_cols, context, align, origin_step)
    return _plan(
        height,
        width,
        rows,
        cols,
        context=context,
        scale=scale,
        batch=batch,
        budget=max_window_pixels,
    )
