"""Tiling a model that pools globally: one set of pooled statistics for every tile.

Models that pool globally (squeeze-and-excitation blocks in waifu2x cunet and
Real-CUGAN: a mean over the whole feature map scales every channel) see the whole image
in every output pixel, so no context is enough: a tile alone averages over itself. Such a
model's SavedModel serves two more signatures (:mod:`upscaler.convert.builder`): one
returns the pooled vectors for an input, the other runs the network with given vectors.
When such an image needs more than one window, the runner first computes the whole
(border-extended) image's vectors, and runs every tile with them, so the tiles equal a
whole-image run within float32 rounding. It computes them in one call when that fits
:attr:`PooledStatistics.budget`; else, one pooling layer at a time, as sums over the
tiles (each tile sums the feature-map positions centred in its core, with the vectors of
the layers before given: the layers are sequential), which costs one more partial pass
over the tiles per pooling layer but is exact for any size. ``pool_stats="downscale"``
takes them instead from an area downscale that fits in one call: cheaper, approximate.
``describe()["global_pool"]`` says which.

Why a module of its own: it is the one part of tiling that needs the whole image before
any tile, and its own signatures, geometry and memory fallbacks; the runner
(:mod:`upscaler.runtime.tiled`) only asks it for a plan and for the vectors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from upscaler.errors import ModelLoadError
from upscaler.runtime.device_memory import OutOfMemory
from upscaler.runtime.savedmodel import (
    POOL_COLS,
    POOL_COUNT,
    POOL_ROWS,
    POOL_SUM,
    LoadedModel,
    pool_name,
)
from upscaler.runtime.tf_setup import require_tensorflow
from upscaler.runtime.tiling import Tile, TilePlan
from upscaler.runtime.windows import STRIP_BYTES, PixelMap, Pixels, TileJob, fill_window

log = logging.getLogger("upscaler.runtime.pooled_tiling")

__all__ = [
    "MIN_STATS_SIDE",
    "POOL_STATS",
    "POOL_STATS_FACTOR",
    "PoolPlan",
    "PooledStatistics",
    "Vectors",
]

POOL_STATS_FACTOR = 4
"""The statistics pass of a globally pooling model may use this many times the memory
budget of a tile call (:attr:`PooledStatistics.budget`).

Why more than a tile: it is one call per image, made before any tile, and whole-image
statistics make the tiles exact, while a downscale only approximates them
(docs/performance.md measures by how much). Why not unbounded: on a CPU it is the run's
memory peak; images beyond it get statistics from a downscale that fits."""

POOL_STATS = ("auto", "tiles", "downscale")
"""How a multi-window image of a globally pooling model gets its statistics beyond what
one call can take: summed over the tiles (``"auto"``, exact; ``"tiles"`` also when one
call would do), or from an area downscale that fits (``"downscale"``, approximate)."""

MIN_STATS_SIDE = 16
"""The statistics pass never runs on a downscale smaller than this on its short side: an
out-of-memory error below it is reported instead of retried."""

Vectors = list[npt.NDArray[np.float32]]


Guard = Callable[[Callable[[], Any], tuple[int, ...]], Any]
"""Runs a model call on the runner's device with TensorFlow's errors made ours (out of
memory :class:`~upscaler.runtime.device_memory.OutOfMemory`); the shape names the input."""

TilePlanner = Callable[[int, int], TilePlan]
"""The runner's tile plan for an image of (height, width)."""

PixelsPerCall = Callable[[int], float]
"""How many input pixels one model call of that many bytes holds (measured or estimated)."""


@dataclass(frozen=True)
class PoolPlan:
    """How the tiles of one image get their pooled statistics.

    ``how``: ``"single"`` (one window pools over the whole image itself), ``"naive"`` (each
    tile pools over itself), ``"whole"`` (one call on the border-extended image of
    ``size``), ``"downscale"`` (one call on an area downscale to ``size`` of the ``full``
    extended image) or ``"tiles"`` (summed over the tiles, ``passes`` partial passes).
    """

    how: Literal["single", "naive", "whole", "downscale", "tiles"]
    size: tuple[int, int] | None = None
    full: tuple[int, int] | None = None
    passes: int = 0

    def describe(self) -> str:
        """In words, for describe()."""
        if self.how == "single":
            return "pooled over the whole image (one window)"
        if self.how == "naive":
            return "per tile: each tile pools over itself (differs from a whole-image run)"
        if self.how == "whole":
            return "statistics from the whole image"
        if self.how == "tiles":
            return f"statistics from the whole image, summed over its tiles ({self.passes} passes)"
        assert self.size is not None and self.full is not None
        return (
            f"statistics from a {self.size[0] / self.full[0]:.2g}x downscale "
            f"({self.size[1]}x{self.size[0]} of {self.full[1]}x{self.full[0]})"
        )


@dataclass(frozen=True)
class _Axis:
    """Where a pooled feature map's positions lie along one axis of a window (see
    :mod:`upscaler.convert.geometry`): position ``j`` centred on ``offset + j * step``."""

    step: Fraction
    offset: Fraction
    reach: Fraction


def parse_grids(grids: list[Any] | None) -> list[tuple[_Axis, _Axis]] | None:
    """The converter's recorded grids; None when absent or unreadable (then statistics
    come from one call)."""
    if grids is None:
        return None
    try:
        return [
            (
                _Axis(Fraction(rows["step"]), Fraction(rows["offset"]), Fraction(rows["reach"])),
                _Axis(Fraction(cols["step"]), Fraction(cols["offset"]), Fraction(cols["reach"])),
            )
            for rows, cols in grids
        ]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        log.warning("ignoring unreadable pooled feature-map grids %r", grids)
        return None


_UNBOUNDED = 1 << 30
"""An index past the end of any feature map (ranges are clipped to the map in-graph)."""


def _owned(tile: Tile, plan: TilePlan, axis: _Axis, which: int) -> tuple[int, int]:
    """The ``[begin, end)`` positions of a pooled feature map ``tile`` owns along one axis
    (0: rows, 1: columns): those centred in its core, extended to the map's ends for the
    first and last tile of the axis."""
    if which == 0:
        start, low, high, length = tile.y0, tile.core_y0, tile.core_y1, plan.height
    else:
        start, low, high, length = tile.x0, tile.core_x0, tile.core_x1, plan.width

    def first_at(pixel: int) -> int:
        # the first position centred at or after `pixel` (window coordinates)
        return math.ceil((pixel - start - axis.offset) / axis.step)

    begin = 0 if low == 0 else max(0, first_at(low))
    end = _UNBOUNDED if high == length else max(0, first_at(high))
    return begin, end


def stats_input(
    image: Pixels, size: tuple[int, int], pad: int, mapping: PixelMap
) -> npt.NDArray[np.float32]:
    """``[1, h, w, C]`` model-range input of the statistics pass: the image extended by
    ``pad`` replicated edge pixels, or its area downscale to ``size`` (``h``, ``w``).

    The downscale averages the mapped values (the mapping is affine, so this is the
    downscale of the image the tiles see) over box footprints of the extended image, one
    axis at a time, reading the image in strips of rows: no float copy of the whole image
    exists, only the ``h`` x width x C intermediate.
    """
    height, width, channels = image.shape
    full = (height + 2 * pad, width + 2 * pad)
    if size == full:
        slot = np.empty((1, *full, channels), dtype=np.float32)
        whole = Tile(0, 0, 0, full[0], full[1], 0, full[0], 0, full[1])
        fill_window(image, whole, pad, mapping, slot[0])
        return slot
    rows = _area_weights(height, size[0], pad)
    cols = _area_weights(width, size[1], pad)
    step = max(1, STRIP_BYTES // max(1, width * channels * 4))
    strip = np.empty((min(step, height), width, channels), dtype=np.float32)
    acc = np.zeros((size[0], width * channels), dtype=np.float64)
    for top in range(0, height, step):
        block = strip[: min(step, height - top)]
        mapping.to_model(image[top : top + block.shape[0]], block)
        acc += rows[:, top : top + block.shape[0]] @ block.reshape(block.shape[0], -1)
    small = np.einsum("hwc,vw->hvc", acc.reshape(size[0], width, channels), cols)
    result: npt.NDArray[np.float32] = small.astype(np.float32)[np.newaxis]
    return result


def _area_weights(length: int, out: int, pad: int) -> npt.NDArray[np.float64]:
    """``[out, length]`` weights of an area (box) downscale of an axis extended by ``pad``
    replicated pixels on each side to ``out`` pixels, folded onto the real pixels: output
    ``j`` averages extended coordinates ``[j, j + 1) * (length + 2 pad) / out``."""
    extended = length + 2 * pad
    ratio = extended / out
    starts = np.arange(out, dtype=np.float64)[:, np.newaxis] * ratio
    pixels = np.arange(extended, dtype=np.float64)[np.newaxis, :]
    overlap = np.minimum(starts + ratio, pixels + 1) - np.maximum(starts, pixels)
    weights = np.clip(overlap, 0.0, None) / ratio
    folded: npt.NDArray[np.float64] = weights[:, pad : pad + length].copy()
    folded[:, 0] += weights[:, :pad].sum(axis=1)
    folded[:, -1] += weights[:, pad + length :].sum(axis=1)
    return folded


class PooledStatistics:
    """How the tiles of one runner's images get their pooled statistics, and computing them.

    ``enabled`` (default: whether the model pools globally) makes every tile of a
    multi-window image use the whole image's statistics; ``False`` lets each tile pool
    over itself (what a naive tiling does, for comparison). The statistics come from one
    call on the whole image when it fits ``budget`` bytes of activations, else as ``how``
    says (:data:`POOL_STATS`). ``pad`` and ``context`` are the runner's border extension
    and tile context, ``device`` its TensorFlow device (for messages).
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        device: str,
        pad: int,
        context: int,
        enabled: bool | None,
        budget: int,
        how: str,
    ) -> None:
        if enabled and not model.global_pool:
            raise ModelLoadError(
                f"model {model.path.name} is marked as pooling globally, but its SavedModel "
                "has no global-pool signatures to tile it with",
                hint="convert it again with this version of upscaler",
            )
        if how not in POOL_STATS:
            raise ValueError(f"pool_stats must be one of {', '.join(POOL_STATS)}, got {how!r}")
        if how == "tiles" and model.global_pool and model.pool_grids is None:
            raise ModelLoadError(
                f"model {model.path.name} cannot sum its pooled statistics over tiles (its "
                "SavedModel has no partial-sum signatures)",
                hint="use pool_stats='auto' or 'downscale'",
            )
        self.model = model
        self.device = device
        self.pad = pad
        self.context = context
        self.enabled = model.global_pool if enabled is None else bool(enabled)
        self.budget = budget
        self.how = how
        self._grids = parse_grids(model.pool_grids)

    def size(self, height: int, width: int, pixels_per_call: PixelsPerCall) -> tuple[int, int]:
        """The (height, width) the statistics of an ``height`` x ``width`` image are
        computed at: the image extended by its border when that call fits :attr:`budget`,
        else the largest area downscale of it that does."""
        height, width = height + 2 * self.pad, width + 2 * self.pad
        fits = pixels_per_call(self.budget)
        if height * width <= fits:
            return height, width
        factor = math.sqrt(fits / (height * width))
        return max(1, int(height * factor)), max(1, int(width * factor))

    def plan(
        self, height: int, width: int, *, tiles: TilePlanner, pixels_per_call: PixelsPerCall
    ) -> PoolPlan | None:
        """How the tiles of an ``height`` x ``width`` image get their pooled statistics;
        None for a model that does not pool globally. ``tiles`` and ``pixels_per_call``
        are asked only when the answer depends on them (either may probe the model)."""
        if not self.model.global_pool:
            return None
        if tiles(height, width).single:
            return PoolPlan("single")
        if not self.enabled:
            return PoolPlan("naive")
        full = (height + 2 * self.pad, width + 2 * self.pad)
        size = self.size(height, width, pixels_per_call)
        if self.how == "tiles" or (size != full and self.how == "auto" and self._grids is not None):
            return PoolPlan("tiles", full, full, self.model.pool_count)
        return PoolPlan("whole" if size == full else "downscale", size, full)

    def vectors(
        self, job: TileJob, *, tiles: TilePlanner, pixels_per_call: PixelsPerCall, guard: Guard
    ) -> Vectors | None:
        """The pooled vectors every tile of the job's image runs with (None when the tiles
        need none): one call on the image extended by the border or on a downscale of it,
        or sums over the tiles (:meth:`_tile_sums`). A one-call pass out of memory lowers
        :attr:`budget` (for later images too) and decides again."""
        height, width = job.image.shape[:2]
        while True:
            pool = self.plan(height, width, tiles=tiles, pixels_per_call=pixels_per_call)
            if pool is None or pool.how in ("single", "naive"):
                return None
            log.info("%s: global pool %s", self.model.path.name, pool.describe())
            if pool.how == "tiles":
                return self._tile_sums(job, guard)
            assert pool.size is not None
            window = stats_input(job.image, pool.size, self.pad, job.mapping)
            try:
                return self._whole(window, guard)
            except OutOfMemory as exc:
                del window
                if min(pool.size) // 2 < MIN_STATS_SIDE:
                    raise ModelLoadError(
                        f"{self.device} ran out of memory computing the pooled statistics of "
                        f"{self.model.path.name} even on a {pool.size[1]}x{pool.size[0]} "
                        f"image: {exc}",
                        hint="use device='cpu', or free memory held by other processes",
                    ) from None
                self.budget = max(1, self.budget // 4)
                log.warning(
                    "out of memory computing pooled statistics on %s; retrying with %d MiB",
                    self.device,
                    self.budget >> 20,
                )

    def _tile_sums(self, job: TileJob, guard: Guard) -> Vectors:
        """The whole image's pooled vectors, summed over the tiles of the job's plan.

        Pooling layer ``k`` averages a feature map whose position ``j`` is centred on
        window pixel ``offset + j * step`` (the converter's grid). Each tile sums the
        positions centred in its core (the first and last tile of an axis also those
        beyond the image: the wrapper's padding), with the exact vectors of layers
        ``< k`` given; the cores partition the image, so the sums partition the whole
        image's feature map, and its mean is their total over their count. Window
        origins on the model's alignment put every tile's positions on the whole image's
        grid, and a context at least the feature map's reach makes them the same values.
        """
        assert self._grids is not None
        vectors: Vectors = []
        reach = max(max(axis.reach for axis in grid) for grid in self._grids)
        if reach > self.context:
            log.warning(
                "%s: context %d is less than the %s-pixel reach of its pooled feature maps; "
                "the pooled statistics may differ slightly from a whole-image run",
                self.model.path.name,
                self.context,
                reach,
            )
        for k, grid in enumerate(self._grids):
            total: npt.NDArray[np.float64] | None = None
            count = 0.0
            for group, batch in job.batches():
                rows = np.array([_owned(tile, job.plan, grid[0], 0) for tile in group], np.int32)
                cols = np.array([_owned(tile, job.plan, grid[1], 1) for tile in group], np.int32)
                sums, counts = self._partial(k, batch, vectors, rows, cols, guard=guard)
                part = sums.astype(np.float64).sum(axis=0)
                total = part if total is None else total + part
                count += float(counts.astype(np.float64).sum())
                job.advance(len(group))
            assert total is not None and count > 0
            vectors.append((total / count).astype(np.float32).reshape(1, 1, 1, -1))
        return vectors

    def _whole(self, window: npt.NDArray[np.float32], guard: Guard) -> Vectors:
        """The pooled vectors of one ``[1, H, W, C]`` model-range image, on the device."""
        tf = require_tensorflow()
        function = self.model._pool_stats
        result = guard(
            lambda: function(**{self.model.input_name: tf.constant(window)}), window.shape
        )
        return [
            np.asarray(result[pool_name(i)], dtype=np.float32) for i in range(self.model.pool_count)
        ]

    def _partial(
        self,
        k: int,
        batch: npt.NDArray[np.float32],
        vectors: Vectors,
        rows: npt.NDArray[np.int32],
        cols: npt.NDArray[np.int32],
        *,
        guard: Guard,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Per window, the sum of pooling layer ``k``'s feature map over the owned
        ``rows`` x ``cols`` positions, and how many positions that was."""
        tf = require_tensorflow()
        function = self.model._partials[k]
        given = {pool_name(i): vector for i, vector in enumerate(vectors)}

        def call() -> Any:
            return function(
                **{self.model.input_name: tf.constant(batch)},
                **given,
                **{POOL_ROWS: tf.constant(rows), POOL_COLS: tf.constant(cols)},
            )

        result = guard(call, batch.shape)
        sums = np.asarray(result[POOL_SUM], dtype=np.float32)
        counts = np.asarray(result[POOL_COUNT], dtype=np.float32)
        return sums, counts
