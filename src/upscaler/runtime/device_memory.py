"""What fits on the device: memory budgets, the one-off probe, and out of memory as a signal.

Why apart from the runner: how many bytes a model call may take, how they are measured
and what running out of them means are device facts, the same for the tile pass and the
statistics passes of a globally pooling model (:mod:`upscaler.runtime.pooled_tiling`);
the runner (:mod:`upscaler.runtime.tiled`) decides what to do about them (halve the
batch, then the windows).

No TensorFlow exception leaves :func:`guarded`: running out of device memory becomes
:class:`OutOfMemory`, an internal signal the runner retries on, and anything else a
:class:`~upscaler.errors.ModelLoadError` or :class:`~upscaler.errors.ImageError`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError, ModelLoadError
from upscaler.runtime.savedmodel import _first_line
from upscaler.runtime.tf_setup import require_tensorflow

log = logging.getLogger("upscaler.runtime.device_memory")

__all__ = [
    "CPU_MEMORY_BUDGET",
    "DEFAULTS",
    "ENV_MEMMAP_THRESHOLD",
    "GPU_MEMORY_BUDGET",
    "MEMMAP_THRESHOLD_BYTES",
    "MIN_TILE",
    "PROBE_SIDES",
    "OutOfMemory",
    "TileDefaults",
    "allocate_output",
    "guarded",
    "memmap_threshold",
    "probe_bytes_per_pixel",
]

MEMMAP_THRESHOLD_BYTES = 1 << 30
"""Outputs larger than this (1 GiB) are assembled in a memory-mapped temp file."""

ENV_MEMMAP_THRESHOLD = "UPSCALER_MEMMAP_THRESHOLD"
"""Environment variable overriding :data:`MEMMAP_THRESHOLD_BYTES` (bytes), read per run."""

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

PROBE_SIDES = (96, 128)
"""Sides of the probe windows that measure a model's activation bytes per pixel."""


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


def memmap_threshold(explicit: int | None) -> int:
    """Output bytes beyond which the output goes to a memory-mapped temp file: ``explicit``,
    else ``$UPSCALER_MEMMAP_THRESHOLD`` (read per run), else :data:`MEMMAP_THRESHOLD_BYTES`."""
    if explicit is not None:
        return explicit
    raw = os.environ.get(ENV_MEMMAP_THRESHOLD, "").strip()
    if raw:
        try:
            return max(0, int(float(raw)))
        except (ValueError, OverflowError):  # not a number, or infinite
            log.warning("ignoring %s=%r: not a number of bytes", ENV_MEMMAP_THRESHOLD, raw)
    return MEMMAP_THRESHOLD_BYTES


def allocate_output(
    shape: tuple[int, int, int], dtype: np.dtype[Any], *, threshold: int
) -> npt.NDArray[Any]:
    """An empty output array, or a memory-mapped one when it is larger than ``threshold``
    bytes, so the peak does not grow with the image beyond the output itself."""
    nbytes = shape[0] * shape[1] * shape[2] * dtype.itemsize
    if nbytes <= threshold:
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


class OutOfMemory(Exception):
    """Internal: the device ran out of memory for the current window or batch size."""


def guarded(call: Callable[[], Any], shape: tuple[int, ...], *, device: str, name: str) -> Any:
    """Run ``call`` on ``device``; TensorFlow errors become ours (out of memory
    :class:`OutOfMemory`, which the callers retry on). ``shape`` (of the input) and
    ``name`` (the model's) are for the messages."""
    tf = require_tensorflow()
    try:
        with tf.device(device):
            result = call()
    except tf.errors.ResourceExhaustedError as exc:
        raise OutOfMemory(_first_line(exc)) from None
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


def probe_bytes_per_pixel(
    infer: Callable[[npt.NDArray[np.float32]], object], *, device: str, channels: int, name: str
) -> float | None:
    """Activation bytes per input pixel of the model ``infer`` runs on ``device`` (a
    TensorFlow device string), from the allocator's peak during calls on
    :data:`PROBE_SIDES` windows (after a tiny warm-up call, so one-off allocations are not
    counted); None when the allocator keeps no statistics.

    The peak of one call varies by up to a quarter with the order in which TensorFlow's
    inter-op threads happen to run independent ops, so the smaller of two readings is
    kept; the fixed part of the peak is counted as per-pixel, which errs on the safe
    side for the larger windows that are planned with it.
    """
    tf = require_tensorflow()
    device = device.removeprefix("/device:")
    readings = []
    try:
        infer(np.zeros((1, 16, 16, channels), np.float32))
        for side in PROBE_SIDES:
            tf.config.experimental.reset_memory_stats(device)
            before = tf.config.experimental.get_memory_info(device)["current"]
            infer(np.zeros((1, side, side, channels), np.float32))
            peak = tf.config.experimental.get_memory_info(device)["peak"]
            readings.append(max(peak - before, 0) / side**2)
    except (ValueError, RuntimeError, KeyError, tf.errors.OpError, OutOfMemory) as exc:
        log.debug("no memory statistics on %s (%s); using fixed tiles", device, exc)
        return None
    per_pixel = min(readings)
    log.debug("%s needs %.0f bytes per input pixel", name, per_pixel)
    return per_pixel or None
