"""The arithmetic models run in: float32 (default, exact) or bfloat16 (opt-in, faster).

Why opt-in and process-wide: on x86 CPUs with native bfloat16 (AVX512-BF16 or AMX)
TensorFlow's oneDNN auto-mixed-precision pass runs convolutions in bfloat16 and about
halves inference time, but it is a graph-optimiser setting that TensorFlow reads when it
first builds a function, for every function of the process, and it changes outputs
(measured in docs/performance.md: within one grey level for the slim models, more for the
deep RRDNs). So it is chosen once, before TensorFlow runs anything: by
``UPSCALER_PRECISION`` or by the ``precision=`` of the first :class:`~upscaler.Upscaler`
that loads a model. :func:`~upscaler.runtime.tf_setup.require_tensorflow` applies it
right after it imports TensorFlow, as it sizes the thread pools.

A CPU without native bfloat16 would emulate it and run slower than float32, and the pass
does nothing on a GPU, so both are refused with a :class:`~upscaler.errors.DeviceError`
rather than silently ignored.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

from upscaler.errors import DeviceError

log = logging.getLogger("upscaler.runtime.precision")

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
"""Precisions a model can run in; the first is the default."""

ENV_PRECISION = "UPSCALER_PRECISION"
"""Environment variable choosing the process's precision (read when TensorFlow starts)."""

BFLOAT16_CPU_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags of a CPU that computes bfloat16 natively."""

_ONEDNN_BFLOAT16 = "auto_mixed_precision_onednn_bfloat16"

_state: dict[str, str] = {}
"""``requested``: asked for before TensorFlow started; ``applied``: what is in effect."""


def check_precision(value: str | None, *, where: str = "precision") -> str:
    """The canonical precision name for ``value`` (None: the environment or float32)."""
    raw = value if value is not None else os.environ.get(ENV_PRECISION, "").strip() or "float32"
    name = {"fp32": "float32", "bf16": "bfloat16"}.get(raw.lower(), raw.lower())
    if name not in PRECISIONS:
        source = where if value is not None else ENV_PRECISION
        raise DeviceError(
            f"{source} {raw!r} is not a precision this library runs in",
            hint=f"use one of {', '.join(PRECISIONS)}",
        )
    return name


@functools.lru_cache(maxsize=8)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (empty where the system does not publish them).

    Cached: the resolver asks once per bfloat16 entry it ranks, and the flags of a
    running machine do not change."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bfloat16(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX)."""
    present = cpu_flags() if flags is None else flags
    return any(flag in present for flag in BFLOAT16_CPU_FLAGS)


def current_precision() -> str:
    """The precision in effect (before TensorFlow starts: what it will start with)."""
    return _state.get("applied") or _state.get("requested") or check_precision(None)


def request_precision(precision: str | None, *, device_kind: str = "cpu") -> str:
    """Ask for ``precision`` (None: keep the process's) and return what will be in effect.

    Before TensorFlow starts this only records the wish, applied by :func:`apply_precision`
    at import. Afterwards, asking for a precision other than the one in effect is a
    :class:`DeviceError`: TensorFlow cannot change it for functions it has built.
    """
    wanted = current_precision() if precision is None else check_precision(precision)
    if wanted == "bfloat16":
        _check_bfloat16_supported(device_kind)
    applied = _state.get("applied")
    if applied is not None and applied != wanted:
        raise DeviceError(
            f"precision {wanted} was asked for, but this process already runs models in "
            f"{applied}; TensorFlow fixes it when it starts",
            hint=f"use one precision per process: set {ENV_PRECISION}={wanted} before the "
            "first model loads, or pass the same precision= to every Upscaler",
        )
    if applied is None:
        _state["requested"] = wanted
        if "tensorflow" in sys.modules:  # imported by the caller, not by us: apply now
            apply_precision(sys.modules["tensorflow"])
    return wanted


def apply_precision(tf: Any) -> str:
    """Set TensorFlow's optimiser for the requested precision, once per process."""
    if "applied" in _state:
        return _state["applied"]
    wanted = _state.get("requested") or check_precision(None)
    if wanted == "bfloat16":
        _check_bfloat16_supported("cpu")
        tf.config.optimizer.set_experimental_options({_ONEDNN_BFLOAT16: True})
        log.info("models run in bfloat16 (oneDNN auto mixed precision)")
    _state["applied"] = wanted
    return wanted


def _check_bfloat16_supported(device_kind: str) -> None:
    if device_kind != "cpu":
        raise DeviceError(
            "precision bfloat16 runs on the CPU (oneDNN); it does nothing on a GPU",
            hint="use precision='float32' on a GPU, or device='cpu'",
        )
    if not cpu_has_native_bfloat16():
        raise DeviceError(
            "precision bfloat16 needs a CPU with native bfloat16 (AVX512-BF16 or AMX); this "
            "one would emulate it, slower than float32",
            hint="use precision='float32' (the default)",
        )
