"""Which device runs the model, and how many CPU threads TensorFlow may use.

Users say ``"auto"``, ``"cpu"``, ``"cpu:N"``, ``"gpu"`` or ``"gpu:N"``; TensorFlow wants
``"/device:GPU:0"``. This module translates, and refuses a device the machine does not
have with the list of those it does, instead of letting TensorFlow silently fall back to
the CPU (soft placement) or fail deep inside a graph.

Thread pools must be sized before TensorFlow runs its first op (after that they are fixed
for the life of the process), so :func:`configure_threads` runs right after TensorFlow is
imported: :func:`~upscaler.runtime.savedmodel.require_tensorflow` calls it when it is the
one that imports TensorFlow, before any model is loaded or converted. Later calls only
report what is in effect.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from upscaler.errors import DeviceError

log = logging.getLogger("upscaler.runtime.device")

__all__ = [
    "DeviceError",
    "DeviceSpec",
    "ThreadSettings",
    "available_devices",
    "configure_threads",
    "cpu_cores",
    "parse_device",
    "resolve_device",
    "thread_settings",
]

_SPEC = re.compile(r"^(?:/?(?:device:)?)?(?P<kind>auto|cpu|gpu|cuda)(?::(?P<index>\d+))?$")


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device request: ``kind`` is "auto", "cpu" or "gpu"; ``index`` may be None."""

    kind: str
    index: int | None = None

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"


def parse_device(spec: str) -> DeviceSpec:
    """Parse ``"auto" | "cpu" | "cpu:N" | "gpu" | "gpu:N"`` (case-insensitive).

    TensorFlow's own spellings (``"/device:GPU:1"``, ``"/gpu:1"``) and ``"cuda:N"`` are
    accepted too, because users copy them from TensorFlow's logs.
    """
    if not isinstance(spec, str):
        raise DeviceError(
            f"device must be a string, got {spec!r}",
            hint="use 'auto', 'cpu', 'cpu:N', 'gpu' or 'gpu:N'",
        )
    match = _SPEC.match(spec.strip().lower())
    if match is None:
        raise DeviceError(
            f"device {spec!r} is not understood",
            hint="use 'auto', 'cpu', 'cpu:N', 'gpu' or 'gpu:N'",
        )
    kind = "gpu" if match["kind"] == "cuda" else match["kind"]
    index = int(match["index"]) if match["index"] is not None else None
    if kind == "auto" and index is not None:
        raise DeviceError(f"device {spec!r}: 'auto' takes no index", hint="use 'auto' or 'gpu:N'")
    return DeviceSpec(kind=kind, index=index)


def _tf() -> Any:
    from upscaler.runtime.savedmodel import require_tensorflow

    return require_tensorflow()


def available_devices() -> list[str]:
    """The devices TensorFlow can place work on, as ``cpu:0``, ``gpu:0``...

    Logical devices are listed (a CPU split into several logical devices counts as
    several); listing them initialises TensorFlow's runtime.
    """
    tf = _tf()
    names: list[str] = []
    for kind in ("CPU", "GPU"):
        for index, _ in enumerate(tf.config.list_logical_devices(kind)):
            names.append(f"{kind.lower()}:{index}")
    return names


def resolve_device(spec: str = "auto") -> str:
    """The TensorFlow device string for a user's device request.

    ``"auto"`` is the first GPU when TensorFlow sees one, else the CPU. A device that does
    not exist is a :class:`DeviceError` listing the ones that do.
    """
    parsed = parse_device(spec)
    tf = _tf()
    if parsed.kind == "auto":
        if tf.config.list_physical_devices("GPU"):
            return "/device:GPU:0"
        return "/device:CPU:0"
    index = parsed.index or 0
    kind = parsed.kind.upper()
    count = len(tf.config.list_logical_devices(kind))
    if index >= count:
        available = ", ".join(available_devices()) or "none"
        hint = "use device='auto' or one of the available devices"
        if parsed.kind == "gpu" and count == 0:
            hint = (
                "this TensorFlow sees no GPU (install 'upscaler[gpu]' on a CUDA machine) "
                "or use device='cpu'"
            )
        raise DeviceError(
            f"device {spec!r} is not available here (available: {available})", hint=hint
        )
    return f"/device:{kind}:{index}"


def device_kind(device: str) -> str:
    """``"gpu"`` or ``"cpu"`` for a TensorFlow device string."""
    return "gpu" if ":GPU:" in device.upper() else "cpu"


def cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadSettings:
    """TensorFlow's thread pool sizes in effect, and whether this module set them."""

    intra_op: int
    inter_op: int
    configured: bool

    def as_dict(self) -> dict[str, int | bool]:
        """JSON-friendly form for describe()."""
        return {"intra_op": self.intra_op, "inter_op": self.inter_op, "configured": self.configured}


_state: dict[str, ThreadSettings] = {}
"""What :func:`configure_threads` set, once per process (thread pools cannot change)."""


def thread_settings() -> ThreadSettings:
    """The pool sizes in effect (TensorFlow's 0, "let the runtime choose", reads as all
    cores, which is what TensorFlow then uses)."""
    if "configured" in _state:
        return _state["configured"]
    tf = _tf()
    cores = cpu_cores()
    intra = int(tf.config.threading.get_intra_op_parallelism_threads()) or cores
    inter = int(tf.config.threading.get_inter_op_parallelism_threads()) or cores
    return ThreadSettings(intra_op=intra, inter_op=inter, configured=False)


def configure_threads(threads: int | None = None) -> ThreadSettings:
    """Size TensorFlow's intra- and inter-op pools to every core (or ``threads``), once.

    Why explicit: TensorFlow's "0 = choose" is right on a bare machine but not inside a
    container whose CPU quota or affinity is smaller than the host; the affinity mask is
    what this process may really use. Once TensorFlow has run anything the pools are fixed;
    then this logs at debug level and reports what is in effect rather than failing.
    """
    if "configured" in _state:
        return _state["configured"]
    tf = _tf()
    wanted = threads if threads is not None else cpu_cores()
    if wanted < 1:
        raise ValueError(f"threads must be >= 1, got {wanted}")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(wanted)
        tf.config.threading.set_inter_op_parallelism_threads(wanted)
    except RuntimeError as exc:  # "cannot be modified after initialization"
        log.debug("TensorFlow thread pools already fixed (%s); keeping them", exc)
        return thread_settings()
    settings = ThreadSettings(intra_op=wanted, inter_op=wanted, configured=True)
    _state["configured"] = settings
    log.debug("TensorFlow thread pools: %d intra-op, %d inter-op", wanted, wanted)
    return settings
