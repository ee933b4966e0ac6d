"""Which device runs the model: the user's words parsed once, checked against the machine.

Users say ``"auto"``, ``"cpu"``, ``"cpu:N"``, ``"gpu"`` or ``"gpu:N"``; TensorFlow wants
``"/device:GPU:0"``. :func:`parse_device` turns the words into a :class:`DeviceSpec` without
TensorFlow, so ``Upscaler(device="gpu:x")`` fails when it is built; :func:`resolve_device`
later asks TensorFlow whether the device exists and refuses one the machine does not have
with the list of those it does, instead of letting TensorFlow silently fall back to the
CPU (soft placement) or fail deep inside a graph.

Thread pool sizing lives with TensorFlow's import (:mod:`upscaler.runtime.tf_setup`); its
names are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from upscaler.errors import DeviceError
from upscaler.runtime.tf_setup import (
    ThreadSettings,
    configure_threads,
    cpu_cores,
    require_tensorflow,
    thread_settings,
)

__all__ = [
    "DeviceError",
    "DeviceSpec",
    "ThreadSettings",
    "available_devices",
    "configure_threads",
    "cpu_cores",
    "device_kind",
    "parse_device",
    "resolve_device",
    "thread_settings",
]

_SPEC = re.compile(r"^(?:/?(?:device:)?)?(?P<kind>auto|cpu|gpu|cuda)(?::(?P<index>\d+))?$")


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device request: ``kind`` is "auto", "cpu" or "gpu"; ``index`` may be None.

    ``text`` is the request as the user wrote it, kept (outside equality) so that a device
    the machine lacks is refused in the user's own spelling (``'cuda:7'``), not ours.
    """

    kind: str
    index: int | None = None
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    @property
    def spelled(self) -> str:
        """The request as the user wrote it (canonical when built directly)."""
        return self.text or str(self)


def parse_device(spec: str | DeviceSpec) -> DeviceSpec:
    """Parse ``"auto" | "cpu" | "cpu:N" | "gpu" | "gpu:N"`` (case-insensitive); a
    :class:`DeviceSpec` is already parsed and comes back as it is.

    TensorFlow's own spellings (``"/device:GPU:1"``, ``"/gpu:1"``) and ``"cuda:N"`` are
    accepted too, because users copy them from TensorFlow's logs.
    """
    if isinstance(spec, DeviceSpec):
        return spec
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
    return DeviceSpec(kind=kind, index=index, text=spec)


def available_devices() -> list[str]:
    """The devices TensorFlow can place work on, as ``cpu:0``, ``gpu:0``...

    Logical devices are listed (a CPU split into several logical devices counts as
    several); listing them initialises TensorFlow's runtime.
    """
    tf = require_tensorflow()
    names: list[str] = []
    for kind in ("CPU", "GPU"):
        for index, _ in enumerate(tf.config.list_logical_devices(kind)):
            names.append(f"{kind.lower()}:{index}")
    return names


def resolve_device(spec: str | DeviceSpec = "auto") -> str:
    """The TensorFlow device string for a user's device request (parsed already, or words).

    ``"auto"`` is the first GPU when TensorFlow sees one, else the CPU. A device that does
    not exist is a :class:`DeviceError` listing the ones that do.
    """
    parsed = parse_device(spec)
    tf = require_tensorflow()
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
            f"device {parsed.spelled!r} is not available here (available: {available})",
            hint=hint,
        )
    return f"/device:{kind}:{index}"


def device_kind(device: str) -> str:
    """``"gpu"`` or ``"cpu"`` for a TensorFlow device string."""
    return "gpu" if ":GPU:" in device.upper() else "cpu"
