"""Parse TF.js *layers* models (``model.json`` plus weight shards) into the shared ops.

Why our own parser: the ``tensorflowjs`` package pins old TensorFlow and drags in
``tf_keras``, and Keras 3 cannot read Keras-2 topologies with custom layers such as
UpscalerJS's ``MultiplyBeta`` and ``PixelShuffle4x``. The models we need use a handful of
layer types, so this module translates them into :mod:`upscaler.convert.ops`; the shared
builder and writer (:mod:`upscaler.convert.writer`) turn those into a SavedModel that
needs neither Keras nor our code to load.

Inputs
    A TF.js layers model: ``model.json`` holds ``modelTopology`` (a Keras ``Model`` /
    ``Functional`` / ``Sequential`` config, Keras-2 or Keras-3 node format) and
    ``weightsManifest`` (groups of shard files; within a group the shards are
    concatenated and the weights laid end to end, optionally affine-quantized to
    uint8/uint16 as ``q * scale + min`` or stored as float16).

Output
    See :mod:`upscaler.convert.writer` (the serving contract and ``upscaler.json``).

TensorFlow is imported only by the writer, after the model has been parsed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.convert import limits
from upscaler.convert import ops as shared
from upscaler.convert.files import SourceFiles
from upscaler.convert.rewrites import fuse_pointwise_concats
from upscaler.convert.writer import (
    CONVERTER_VERSION,
    ConversionReport,
    ParsedModel,
    Wrapper,
    atomic_write_dir,
    check_scale,
    check_value_range,
    convert_weights,
    folder_size,
    probe_scale,
    write_metadata,
)
from upscaler.errors import ConversionError, ModelLoadError

__all__ = [
    "ACTIVATIONS",
    "CONVERTER_VERSION",
    "SUPPORTED_LAYERS",
    "ConversionReport",
    "Wrapper",
    "atomic_write_dir",
    "check_scale",
    "check_value_range",
    "convert_tfjs_layers",
    "folder_size",
    "fuse_pointwise_concats",
    "probe_scale",
    "write_metadata",
]

log = logging.getLogger("upscaler.convert.tfjs")

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
_STORAGE: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}

Ref = tuple[str, int, int]
"""A tensor in the topology: (layer name, node index, tensor index)."""

Arrays = Mapping[str, npt.NDArray[np.float32]]


def _act(name: str) -> shared.Act:
    """A Keras activation name as a shared activation (Keras' leaky_relu slope is 0.2)."""
    if name == "leaky_relu":
        return shared.Act("leaky_relu", (0.2,))
    if name == "silu":
        return shared.Act("swish")
    return shared.Act(name)  # type: ignore[arg-type]  # names checked by _activation_name


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class _Op:
    """One Keras layer's validated config; ``to_op`` turns it plus its weights into a
    shared op. Attribute names follow Keras (the receptive-field benchmark reads them)."""

    name: str
    class_name: str

    def params(self) -> tuple[str, ...]:
        return ()

    def check_weights(self, arrays: Arrays) -> None:
        del arrays

    def to_op(self, weights: Arrays) -> shared.Op:
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

    def check_weights(self, arrays: Arrays) -> None:
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

    def to_op(self, weights: Arrays) -> shared.Op:
        return shared.Conv2D(
            kernel=weights["kernel"],
            bias=weights["bias"] if self.use_bias else None,
            strides=self.strides,
            dilation=self.dilation,
            padding="same" if self.padding == "same" else "valid",
            act=_act(self.activation),
        )


@dataclass(frozen=True)
class _Activation(_Op):
    activation: str = "linear"

    def to_op(self, weights: Arrays) -> shared.Op:
        return shared.Activation(_act(self.activation))


@dataclass(frozen=True)
class _Concatenate(_Op):
    axis: int = -1

    def to_op(self, weights: Arrays) -> shared.Op:
        return shared.Concat()


@dataclass(frozen=True)
class _Add(_Op):
    def to_op(self, weights: Arrays) -> shared.Op:
        return shared.WeightedSum()


@dataclass(frozen=True)
class _UpSampling2D(_Op):
    size: tuple[int, int] = (2, 2)
    interpolation: str = "nearest"

    def to_op(self, weights: Arrays) -> shared.Op:
        if self.interpolation == "nearest":
            # Repeating rows and columns is exactly Keras' nearest resize for integer sizes.
            return shared.ResizeNearest(*self.size)
        return shared.ResizeBilinear(*self.size)


@dataclass(frozen=True)
class _MultiplyBeta(_Op):
    beta: float = 0.2

    def to_op(self, weights: Arrays) -> shared.Op:
        return shared.Binary("mul", scalar=self.beta)


@dataclass(frozen=True)
class _PixelShuffle(_Op):
    block: int = 2

    def to_op(self, weights: Arrays) -> shared.Op:
        # UpscalerJS's PixelShuffle layers are tf.nn.depth_to_space (TensorFlow order).
        return shared.DepthToSpace(self.block, "tf")


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
    if dims[3] not in (None, 1, 3, 4):
        raise ConversionError(
            f"{where}: the model takes {dims[3]} input channels; only RGB (3), "
            "luma (1) and RGBA (4) models can be converted"
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
    layer_ops: dict[str, _Op] = {}
    producers: dict[Ref, _Step] = {}
    inputs: dict[str, tuple[int | None, ...]] = {}
    counts: Counter[str] = Counter()
    for layer in layers:
        class_name = str(layer.get("class_name"))
        cfg = layer.get("config") or {}
        name = str(layer.get("name") or cfg.get("name"))
        counts[class_name] += 1
        if name in layer_ops or name in inputs:
            raise ConversionError(f"{where}: two layers are named {name!r}")
        if class_name == "InputLayer":
            inputs[name] = _check_input_shape(_input_shape_of(cfg), f"{where}: layer {name!r}")
            continue
        if class_name in ("Model", "Functional", "Sequential"):
            raise ConversionError(
                f"layer {name!r} is a nested model ({class_name}); nested models are not supported"
            )
        op = _make_op(class_name, name, cfg)
        layer_ops[name] = op
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
        ops=layer_ops,
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
    layer_ops: dict[str, _Op] = {}
    steps: list[_Step] = []
    for layer in layers:
        class_name = str(layer.get("class_name"))
        cfg = layer.get("config") or {}
        name = str(layer.get("name") or cfg.get("name") or f"layer_{len(steps)}")
        if class_name == "InputLayer":
            continue
        op = _make_op(class_name, name, cfg)
        layer_ops[name] = op
        out: Ref = (name, 0, 0)
        steps.append(_Step(op=op, inputs=(previous,), output=out))
        previous = out
    if not steps:
        raise ConversionError(f"{where}: the Sequential model has no layers besides its input")
    return _Graph(
        input=input_ref,
        output=previous,
        steps=steps,
        ops=layer_ops,
        layer_counts=dict(counts),
        input_shape=input_shape,
    )


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


def _read_weights(
    manifest: Any, files: SourceFiles
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
            real = files.companion(shard)
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


def _weights_for(op: _Op, arrays: Arrays, where: str) -> dict[str, npt.NDArray[np.float32]]:
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


# --------------------------------------------------------------------------- to shared ops


def _tensor(ref: Ref) -> str:
    return f"{ref[0]}:{ref[1]}:{ref[2]}"


def _to_graph(graph: _Graph, weights: Mapping[str, Arrays]) -> shared.Graph:
    """The parsed topology as a shared-op graph, weights attached."""
    nodes = tuple(
        shared.Node(
            name=step.op.name,
            kind=step.op.class_name,
            op=step.op.to_op(weights.get(step.op.name, {})),
            inputs=tuple(_tensor(ref) for ref in step.inputs),
            output=_tensor(step.output),
        )
        for step in graph.steps
    )
    return shared.Graph(
        _tensor(graph.input), nodes, _tensor(graph.output), graph.input_shape[3] or 3
    )


def read_tfjs_layers(
    model_json: str | os.PathLike[str],
    files: Mapping[str, str | os.PathLike[str]] | None = None,
) -> ParsedModel:
    """Read and parse a TF.js layers model into the shared ops, without building anything.

    Where the files are:

    * without ``files``: ``model_json`` is a real path and the shards named in its
      manifest are read relative to its folder (they may not climb out of it);
    * with ``files``: a mapping from in-package posix paths (``"models/x2/model.json"``,
      ``"models/x2/group1-shard1of1.bin"``) to real files, for example a fetched
      package whose files live in a content-addressed cache. ``model_json`` is then
      either one of the keys or the real path of exactly one value; shard paths are
      resolved relative to the model.json's in-package folder (``./x2.bin`` and
      ``../shared/w.bin`` work) and must be keys of ``files``.

    Raises ConversionError (unsupported layer, bad manifest, missing or short shard...).
    """
    located = SourceFiles(model_json, files, kind="model.json")
    where = located.label
    try:
        raw_json = located.path.read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read {located.path}: {exc}") from exc
    try:
        doc = json.loads(raw_json)
    except ValueError as exc:
        raise ConversionError(f"{where} is not valid JSON: {exc}") from exc
    graph, info = _parse_topology(doc, where)
    arrays, shard_info = _read_weights(doc.get("weightsManifest"), located)
    weights = {
        name: _weights_for(op, arrays, where) for name, op in graph.ops.items() if op.params()
    }
    matched = sum(len(params) for params in weights.values())
    if len(arrays) > matched:
        log.warning(
            "%s: %d weights in the manifest belong to no rebuilt layer",
            where,
            len(arrays) - matched,
        )
    source = {
        "model_json": where,
        "model_json_sha256": hashlib.sha256(raw_json).hexdigest(),
        "shards": shard_info,
        **{k: v for k, v in info.items() if v is not None},
    }
    shared_graph = _to_graph(graph, weights)
    # the same bound on what the probe and the runner will allocate as ncnn and npz get
    limits.check_tensor_sizes(shared_graph, where)
    return ParsedModel(shared_graph, dict(graph.layer_counts), source, where)


def model_files(model_json: Path) -> list[Path]:
    """model.json plus the shards its manifest names: what a model given by path is made
    of (its cache key hashes them all)."""
    try:
        doc = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {model_json} as TF.js JSON ({exc})") from None
    shards = [
        model_json.parent / p
        for group in doc.get("weightsManifest", [])
        for p in group.get("paths", [])
    ]
    return [model_json, *shards]


convert_tfjs_layers = partial(convert_weights, "tfjs-layers")
"""``convert_tfjs_layers(model_json, out_dir, *, files=None, value_range=None, scale=None,
wrapper=None, overwrite=False)``: a TF.js layers model (located as :func:`read_tfjs_layers`
says) as a SavedModel, through :func:`~upscaler.convert.writer.convert_weights`."""
