"""Convert TF.js *layers* models (``model.json`` plus weight shards) into SavedModels.

Why our own converter: the ``tensorflowjs`` package pins old TensorFlow and drags in
``tf_keras``, and Keras 3 cannot read Keras-2 topologies with custom layers such as
UpscalerJS's ``MultiplyBeta`` and ``PixelShuffle4x``. The models we need use a handful of
layer types, so we rebuild their graph with raw TensorFlow ops in a ``tf.Module`` and
save that. The result needs neither Keras nor our code to load.

Inputs
    A TF.js layers model: ``model.json`` holds ``modelTopology`` (a Keras ``Model`` /
    ``Functional`` / ``Sequential`` config, Keras-2 or Keras-3 node format) and
    ``weightsManifest`` (groups of shard files; within a group the shards are
    concatenated and the weights laid end to end, optionally affine-quantized to
    uint8/uint16 as ``q * scale + min`` or stored as float16).

Output
    A SavedModel whose ``serving_default`` signature takes ``input`` (float32,
    ``[None, None, None, 3]``) and returns ``{"output": float32 NHWC}``, plus an
    ``upscaler.json`` side file with the value range, scale, channels, parameter and
    layer counts and :data:`CONVERTER_VERSION` (part of cache keys: bump it whenever the
    bytes a conversion produces could change).

TensorFlow is imported only inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import posixpath
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from upscaler.errors import ConversionError
from upscaler.runtime.savedmodel import (
    INPUT_NAME,
    METADATA_FILE,
    OUTPUT_NAME,
    SIGNATURE_KEY,
    require_tensorflow,
)

log = logging.getLogger("upscaler.convert.tfjs")

CONVERTER_VERSION = "2"
"""Version of the conversion recipe; a change invalidates every cached SavedModel."""

SUPPORTED_LAYERS: tuple[str, ...] = (
    "InputLayer",
    "Conv2D",
    "Activation",
    "Concatenate",
    "Add",
    "UpSampling2D",
    "MultiplyBeta",
    "PixelShuffle<s>x",
)
"""Layer classes the converter rebuilds (``PixelShuffle2x``, ``PixelShuffle3x``...)."""

ACTIVATIONS: tuple[str, ...] = (
    "linear",
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "leaky_relu",
    "exponential",
)
"""Activation names accepted in ``Activation`` layers and in a ``Conv2D``'s config."""

_PIXEL_SHUFFLE = re.compile(r"^PixelShuffle(\d+)x$")
_PROBE_SIZE = 16
_STORAGE: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}

Ref = tuple[str, int, int]
"""A tensor in the topology: (layer name, node index, tensor index)."""


@dataclass(frozen=True)
class ConversionReport:
    """What a conversion produced, for logs, the CLI and cache bookkeeping."""

    output: Path
    seconds: float
    size_bytes: int
    parameters: int
    layer_counts: dict[str, int]
    scale: int
    channels: int
    value_range: tuple[float, float] | None
    converter_version: str = CONVERTER_VERSION
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class _Op:
    """One layer, rebuilt; ``build`` runs inside the tf.function trace."""

    name: str
    class_name: str

    def params(self) -> tuple[str, ...]:
        return ()

    def check_weights(self, arrays: Mapping[str, npt.NDArray[np.float32]]) -> None:
        del arrays

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class _Conv2D(_Op):
    filters: int = 0
    kernel_size: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "same"
    use_bias: bool = True
    activation: str = "linear"

    def params(self) -> tuple[str, ...]:
        return ("kernel", "bias") if self.use_bias else ("kernel",)

    def check_weights(self, arrays: Mapping[str, npt.NDArray[np.float32]]) -> None:
        kernel = arrays["kernel"]
        if (
            kernel.ndim != 4
            or tuple(kernel.shape[:2]) != self.kernel_size
            or kernel.shape[3] != self.filters
        ):
            raise ConversionError(
                f"layer {self.name!r} (Conv2D): kernel has shape {list(kernel.shape)}, expected "
                f"[{self.kernel_size[0]}, {self.kernel_size[1]}, in_channels, {self.filters}]"
            )
        if self.use_bias and tuple(arrays["bias"].shape) != (self.filters,):
            raise ConversionError(
                f"layer {self.name!r} (Conv2D): bias has shape {list(arrays['bias'].shape)}, "
                f"expected [{self.filters}]"
            )

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        y = tf.nn.conv2d(
            inputs[0],
            weights["kernel"],
            strides=[1, *self.strides, 1],
            padding=self.padding.upper(),
            dilations=[1, *self.dilation, 1],
        )
        if self.use_bias:
            y = tf.nn.bias_add(y, weights["bias"])
        return _activate(tf, self.activation, y)


@dataclass(frozen=True)
class _Activation(_Op):
    activation: str = "linear"

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        return _activate(tf, self.activation, inputs[0])


@dataclass(frozen=True)
class _Concatenate(_Op):
    axis: int = -1

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        return tf.concat(inputs, axis=self.axis)


@dataclass(frozen=True)
class _ConcatPointwise(_Op):
    """A channel concatenation read only by a 1×1 convolution, computed without the copy.

    RDN fuses features by concatenating every dense block's output (640 channels for D10
    G64) and reducing them with a 1×1 convolution. The concatenated tensor is a second copy
    of all its inputs, and it is the model's memory peak: the planner sizes tiles by that
    peak, so it decides how many tiles (and how much recomputed overlap) an image costs. A
    1×1 convolution of a concatenation is the sum of 1×1 convolutions of the parts with the
    matching slices of the kernel: the same linear map and the same multiplications, but
    each part can be freed as soon as its term is added. Only the summation order changes
    (float32 rounding, far below one grey level).
    """

    conv: _Conv2D

    def params(self) -> tuple[str, ...]:
        return self.conv.params()

    def check_weights(self, arrays: Mapping[str, npt.NDArray[np.float32]]) -> None:
        self.conv.check_weights(arrays)

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        kernel = weights["kernel"]
        total: Any = None
        start = 0
        for part in inputs:
            width = int(part.shape[-1])
            term = tf.nn.conv2d(
                part,
                kernel[:, :, start : start + width, :],
                strides=[1, *self.conv.strides, 1],
                padding=self.conv.padding.upper(),
                dilations=[1, *self.conv.dilation, 1],
            )
            total = term if total is None else total + term
            start += width
        if start != int(kernel.shape[2]):
            raise ConversionError(
                f"layer {self.name!r} (Conv2D): its concatenated input has {start} channels, "
                f"the kernel expects {int(kernel.shape[2])}"
            )
        if self.conv.use_bias:
            total = tf.nn.bias_add(total, weights["bias"])
        return _activate(tf, self.conv.activation, total)


@dataclass(frozen=True)
class _Add(_Op):
    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        return tf.add_n(inputs) if len(inputs) > 1 else inputs[0]


@dataclass(frozen=True)
class _UpSampling2D(_Op):
    size: tuple[int, int] = (2, 2)
    interpolation: str = "nearest"

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        x = inputs[0]
        if self.interpolation == "nearest":
            # Repeating rows and columns is exactly Keras' nearest resize for integer sizes.
            return tf.repeat(tf.repeat(x, self.size[0], axis=1), self.size[1], axis=2)
        shape = tf.shape(x)
        new_size = tf.stack([shape[1] * self.size[0], shape[2] * self.size[1]])
        return tf.image.resize(x, new_size, method="bilinear")


@dataclass(frozen=True)
class _MultiplyBeta(_Op):
    beta: float = 0.2

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        return inputs[0] * tf.constant(self.beta, dtype=tf.float32)


@dataclass(frozen=True)
class _PixelShuffle(_Op):
    block: int = 2

    def build(self, tf: Any, inputs: list[Any], weights: Mapping[str, Any]) -> Any:
        return tf.nn.depth_to_space(inputs[0], self.block, data_format="NHWC")


def _activate(tf: Any, name: str, x: Any) -> Any:
    if name == "linear":
        return x
    table: dict[str, Callable[[Any], Any]] = {
        "relu": tf.nn.relu,
        "relu6": tf.nn.relu6,
        "sigmoid": tf.math.sigmoid,
        "tanh": tf.math.tanh,
        "elu": tf.nn.elu,
        "selu": tf.nn.selu,
        "softplus": tf.math.softplus,
        "softsign": tf.nn.softsign,
        "swish": tf.nn.silu,
        "silu": tf.nn.silu,
        "gelu": lambda v: tf.nn.gelu(v, approximate=False),
        "leaky_relu": lambda v: tf.nn.leaky_relu(v, alpha=0.2),
        "exponential": tf.math.exp,
    }
    return table[name](x)


# --------------------------------------------------------------------------- topology


@dataclass(frozen=True)
class _Step:
    op: _Op
    inputs: tuple[Ref, ...]
    output: Ref


@dataclass
class _Graph:
    """The parsed topology: what to compute, in order, from which input to which output."""

    input: Ref
    output: Ref
    steps: list[_Step]
    ops: dict[str, _Op]
    layer_counts: dict[str, int]
    input_shape: tuple[int | None, ...]


def _pair(value: Any, what: str, layer: str, default: int) -> tuple[int, int]:
    if value is None:
        return (default, default)
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise ConversionError(f"layer {layer!r}: {what} {value!r} is not a pair of positive integers")


def _activation_name(value: Any, layer: str) -> str:
    if value is None:
        return "linear"
    if isinstance(value, dict):  # Keras 3 may serialise {"class_name": ..., "config": ...}
        value = value.get("config", {}).get("name", value.get("class_name"))
    if not isinstance(value, str) or value.lower() not in ACTIVATIONS:
        raise ConversionError(
            f"layer {layer!r}: activation {value!r} is not supported",
            hint=f"supported activations: {', '.join(ACTIVATIONS)}",
        )
    return value.lower()


def _channels_last(config: Mapping[str, Any], layer: str, class_name: str) -> None:
    data_format = config.get("data_format")
    if data_format not in (None, "channels_last"):
        raise ConversionError(
            f"layer {layer!r} ({class_name}): data_format {data_format!r} is not supported; "
            "only channels_last (NHWC) models can be converted"
        )


def _make_op(class_name: str, name: str, config: Mapping[str, Any]) -> _Op:
    """Turn one layer config into an op, validating everything that can be checked early."""
    if class_name == "Conv2D":
        _channels_last(config, name, class_name)
        filters = config.get("filters")
        if not isinstance(filters, int) or filters < 1:
            raise ConversionError(f"layer {name!r} (Conv2D): filters {filters!r} is invalid")
        padding = str(config.get("padding", "valid")).lower()
        if padding not in ("same", "valid"):
            raise ConversionError(
                f"layer {name!r} (Conv2D): padding {padding!r} is not supported (same, valid)"
            )
        groups = config.get("groups", 1)
        if groups not in (1, None):
            raise ConversionError(
                f"layer {name!r} (Conv2D): grouped convolution (groups={groups}) is not supported"
            )
        strides = _pair(config.get("strides"), "strides", name, 1)
        dilation = _pair(config.get("dilation_rate"), "dilation_rate", name, 1)
        if max(strides) > 1 and max(dilation) > 1:
            raise ConversionError(
                f"layer {name!r} (Conv2D): strides {list(strides)} together with "
                f"dilation_rate {list(dilation)} is not supported"
            )
        return _Conv2D(
            name=name,
            class_name=class_name,
            filters=filters,
            kernel_size=_pair(config.get("kernel_size"), "kernel_size", name, 1),
            strides=strides,
            dilation=dilation,
            padding=padding,
            use_bias=bool(config.get("use_bias", True)),
            activation=_activation_name(config.get("activation"), name),
        )
    if class_name == "Activation":
        return _Activation(
            name=name,
            class_name=class_name,
            activation=_activation_name(config.get("activation"), name),
        )
    if class_name == "Concatenate":
        axis = config.get("axis", -1)
        if not isinstance(axis, int) or axis not in (-1, 3):
            raise ConversionError(
                f"layer {name!r} (Concatenate): axis {axis!r} is not supported; only the "
                "channel axis (3 or -1) is"
            )
        return _Concatenate(name=name, class_name=class_name, axis=axis)
    if class_name == "Add":
        return _Add(name=name, class_name=class_name)
    if class_name == "UpSampling2D":
        _channels_last(config, name, class_name)
        interpolation = str(config.get("interpolation", "nearest")).lower()
        if interpolation not in ("nearest", "bilinear"):
            raise ConversionError(
                f"layer {name!r} (UpSampling2D): interpolation {interpolation!r} is not supported "
                "(nearest, bilinear)"
            )
        return _UpSampling2D(
            name=name,
            class_name=class_name,
            size=_pair(config.get("size"), "size", name, 2),
            interpolation=interpolation,
        )
    if class_name == "MultiplyBeta":
        beta = config.get("beta", 0.2)
        if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not math.isfinite(beta):
            raise ConversionError(f"layer {name!r} (MultiplyBeta): beta {beta!r} is invalid")
        return _MultiplyBeta(name=name, class_name=class_name, beta=float(beta))
    match = _PIXEL_SHUFFLE.match(class_name)
    if match:
        block = int(match.group(1))
        declared = config.get("scale")
        if block < 1 or (declared is not None and declared != block):
            raise ConversionError(
                f"layer {name!r} ({class_name}): config scale {declared!r} contradicts the class"
            )
        return _PixelShuffle(name=name, class_name=class_name, block=block)
    raise ConversionError(
        f"layer {name!r} has unsupported class {class_name!r}",
        hint=f"supported layers: {', '.join(SUPPORTED_LAYERS)}",
    )


def _check_input_shape(shape: Any, where: str) -> tuple[int | None, ...]:
    if shape is None:
        return (None, None, None, None)
    if not isinstance(shape, (list, tuple)) or len(shape) != 4:
        raise ConversionError(
            f"{where}: input shape {shape!r} is not [batch, height, width, channels]"
        )
    dims = tuple(None if d is None else int(d) for d in shape)
    if dims[3] not in (None, 3):
        raise ConversionError(
            f"{where}: the model takes {dims[3]} input channels; only RGB models "
            "(3 channels) can be converted"
        )
    return dims


def _input_shape_of(config: Mapping[str, Any]) -> Any:
    return config.get("batch_input_shape", config.get("batch_shape"))


def _refs_of(node: Any, layer: str) -> list[Ref]:
    """Tensor references of one inbound node, Keras-2 list form or Keras-3 dict form."""
    refs: list[Ref] = []

    def visit(item: Any) -> None:
        if isinstance(item, dict):
            history = item.get("config", {}).get("keras_history")
            if history is not None:
                visit_history(history)
                return
            for key in ("args", "kwargs"):
                if key in item:
                    visit(item[key])
            return
        if isinstance(item, (list, tuple)):
            if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int):
                visit_history(item)
                return
            for sub in item:
                visit(sub)

    def visit_history(history: Sequence[Any]) -> None:
        if len(history) < 3:
            raise ConversionError(f"layer {layer!r}: malformed inbound node {history!r}")
        refs.append((str(history[0]), int(history[1]), int(history[2])))

    if isinstance(node, dict):
        visit(node.get("args", []))
    else:
        visit(node)
    if not refs:
        raise ConversionError(f"layer {layer!r}: inbound node {node!r} names no input")
    return refs


def _parse_functional(config: Mapping[str, Any], where: str) -> _Graph:
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise ConversionError(f"{where}: model_config.config.layers is missing")
    ops: dict[str, _Op] = {}
    producers: dict[Ref, _Step] = {}
    inputs: dict[str, tuple[int | None, ...]] = {}
    counts: Counter[str] = Counter()
    for layer in layers:
        class_name = str(layer.get("class_name"))
        cfg = layer.get("config") or {}
        name = str(layer.get("name") or cfg.get("name"))
        counts[class_name] += 1
        if name in ops or name in inputs:
            raise ConversionError(f"{where}: two layers are named {name!r}")
        if class_name == "InputLayer":
            inputs[name] = _check_input_shape(_input_shape_of(cfg), f"{where}: layer {name!r}")
            continue
        if class_name in ("Model", "Functional", "Sequential"):
            raise ConversionError(
                f"layer {name!r} is a nested model ({class_name}); nested models are not supported"
            )
        op = _make_op(class_name, name, cfg)
        ops[name] = op
        for node_index, node in enumerate(layer.get("inbound_nodes") or []):
            refs = _refs_of(node, name)
            out: Ref = (name, node_index, 0)
            producers[out] = _Step(op=op, inputs=tuple(refs), output=out)
    in_refs = [tuple(r) for r in config.get("input_layers") or []]
    out_refs = [tuple(r) for r in config.get("output_layers") or []]
    if len(in_refs) != 1 or len(out_refs) != 1:
        raise ConversionError(
            f"{where}: the model has {len(in_refs)} inputs and {len(out_refs)} outputs; "
            "only single-input, single-output models can be converted"
        )
    input_ref: Ref = (str(in_refs[0][0]), int(in_refs[0][1]), int(in_refs[0][2]))
    output_ref: Ref = (str(out_refs[0][0]), int(out_refs[0][1]), int(out_refs[0][2]))
    if input_ref[0] not in inputs:
        raise ConversionError(f"{where}: input layer {input_ref[0]!r} is not an InputLayer")
    steps = _order(producers, input_ref, output_ref, where)
    return _Graph(
        input=input_ref,
        output=output_ref,
        steps=steps,
        ops=ops,
        layer_counts=dict(counts),
        input_shape=inputs[input_ref[0]],
    )


def _order(
    producers: Mapping[Ref, _Step], input_ref: Ref, output_ref: Ref, where: str
) -> list[_Step]:
    """Steps needed for the output, each after its inputs (depth-first, cycle-checked)."""
    ordered: list[_Step] = []
    state: dict[Ref, int] = {input_ref: 2}
    stack: list[tuple[Ref, bool]] = [(output_ref, False)]
    while stack:
        ref, expanded = stack.pop()
        if expanded:
            state[ref] = 2
            ordered.append(producers[ref])
            continue
        if state.get(ref) == 2:
            continue
        if state.get(ref) == 1:
            raise ConversionError(f"{where}: the graph has a cycle through layer {ref[0]!r}")
        step = producers.get(ref)
        if step is None:
            raise ConversionError(
                f"{where}: tensor {list(ref)} is used but no layer produces it "
                "(only the first output of each layer call is supported)"
            )
        state[ref] = 1
        stack.append((ref, True))
        for dep in reversed(step.inputs):
            if state.get(dep) == 1:
                raise ConversionError(f"{where}: the graph has a cycle through layer {dep[0]!r}")
            if state.get(dep) != 2:
                stack.append((dep, False))
    unused = {s.op.name for s in producers.values()} - {s.op.name for s in ordered}
    if unused:
        log.warning("%s: layers not on the path to the output are ignored: %s", where, unused)
    return ordered


def _parse_sequential(config: Any, where: str) -> _Graph:
    layers = config.get("layers") if isinstance(config, dict) else config
    if not isinstance(layers, list) or not layers:
        raise ConversionError(f"{where}: the Sequential model has no layers")
    counts: Counter[str] = Counter(str(layer.get("class_name")) for layer in layers)
    first_cfg = layers[0].get("config") or {}
    input_shape = _check_input_shape(_input_shape_of(first_cfg), f"{where}: first layer")
    input_ref: Ref = ("__input__", 0, 0)
    previous = input_ref
    ops: dict[str, _Op] = {}
    steps: list[_Step] = []
    for layer in layers:
        class_name = str(layer.get("class_name"))
        cfg = layer.get("config") or {}
        name = str(layer.get("name") or cfg.get("name") or f"layer_{len(steps)}")
        if class_name == "InputLayer":
            continue
        op = _make_op(class_name, name, cfg)
        ops[name] = op
        out: Ref = (name, 0, 0)
        steps.append(_Step(op=op, inputs=(previous,), output=out))
        previous = out
    if not steps:
        raise ConversionError(f"{where}: the Sequential model has no layers besides its input")
    return _Graph(
        input=input_ref,
        output=previous,
        steps=steps,
        ops=ops,
        layer_counts=dict(counts),
        input_shape=input_shape,
    )


def _is_pointwise(op: _Op) -> TypeGuard[_Conv2D]:
    return (
        isinstance(op, _Conv2D)
        and op.kernel_size == (1, 1)
        and op.strides == (1, 1)
        and op.dilation == (1, 1)
    )


def fuse_pointwise_concats(graph: _Graph) -> int:
    """Rewrite every channel Concatenate read only by a 1×1 Conv2D into a
    :class:`_ConcatPointwise` step (in place); returns how many were fused.

    Why: see :class:`_ConcatPointwise`; it lowers RDN's activation peak and so the
    number of tiles an image needs. A concatenation that anything else reads is kept.
    """
    readers: Counter[Ref] = Counter(ref for step in graph.steps for ref in step.inputs)
    readers[graph.output] += 1
    producer = {step.output: step for step in graph.steps}
    fused: set[Ref] = set()
    steps: list[_Step] = []
    for step in graph.steps:
        source = producer.get(step.inputs[0]) if len(step.inputs) == 1 else None
        if (
            _is_pointwise(step.op)
            and source is not None
            and isinstance(source.op, _Concatenate)
            and readers[source.output] == 1
        ):
            op = _ConcatPointwise(name=step.op.name, class_name=step.op.class_name, conv=step.op)
            steps.append(_Step(op=op, inputs=source.inputs, output=step.output))
            fused.add(source.output)
        else:
            steps.append(step)
    graph.steps = [step for step in steps if step.output not in fused]
    return len(fused)


def _parse_topology(doc: Any, where: str) -> tuple[_Graph, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ConversionError(f"{where}: expected a JSON object")
    fmt = doc.get("format")
    if fmt not in (None, "layers-model"):
        raise ConversionError(
            f"{where}: format {fmt!r} is not a TF.js layers model",
            hint="only 'layers-model' files can be converted; graph models are not supported",
        )
    topology = doc.get("modelTopology")
    if not isinstance(topology, dict):
        raise ConversionError(f"{where}: modelTopology is missing")
    model_config = topology.get("model_config", topology)
    class_name = model_config.get("class_name") if isinstance(model_config, dict) else None
    config = model_config.get("config") if isinstance(model_config, dict) else None
    if class_name in ("Model", "Functional") and isinstance(config, dict):
        graph = _parse_functional(config, where)
    elif class_name == "Sequential" and config is not None:
        graph = _parse_sequential(config, where)
    else:
        raise ConversionError(
            f"{where}: model class {class_name!r} is not supported (Model, Functional, Sequential)"
        )
    info = {
        "generated_by": doc.get("generatedBy"),
        "converted_by": doc.get("convertedBy"),
        "keras_version": topology.get("keras_version"),
    }
    return graph, info


# --------------------------------------------------------------------------- weights


def _clean_relative(path: str, where: str) -> str:
    if not isinstance(path, str) or not path:
        raise ConversionError(f"{where}: weights path {path!r} is invalid")
    if "://" in path or path.startswith("/") or "\\" in path:
        raise ConversionError(
            f"{where}: weights path {path!r} must be relative to the model.json's folder"
        )
    return path


class _Files:
    """Where model.json and its shards really are (see convert_tfjs_layers)."""

    def __init__(self, model_json: str | os.PathLike[str], files: Mapping[str, Any] | None):
        if files is None:
            self.json_path = Path(model_json)
            self.label = str(model_json)
            self._base: str | None = None
            self._files: dict[str, Path] = {}
            return
        self._files = {
            posixpath.normpath(str(k).replace("\\", "/")): Path(v) for k, v in files.items()
        }
        key = posixpath.normpath(str(model_json).replace("\\", "/"))
        if key not in self._files:
            wanted = Path(model_json)
            matches = [k for k, v in self._files.items() if v == wanted]
            if len(matches) != 1:
                raise ConversionError(
                    f"model.json {str(model_json)!r} is neither a key of files nor the path of "
                    "exactly one of them"
                )
            key = matches[0]
        self.json_path = self._files[key]
        self.label = key
        self._base = posixpath.dirname(key)

    def shard(self, path: str) -> Path:
        rel = _clean_relative(path, self.label)
        if self._base is None:
            norm = posixpath.normpath(rel)
            if norm == ".." or norm.startswith("../"):
                raise ConversionError(
                    f"{self.label}: weights path {path!r} points outside the model's folder"
                )
            return self.json_path.parent / norm
        key = posixpath.normpath(posixpath.join(self._base, rel))
        if key == ".." or key.startswith("../"):
            raise ConversionError(f"{self.label}: weights path {path!r} points outside the package")
        if key not in self._files:
            raise ConversionError(
                f"{self.label}: weights file {key!r} is not among the given files",
                hint="pass every file of the package in files=",
            )
        return self._files[key]


def _read_weights(
    manifest: Any, files: _Files
) -> tuple[dict[str, npt.NDArray[np.float32]], list[dict[str, Any]]]:
    """Read, concatenate and dequantize every weight group; names keep their TF.js form."""
    where = files.label
    if not isinstance(manifest, list):
        raise ConversionError(f"{where}: weightsManifest is missing or not a list")
    arrays: dict[str, npt.NDArray[np.float32]] = {}
    shard_info: list[dict[str, Any]] = []
    for group in manifest:
        paths = group.get("paths") if isinstance(group, dict) else None
        specs = group.get("weights") if isinstance(group, dict) else None
        if not isinstance(paths, list) or not isinstance(specs, list):
            raise ConversionError(f"{where}: a weightsManifest group lacks paths or weights")
        chunks = []
        for shard in paths:
            real = files.shard(shard)
            try:
                data = real.read_bytes()
            except FileNotFoundError:
                raise ConversionError(
                    f"{where}: weights shard {shard!r} is missing (looked for {real})"
                ) from None
            except OSError as exc:
                raise ConversionError(f"{where}: cannot read weights shard {real}: {exc}") from exc
            chunks.append(data)
            shard_info.append(
                {"path": shard, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            )
        buffer = b"".join(chunks)
        offset = 0
        for spec in specs:
            name, array, used = _decode_weight(spec, buffer, offset, paths, where)
            offset += used
            if name in arrays:
                raise ConversionError(f"{where}: weight {name!r} is listed twice")
            arrays[name] = array
        if offset != len(buffer):
            log.warning(
                "%s: weights group %s holds %d bytes after its last weight; ignored",
                where,
                paths,
                len(buffer) - offset,
            )
    return arrays, shard_info


def _decode_weight(
    spec: Any, buffer: bytes, offset: int, paths: Sequence[str], where: str
) -> tuple[str, npt.NDArray[np.float32], int]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ConversionError(f"{where}: malformed weight entry {spec!r}")
    name = spec["name"]
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ConversionError(f"{where}: weight {name!r} has invalid shape {shape!r}")
    dtype = spec.get("dtype", "float32")
    if dtype != "float32":
        raise ConversionError(
            f"{where}: weight {name!r} has dtype {dtype!r}; only float32 weights are supported"
        )
    quant = spec.get("quantization")
    storage = "float32"
    if quant is not None:
        storage = str(quant.get("dtype")) if isinstance(quant, dict) else repr(quant)
        if storage not in ("uint8", "uint16", "float16"):
            raise ConversionError(
                f"{where}: weight {name!r} uses quantization {storage!r}; supported: "
                "uint8, uint16, float16"
            )
    count = math.prod(shape)
    item = _STORAGE[storage]
    size = count * item.itemsize
    if offset + size > len(buffer):
        raise ConversionError(
            f"{where}: weights shards {list(paths)} are truncated: weight {name!r} needs bytes "
            f"{offset}..{offset + size} but the shards hold {len(buffer)} bytes"
        )
    raw = np.frombuffer(buffer, dtype=item, count=count, offset=offset)
    if isinstance(quant, dict) and storage in ("uint8", "uint16"):
        scale, minimum = quant.get("scale"), quant.get("min")
        if not isinstance(scale, (int, float)) or not isinstance(minimum, (int, float)):
            raise ConversionError(f"{where}: weight {name!r} lacks quantization scale/min")
        # TF.js dequantizes in double precision and stores the result as float32.
        values = (raw.astype(np.float64) * float(scale) + float(minimum)).astype(np.float32)
    else:
        values = raw.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ConversionError(f"{where}: weight {name!r} holds NaN or infinite values")
    return name, values.reshape(shape), size


def _weights_for(
    op: _Op, arrays: Mapping[str, npt.NDArray[np.float32]], where: str
) -> dict[str, npt.NDArray[np.float32]]:
    found: dict[str, npt.NDArray[np.float32]] = {}
    for param in op.params():
        exact = f"{op.name}/{param}"
        names = [n for n in (exact, exact + ":0") if n in arrays]
        if not names:
            suffix = f"/{exact}"
            names = [n for n in arrays if n.removesuffix(":0").endswith(suffix)]
        if len(names) != 1:
            problem = "is missing" if not names else f"is ambiguous ({names})"
            raise ConversionError(
                f"{where}: weight {exact!r} of layer {op.name!r} ({op.class_name}) {problem}"
            )
        found[param] = arrays[names[0]]
    op.check_weights(found)
    return found


# --------------------------------------------------------------------------- saving


def check_value_range(value_range: Any) -> tuple[float, float] | None:
    if value_range is None:
        return None
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ConversionError(f"value_range {value_range!r} is not a pair of numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConversionError(f"value_range {value_range!r} must be finite with min < max")
    return (lo, hi)


def check_scale(scale: Any) -> int | None:
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConversionError(f"scale {scale!r} must be a positive integer")
    return scale


def probe_scale(
    tf: Any,
    serve: Any,
    expected: int | None,
    where: str,
    size: tuple[int, int] = (_PROBE_SIZE, _PROBE_SIZE),
) -> tuple[int, int]:
    """Run a tiny image through the traced function; returns (scale, output channels).

    A probe catches graphs that trace but cannot run, and measures the scale instead of
    trusting a name, so a catalog entry with the wrong scale fails at conversion time.
    """
    height, width = size
    try:
        # Through the concrete function: calling the tf.function itself would count as a
        # retrace and make TensorFlow warn after a few conversions in one process.
        concrete = serve.get_concrete_function()
        out = concrete(tf.zeros([1, height, width, 3], tf.float32))[OUTPUT_NAME]
    except ConversionError:
        raise
    except Exception as exc:  # any TensorFlow failure means the graph is unusable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{where}: the model fails on a test input: {first}") from exc
    shape = tuple(int(d) for d in out.shape)
    if len(shape) != 4 or shape[0] != 1:
        raise ConversionError(f"{where}: the model returns shape {list(shape)}, expected NHWC")
    out_h, out_w, channels = shape[1:]
    if out_h % height or out_w % width or out_h // height != out_w // width:
        raise ConversionError(
            f"{where}: a {height}x{width} input gives a {out_h}x{out_w} output, which is not "
            "an integer upscale"
        )
    measured = out_h // height
    if measured < 1:
        raise ConversionError(f"{where}: the model shrinks its input ({height} -> {out_h})")
    if expected is not None and expected != measured:
        raise ConversionError(
            f"{where}: the model upscales by {measured}, but scale={expected} was given"
        )
    return measured, channels


def atomic_write_dir(out_dir: Path, write: Callable[[Path], None], *, overwrite: bool) -> None:
    """Let ``write`` fill a sibling temp folder, then rename it to ``out_dir``.

    A crash or an exception leaves no half-written ``out_dir`` behind, so a cache can
    treat "the folder exists" as "the conversion finished".
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise ConversionError(
            f"output folder {out_dir} already exists", hint="remove it or pass overwrite=True"
        )
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out_dir.name}.{uuid.uuid4().hex[:12]}.partial"
    tmp.mkdir()
    try:
        write(tmp)
        if out_dir.exists() and overwrite:
            trash = parent / f".{out_dir.name}.{uuid.uuid4().hex[:12]}.old"
            out_dir.replace(trash)
            try:
                tmp.replace(out_dir)
            except OSError:
                trash.replace(out_dir)
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            try:
                tmp.rename(out_dir)
            except OSError as exc:
                raise ConversionError(
                    f"cannot move the converted model into {out_dir}: {exc}",
                    hint="another process may have written it meanwhile",
                ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def folder_size(path: Path) -> int:
    """Bytes of every file under ``path`` (what the cache will hold)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_metadata(folder: Path, metadata: Mapping[str, Any]) -> None:
    """Write ``upscaler.json`` next to saved_model.pb (sorted keys: stable bytes)."""
    text = json.dumps(dict(metadata), indent=2, sort_keys=True) + "\n"
    (folder / METADATA_FILE).write_text(text, encoding="utf-8")


def _build_module(tf: Any, graph: _Graph, weights: Mapping[str, Mapping[str, Any]]) -> Any:
    module = tf.Module(name="upscaler_tfjs")
    variables: dict[str, dict[str, Any]] = {}
    tracked = []
    for layer, params in weights.items():
        variables[layer] = {}
        for param, array in params.items():
            safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", f"{layer}_{param}")
            var = tf.Variable(array, trainable=False, name=safe, dtype=tf.float32)
            variables[layer][param] = var
            tracked.append(var)
    module.weights_list = tracked

    def forward(x: Any) -> Any:
        values: dict[Ref, Any] = {graph.input: x}
        for step in graph.steps:
            inputs = [values[ref] for ref in step.inputs]
            try:
                values[step.output] = step.op.build(tf, inputs, variables.get(step.op.name, {}))
            except (ValueError, TypeError, tf.errors.OpError) as exc:
                raise ConversionError(
                    f"layer {step.op.name!r} ({step.op.class_name}) cannot be rebuilt: "
                    f"{str(exc).strip().splitlines()[0]}"
                ) from exc
        return values[graph.output]

    signature = [tf.TensorSpec([None, None, None, 3], tf.float32, name=INPUT_NAME)]

    @tf.function(input_signature=signature, autograph=False)  # type: ignore[untyped-decorator]
    def serve(x: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: tf.identity(forward(x), name=OUTPUT_NAME)}

    module.serve = serve
    return module


def convert_tfjs_layers(
    model_json: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    files: Mapping[str, str | os.PathLike[str]] | None = None,
    value_range: tuple[float, float] | None = None,
    scale: int | None = None,
    overwrite: bool = False,
) -> ConversionReport:
    """Convert a TF.js layers model into a SavedModel at ``out_dir``.

    Where the files are:

    * without ``files``: ``model_json`` is a real path and the shards named in its
      manifest are read relative to its folder (they may not climb out of it);
    * with ``files``: a mapping from in-package posix paths (``"models/x2/model.json"``,
      ``"models/x2/group1-shard1of1.bin"``) to real files, for example a fetched
      package whose files live in a content-addressed cache. ``model_json`` is then
      either one of the keys or the real path of exactly one value; shard paths are
      resolved relative to the model.json's in-package folder (``./x2.bin`` and
      ``../shared/w.bin`` work) and must be keys of ``files``.

    ``value_range`` (what the model expects for black..white) and ``scale`` are stored in
    ``upscaler.json``; ``scale`` is also measured with a probe image and must agree.
    The SavedModel is written to a temporary sibling folder and renamed into place, so a
    failure leaves nothing; an existing ``out_dir`` is an error unless ``overwrite``.

    Raises ConversionError (unsupported layer, bad manifest, missing or short shard...)
    and DependencyError when TensorFlow is not installed.
    """
    started = time.perf_counter()
    out_path = Path(out_dir)
    wanted_range = check_value_range(value_range)
    wanted_scale = check_scale(scale)
    located = _Files(model_json, files)
    where = located.label
    try:
        raw_json = located.json_path.read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read {located.json_path}: {exc}") from exc
    try:
        doc = json.loads(raw_json)
    except ValueError as exc:
        raise ConversionError(f"{where} is not valid JSON: {exc}") from exc
    graph, info = _parse_topology(doc, where)
    fused = fuse_pointwise_concats(graph)
    arrays, shard_info = _read_weights(doc.get("weightsManifest"), located)
    weights = {
        name: _weights_for(op, arrays, where) for name, op in graph.ops.items() if op.params()
    }
    parameters = sum(int(a.size) for params in weights.values() for a in params.values())
    matched = sum(len(params) for params in weights.values())
    if len(arrays) > matched:
        log.warning(
            "%s: %d weights in the manifest belong to no rebuilt layer",
            where,
            len(arrays) - matched,
        )

    tf = require_tensorflow()
    log.info("converting %s (%d layers, %d parameters)", where, len(graph.steps), parameters)
    module = _build_module(tf, graph, weights)
    measured_scale, channels = probe_scale(tf, module.serve, wanted_scale, where)
    metadata: dict[str, Any] = {
        "format": "upscaler-savedmodel",
        "source_format": "tfjs-layers",
        "converter_version": CONVERTER_VERSION,
        "tensorflow_version": str(tf.__version__),
        "value_range": list(wanted_range) if wanted_range is not None else None,
        "scale": measured_scale,
        "channels": channels,
        "input_channels": 3,
        "parameters": parameters,
        "layer_counts": dict(sorted(graph.layer_counts.items())),
        "fused_concat_pointwise": fused,
        "source": {
            "model_json": where,
            "model_json_sha256": hashlib.sha256(raw_json).hexdigest(),
            "shards": shard_info,
            **{k: v for k, v in info.items() if v is not None},
        },
        "signature": {"key": SIGNATURE_KEY, "input": INPUT_NAME, "output": OUTPUT_NAME},
    }

    def write(folder: Path) -> None:
        try:
            tf.saved_model.save(
                module,
                str(folder),
                signatures={SIGNATURE_KEY: module.serve.get_concrete_function()},
            )
        except ConversionError:
            raise
        except Exception as exc:  # TensorFlow raises assorted types while saving
            raise ConversionError(f"{where}: saving the SavedModel failed: {exc}") from exc
        write_metadata(folder, metadata)

    atomic_write_dir(out_path, write, overwrite=overwrite)
    seconds = time.perf_counter() - started
    size = folder_size(out_path)
    log.info("converted %s to %s in %.1f s (%d bytes)", where, out_path, seconds, size)
    return ConversionReport(
        output=out_path,
        seconds=seconds,
        size_bytes=size,
        parameters=parameters,
        layer_counts=dict(sorted(graph.layer_counts.items())),
        scale=measured_scale,
        channels=channels,
        value_range=wanted_range,
        metadata=metadata,
    )
