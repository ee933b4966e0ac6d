"""Shared ops → an ONNX model: the second builder, independent of TensorFlow.

Why a second builder rather than tf2onnx on the SavedModel: the ops of
:mod:`upscaler.convert.ops` already say exactly what each network computes, so writing
them as ONNX nodes (with the ``onnx`` package's helper API) keeps export independent of
TensorFlow's version and of how TensorFlow happened to trace a graph. Each op has one
translation (:mod:`upscaler.convert.onnx_ops`), as each has one TensorFlow rendering in
:mod:`upscaler.convert.builder`; an op without one is a :class:`ConversionError`
naming it. This module assembles them into a model around the wrapper and the value
range, and writes it.

The exported model's convention (also written into its ``metadata_props``):

* input ``input``: float32 ``[N, C, H, W]`` (NCHW, as most ONNX super-resolution models
  are), values in ``[0, 1]``; C is 3 for RGB models, 1 for luma models, 4 for RGBA.
  H and W are dynamic.
* output ``output``: float32 ``[N, C_out, scale·H, scale·W]``, clipped to ``[0, 1]``.
* Inside: the input is mapped onto the network's own value range (``[0, 255]`` for
  UpscalerJS models) as the runtime does (:mod:`upscaler.runtime.windows`), the wrapper
  of :class:`~upscaler.convert.parsed.Wrapper` runs (pre-upscale, edge or reflect
  padding to a multiple, crop, residual) and the output is clipped to the value range
  and mapped back. So the file is usable alone: no pre- or post-processing beyond
  dividing 8-bit pixels by 255 and transposing HWC to CHW.

Tensors are NCHW throughout (ONNX's Conv layout): kernels are transposed from HWIO to
OIHW once (in :mod:`upscaler.convert.onnx_ops`, the per-op translations) and every
channel axis becomes axis 1. Opset 17 and IR version 8 (ONNX 1.12, which onnxruntime
1.12 and later run).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from upscaler.convert import ops
from upscaler.convert.geometry import shift_period
from upscaler.convert.onnx_ops import TRANSLATORS, Channels, Emitter
from upscaler.convert.parsed import CONVERTER_VERSION, ParsedModel, Wrapper
from upscaler.convert.rewrites import prune
from upscaler.errors import ConversionError, DependencyError

log = logging.getLogger("upscaler.convert.onnx_export")

OPSET = 17
"""The ONNX opset of exported models."""

INPUT_NAME = "input"
OUTPUT_NAME = "output"

ONNX_EXPORT_VERSION = "1"
"""Version of this builder, recorded in every exported file."""

_PROTOBUF_LIMIT = 2**31 - 1
"""A single ONNX protobuf cannot exceed 2 GiB."""


def require_onnx() -> Any:
    """The ``onnx`` package, or a DependencyError naming the extra that brings it."""
    try:
        import onnx
    except ImportError as exc:
        raise DependencyError(
            "exporting ONNX needs the onnx package",
            hint="pip install 'upscaler[onnx]'",
        ) from exc
    return onnx


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class OnnxExport:
    """What an export wrote, for the CLI and logs."""

    path: Path
    size_bytes: int
    parameters: int
    scale: int
    input_channels: int
    output_channels: int | None
    value_range: tuple[float, float]
    opset: int
    metadata: dict[str, str]


def _translate(e: Emitter, graph: ops.Graph, x: str) -> tuple[str, Channels]:
    names: dict[str, str] = {graph.input: x}
    channels: dict[str, Channels] = {graph.input: graph.input_channels}
    for node in graph.nodes:
        translate = TRANSLATORS.get(type(node.op))
        if translate is None:
            raise ConversionError(
                f"layer {node.name!r} ({node.kind}): op {type(node.op).__name__} has no ONNX "
                "translation yet",
                hint=f"ONNX export supports {', '.join(sorted(t.__name__ for t in TRANSLATORS))}",
            )
        try:
            out, chans = translate(
                e, node.op, [names[r] for r in node.inputs], [channels[r] for r in node.inputs]
            )
        except ConversionError as exc:
            raise ConversionError(
                f"layer {node.name!r} ({node.kind}): {exc.message}", hint=exc.hint
            ) from exc
        names[node.output] = out
        channels[node.output] = chans
    return names[graph.output], channels[graph.output]


def _tile_alignment(graph: ops.Graph, wrapper: Wrapper) -> str:
    """Where tiles of a tiled run must start (multiples of this), as the SavedModel's
    ``upscaler.json`` records it; "none" for a network that cannot be tiled at all."""
    try:
        return str(math.lcm(shift_period(graph), wrapper.multiple))
    except ConversionError:
        return "none"


def _wrapped(graph: ops.Graph, wrapper: Wrapper | None, scale: int) -> ops.Graph:
    from upscaler.convert.writer import wrap

    pruned, _ = prune(wrap(graph, wrapper or Wrapper(), scale))
    return pruned


def onnx_model(
    parsed: ParsedModel,
    *,
    scale: int,
    value_range: tuple[float, float],
    wrapper: Wrapper | None = None,
    metadata: Mapping[str, str] | None = None,
) -> tuple[Any, dict[str, str]]:
    """The parsed network, with its wrapper and value-range mapping, as an ONNX
    ``ModelProto`` (see the module docstring for its convention); also the metadata
    written into it. ``scale`` sizes the wrapper's crop and residual and is recorded."""
    onnx = require_onnx()
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConversionError(f"value_range {value_range!r} must be finite with min < max")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConversionError(f"scale {scale!r} must be a positive integer")
    graph = _wrapped(parsed.graph, wrapper, scale)
    e = Emitter(onnx)
    span = hi - lo
    x = INPUT_NAME
    # [0, 1] → the network's range, as the runtime maps pixels (windows.PixelMap).
    if span != 1.0:
        x = e.node("Mul", [x, e.const(np.float32(span), "span")], "to_range")
    if lo != 0.0:
        x = e.node("Add", [x, e.const(np.float32(lo), "lo")], "to_range")
    y, out_channels = _translate(e, graph, x)
    # Clipped to the network's range and mapped back to [0, 1], as the runtime does.
    y = e.node("Clip", [y, e.const(np.float32(lo), "lo"), e.const(np.float32(hi), "hi")], "clip")
    if lo != 0.0:
        y = e.node("Sub", [y, e.const(np.float32(lo), "lo")], "from_range")
    if span != 1.0:
        y = e.node("Div", [y, e.const(np.float32(span), "span")], "from_range")
    e.nodes.append(onnx.helper.make_node("Identity", [y], [OUTPUT_NAME]))
    if e.weight_bytes > _PROTOBUF_LIMIT - (64 << 20):
        raise ConversionError(
            f"{parsed.where}: {e.weight_bytes} bytes of weights do not fit one ONNX file "
            "(protobuf's 2 GiB limit)"
        )

    cin = graph.input_channels
    helper, f32 = onnx.helper, onnx.TensorProto.FLOAT
    inp = helper.make_tensor_value_info(INPUT_NAME, f32, ["N", cin, "H", "W"])
    out = helper.make_tensor_value_info(OUTPUT_NAME, f32, ["N", out_channels, "H_out", "W_out"])
    facts = {
        "upscaler.layout": "NCHW",
        "upscaler.input": f"float32 [N, {cin}, H, W] in [0, 1]",
        "upscaler.output": (
            f"float32 [N, {out_channels if out_channels is not None else 'C'}, "
            f"{scale}*H, {scale}*W] in [0, 1]"
        ),
        "upscaler.scale": str(scale),
        "upscaler.input_channels": str(cin),
        "upscaler.model_value_range": json.dumps([lo, hi]),
        "upscaler.wrapper": json.dumps((wrapper or Wrapper()).to_dict(), sort_keys=True),
        "upscaler.tile_alignment": _tile_alignment(graph, wrapper or Wrapper()),
        "upscaler.parameters": str(parsed.graph.parameters()),
        "upscaler.converter_version": CONVERTER_VERSION,
        "upscaler.onnx_export_version": ONNX_EXPORT_VERSION,
        **dict(metadata or {}),
    }
    body = helper.make_graph(
        e.nodes,
        "upscaler",
        [inp],
        [out],
        initializer=e.initializers,
        doc_string=(f"{parsed.where}: NCHW float32 in [0, 1] -> x{scale} NCHW float32 in [0, 1]"),
    )
    model = helper.make_model(
        body,
        producer_name="upscaler",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    # IR version 8 is what opset 17 came with (ONNX 1.12): older runtimes can read it.
    model.ir_version = 8
    helper.set_model_props(model, facts)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:  # a translation bug, found before writing
        first = str(exc).strip().splitlines()[0]
        raise ConversionError(f"{parsed.where}: the ONNX graph is invalid: {first}") from exc
    return model, facts


def write_onnx(
    parsed: ParsedModel,
    path: str | os.PathLike[str],
    *,
    scale: int,
    value_range: tuple[float, float],
    wrapper: Wrapper | None = None,
    metadata: Mapping[str, str] | None = None,
) -> OnnxExport:
    """Export ``parsed`` to ``path`` (see :func:`onnx_model`), written whole or not at
    all: a temp file beside it, then one rename."""
    from upscaler.atomic import write_atomically

    model, facts = onnx_model(
        parsed, scale=scale, value_range=value_range, wrapper=wrapper, metadata=metadata
    )
    target = Path(path)
    data = model.SerializeToString()
    write_atomically(target, lambda tmp: tmp.write_bytes(data))
    outputs = model.graph.output[0].type.tensor_type.shape.dim[1]
    log.info("exported %s to %s (%d bytes)", parsed.where, target, len(data))
    return OnnxExport(
        path=target,
        size_bytes=len(data),
        parameters=parsed.graph.parameters(),
        scale=scale,
        input_channels=parsed.graph.input_channels,
        output_channels=int(outputs.dim_value) if outputs.HasField("dim_value") else None,
        value_range=(float(value_range[0]), float(value_range[1])),
        opset=OPSET,
        metadata=facts,
    )
