"""Run a SavedModel over tiles with overlap, batched, on one device, in bounded memory.

Why tiles: a whole-image call needs activation memory proportional to the image area (an
x4 RDN on a 2048² input wants about 20 GiB), and a GPU has far less. Tiles bound the
model's memory per call; the output is assembled into one preallocated array, or a
memory-mapped temp file beyond :data:`MEMMAP_THRESHOLD_BYTES`, so the peak does not grow
with the image beyond the output itself. The source stays a numpy array on the host; each
batch of windows is converted to the model's value range on its own, so no float copy of
the whole image ever exists, and only windows go to the device.

How big the windows are (``tile=None``, the default): the runner measures, once, how many
bytes of activations the model needs per input pixel (one small probe call, read from
TensorFlow's allocator statistics), and plans the image so that every window fits the
memory budget per call (:data:`CPU_MEMORY_BUDGET`, :data:`GPU_MEMORY_BUDGET`) while
computing as few pixels as possible (:func:`~upscaler.runtime.tiling.plan_tiles_for_budget`).
Images whose activations fit the budget run in one call. Models differ by a factor of 40
in bytes per pixel (an x8 RDN upsamples 192 channels to full resolution), so no single tile
size is right for all of them. An explicit ``tile`` plans square cores of that size.

Why it matches a whole-image run: the plan (:mod:`upscaler.runtime.tiling`) keeps only
each window's core, whose pixels saw ``context`` real input pixels on every inner side;
with ``context`` at least the model's receptive field (measured per model and stored in
the catalog as ``tiling: {context: N}``) the assembled output equals a whole-image run up
to float32 rounding, i.e. within one grey level after rounding, and bit-identical when the
image fits in one window.

Borders (``border=``): the models zero-pad inside every convolution, so output pixels
within the receptive field of the image border see black beyond it and come out paler (a
frame 1-2 pixels wide, and semi-transparent corners when alpha goes through the model).
By default (``"replicate"``, as the ncnn tools do) the image is treated as extended by
:data:`BORDER_PAD` pixels of its own edge on every side (at most its ``context``): windows
are planned over the extended image, the extension is written straight into each float32
window (no padded copy of the image), and only the real image's pixels are kept.
``"zero"`` keeps the UpscalerJS behaviour exactly (the parity tests use it).

Models that pool globally (squeeze-and-excitation blocks in waifu2x cunet and
Real-CUGAN: a mean over the whole feature map scales every channel) see the whole image
in every output pixel, so no context is enough: a tile alone averages over itself. Such a
model's SavedModel serves two more signatures (:mod:`upscaler.convert.builder`): one
returns the pooled vectors for an input, the other runs the network with given vectors.
When such an image needs more than one window, the runner first computes the whole
(border-extended) image's vectors, and runs every tile with them, so the tiles equal a
whole-image run within float32 rounding. It computes them in one call when that fits
:attr:`~TiledRunner.stats_budget`; else, one pooling layer at a time, as sums over the
tiles (each tile sums the feature-map positions centred in its core, with the vectors of
the layers before given: the layers are sequential), which costs one more partial pass
over the tiles per pooling layer but is exact for any size. ``pool_stats="downscale"``
takes them instead from an area downscale that fits in one call: cheaper, approximate.
``describe()["global_pool"]`` says which.

Windows start on multiples of the model's tile alignment (``alignment``, recorded by the
converter: a network that downsamples by 2 is not shift-invariant, so a window off its
grid computes other pixels than the whole image, see :mod:`upscaler.convert.geometry`).

Pixel arithmetic generalises :mod:`upscaler.runtime.whole_image` (UpscalerJS's exact
mapping) from white = 255 to white = 65535 (uint16) and white = 1.0 (float32): uint8
results are bit-identical to ``whole_image.upscale_rgb`` for a one-window image.

No TensorFlow exception leaves this module: running out of device memory retries with
smaller batches and then smaller windows, and anything else becomes a
:class:`~upscaler.errors.ModelLoadError` or :class:`~upscaler.errors.ImageError`.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from upscaler.errors import Cancelled, ImageError, ModelLoadError
from upscaler.progress import tqdm_disable
from upscaler.runtime.device import (
    configure_threads,
    device_kind,
    resolve_device,
    thread_settings,
)
from upscaler.runtime.precision import current_precision
from upscaler.runtime.savedmodel import (
    OUTPUT_NAME,
    POOL_COLS,
    POOL_COUNT,
    POOL_ROWS,
    POOL_SUM,
    LoadedModel,
    _first_line,
    pool_name,
    require_tensorflow,
)
from upscaler.runtime.tiling import Tile, TilePlan, plan_tiles, plan_tiles_for_budget
from upscaler.runtime.whole_image import _range

log = logging.getLogger("upscaler.runtime.tiled")

__all__ = [
    "BORDERS",
    "BORDER_PAD",
    "CPU_MEMORY_BUDGET",
    "DEFAULTS",
    "DEFAULT_CONTEXT",
    "ENV_MEMMAP_THRESHOLD",
    "GPU_MEMORY_BUDGET",
    "MEMMAP_THRESHOLD_BYTES",
    "MIN_TILE",
    "POOL_STATS",
    "POOL_STATS_FACTOR",
    "STRIP_BYTES",
    "PoolPlan",
    "TileDefaults",
    "TiledRunner",
    "check_pixels",
]

MEMMAP_THRESHOLD_BYTES = 1 << 30
"""Outputs larger than this (1 GiB) are assembled in a memory-mapped temp file."""

ENV_MEMMAP_THRESHOLD = "UPSCALER_MEMMAP_THRESHOLD"
"""Environment variable overriding :data:`MEMMAP_THRESHOLD_BYTES` (bytes), read per run."""

DEFAULT_CONTEXT = 32
"""Context for a model whose receptive field nobody measured (local models): generous for
small networks; catalog models carry their measured ``tiling.context``."""

MIN_TILE = 32
"""Cores are never shrunk below this on out-of-memory retries: smaller ones would be
mostly context."""

CPU_MEMORY_BUDGET = 512 << 20
"""Activation bytes per model call on a CPU (capped at an eighth of physical memory).

Chosen with ``benchmarks/run.py`` (docs/performance.md). CPU time per pixel does not depend
on the window size, so bigger windows only buy less overlap, and memory decides: TensorFlow
itself holds about 0.6 GB and a window's real peak is up to a quarter above the probe's
estimate, so 512 MiB keeps an x4 upscale of a 2048² image within the memory target (peak
RSS at most twice the output plus 1.2 GB; 768 MiB measured 7 % over it) while the default
model still runs a 512² image in one call."""

GPU_MEMORY_BUDGET = 2 << 30
"""Activation bytes per model call on a GPU; out-of-memory errors halve it and retry."""

POOL_STATS_FACTOR = 4
"""The statistics pass of a globally pooling model may use this many times the memory
budget of a tile call (:attr:`TiledRunner.stats_budget`).

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

BORDERS = ("replicate", "zero")
"""How the image is extended beyond its border: its edge pixels, or the model's own zeros."""

BORDER_PAD = 16
"""Pixels of replicated edge added on every side (capped by the model's context).

Beyond the reach at which a pixel still moves an output by half a grey level for every
catalog model (8-13 pixels, docs/performance.md), so the zeros the model pads with are
too far to show; a cap, because a full receptive field (up to 40) would cost a 128² image
more than twice its own pixels."""

STRIP_BYTES = 1 << 20
"""Float32 bytes of a window's output mapped back to pixels at a time: the only host
memory a window adds beyond its float32 input (see :meth:`_PixelMap.from_model`)."""

PROBE_SIDES = (96, 128)
"""Sides of the probe windows that measure a model's activation bytes per pixel."""

ProgressCallback = Callable[[int, int], object]
Pixels = npt.NDArray[Any]


@dataclass(frozen=True)
class TileDefaults:
    """Defaults for one device kind.

    ``tile`` is the square core used only when a model's memory per pixel cannot be
    measured (an allocator without statistics); ``batch`` is the tiles per call. On a
    CPU a batch buys nothing (one window already keeps every core busy) and on a GPU the
    memory-sized windows are already as large as fits, so both batch one tile.
    """

    tile: int
    batch: int
    memory_budget: int


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def _cpu_budget() -> int:
    memory = _physical_memory()
    return CPU_MEMORY_BUDGET if memory is None else min(CPU_MEMORY_BUDGET, memory // 8)


DEFAULTS: dict[str, TileDefaults] = {
    "cpu": TileDefaults(tile=512, batch=1, memory_budget=_cpu_budget()),
    "gpu": TileDefaults(tile=512, batch=1, memory_budget=GPU_MEMORY_BUDGET),
}
"""Defaults per device kind (``"cpu"``, ``"gpu"``)."""


_WHITE: dict[np.dtype[Any], float] = {
    np.dtype(np.uint8): 255.0,
    np.dtype(np.uint16): 65535.0,
    np.dtype(np.float32): 1.0,
}


def _memmap_threshold(explicit: int | None) -> int:
    if explicit is not None:
        return explicit
    raw = os.environ.get(ENV_MEMMAP_THRESHOLD, "").strip()
    if raw:
        try:
            return max(0, int(float(raw)))
        except (ValueError, OverflowError):  # not a number, or infinite
            log.warning("ignoring %s=%r: not a number of bytes", ENV_MEMMAP_THRESHOLD, raw)
    return MEMMAP_THRESHOLD_BYTES


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


class _PixelMap:
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


def _parse_grids(grids: list[Any] | None) -> list[tuple[_Axis, _Axis]] | None:
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


@dataclass
class _Job:
    """One image's run over one plan: what the statistics passes and the tile pass share.

    ``batches()`` yields each group of tiles with their windows filled (in one reused
    buffer), checking ``cancel`` first; ``advance(n)`` counts ``n`` of ``total`` tiles
    done and tells ``progress`` (the bar and the caller's callback)."""

    image: Pixels
    plan: TilePlan
    mapping: _PixelMap
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
                _fill_window(self.image, tile, self.pad, self.mapping, slot)
            yield group, batch

    def advance(self, count: int) -> None:
        self.done += count
        self.progress(count, self.done, self.total)


class _OutOfMemory(Exception):
    """Internal: the device ran out of memory for the current window or batch size."""


class TiledRunner:
    """Upscale images of any size with one model, tile by tile.

    ``context`` is the overlap in input pixels kept on every inner side of a window
    (catalog models: their ``tiling.context``; ``None``: :data:`DEFAULT_CONTEXT`).
    ``tile=None`` sizes windows by memory (``memory_budget`` bytes of activations per call,
    default per device kind, see :data:`DEFAULTS`); an int plans square cores of that many
    input pixels. ``batch`` is the tiles per model call. ``device`` is ``"auto"``,
    ``"cpu"``, ``"cpu:N"`` or ``"gpu:N"``. ``border`` is ``"replicate"`` (default) or
    ``"zero"`` (see the module docstring). Outputs larger than ``memmap_threshold`` bytes
    (default :data:`MEMMAP_THRESHOLD_BYTES`, or ``$UPSCALER_MEMMAP_THRESHOLD``) are
    assembled in a memory-mapped temp file, deleted when the returned array is.

    ``alignment`` (default: the model's recorded tile alignment) is the multiple window
    origins keep. ``global_pool`` (default: whether the model pools globally) makes every
    tile of a multi-window image use the whole image's pooled statistics; ``False`` lets
    each tile pool over itself (what a naive tiling does, for comparison). The statistics
    come from one call on the whole image when it fits ``stats_budget`` bytes of
    activations (default :data:`POOL_STATS_FACTOR` times ``memory_budget``), else as
    ``pool_stats`` says (:data:`POOL_STATS`).
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        scale: int,
        value_range: Any,
        tile: int | None = None,
        context: int | None = None,
        batch: int | None = None,
        device: str = "auto",
        memory_budget: int | None = None,
        memmap_threshold: int | None = None,
        border: str = "replicate",
        alignment: int | None = None,
        global_pool: bool | None = None,
        stats_budget: int | None = None,
        pool_stats: str = "auto",
    ) -> None:
        if int(scale) != scale or scale < 1:
            raise ModelLoadError(f"scale must be a positive integer, got {scale!r}")
        self.model = model
        self.scale = int(scale)
        self.value_range = _range(value_range)
        configure_threads()
        self.device = resolve_device(device)
        if not model.runs_in_tensorflow and device_kind(self.device) != "cpu":
            # An int8 TFLite model runs on the CPU (XNNPACK) whatever the request.
            log.info("%s runs on the CPU (%s)", model.path.name, model.runtime)
            self.device = resolve_device("cpu")
        self.defaults = DEFAULTS[device_kind(self.device)]
        self.tile = None if tile is None else _positive("tile", tile)
        self.batch = _positive("batch", batch if batch is not None else self.defaults.batch)
        self.memory_budget = _positive(
            "memory_budget",
            memory_budget if memory_budget is not None else self.defaults.memory_budget,
        )
        self.context = DEFAULT_CONTEXT if context is None else int(context)
        if self.context < 0:
            raise ValueError(f"context must be >= 0, got {context}")
        self.context_given = context is not None
        if border not in BORDERS:
            raise ValueError(f"border must be one of {', '.join(BORDERS)}, got {border!r}")
        self.border = border
        self.pad = min(self.context, BORDER_PAD) if border == "replicate" else 0
        self.memmap_threshold = memmap_threshold
        self.alignment = _positive(
            "alignment", alignment if alignment is not None else model.tile_alignment
        )
        if global_pool and not model.global_pool:
            raise ModelLoadError(
                f"model {model.path.name} is marked as pooling globally, but its SavedModel "
                "has no global-pool signatures to tile it with",
                hint="convert it again with this version of upscaler",
            )
        self.global_pool = model.global_pool if global_pool is None else bool(global_pool)
        self.stats_budget = _positive(
            "stats_budget",
            stats_budget if stats_budget is not None else POOL_STATS_FACTOR * self.memory_budget,
        )
        if pool_stats not in POOL_STATS:
            raise ValueError(
                f"pool_stats must be one of {', '.join(POOL_STATS)}, got {pool_stats!r}"
            )
        if pool_stats == "tiles" and model.global_pool and model.pool_grids is None:
            raise ModelLoadError(
                f"model {model.path.name} cannot sum its pooled statistics over tiles (its "
                "SavedModel has no partial-sum signatures)",
                hint="use pool_stats='auto' or 'downscale'",
            )
        self.pool_stats = pool_stats
        self._grids = _parse_grids(model.pool_grids)
        self.trace_count = 0
        self._bytes_per_pixel: float | None = None
        self._probed = False
        self._call: Any = None
        self._pooled_call: Any = None
        self._last_plan: TilePlan | None = None
        self._last_memmap: bool | None = None
        self._last_pool: str | None = None

    # -- planning ----------------------------------------------------------------------------

    @property
    def channels(self) -> int:
        """Channels of the pixels this runner takes and returns: the model's (1 luma,
        3 RGB, 4 RGBA; 3 when its signature leaves them free)."""
        return self.model.channels

    @property
    def bytes_per_pixel(self) -> float | None:
        """Activation bytes the model needs per input pixel (measured once, lazily; None
        when the device's allocator keeps no statistics)."""
        if not self._probed:
            self._bytes_per_pixel = self._probe()
            self._probed = True
        return self._bytes_per_pixel

    def plan(self, height: int, width: int) -> TilePlan:
        """The tile plan this runner uses for an ``height`` x ``width`` image now (over the
        image extended by :attr:`pad` pixels on every side)."""
        height, width = height + 2 * self.pad, width + 2 * self.pad
        if self.tile is None:
            per_pixel = self.bytes_per_pixel
            if per_pixel:
                return plan_tiles_for_budget(
                    height,
                    width,
                    # the budget is per model call, and a call holds `batch` windows
                    max_window_pixels=max(1, int(self.memory_budget / per_pixel / self.batch)),
                    context=self.context,
                    scale=self.scale,
                    batch=self.batch,
                    origin_step=self.alignment,
                )
        return plan_tiles(
            height,
            width,
            tile=self.tile or self.defaults.tile,
            context=self.context,
            scale=self.scale,
            batch=self.batch,
            origin_step=self.alignment,
        )

    def stats_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) the statistics of a globally pooling model are computed at
        for an ``height`` x ``width`` image: the image extended by its border when that
        call fits :attr:`stats_budget`, else the largest area downscale of it that does."""
        height, width = height + 2 * self.pad, width + 2 * self.pad
        per_pixel = self.bytes_per_pixel
        if per_pixel:
            fits = self.stats_budget / per_pixel
        else:  # no allocator statistics: as many pixels as the fixed windows, times the factor
            side = (self.tile or self.defaults.tile) + 2 * self.context
            fits = side * side * self.stats_budget / self.memory_budget
        if height * width <= fits:
            return height, width
        factor = math.sqrt(fits / (height * width))
        return max(1, int(height * factor)), max(1, int(width * factor))

    def pool_plan(self, height: int, width: int) -> PoolPlan | None:
        """How the tiles of an ``height`` x ``width`` image get their pooled statistics;
        None for a model that does not pool globally."""
        if not self.model.global_pool:
            return None
        if self.plan(height, width).single:
            return PoolPlan("single")
        if not self.global_pool:
            return PoolPlan("naive")
        full = (height + 2 * self.pad, width + 2 * self.pad)
        size = self.stats_size(height, width)
        if self.pool_stats == "tiles" or (
            size != full and self.pool_stats == "auto" and self._grids is not None
        ):
            return PoolPlan("tiles", full, full, self.model.pool_count)
        return PoolPlan("whole" if size == full else "downscale", size, full)

    def pool_source(self, height: int, width: int) -> str | None:
        """Where the tiles of an ``height`` x ``width`` image get their pooled statistics,
        in words (what describe() reports); None for a model that does not pool globally."""
        plan = self.pool_plan(height, width)
        return None if plan is None else plan.describe()

    def uses_memmap(
        self, height: int, width: int, channels: int | None = None, itemsize: int = 1
    ) -> bool:
        """Whether the output of such an image would go to a memory-mapped temp file
        (``channels``: the model's unless given)."""
        channels = self.channels if channels is None else channels
        size = height * self.scale * width * self.scale * channels * itemsize
        return size > _memmap_threshold(self.memmap_threshold)

    def describe(self, shape: tuple[int, ...] | None = None) -> dict[str, Any]:
        """Device, precision, tiling and threads: the plan for ``shape`` (H, W[, C]) when
        given (this may run the one-off memory probe), else for the last image run (tile
        facts ``None`` before any)."""
        plan = self.plan(shape[0], shape[1]) if shape is not None else self._last_plan
        memmap = self.uses_memmap(shape[0], shape[1]) if shape is not None else self._last_memmap
        pool = self.pool_source(shape[0], shape[1]) if shape is not None else self._last_pool
        return {
            "device": self.device,
            "runtime": self.model.runtime,
            "precision": self.model.precision or current_precision(),
            "tile": self.tile if self.tile is not None else "auto (memory budget)",
            "context": self.context,
            "context_source": "catalog" if self.context_given else "default",
            "border": self.border,
            "border_pad": self.pad,
            "batch": self.batch,
            "memory_budget": self.memory_budget,
            "bytes_per_pixel": None
            if self._bytes_per_pixel is None
            else round(self._bytes_per_pixel),
            "window": list(plan.window) if plan is not None else None,
            "grid": list(plan.grid) if plan is not None else None,
            "tiles": plan.count if plan is not None else None,
            "overhead": round(plan.overhead, 4) if plan is not None else None,
            "alignment": self.alignment,
            "global_pool": pool,
            "memmap": memmap,
            "memmap_threshold": _memmap_threshold(self.memmap_threshold),
            "threads": thread_settings().as_dict(),
        }

    # -- running -----------------------------------------------------------------------------

    def run(
        self,
        pixels: Pixels,
        *,
        progress: bool = True,
        callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Pixels:
        """Upscale HxWxC pixels (C the model's :attr:`channels`; uint8, uint16, or float32
        in [0, 1]); same dtype and channels out.

        ``callback(done, total)`` is called after every batch; ``cancel`` is checked before
        every batch and raises :class:`~upscaler.errors.Cancelled` once set. Out of device
        memory, the batch is halved, then the windows, down to :data:`MIN_TILE`-pixel
        cores; the runner keeps the smaller size for later images.
        """
        image = check_pixels(pixels, self.channels)
        mapping = _PixelMap(image.dtype, self.value_range)
        while True:
            plan = self.plan(image.shape[0], image.shape[1])
            try:
                return self._run_plan(
                    image,
                    plan=plan,
                    mapping=mapping,
                    progress=progress,
                    callback=callback,
                    cancel=cancel,
                )
            except _OutOfMemory as exc:
                self._shrink(plan, exc)

    def _statistics(self, job: _Job) -> Vectors | None:
        """The pooled vectors every tile of ``image`` runs with (None when the tiles need
        none): one call on the image extended by the border or on a downscale of it, or
        sums over the tiles (:meth:`_tile_statistics`). A one-call pass out of memory
        lowers :attr:`stats_budget` (for later images too) and decides again."""
        height, width = job.image.shape[:2]
        while True:
            pool = self.pool_plan(height, width)
            if pool is None or pool.how in ("single", "naive"):
                return None
            log.info("%s: global pool %s", self.model.path.name, pool.describe())
            if pool.how == "tiles":
                return self._tile_statistics(job)
            assert pool.size is not None
            window = _stats_input(job.image, pool.size, self.pad, job.mapping)
            try:
                return self._pool_stats(window)
            except _OutOfMemory as exc:
                del window
                if min(pool.size) // 2 < MIN_STATS_SIDE:
                    raise ModelLoadError(
                        f"{self.device} ran out of memory computing the pooled statistics of "
                        f"{self.model.path.name} even on a {pool.size[1]}x{pool.size[0]} "
                        f"image: {exc}",
                        hint="use device='cpu', or free memory held by other processes",
                    ) from None
                self.stats_budget = max(1, self.stats_budget // 4)
                log.warning(
                    "out of memory computing pooled statistics on %s; retrying with %d MiB",
                    self.device,
                    self.stats_budget >> 20,
                )

    def _tile_statistics(self, job: _Job) -> Vectors:
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
                sums, counts = self._partial(k, batch, vectors, rows, cols)
                part = sums.astype(np.float64).sum(axis=0)
                total = part if total is None else total + part
                count += float(counts.astype(np.float64).sum())
                job.advance(len(group))
            assert total is not None and count > 0
            vectors.append((total / count).astype(np.float32).reshape(1, 1, 1, -1))
        return vectors

    def _shrink(self, plan: TilePlan, exc: _OutOfMemory) -> None:
        """Halve the batch, else the windows until the plan really changes."""
        height, width = plan.height - 2 * self.pad, plan.width - 2 * self.pad
        if self.batch > 1:
            self.batch //= 2
            log.warning("out of memory on %s; retrying with batches of %d", self.device, self.batch)
            return
        if self.tile is None and self.bytes_per_pixel:
            smallest = (MIN_TILE + 2 * self.context) ** 2 * self.bytes_per_pixel
            budget = self.memory_budget
            while budget // 2 >= smallest:
                budget //= 2
                self.memory_budget = budget
                if self.plan(height, width).window != plan.window:
                    log.warning(
                        "out of memory on %s; retrying with %d MiB per call",
                        self.device,
                        budget >> 20,
                    )
                    return
        else:
            tile = self.tile or self.defaults.tile
            while tile // 2 >= MIN_TILE:
                tile //= 2
                self.tile = tile
                if self.plan(height, width).window != plan.window:
                    log.warning(
                        "out of memory on %s; retrying with %d-pixel tiles", self.device, tile
                    )
                    return
        raise ModelLoadError(
            f"{self.device} ran out of memory running {self.model.path.name} even on "
            f"{plan.window[0]}x{plan.window[1]} tiles one at a time: {exc}",
            hint="use device='cpu', or free memory held by other processes",
        )

    def _run_plan(
        self,
        image: Pixels,
        *,
        plan: TilePlan,
        mapping: _PixelMap,
        progress: bool,
        callback: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> Pixels:
        from tqdm.auto import tqdm

        self._last_plan = plan
        pool = self.pool_plan(image.shape[0], image.shape[1])
        self._last_pool = None if pool is None else pool.describe()
        # Summing pooled statistics over the tiles is one more (partial) pass per layer;
        # progress counts those tiles too.
        total = plan.count * (1 + (pool.passes if pool is not None else 0))
        scale = self.scale
        out: Pixels | None = None
        window_h, window_w = plan.window
        channels = image.shape[2]
        buffer = np.empty((min(plan.batch, plan.count), window_h, window_w, channels), np.float32)
        log.debug(
            "%s on %s: %d tiles of %dx%d (grid %s, context %d), batch %d",
            self.model.path.name,
            self.device,
            total,
            window_h,
            window_w,
            plan.grid,
            plan.context,
            plan.batch,
        )
        with tqdm(
            total=total,
            unit="tile",
            desc="upscaling",
            disable=tqdm_disable(progress),
            file=sys.stderr,
            leave=False,
        ) as bar:

            def report(count: int, done: int, total: int) -> None:
                bar.update(count)
                if callback is not None:
                    callback(done, total)

            job = _Job(image, plan, mapping, self.pad, buffer, cancel, report, total)
            vectors = self._statistics(job)
            for group, batch in job.batches():
                result = self._infer(batch, vectors)
                expected = (len(group), window_h * scale, window_w * scale)
                if result.shape[:3] != expected:
                    raise ModelLoadError(
                        f"model {self.model.path.name} turned tiles of shape "
                        f"{list(batch.shape)} into {list(result.shape)}, not "
                        f"{[*expected, channels]} as scale={scale} requires",
                        hint="pass the model's real scale",
                    )
                if result.shape[3] != channels:
                    raise ModelLoadError(
                        f"model {self.model.path.name} turned {channels}-channel tiles into "
                        f"{result.shape[3]}-channel ones; a model must return as many "
                        "channels as it takes"
                    )
                if out is None:
                    shape = (image.shape[0] * scale, image.shape[1] * scale, result.shape[3])
                    out = self._allocate(shape, mapping.dtype)
                _write_cores(group, result, out, mapping, pad=self.pad, scale=scale)
                # The last reference to the model's output tensor: it must be gone before
                # the next call, or two windows' outputs are alive at once.
                del result
                job.advance(len(group))
        assert out is not None
        if isinstance(out, np.memmap):
            out.flush()
        return out

    def _allocate(self, shape: tuple[int, int, int], dtype: np.dtype[Any]) -> Pixels:
        nbytes = shape[0] * shape[1] * shape[2] * dtype.itemsize
        self._last_memmap = nbytes > _memmap_threshold(self.memmap_threshold)
        if not self._last_memmap:
            return np.empty(shape, dtype=dtype)
        # An unlinked temp file: the disk space goes back when the array is released.
        log.info("assembling a %.2f GiB output in a memory-mapped temp file", nbytes / 2**30)
        try:
            with tempfile.TemporaryFile(prefix="upscaler-", suffix=".out") as handle:
                return np.memmap(handle, dtype=dtype, mode="w+", shape=shape)
        except OSError as exc:
            raise ImageError(
                f"cannot create a {nbytes / 2**30:.2f} GiB temp file for the output: {exc}",
                hint="set TMPDIR to a folder with more free space",
            ) from exc

    # -- the model call ----------------------------------------------------------------------

    def _function(self, pooled: bool = False) -> Any:
        """The one tf.function every batch goes through, traced once per runner.

        It wraps the SavedModel's serving function and places it on the runner's device.
        Its input signature leaves batch, height and width free: the serving function is
        shape-polymorphic already, TensorFlow's CPU kernels cost the same per pixel
        whatever the window, and XLA (which would want fixed shapes) is slower here (see
        docs/performance.md), so one trace serves every image: nothing ever retraces.
        ``pooled``: the network run with given pooled vectors instead (one set for the
        whole batch: ``[1, 1, 1, C]`` vectors broadcast over its tiles), traced once too.
        """
        cached = self._pooled_call if pooled else self._call
        if cached is not None:
            return cached
        tf = require_tensorflow()
        serving = self.model._pooled if pooled else self.model._function
        input_name = self.model.input_name
        output_name = OUTPUT_NAME if pooled else self.model.output_name
        device = self.device

        def body(batch: Any, *vectors: Any) -> Any:
            self.trace_count += 1  # a Python side effect: runs only while tracing
            given = {pool_name(i): vector for i, vector in enumerate(vectors)}
            with tf.device(device):
                return serving(**{input_name: batch}, **given)[output_name]

        specs = [tf.TensorSpec([None, None, None, self.channels], tf.float32, name="tiles")]
        if pooled:
            specs += [tf.TensorSpec([None, 1, 1, None], tf.float32)] * self.model.pool_count
        function = tf.function(body, input_signature=specs, autograph=False)
        if pooled:
            self._pooled_call = function
        else:
            self._call = function
        return function

    def _pool_stats(self, window: npt.NDArray[np.float32]) -> Vectors:
        """The pooled vectors of one ``[1, H, W, C]`` model-range image, on the device."""
        tf = require_tensorflow()
        function = self.model._pool_stats
        result = self._guard(
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

        result = self._guard(call, batch.shape)
        sums = np.asarray(result[POOL_SUM], dtype=np.float32)
        counts = np.asarray(result[POOL_COUNT], dtype=np.float32)
        return sums, counts

    def _infer(
        self, batch: npt.NDArray[np.float32], vectors: Vectors | None = None
    ) -> npt.NDArray[np.float32]:
        """Run one batch on the device (with the image's pooled vectors when given);
        TensorFlow errors become ours."""
        if not self.model.runs_in_tensorflow:
            return self.model.predict(batch)
        tf = require_tensorflow()
        name = self.model.path.name

        def call() -> Any:
            if vectors is None:
                return self._function()(tf.constant(batch))
            return self._function(pooled=True)(tf.constant(batch), *vectors)

        # np.asarray shares a CPU tensor's memory (.numpy() would copy it)
        out = np.asarray(self._guard(call, batch.shape))
        if out.dtype != np.float32:
            out = out.astype(np.float32)
        if out.ndim != 4:
            raise ModelLoadError(f"model {name} returned shape {list(out.shape)}; expected rank 4")
        return out

    def _guard(self, call: Callable[[], Any], shape: tuple[int, ...]) -> Any:
        """Run ``call`` on the device; TensorFlow errors become ours (out of memory an
        internal signal the callers retry on)."""
        tf = require_tensorflow()
        name = self.model.path.name
        try:
            with tf.device(self.device):
                result = call()
        except tf.errors.ResourceExhaustedError as exc:
            raise _OutOfMemory(_first_line(exc)) from None
        except tf.errors.InvalidArgumentError as exc:
            raise ImageError(
                f"model {name} rejected tiles of shape {list(shape)}: {_first_line(exc)}"
            ) from None
        except tf.errors.OpError as exc:
            raise ModelLoadError(f"model {name} failed while running: {_first_line(exc)}") from None
        except (ValueError, TypeError) as exc:
            raise ModelLoadError(
                f"model {name} cannot run on tiles of shape {list(shape)}: {exc}"
            ) from None
        return result

    def _probe(self) -> float | None:
        """Activation bytes per input pixel, from the device allocator's peak during calls
        on :data:`PROBE_SIDES` windows (after a tiny warm-up call, so one-off allocations
        are not counted).

        The peak of one call varies by up to a quarter with the order in which TensorFlow's
        inter-op threads happen to run independent ops, so the smaller of two readings is
        kept; the fixed part of the peak is counted as per-pixel, which errs on the safe
        side for the larger windows that are planned with it.
        """
        if not self.model.runs_in_tensorflow:
            return None  # its own engine's memory is not TensorFlow's to measure
        tf = require_tensorflow()
        device = self.device.removeprefix("/device:")
        readings = []
        try:
            channels = self.channels
            self._infer(np.zeros((1, 16, 16, channels), np.float32))
            for side in PROBE_SIDES:
                tf.config.experimental.reset_memory_stats(device)
                before = tf.config.experimental.get_memory_info(device)["current"]
                self._infer(np.zeros((1, side, side, channels), np.float32))
                peak = tf.config.experimental.get_memory_info(device)["peak"]
                readings.append(max(peak - before, 0) / side**2)
        except (ValueError, RuntimeError, KeyError, tf.errors.OpError, _OutOfMemory) as exc:
            log.debug("no memory statistics on %s (%s); using fixed tiles", device, exc)
            return None
        per_pixel = min(readings)
        log.debug("%s needs %.0f bytes per input pixel", self.model.path.name, per_pixel)
        return per_pixel or None


def _fill_window(
    image: Pixels, tile: Tile, pad: int, mapping: _PixelMap, slot: npt.NDArray[np.float32]
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


def _stats_input(
    image: Pixels, size: tuple[int, int], pad: int, mapping: _PixelMap
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
        _fill_window(image, whole, pad, mapping, slot[0])
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


def _write_cores(
    group: list[Tile],
    result: npt.NDArray[np.float32],
    out: Pixels,
    mapping: _PixelMap,
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


def _positive(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
