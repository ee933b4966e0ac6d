"""Shared ops → a verified SavedModel folder, written atomically: the one writer.

Every parser ends here. The writer wraps the parsed network in the runtime behaviour a
model needs (:class:`Wrapper`: edge pre-padding, size multiples, an output residual, all
expressed as ops), runs the graph rewrites, builds the TensorFlow module, probes it with
a small image (so a graph that traces but cannot run, or that does not map H×W to
exactly scale·H × scale·W, fails at conversion time rather than halfway through a
user's image), then saves it with an ``upscaler.json`` side file into a temporary
sibling folder that is renamed into place.

Output
    A SavedModel whose ``serving_default`` signature takes ``input`` (float32,
    ``[None, None, None, C]``, C = the graph's input channels: 3, 1 for a luma model,
    4 for an RGBA one)
    and returns ``{"output": float32 NHWC}``, plus
    ``upscaler.json`` with the value range, scale, channels, parameter and layer counts,
    the wrapper, the tile alignment (``tile_alignment``: window origins a tiled run must
    keep on multiples of, see :mod:`upscaler.convert.geometry`) and
    :data:`CONVERTER_VERSION` (part of cache keys: bump it whenever the bytes a conversion
    produces could change). A network with global average pooling also gets the
    global-pool signatures (:data:`~upscaler.runtime.savedmodel.POOL_STATS_KEY`,
    :data:`~upscaler.runtime.savedmodel.POOLED_SERVE_KEY` and, when its pooled feature
    maps can be placed in the input, one
    :func:`~upscaler.runtime.savedmodel.pool_partial_key` per pooling layer) and a
    ``global_pool`` entry in ``upscaler.json``, so that tiles can share the whole image's
    statistics.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from upscaler.convert import ops
from upscaler.convert.builder import build_module, pool_nodes
from upscaler.convert.files import SourceFiles
from upscaler.convert.formats import Expected, FileMap, weights_format
from upscaler.convert.geometry import pool_grids, shift_period
from upscaler.convert.parsed import CONVERTER_VERSION, ConversionReport, ParsedModel, Wrapper
from upscaler.convert.rewrites import (
    fold_nearest_upsampling,
    fold_torch_depth_to_space,
    fuse_pointwise_concats,
    normalize_prelu_slopes,
    prune,
)
from upscaler.errors import ConversionError
from upscaler.runtime.savedmodel import (
    INPUT_NAME,
    METADATA_FILE,
    OUTPUT_NAME,
    POOL_COUNT,
    POOL_STATS_KEY,
    POOL_SUM,
    POOLED_SERVE_KEY,
    SIGNATURE_KEY,
    pool_name,
    pool_partial_key,
    require_tensorflow,
)

log = logging.getLogger("upscaler.convert.writer")

PROBE_SIZE = (16, 16)
"""Probe image size for models without a size multiple."""

PROBE_SIZE_UNALIGNED = (17, 13)
"""Probe size when the wrapper pads to a multiple: odd, so never already a multiple."""

_WRAP = "__wrapper__/"


# --------------------------------------------------------------------------- checks


def check_value_range(value_range: Any) -> tuple[float, float] | None:
    """``(min, max)`` as floats, or None; anything else is a ConversionError."""
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
    """A positive integer, or None."""
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConversionError(f"scale {scale!r} must be a positive integer")
    return scale


def check_wrapper(wrapper: Any) -> Wrapper:
    if wrapper is None:
        return Wrapper()
    if not isinstance(wrapper, Wrapper):
        raise ConversionError(f"wrapper {wrapper!r} is not an upscaler.convert.Wrapper")
    return wrapper


def probe_scale(
    tf: Any,
    serve: Any,
    expected: int | None,
    where: str,
    size: tuple[int, int] = PROBE_SIZE,
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
        channels = int(concrete.structured_input_signature[0][0].shape[-1] or 3)
        out = concrete(tf.zeros([1, height, width, channels], tf.float32))[OUTPUT_NAME]
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


# --------------------------------------------------------------------------- folders


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


# --------------------------------------------------------------------------- wrapper


def wrap(
    graph: ops.Graph, wrapper: Wrapper, scale: int | None, *, pads_only: bool = False
) -> ops.Graph:
    """The graph with the wrapper's ops around it (see :class:`Wrapper`).

    The wrapped graph reads a fresh input; the last wrapper node before the network
    writes the network's original input name, so no node of the network needs renaming.
    ``scale`` may be None only when the wrapper does not need it, or with ``pads_only``
    (the enlarging and padding without the crop and residual, to measure the scale).
    """
    if wrapper.identity:
        return graph
    if wrapper.needs_scale and scale is None and not pads_only:
        raise ConversionError("the wrapper's crop and residual need the model's scale")
    names = {graph.input, *(node.output for node in graph.nodes)}
    if any(name.startswith(_WRAP) for name in names):
        raise ConversionError(f"tensor names starting with {_WRAP!r} are reserved")
    nodes: list[ops.Node] = []
    p, factor = wrapper.prepad, wrapper.preupscale
    padded = p > 0 or wrapper.multiple > 1
    source = _WRAP + "input" if padded or factor > 1 else graph.input
    if factor > 1:
        enlarge = ops.ResizeNearest(factor, factor)
        enlarged = _WRAP + "enlarged" if padded else graph.input
        nodes.append(ops.Node("wrapper.preupscale", "Wrapper", enlarge, (source,), enlarged))
    else:
        enlarged = source
    if padded:
        pad = ops.EdgePad(pads=(p, p, p, p), multiple=wrapper.multiple, mode=wrapper.pad_mode)
        nodes.append(ops.Node("wrapper.pad", "Wrapper", pad, (enlarged,), graph.input))
    nodes.extend(graph.nodes)
    output = graph.output
    if pads_only:
        return ops.Graph(source, tuple(nodes), output, graph.input_channels)
    if wrapper.multiple > 1:
        assert scale is not None
        crop = ops.CropToReference(factor=scale)
        nodes.append(ops.Node("wrapper.crop", "Wrapper", crop, (output, source), _WRAP + "crop"))
        output = _WRAP + "crop"
    if wrapper.residual == "nearest":
        assert scale is not None
        up = ops.ResizeNearest(scale, scale)
        nodes.append(ops.Node("wrapper.residual", "Wrapper", up, (source,), _WRAP + "nearest"))
        add = ops.Binary("add")
        nodes.append(
            ops.Node("wrapper.add", "Wrapper", add, (output, _WRAP + "nearest"), _WRAP + "out")
        )
        output = _WRAP + "out"
    return ops.Graph(source, tuple(nodes), output, graph.input_channels)


def _measure_scale(tf: Any, graph: ops.Graph, wrapper: Wrapper, where: str) -> int:
    """The network's scale with the wrapper's padding applied, for a wrapper that needs
    it when none was given: probed at a size that already is a multiple."""
    padded = wrap(graph, wrapper, None, pads_only=True)
    m = wrapper.multiple
    size = tuple(m * math.ceil(s / m) for s in PROBE_SIZE_UNALIGNED)
    module = build_module(tf, prune(padded)[0])
    measured, _ = probe_scale(tf, module.serve, None, where, size=(size[0], size[1]))
    return measured


# --------------------------------------------------------------------------- writing


def write_savedmodel(
    graph: ops.Graph,
    out_dir: str | Path,
    *,
    where: str,
    source_format: str,
    layer_counts: Mapping[str, int],
    source: Mapping[str, Any],
    value_range: tuple[float, float] | None,
    scale: int | None,
    wrapper: Wrapper | None,
    overwrite: bool,
    started: float,
    extra_metadata: Mapping[str, Any] | None = None,
    compute: str = "float32",
) -> ConversionReport:
    """Wrap, rewrite, build, probe and atomically save a parsed graph.

    ``where`` names the model in messages; ``layer_counts`` are the source's own layer
    types (what the file holds, not what the rewrites made of it); ``source`` is recorded
    in the metadata (file names, hashes). ``started`` is the caller's
    ``time.perf_counter()`` at entry, so the report times the whole conversion.
    ``extra_metadata`` adds facts of the model's own to ``upscaler.json`` (``upscaler
    train`` records its training there). ``compute`` bfloat16 writes a stored bfloat16
    variant (weights in bfloat16, every op run in it; recorded as ``compute``).
    """
    out_path = Path(out_dir)
    wrapper = check_wrapper(wrapper)
    parameters = graph.parameters()
    tf = require_tensorflow()
    log.info("converting %s (%d ops, %d parameters)", where, len(graph.nodes), parameters)

    wanted_scale = scale
    if wrapper.needs_scale and wanted_scale is None:
        wanted_scale = _measure_scale(tf, graph, wrapper, where)
    wrapped = wrap(graph, wrapper, wanted_scale)
    wrapped, pruned = prune(wrapped)
    wrapped, fused = fuse_pointwise_concats(wrapped)
    wrapped, folded = fold_torch_depth_to_space(wrapped)
    wrapped, subpixel = fold_nearest_upsampling(wrapped)
    wrapped, prelus = normalize_prelu_slopes(wrapped)
    module = build_module(tf, wrapped, compute=compute)
    probe = PROBE_SIZE_UNALIGNED if wrapper.multiple > 1 else PROBE_SIZE
    measured_scale, channels = probe_scale(tf, module.serve, wanted_scale, where, size=probe)
    period = shift_period(wrapped)
    global_pool = probe_global_pool(tf, module, wrapped, where, size=probe)
    counts = dict(sorted(layer_counts.items()))
    metadata: dict[str, Any] = {
        "format": "upscaler-savedmodel",
        "source_format": source_format,
        "converter_version": CONVERTER_VERSION,
        "tensorflow_version": str(tf.__version__),
        "value_range": list(value_range) if value_range is not None else None,
        "scale": measured_scale,
        "channels": channels,
        "input_channels": wrapped.input_channels,
        "parameters": parameters,
        "layer_counts": counts,
        "wrapper": wrapper.to_dict(),
        "shift_period": period,
        "tile_alignment": math.lcm(period, wrapper.multiple),
        "fused_concat_pointwise": fused,
        "folded_depth_to_space": folded,
        "folded_nearest_upsampling": subpixel,
        "normalized_prelu": prelus,
        "pruned_layers": pruned,
        "source": dict(source),
        "signature": {"key": SIGNATURE_KEY, "input": INPUT_NAME, "output": OUTPUT_NAME},
        **dict(extra_metadata or {}),
    }
    if global_pool is not None:
        metadata["global_pool"] = global_pool
    if compute != "float32":
        metadata["compute"] = compute

    return save_module(
        tf,
        module,
        out_path,
        metadata,
        where=where,
        started=started,
        overwrite=overwrite,
        parameters=parameters,
        layer_counts=counts,
        value_range=value_range,
    )


# --------------------------------------------------------------------------- entry points


def convert_weights(
    fmt: str,
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    files: FileMap | None = None,
    value_range: tuple[float, float] | None = None,
    scale: int | None = None,
    wrapper: Wrapper | None = None,
    architecture: str | None = None,
    overwrite: bool = False,
) -> ConversionReport:
    """Convert a model of weights format ``fmt`` (a row of
    :mod:`~upscaler.convert.formats`) into a SavedModel at ``out_dir``: the one path
    behind every ``convert_*`` function.

    ``source`` is the entry file (``model.json``, ``.param``, ``.npz``, ``.keras``): a real
    path whose companions lie beside it, or with ``files`` (in-package posix paths → real
    files, e.g. a fetched package in the content-addressed cache) one of its keys or the
    real path of exactly one value. ``value_range`` (black..white as the model expects
    it) is recorded in ``upscaler.json``; ``scale`` is measured with a probe image and
    must agree when given; ``wrapper`` adds the runtime behaviour around the network
    (:class:`Wrapper`); ``architecture`` is the catalog's, checked by formats whose files
    hold weights only. Writing is atomic; an existing ``out_dir`` is an error unless
    ``overwrite``.

    Raises ConversionError for anything wrong with the files or the arguments and
    DependencyError when TensorFlow is not installed.
    """
    started = time.perf_counter()
    row = weights_format(fmt)
    wanted_range = check_value_range(value_range)
    wanted_scale = check_scale(scale)
    if row.ready == "load":
        if wrapper is not None and not wrapper.identity:
            raise ConversionError(f"{row.title} files take no wrapper", hint="pass wrapper=None")
        return row.loader_function()(
            SourceFiles(source, files, kind=row.title).path,
            Path(out_dir),
            value_range=wanted_range,
            scale=wanted_scale,
            overwrite=overwrite,
            started=started,
        )
    if row.ready != "parse":
        raise ConversionError(
            f"{row.name} weights already are a SavedModel; there is nothing to convert",
            hint="load the folder directly: Upscaler(model=PATH, scale=N)",
        )
    parsed = row.read(source, files, Expected(architecture=architecture, wrapper=wrapper))
    return write_parsed(
        parsed,
        out_dir,
        source_format=row.name,
        value_range=wanted_range,
        scale=wanted_scale,
        wrapper=wrapper,
        overwrite=overwrite,
        started=started,
    )


def write_parsed(
    parsed: ParsedModel,
    out_dir: str | os.PathLike[str],
    *,
    source_format: str,
    value_range: tuple[float, float] | None,
    scale: int | None,
    wrapper: Wrapper | None,
    overwrite: bool,
    started: float,
    compute: str = "float32",
) -> ConversionReport:
    """:func:`write_savedmodel` for a parsed source (named and described by its own
    ``where`` and ``source``): what a conversion and a bfloat16 rebuild both end in.
    ``value_range`` and ``scale`` are already checked."""
    return write_savedmodel(
        parsed.graph,
        Path(out_dir),
        where=parsed.where,
        source_format=source_format,
        layer_counts=parsed.layer_counts,
        source=parsed.source,
        value_range=value_range,
        scale=scale,
        wrapper=wrapper,
        overwrite=overwrite,
        started=started,
        compute=compute,
    )


def probe_global_pool(
    tf: Any, module: Any, graph: ops.Graph, where: str, size: tuple[int, int]
) -> dict[str, Any] | None:
    """For a graph with global average pooling: check the global-pool functions on a small
    random image and return the ``global_pool`` metadata (signature names, pooled layers,
    their channels and feature-map grids); None for a graph without pooling.

    Checked: the network run with its own pooled vectors gives the plain output, and
    each partial sum over all positions, divided by its count, is that layer's vector.
    Why: a runner trusts these signatures to be the same network as the serving one; a
    mismatch found here is a converter bug, found before any user's image is tiled with
    it. When the feature maps' positions cannot be placed in the input
    (:func:`~upscaler.convert.geometry.pool_grids` is None), the partial sums are not
    exported and runners take statistics from one call.
    """
    pools = pool_nodes(graph)
    functions = module.pool_functions
    if not pools or functions is None:
        return None
    grids = pool_grids(graph)
    if grids is None:
        functions = module.pool_functions = replace(functions, partials=[])
    height, width = size
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((1, height, width, graph.input_channels), dtype=np.float32))
    everything = tf.constant([[0, 1 << 30]], tf.int32)
    try:
        vectors = functions.stats.get_concrete_function()(x)
        given = [vectors[pool_name(i)] for i in range(len(pools))]
        plain = module.serve.get_concrete_function()(x)[OUTPUT_NAME].numpy()
        pooled = functions.pooled.get_concrete_function()(x, *given)[OUTPUT_NAME].numpy()
        means = []
        for k, partial in enumerate(functions.partials):
            result = partial.get_concrete_function()(x, *given[:k], everything, everything)
            means.append(result[POOL_SUM].numpy() / result[POOL_COUNT].numpy()[:, np.newaxis])
    except Exception as exc:  # any TensorFlow failure means the signatures are unusable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{where}: the global-pool signatures fail: {first}") from exc
    spread = float(np.abs(plain).max()) or 1.0
    if plain.shape != pooled.shape or not np.allclose(plain, pooled, rtol=0, atol=1e-5 * spread):
        raise ConversionError(
            f"{where}: the network run with its own pooled vectors differs from the plain "
            "network (a converter bug)"
        )
    for k, mean in enumerate(means):
        want = given[k].numpy().reshape(mean.shape)
        if not np.allclose(mean, want, rtol=1e-4, atol=1e-6 * (float(np.abs(want).max()) or 1.0)):
            raise ConversionError(
                f"{where}: the partial sums of pooling layer {pools[k].name!r} do not add up "
                "to its average (a converter bug)"
            )
    return {
        "stats_signature": POOL_STATS_KEY,
        "pooled_signature": POOLED_SERVE_KEY,
        "partial_signatures": [pool_partial_key(k) for k in range(len(functions.partials))],
        "layers": [node.name for node in pools],
        "channels": [int(given[i].shape[-1]) for i in range(len(pools))],
        "grids": None if grids is None else [[axis.to_dict() for axis in grid] for grid in grids],
    }


def signatures(module: Any) -> dict[str, Any]:
    """The signatures a module is saved with: the serving one, plus the global-pool ones
    when the module has them (:func:`~upscaler.convert.builder.build_module`)."""
    found = {SIGNATURE_KEY: module.serve.get_concrete_function()}
    functions = getattr(module, "pool_functions", None)
    if functions is not None:
        found[POOL_STATS_KEY] = functions.stats.get_concrete_function()
        found[POOLED_SERVE_KEY] = functions.pooled.get_concrete_function()
        for k, partial in enumerate(functions.partials):
            found[pool_partial_key(k)] = partial.get_concrete_function()
    return found


def save_module(
    tf: Any,
    module: Any,
    out_path: Path,
    metadata: dict[str, Any],
    *,
    where: str,
    started: float,
    overwrite: bool,
    parameters: int,
    layer_counts: dict[str, int],
    value_range: tuple[float, float] | None,
) -> ConversionReport:
    """Save ``module`` (its ``serve`` function as the serving signature) with its
    ``upscaler.json``, atomically, and report it: the end every converter shares, so a
    crash never leaves a half-written model whichever format it came from."""

    def write(folder: Path) -> None:
        try:
            tf.saved_model.save(module, str(folder), signatures=signatures(module))
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
        layer_counts=layer_counts,
        scale=int(metadata["scale"]),
        channels=int(metadata["channels"]),
        value_range=value_range,
        metadata=metadata,
    )


# The parsed values are re-exported: parsers and callers have always imported them here.
__all__ = [
    "CONVERTER_VERSION",
    "PROBE_SIZE",
    "PROBE_SIZE_UNALIGNED",
    "ConversionReport",
    "ParsedModel",
    "Wrapper",
    "atomic_write_dir",
    "check_scale",
    "check_value_range",
    "check_wrapper",
    "convert_weights",
    "folder_size",
    "probe_global_pool",
    "probe_scale",
    "save_module",
    "signatures",
    "wrap",
    "write_metadata",
    "write_parsed",
    "write_savedmodel",
]
