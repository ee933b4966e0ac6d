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
``"zero"`` keeps the UpscalerJS behaviour exactly (the parity tests use it). The values
are defined once, in :data:`upscaler.arguments.BORDERS`.

Models that pool globally (squeeze-and-excitation blocks) see the whole image in every
output pixel, so no context is enough: their tiles share one set of pooled statistics,
planned and computed by :mod:`upscaler.runtime.pooled_tiling`.

Windows start on multiples of the model's tile alignment (``alignment``, recorded by the
converter: a network that downsamples by 2 is not shift-invariant, so a window off its
grid computes other pixels than the whole image, see :mod:`upscaler.convert.geometry`).

Pixel arithmetic (:mod:`upscaler.runtime.windows`) generalises
:mod:`upscaler.runtime.whole_image` (UpscalerJS's exact mapping) to uint16 and float32:
uint8 results are bit-identical to ``whole_image.upscale_rgb`` for a one-window image.

Options are checked where the user passes them (:mod:`upscaler.arguments`): this runner
takes ``patch_size`` as ``tile``, ``padding`` as ``context`` and ``batch_size`` as
``batch``, and a direct caller gets the very same checks and messages.

No TensorFlow exception leaves this module: running out of device memory
(:mod:`upscaler.runtime.device_memory`) retries with smaller batches and then smaller
windows, and anything else becomes a :class:`~upscaler.errors.ModelLoadError` or
:class:`~upscaler.errors.ImageError`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.arguments import BORDERS, DEFAULT_BORDER, check_border, check_whole
from upscaler.errors import ModelLoadError
from upscaler.progress import tqdm_disable
from upscaler.runtime.device import DeviceSpec, device_kind, resolve_device
from upscaler.runtime.device_memory import (
    CPU_MEMORY_BUDGET,
    DEFAULTS,
    ENV_MEMMAP_THRESHOLD,
    GPU_MEMORY_BUDGET,
    MEMMAP_THRESHOLD_BYTES,
    MIN_TILE,
    OutOfMemory,
    TileDefaults,
    allocate_output,
    guarded,
    memmap_threshold,
    probe_bytes_per_pixel,
)
from upscaler.runtime.pooled_tiling import (
    POOL_STATS,
    POOL_STATS_FACTOR,
    PooledStatistics,
    PoolPlan,
    Vectors,
)
from upscaler.runtime.precision import current_precision
from upscaler.runtime.savedmodel import OUTPUT_NAME, LoadedModel, pool_name
from upscaler.runtime.tf_setup import configure_threads, require_tensorflow, thread_settings
from upscaler.runtime.tiling import TilePlan, plan_tiles, plan_tiles_for_budget
from upscaler.runtime.whole_image import _range
from upscaler.runtime.windows import (
    STRIP_BYTES,
    PixelMap,
    Pixels,
    TileJob,
    check_pixels,
    write_cores,
)

log = logging.getLogger("upscaler.runtime.tiled")

# The names below were defined here before the module was split; they stay importable
# from here (tests, benchmarks and docs/performance.md use them).
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

DEFAULT_CONTEXT = 32
"""Context for a model whose receptive field nobody measured (local models): generous for
small networks; catalog models carry their measured ``tiling.context``."""

BORDER_PAD = 16
"""Pixels of replicated edge added on every side (capped by the model's context).

Beyond the reach at which a pixel still moves an output by half a grey level for every
catalog model (8-13 pixels, docs/performance.md), so the zeros the model pads with are
too far to show; a cap, because a full receptive field (up to 40) would cost a 128² image
more than twice its own pixels."""

ProgressCallback = Callable[[int, int], object]


class TiledRunner:
    """Upscale images of any size with one model, tile by tile.

    ``context`` is the overlap in input pixels kept on every inner side of a window
    (catalog models: their ``tiling.context``; ``None``: :data:`DEFAULT_CONTEXT`).
    ``tile=None`` sizes windows by memory (``memory_budget`` bytes of activations per call,
    default per device kind, see :data:`DEFAULTS`); an int plans square cores of that many
    input pixels. ``batch`` is the tiles per model call. ``device`` is ``"auto"``,
    ``"cpu"``, ``"cpu:N"`` or ``"gpu:N"``, or a parsed
    :class:`~upscaler.runtime.device.DeviceSpec`. ``border`` is ``"replicate"`` (default)
    or ``"zero"`` (see the module docstring). Outputs larger than ``memmap_threshold`` bytes
    (default :data:`MEMMAP_THRESHOLD_BYTES`, or ``$UPSCALER_MEMMAP_THRESHOLD``) are
    assembled in a memory-mapped temp file, deleted when the returned array is.

    ``alignment`` (default: the model's recorded tile alignment) is the multiple window
    origins keep. ``global_pool`` (default: whether the model pools globally) makes every
    tile of a multi-window image use the whole image's pooled statistics; ``False`` lets
    each tile pool over itself (what a naive tiling does, for comparison). The statistics
    come from one call on the whole image when it fits ``stats_budget`` bytes of
    activations (default :data:`POOL_STATS_FACTOR` times ``memory_budget``), else as
    ``pool_stats`` says (:data:`POOL_STATS`; see
    :class:`~upscaler.runtime.pooled_tiling.PooledStatistics`).
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
        device: str | DeviceSpec = "auto",
        memory_budget: int | None = None,
        memmap_threshold: int | None = None,
        border: str = DEFAULT_BORDER,
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
        # The user's patch_size, padding and batch_size under the tiler's names, held to
        # the rules (and messages) of the boundary that already checked them.
        self.tile = check_whole("patch_size", tile, minimum=1)
        self.batch = check_whole("batch_size", batch, minimum=1) or self.defaults.batch
        self.memory_budget = _positive(
            "memory_budget",
            memory_budget if memory_budget is not None else self.defaults.memory_budget,
        )
        given = check_whole("padding", context, minimum=0)
        self.context = DEFAULT_CONTEXT if given is None else given
        self.context_given = given is not None
        self.border = check_border(border) or DEFAULT_BORDER
        self.pad = min(self.context, BORDER_PAD) if self.border == "replicate" else 0
        self.memmap_threshold = memmap_threshold
        self.alignment = _positive(
            "alignment", alignment if alignment is not None else model.tile_alignment
        )
        self.pooling = PooledStatistics(
            model,
            device=self.device,
            pad=self.pad,
            context=self.context,
            enabled=global_pool,
            budget=_positive(
                "stats_budget",
                stats_budget
                if stats_budget is not None
                else POOL_STATS_FACTOR * self.memory_budget,
            ),
            how=pool_stats,
        )
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

    @property
    def global_pool(self) -> bool:
        """Whether the tiles of a multi-window image share the whole image's statistics."""
        return self.pooling.enabled

    @property
    def stats_budget(self) -> int:
        """Activation bytes the statistics pass may take in one call (lowered for later
        images when it runs out of memory)."""
        return self.pooling.budget

    def stats_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) the statistics of a globally pooling model are computed at
        for an ``height`` x ``width`` image (:meth:`PooledStatistics.size`)."""
        return self.pooling.size(height, width, self._pixels_per_call)

    def pool_plan(self, height: int, width: int) -> PoolPlan | None:
        """How the tiles of an ``height`` x ``width`` image get their pooled statistics;
        None for a model that does not pool globally."""
        return self.pooling.plan(
            height, width, tiles=self.plan, pixels_per_call=self._pixels_per_call
        )

    def _pixels_per_call(self, budget: int) -> float:
        """Input pixels one model call of ``budget`` activation bytes holds: measured, or
        without allocator statistics the fixed windows' pixels scaled by the budgets."""
        per_pixel = self.bytes_per_pixel
        if per_pixel:
            return budget / per_pixel
        side = (self.tile or self.defaults.tile) + 2 * self.context
        return side * side * budget / self.memory_budget

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
        return size > memmap_threshold(self.memmap_threshold)

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
            "memmap_threshold": memmap_threshold(self.memmap_threshold),
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
        mapping = PixelMap(image.dtype, self.value_range)
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
            except OutOfMemory as exc:
                self._shrink(plan, exc)

    def _shrink(self, plan: TilePlan, exc: OutOfMemory) -> None:
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
        mapping: PixelMap,
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

            job = TileJob(image, plan, mapping, self.pad, buffer, cancel, report, total)
            vectors = self.pooling.vectors(
                job, tiles=self.plan, pixels_per_call=self._pixels_per_call, guard=self._guard
            )
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
                write_cores(group, result, out, mapping, pad=self.pad, scale=scale)
                # The last reference to the model's output tensor: it must be gone before
                # the next call, or two windows' outputs are alive at once.
                del result
                job.advance(len(group))
        assert out is not None
        if isinstance(out, np.memmap):
            out.flush()
        return out

    def _allocate(self, shape: tuple[int, int, int], dtype: np.dtype[Any]) -> Pixels:
        out = allocate_output(shape, dtype, threshold=memmap_threshold(self.memmap_threshold))
        self._last_memmap = isinstance(out, np.memmap)
        return out

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
        """Run ``call`` on the runner's device, TensorFlow errors made ours
        (:func:`~upscaler.runtime.device_memory.guarded`)."""
        return guarded(call, shape, device=self.device, name=self.model.path.name)

    def _probe(self) -> float | None:
        """Activation bytes per input pixel, measured once on the runner's device
        (:func:`~upscaler.runtime.device_memory.probe_bytes_per_pixel`)."""
        if not self.model.runs_in_tensorflow:
            return None  # its own engine's memory is not TensorFlow's to measure
        return probe_bytes_per_pixel(
            self._infer, device=self.device, channels=self.channels, name=self.model.path.name
        )


def _positive(name: str, value: int) -> int:
    """A setting of the runner's own (not a user's run option) that must be a positive
    integer: an invariant its callers keep, checked because it is cheap."""
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
