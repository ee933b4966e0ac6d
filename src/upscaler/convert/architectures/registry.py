"""Which network a state dict holds: the registry of architectures and their detection.

Why detection at all: a PyTorch checkpoint (``.pth``, ``.safetensors``) stores tensors by
name and nothing else. The network that reads them, and its sizes, exist only in the code
that trained it. Community models are shared as such files, so the architecture is read
back from the key names (which modules exist) and the tensor shapes (how wide, how deep,
which scale), the approach of spandrel's registry (chaiNNer's loader, MIT; see its
``__helpers/registry.py`` and ``architectures/*/__init__.py``), written here on numpy.

An architecture is one module in this package defining ``ARCHITECTURE`` (an
:class:`Architecture`), plus one line in :data:`BUILTIN_MODULES`. Its ``required`` key
sets decide detection (any set fully present); its ``hyperparameters`` reads widths,
depths, scale and channels from shapes; its ``build`` emits the shared ops. Order
matters only when two architectures' key sets could both match one file: the more
specific one is listed first, as spandrel orders its list.

A file that matches nothing is refused with the nearest architecture (the largest share
of one of its key sets present) and the keys that file lacks, so a user can tell a
near-miss (a renamed layer, a prefix we do not strip) from an unsupported network.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.convert import ops
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.convert.architectures")

Tensors = Mapping[str, npt.NDArray[Any]]
"""A state dict as numpy: key → array in PyTorch's layout (OIHW kernels)."""

Hyper = dict[str, Any]
"""Detected hyper-parameters: JSON values (ints, floats, bools, strings), always with
``scale``, ``in_channels`` and ``out_channels``."""

BUILTIN_MODULES: tuple[str, ...] = (
    "upscaler.convert.architectures.esrgan",
    "upscaler.convert.architectures.compact",
    "upscaler.convert.architectures.span",
    "upscaler.convert.architectures.spanf",
    "upscaler.convert.architectures.espan",
    "upscaler.convert.architectures.realcugan",
    "upscaler.convert.architectures.hat",
    "upscaler.convert.architectures.swinir",
)
"""The modules whose ``ARCHITECTURE`` is registered on first use, in detection order."""

SHOWN_KEYS = 5
"""How many missing keys an error names before it gives a count."""

_REQUIRED_HYPER = ("scale", "in_channels", "out_channels")


@dataclass(frozen=True)
class Architecture:
    """One network family the converter can rebuild from a state dict.

    ``name`` is spandrel's id for it (what users of chaiNNer know it by); ``vocabulary``
    the catalog's architecture term (``catalog/vocab.yaml``), so a model given by path is
    described in the words the catalog uses. ``required``: alternative key sets, of which
    one must be fully present (checkpoints of one network come with differently named
    keys, e.g. ESRGAN's original and BasicSR's). ``hyperparameters(tensors)`` and
    ``build(tensors, hyper)`` may assume one set is present; anything else they find
    wrong they raise as ConversionError naming the key.
    """

    name: str
    title: str
    vocabulary: str
    paper: str
    required: tuple[tuple[str, ...], ...]
    hyperparameters: Callable[[Tensors], Hyper]
    build: Callable[[Tensors, Hyper], ops.Graph]
    receptive_field: Callable[[Hyper], int] | None = None

    def __post_init__(self) -> None:
        if not self.required or not all(self.required):
            raise ConversionError(f"architecture {self.name!r} needs at least one key set")

    def detect(self, tensors: Tensors) -> bool:
        """True when one of the key sets is fully present."""
        return any(all(key in tensors for key in keys) for keys in self.required)

    def closeness(self, tensors: Tensors) -> tuple[float, tuple[str, ...]]:
        """The best share of a key set present, and that set's missing keys."""
        best: tuple[float, tuple[str, ...]] = (-1.0, ())
        for keys in self.required:
            missing = tuple(k for k in keys if k not in tensors)
            share = 1 - len(missing) / len(keys)
            if share > best[0]:
                best = (share, missing)
        return best


@dataclass(frozen=True)
class Detected:
    """What detection read from a state dict: the architecture's name, its scale and
    channels, and every hyper-parameter (the three included) as ``hyper``."""

    name: str
    scale: int
    in_channels: int
    out_channels: int
    hyper: Hyper
    architecture: Architecture = field(repr=False, compare=False)

    def build(self, tensors: Tensors) -> ops.Graph:
        """The network in the shared ops, with these hyper-parameters."""
        try:
            return self.architecture.build(tensors, self.hyper)
        except (KeyError, IndexError, ValueError) as exc:
            if isinstance(exc, ConversionError):
                raise
            raise ConversionError(
                f"{self.name} checkpoint: its tensors do not fit the network ({exc})"
            ) from None

    @property
    def receptive_field(self) -> int | None:
        """How far (input pixels) an output pixel sees, from the hyper-parameters; None
        when the architecture does not say."""
        rf = self.architecture.receptive_field
        return rf(self.hyper) if rf is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.name,
            "title": self.architecture.title,
            "scale": self.scale,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "hyperparameters": dict(self.hyper),
        }


_REGISTRY: dict[str, Architecture] = {}
_LOADED: set[str] = set()
"""Holds ``"builtin"`` once :data:`BUILTIN_MODULES` are registered."""


def register(arch: Architecture) -> Architecture:
    """Add an architecture after those registered so far (names are unique)."""
    if arch.name in _REGISTRY:
        raise ConversionError(f"architecture {arch.name!r} is already registered")
    _REGISTRY[arch.name] = arch
    return arch


def unregister(name: str) -> None:
    """Remove an architecture (a test's trial one); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def _load_builtin() -> None:
    if "builtin" in _LOADED:
        return
    _LOADED.add("builtin")
    builtin: list[Architecture] = []
    for module in BUILTIN_MODULES:
        arch = importlib.import_module(module).ARCHITECTURE
        if not isinstance(arch, Architecture):
            raise ConversionError(f"{module}.ARCHITECTURE is not an Architecture")
        builtin.append(arch)
    # Built-in ones first (their order is the detection order), then any a caller added.
    added = dict(_REGISTRY)
    _REGISTRY.clear()
    for arch in [*builtin, *added.values()]:
        register(arch)


def architectures() -> tuple[Architecture, ...]:
    """Every registered architecture, in detection order."""
    _load_builtin()
    return tuple(_REGISTRY.values())


def _few(keys: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = len(keys) - SHOWN_KEYS
    return f"{shown} and {more} more" if more > 0 else shown


def _unknown(tensors: Tensors, where: str) -> ConversionError:
    known = architectures()
    ranked = sorted(((a.closeness(tensors), a) for a in known), key=lambda t: -t[0][0])
    names = ", ".join(a.name for a in known)
    sample = _few(sorted(tensors)) or "no tensors at all"
    if not ranked:
        return ConversionError(f"{where}: no architecture is registered")
    (share, missing), nearest = ranked[0]
    return ConversionError(
        f"{where}: no supported architecture matches its {len(tensors)} tensors "
        f"(keys: {sample}); nearest is {nearest.name} with {share:.0%} of its required "
        f"keys, missing {_few(list(missing))}",
        hint=f"supported architectures: {names}; a checkpoint of another network cannot "
        "be converted yet",
    )


def _check_hyper(arch: Architecture, hyper: Hyper, where: str) -> None:
    for name in _REQUIRED_HYPER:
        value = hyper.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConversionError(f"{where}: {arch.name} detection gave {name}={value!r}")


def detect_architecture(tensors: Tensors, where: str = "checkpoint") -> Detected:
    """The architecture of a state dict and its hyper-parameters, or a ConversionError
    naming the nearest architecture and the keys it lacks. ``where`` names the file in
    messages."""
    for arch in architectures():
        if not arch.detect(tensors):
            continue
        try:
            hyper = arch.hyperparameters(tensors)
        except (KeyError, IndexError, ValueError, ZeroDivisionError) as exc:
            if isinstance(exc, ConversionError):
                raise
            raise ConversionError(
                f"{where}: its keys are {arch.name}'s, but their shapes are not ({exc!r})",
                hint="the file may be damaged, or a variant of the network not supported yet",
            ) from None
        _check_hyper(arch, hyper, where)
        log.debug("%s: detected %s %s", where, arch.name, hyper)
        return Detected(
            name=arch.name,
            scale=int(hyper["scale"]),
            in_channels=int(hyper["in_channels"]),
            out_channels=int(hyper["out_channels"]),
            hyper=dict(hyper),
            architecture=arch,
        )
    raise _unknown(tensors, where)


def shape_of(tensors: Tensors, key: str) -> tuple[int, ...]:
    """The shape of ``tensors[key]``, or a ConversionError naming the missing key."""
    return tuple(int(n) for n in np.shape(tensor(tensors, key)))


def tensor(tensors: Tensors, key: str) -> npt.NDArray[Any]:
    """``tensors[key]``, or a ConversionError naming the missing key."""
    try:
        return tensors[key]
    except KeyError:
        raise ConversionError(f"the checkpoint has no tensor {key!r}") from None


def sequence_length(tensors: Tensors, prefix: str) -> int:
    """1 + the largest ``i`` of keys ``{prefix}.{i}.…`` (0 when there are none): how many
    entries a PyTorch ``nn.Sequential`` / ``ModuleList`` had, parameterless ones
    (activations, upsampling) included when a later index exists."""
    start = prefix + "."
    indices = [
        int(head)
        for key in tensors
        if key.startswith(start)
        for head in [key[len(start) :].split(".", 1)[0]]
        if head.isdigit()
    ]
    return max(indices) + 1 if indices else 0


def scale_and_channels(outputs: int, in_channels: int) -> tuple[int, int]:
    """``(scale, out_channels)`` with ``scale² · out_channels == outputs``: what a
    pixel-shuffle layer's output count says. Ambiguous in general, so the likely channel
    counts are tried in spandrel's order (the input's, then 3, 4, 1)."""
    for channels in (in_channels, 3, 4, 1):
        if outputs % channels == 0:
            root = math.isqrt(outputs // channels)
            if root >= 1 and root * root * channels == outputs:
                return root, channels
    raise ConversionError(
        f"a pixel-shuffle layer with {outputs} outputs fits no scale with 1, 3 or 4 channels"
    )
