"""A parent model's parsed graph + committed activation ranges → a verified int8 TFLite model.

The int8 variant of a catalog model is not a file anyone downloads: its weights are the
parent's, quantized here, deterministically, from the parent's verified source files and
the ranges its catalog entry records (measured once on the training sets by
``upscaler catalog quantize``; see :mod:`upscaler.train.quantize`). So no calibration data is
needed where it is built, and nothing derived from downloaded weights is committed.

Steps: the parsed graph gets the same wrapper and exact rewrites as a float conversion
(pruning, PyTorch pixel-shuffle folding, PReLU slopes), then the int8 form of
:mod:`upscaler.convert.int8_graph`; its fake-quant function is converted by
TensorFlow's TFLite converter into int8 kernels. The result is checked before it is
kept: it must run, upscale by the catalog's scale, hold only int8 compute ops, and be
taken whole by the XNNPACK delegate (one partition from input to output), because a
fragmented graph runs float round trips between partitions and loses what int8 is for.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.convert import ops
from upscaler.convert.builder import graph_variables
from upscaler.convert.int8_graph import int8_forward, int8_graph, shared_ranges, tensors
from upscaler.convert.rewrites import fold_torch_depth_to_space, normalize_prelu_slopes, prune
from upscaler.convert.writer import ParsedModel, Wrapper, atomic_write_dir, wrap, write_metadata
from upscaler.errors import ConversionError
from upscaler.runtime.savedmodel import require_tensorflow
from upscaler.runtime.tflite import TFLITE_FILE, interpreter

log = logging.getLogger("upscaler.convert.int8")

INT8_VERSION = "1"
"""Version of the int8 recipe (graph form, fake-quant placement, converter settings): part
of every int8 cache key, so a change never reuses a stale build."""

SCHEME = "int8-per-channel-v1"
"""What the committed ranges mean: activations per tensor (asymmetric, 8 bits, from the
recorded min/max), weights per output channel (symmetric, narrow range, from the weights)."""

RUNTIME = "tflite-xnnpack"
"""The runtime an int8 variant runs on: TensorFlow's TFLite interpreter, XNNPACK delegate."""

INT8_OPS = frozenset(
    {"CONV_2D", "ADD", "SUB", "MUL", "CONCATENATION", "DEPTH_TO_SPACE", "LOGISTIC", "RELU"}
)
"""TFLite ops an int8 variant may compute with (all int8 in XNNPACK); QUANTIZE and
DEQUANTIZE may only convert the float input and output."""

PROBE = (16, 16)


def int8_network(parsed: ParsedModel, *, scale: int, wrapper: Wrapper | None) -> ops.Graph:
    """The parent's network in its int8 form: the wrapper, the exact rewrites a float
    conversion makes (not the concat fusion, whose sums XNNPACK lacks), then
    :func:`~upscaler.convert.int8_graph.int8_graph`."""
    graph = wrap(parsed.graph, wrapper or Wrapper(), scale)
    graph, _ = prune(graph)
    graph, _ = fold_torch_depth_to_space(graph)
    graph, _ = normalize_prelu_slopes(graph)
    return int8_graph(graph)


SAMPLES = 4096
"""Values drawn per tensor and batch (uniformly, with a fixed seed) for percentiles."""

PERCENTILE = 100.0
"""Default range: each tensor's min and max. A percentile range (99.99: the 0.01st to
99.99th percentile) gives small values a finer step but clips the rare large ones, and
those are edges: for esrgan-slim.x2 it moved Set5 PSNR by ±0.05 dB (noise) while single
pixels moved by up to 69 grey levels from the float model's (6 with min and max), so
min and max are the default. It did help SPAN (+4.6 dB), which has wide, sparse ranges;
``--percentile`` chooses it per model."""


def measure_ranges(
    graph: ops.Graph,
    batches: Iterable[npt.NDArray[np.float32]],
    *,
    percentile: float = PERCENTILE,
) -> dict[str, tuple[float, float]]:
    """Every tensor's range over ``batches`` (NHWC, in the model's value range) of the
    float network: the ``100 - percentile`` to ``percentile`` percentiles of its values
    (from :data:`SAMPLES` values per batch), or with ``percentile=100`` the exact min and
    max. What the committed ranges are."""
    if not 50.0 < percentile <= 100.0:
        raise ConversionError(f"percentile {percentile} must be in (50, 100]")
    tf = require_tensorflow()
    variables = graph_variables(tf, graph)
    names = tensors(graph)

    def run(x: Any, seed: Any) -> Any:
        seen: dict[str, Any] = {}
        int8_forward(tf, graph, variables, None, observe=seen.__setitem__)(x)
        rows = []
        for name in names:
            flat = tf.reshape(seen[name], [-1])
            index = tf.random.stateless_uniform(
                [SAMPLES], seed=seed, maxval=tf.size(flat), dtype=tf.int32
            )
            extremes = tf.stack([tf.reduce_min(flat), tf.reduce_max(flat)])
            rows.append(tf.concat([extremes, tf.gather(flat, index)], axis=0))
        return tf.stack(rows)

    spec = tf.TensorSpec([None, None, None, graph.input_channels], tf.float32)
    seed_spec = tf.TensorSpec([2], tf.int32)
    function = tf.function(run, input_signature=[spec, seed_spec], autograph=False)
    found = [
        function(tf.constant(batch), tf.constant([step, 8], tf.int32)).numpy()
        for step, batch in enumerate(batches)
    ]
    if not found:
        raise ConversionError("no calibration batches to measure activation ranges on")
    values = np.concatenate(found, axis=1).astype(np.float64)
    if percentile == 100.0:
        low, high = values[:, 0 :: SAMPLES + 2].min(axis=1), values[:, 1 :: SAMPLES + 2].max(axis=1)
    else:
        samples = np.concatenate([v[:, 2:] for v in found], axis=1).astype(np.float64)
        low = np.percentile(samples, 100.0 - percentile, axis=1)
        high = np.percentile(samples, percentile, axis=1)
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high, strict=True)}


def check_recipe(graph: ops.Graph, ranges: Mapping[str, Any], where: str) -> None:
    """The recipe's ranges name exactly the int8 network's tensors; else the ranges were
    measured on another graph (another parent, or an older converter)."""
    wanted, given = set(tensors(graph)), set(ranges)
    if wanted == given:
        return
    missing, extra = sorted(wanted - given), sorted(given - wanted)
    raise ConversionError(
        f"{where}: the recorded activation ranges do not fit the network (missing: "
        f"{', '.join(missing[:3]) or 'none'}{', ...' if len(missing) > 3 else ''}; unknown: "
        f"{', '.join(extra[:3]) or 'none'}{', ...' if len(extra) > 3 else ''})",
        hint="measure them again: upscaler catalog quantize PARENT --data T91 --data BSD200 "
        "--write",
    )


def tflite_bytes(
    graph: ops.Graph, ranges: Mapping[str, tuple[float, float]], value_range: tuple[float, float]
) -> bytes:
    """The int8 TFLite flatbuffer of ``graph`` with ``ranges`` (float input and output)."""
    tf = require_tensorflow()
    variables = graph_variables(tf, graph)
    shared = shared_ranges(graph, ranges, output=value_range)
    forward = int8_forward(tf, graph, variables, shared)
    spec = tf.TensorSpec([1, None, None, graph.input_channels], tf.float32)
    function = tf.function(forward, input_signature=[spec], autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], None
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        with warnings.catch_warnings():
            # "Statistics for quantized inputs were expected": the input is float on
            # purpose (the runner feeds float tiles); its range is the first fake-quant's.
            warnings.simplefilter("ignore", UserWarning)
            blob = converter.convert()
    except Exception as exc:  # the converter raises assorted types
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"the TFLite converter failed: {text}") from exc
    return bytes(blob)


def verify_tflite(blob: bytes, *, scale: int, channels: int, where: str) -> dict[str, Any]:
    """Run the model once and inspect it; the facts ``upscaler.json`` records. Raises
    ConversionError unless it upscales by ``scale``, computes in int8 only, and XNNPACK
    takes it whole."""
    it = interpreter(blob, threads=1)
    height, width = PROBE
    index = it.get_input_details()[0]["index"]
    it.resize_tensor_input(index, [1, height, width, channels])
    it.allocate_tensors()
    it.set_tensor(index, np.zeros((1, height, width, channels), np.float32))
    it.invoke()
    output = it.get_output_details()[0]
    shape = tuple(int(d) for d in output["shape"])
    if shape != (1, height * scale, width * scale, channels):
        raise ConversionError(
            f"{where}: the int8 model turns 1x{height}x{width}x{channels} into "
            f"{'x'.join(map(str, shape))}, not x{scale}"
        )
    details = it._get_ops_details()
    delegated = [d for d in details if d["op_name"] == "DELEGATE"]
    graph_ops = Counter(d["op_name"] for d in details if d["op_name"] != "DELEGATE")
    float_ops = sorted(set(graph_ops) - INT8_OPS - {"QUANTIZE", "DEQUANTIZE"})
    if float_ops or graph_ops["DEQUANTIZE"] > 1:
        raise ConversionError(
            f"{where}: the int8 model computes outside int8 "
            f"({', '.join(float_ops) or 'DEQUANTIZE'})"
        )
    whole = (
        len(delegated) == 1
        and index in list(delegated[0]["inputs"])
        and output["index"] in list(delegated[0]["outputs"])
    )
    if not whole:
        raise ConversionError(
            f"{where}: XNNPACK takes the int8 model in {len(delegated)} partition(s), not "
            "one from input to output"
        )
    return {"ops": dict(sorted(graph_ops.items())), "xnnpack_partitions": len(delegated)}


def write_int8_model(
    graph: ops.Graph,
    ranges: Mapping[str, tuple[float, float]],
    out_dir: Path,
    *,
    value_range: tuple[float, float],
    scale: int,
    alignment: int,
    where: str,
    source: Mapping[str, Any],
) -> dict[str, Any]:
    """Build, verify and atomically write ``model.tflite`` and ``upscaler.json`` into
    ``out_dir``; returns the build report (what describe() shows as the conversion).
    ``alignment`` is the tile alignment the runner keeps (the float model's: the shift
    period and the wrapper's multiple)."""
    started = time.perf_counter()
    check_recipe(graph, ranges, where)
    tf = require_tensorflow()
    blob = tflite_bytes(graph, ranges, value_range)
    facts = verify_tflite(blob, scale=scale, channels=graph.input_channels, where=where)
    metadata = {
        "format": "upscaler-tflite",
        "runtime": RUNTIME,
        "quantization": "int8",
        "scheme": SCHEME,
        "int8_version": INT8_VERSION,
        "tensorflow_version": str(tf.__version__),
        "value_range": list(value_range),
        "scale": scale,
        "channels": graph.input_channels,
        "input_channels": graph.input_channels,
        "parameters": graph.parameters(),
        "tile_alignment": alignment,
        "source": dict(source),
        **facts,
    }

    def write(folder: Path) -> None:
        (folder / TFLITE_FILE).write_bytes(blob)
        write_metadata(folder, metadata)

    atomic_write_dir(out_dir, write, overwrite=False)
    seconds = time.perf_counter() - started
    log.info("built int8 %s in %.1f s (%d bytes)", where, seconds, len(blob))
    return {
        "seconds": round(seconds, 3),
        "size_bytes": len(blob),
        "parameters": graph.parameters(),
        "converter_version": f"int8-{INT8_VERSION}",
        **facts,
    }


def recipe_json(ranges: Mapping[str, tuple[float, float]]) -> str:
    """Canonical text of a set of ranges (part of an int8 build's cache key)."""
    return json.dumps({k: [float(v[0]), float(v[1])] for k, v in ranges.items()}, sort_keys=True)
