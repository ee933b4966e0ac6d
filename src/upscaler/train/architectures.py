"""The networks ``upscaler train`` can train: a small registry of our own.

Each architecture is a function from (channels, scale, size parameters, a seeded random
generator) to an :class:`~upscaler.convert.ops.Graph` holding freshly initialised
weights. Expressing the network in the converter's op vocabulary is what keeps training
and export honest: the trainer runs the graph through the converter's own builder
(:func:`upscaler.convert.builder.graph_forward`) with trainable variables, and export
writes the same graph, with the trained arrays, through the converter's one SavedModel
writer. There is no second implementation of the network that could drift.

The size parameters are the catalog's ``params`` for the architecture's vocabulary id,
so an entry that ``upscaler train`` exports says exactly what it is. An architecture may
also say how its trained weights shrink to a narrower network (:class:`Pruning`), which
is what lets a warm start begin from a wider run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from upscaler.convert import ops
from upscaler.errors import TrainingError, nearest

SCALES = (2, 3, 4, 8)
"""Scales every architecture here must support (PixelShuffle handles any integer)."""

CHANNELS = (1, 3, 4)
"""Gray (Y), RGB and RGBA: the channel counts a catalog entry can have."""


@dataclass(frozen=True)
class ParamSpec:
    """One size parameter: its default and the range the registry accepts."""

    default: int
    low: int
    high: int
    help: str


GraphFactory = Callable[[int, int, Mapping[str, int], np.random.Generator], ops.Graph]

L1_FILTER = "l1-filter"
"""The vocabulary id (catalog ``pruning``) of structured filter pruning by L1 norm."""

PRUNING_TEXT = {L1_FILTER: "filters pruned by L1 norm"}
"""How a training record names each pruning method."""


@dataclass(frozen=True)
class Pruning:
    """How a trained network of an architecture becomes a narrower one of the same depth.

    ``prune(weights, source_params, target_params)`` takes the source network's weights
    (in the graph's order) and returns the target network's, every array cut to its
    shape. Only ``param`` may differ between the two parameter sets, and only downwards.
    """

    method: str
    """Vocabulary id of the method (the catalog's ``pruning``), a key of PRUNING_TEXT."""
    param: str
    prune: Callable[[Sequence[ops.Array], Mapping[str, int], Mapping[str, int]], list[ops.Array]]


@dataclass(frozen=True)
class Widening:
    """How a trained network of an architecture becomes a wider one that computes the
    same function, so that training the wider one continues where the narrow one
    stopped instead of starting from noise.

    ``widen(weights, source_params, target_params, fresh)`` takes the source network's
    weights and the wider network's freshly initialised ones (both in the graph's order)
    and returns the wider network's start. Only ``param`` may differ, and only upwards.
    """

    param: str
    widen: Callable[
        [Sequence[ops.Array], Mapping[str, int], Mapping[str, int], Sequence[ops.Array]],
        list[ops.Array],
    ]


@dataclass(frozen=True)
class Architecture:
    """A trainable network family: vocabulary id, size parameters and how to build it."""

    id: str
    title: str
    params: Mapping[str, ParamSpec]
    factory: GraphFactory
    receptive_field: Callable[[Mapping[str, int]], int]
    """Input pixels on each side that reach one output pixel (the catalog's tiling.context)."""
    pruning: Pruning | None = None
    """Warm starts from a wider run of this architecture (None: refused)."""
    widening: Widening | None = None
    """Warm starts from a narrower run of this architecture (None: refused)."""

    def resolve_params(self, given: Mapping[str, int] | None) -> dict[str, int]:
        """The full parameter set: defaults filled in, unknown names and ranges refused."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            close = nearest(unknown[0], list(self.params))
            raise TrainingError(
                f"architecture {self.id!r} has no size parameter {unknown[0]!r}",
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + f"its parameters are {', '.join(self.params)}",
            )
        out: dict[str, int] = {}
        for name, spec in self.params.items():
            value = given.get(name, spec.default)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TrainingError(f"{self.id} parameter {name}={value!r} is not an integer")
            if not spec.low <= value <= spec.high:
                raise TrainingError(
                    f"{self.id} parameter {name}={value} is out of range",
                    hint=f"{name} takes {spec.low}..{spec.high} ({spec.help})",
                )
            out[name] = value
        return out

    def build(self, channels: int, scale: int, params: Mapping[str, int], seed: int) -> ops.Graph:
        """A freshly initialised graph; the same seed gives the same weights, bit for bit."""
        if channels not in CHANNELS:
            raise TrainingError(
                f"channels={channels} is not supported", hint="use 1 (gray), 3 (RGB) or 4 (RGBA)"
            )
        if scale not in SCALES:
            raise TrainingError(
                f"scale={scale} is not supported", hint=f"use one of {', '.join(map(str, SCALES))}"
            )
        full = self.resolve_params(params)
        rng = np.random.default_rng([seed, 0x5EED])
        return self.factory(channels, scale, full, rng)


# --------------------------------------------------------------------------- srvgg


def _he_kernel(
    rng: np.random.Generator, k: int, cin: int, cout: int, gain: float = 1.0
) -> ops.Array:
    """He-normal HWIO kernel (fan-in), the usual start for ReLU-like networks."""
    std = gain * math.sqrt(2.0 / (k * k * cin))
    return rng.normal(0.0, std, size=(k, k, cin, cout)).astype(np.float32)


def _srvgg(
    channels: int, scale: int, params: Mapping[str, int], rng: np.random.Generator
) -> ops.Graph:
    """SRVGGNetCompact's shape: a 3x3 conv and PReLU, ``convs`` more of them, a 3x3 conv
    to ``channels * scale²`` maps, PixelShuffle, plus the nearest upscale of the input.

    The nearest residual means a fresh network (its last conv starts near zero) already
    outputs the nearest-neighbour upscale, so training only learns the detail; that is
    what lets a network this small converge within the step budget of a 2-core machine.
    """
    features, convs = params["features"], params["convs"]
    nodes: list[ops.Node] = []
    prev, cin = "input", channels
    slope = np.full((features,), 0.25, dtype=np.float32)
    for index in range(convs + 1):
        name = "head" if index == 0 else f"body{index}"
        conv = ops.Conv2D(
            kernel=_he_kernel(rng, 3, cin, features),
            bias=np.zeros((features,), np.float32),
            padding="same",
        )
        nodes.append(ops.Node(name, "Conv2D", conv, (prev,), f"{name}.conv"))
        nodes.append(
            ops.Node(f"{name}.act", "PReLU", ops.PReLU(slope.copy()), (f"{name}.conv",), name)
        )
        prev, cin = name, features
    out_maps = channels * scale * scale
    tail = ops.Conv2D(
        kernel=_he_kernel(rng, 3, features, out_maps, gain=0.1),
        bias=np.zeros((out_maps,), np.float32),
        padding="same",
    )
    nodes.append(ops.Node("tail", "Conv2D", tail, (prev,), "tail"))
    nodes.append(ops.Node("shuffle", "PixelShuffle", ops.DepthToSpace(scale), ("tail",), "detail"))
    nodes.append(
        ops.Node("base", "UpSampling", ops.ResizeNearest(scale, scale), ("input",), "base")
    )
    nodes.append(ops.Node("residual", "Add", ops.Binary("add"), ("detail", "base"), "output"))
    return ops.Graph("input", tuple(nodes), "output", channels)


def l1_keep(kernel: ops.Array, count: int) -> npt.NDArray[np.intp]:
    """The ``count`` output filters of an HWIO kernel with the largest L1 norm (the sum of
    absolute weights over height, width and input channels), in their original order.
    Equal norms keep the lower index, so the choice is deterministic."""
    norms = np.abs(kernel.astype(np.float64)).sum(axis=(0, 1, 2))
    return np.sort(np.argsort(-norms, kind="stable")[:count])


def _prune_srvgg(
    weights: Sequence[ops.Array], source: Mapping[str, int], target: Mapping[str, int]
) -> list[ops.Array]:
    """Structured filter pruning of a trained srvgg (Li et al., "Pruning Filters for
    Efficient ConvNets", ICLR 2017): each conv before the tail keeps the
    ``target["features"]`` output filters with the largest L1 norm, its bias and PReLU
    slopes keep the same channels, and the next conv keeps only those input channels. The
    tail keeps all its outputs. Norms are taken after the previous layer's cut (the
    paper's greedy strategy: a kernel slice that reads a removed map does not count).

    The kept channels stay in their original order, so the pruned network is the source
    with some feature maps removed; fine-tuning (the run that starts from it) recovers
    what they contributed.
    """
    layers, features = source["convs"] + 1, target["features"]
    if len(weights) != 3 * layers + 2:
        raise TrainingError(
            f"an srvgg with convs={source['convs']} has {3 * layers + 2} weight arrays, "
            f"not {len(weights)}",
            hint="the source checkpoint does not belong to its run.json",
        )
    out: list[ops.Array] = []
    kept: npt.NDArray[np.intp] | None = None
    for layer in range(layers):
        kernel, bias, slopes = weights[3 * layer : 3 * layer + 3]
        if kept is not None:
            kernel = kernel[:, :, kept, :]
        kept = l1_keep(kernel, features)
        out += [kernel[..., kept], bias[kept], slopes[kept]]
    tail_kernel, tail_bias = weights[-2:]
    assert kept is not None  # layers >= 1
    out += [tail_kernel[:, :, kept, :], tail_bias]
    return [np.ascontiguousarray(w, dtype=np.float32) for w in out]


def _widen_srvgg(
    weights: Sequence[ops.Array],
    source: Mapping[str, int],
    target: Mapping[str, int],
    fresh: Sequence[ops.Array],
) -> list[ops.Array]:
    """A wider srvgg that computes exactly what the trained narrower one does (the
    function-preserving growth of Net2Net: Chen, Goodfellow and Shlens, ICLR 2016, here
    with zeros instead of copied filters). The old filters keep their weights and read
    nothing from the new maps (zero kernel slices); the new filters keep their fresh
    random weights, bias 0 and PReLU 0.25; the tail reads nothing from the new maps. The
    output is therefore unchanged at step 0, and the first gradient steps wake the new
    maps up through the tail's zero slices, which get non-zero gradients at once.
    """
    layers = source["convs"] + 1
    expected = 3 * layers + 2
    if len(weights) != expected or len(fresh) != expected:
        raise TrainingError(
            f"an srvgg with convs={source['convs']} has {expected} weight arrays, "
            f"not {len(weights)}",
            hint="the source checkpoint does not belong to its run.json",
        )
    out: list[ops.Array] = []
    for old, new in zip(weights, fresh, strict=True):
        grown = np.array(new, dtype=np.float32, copy=True)
        if old.ndim == 4:  # HWIO: the old filters' slice is trained, they ignore new maps
            cin, cout = old.shape[2], old.shape[3]
            grown[:, :, :cin, :cout] = old
            grown[:, :, cin:, :cout] = 0.0
        else:
            grown[: old.shape[0]] = old
        out.append(grown)
    return out


SRVGG = Architecture(
    id="srvgg",
    title="SRVGGNetCompact-style: 3x3 convs with PReLU, PixelShuffle, nearest residual",
    params={
        "features": ParamSpec(32, 4, 256, "feature maps per conv"),
        "convs": ParamSpec(8, 0, 64, "3x3 convs between the first and the last"),
    },
    factory=_srvgg,
    receptive_field=lambda p: p["convs"] + 2,
    pruning=Pruning(L1_FILTER, "features", _prune_srvgg),
    widening=Widening("features", _widen_srvgg),
)

REGISTRY: dict[str, Architecture] = {SRVGG.id: SRVGG}


def get_architecture(name: str) -> Architecture:
    """The registered architecture ``name``; a typo gets the nearest names."""
    try:
        return REGISTRY[name.strip().lower()]
    except KeyError:
        close = nearest(name, list(REGISTRY))
        raise TrainingError(
            f"unknown architecture {name!r}",
            hint=(f"did you mean {close[0]!r}? " if close else "")
            + f"trainable architectures: {', '.join(REGISTRY)}",
        ) from None
