"""Measure each catalog model's receptive field and record it as ``tiling: {context: N}``.

The tiled runner keeps ``context`` input pixels of real image around every tile's core;
when that is at least the receptive field, tiled output equals whole-image output. Too
little context makes seams, too much wastes time (a 512-pixel tile with 16 pixels of
context computes 13 % more pixels than it keeps), so the number is measured, not guessed.

Two independent answers, cross-checked:

* **analytic**, from the TF.js topology: walk the graph and add each convolution's reach
  (``dilation * (kernel - 1) / 2``) along the longest path, in input pixels before the
  upsampling layer and in output pixels after it (``ceil(reach / scale)`` input pixels);
  concatenations and additions take the larger reach of their inputs.
* **measured**, by perturbation: run the model on a base image and on the same image with
  one centre pixel changed, and find the farthest output pixel (as the input pixel it
  belongs to, Chebyshev distance) whose value moved by more than ``1e-6`` of the value
  range. Several bases are used: all zeros with a full-range impulse (the classic impulse
  response), eight uniform-noise images (three for the deep RRDNs) and a photo-like one,
  each with the centre pixel inverted (activations away from zero, so no path hides behind
  a dead ReLU). The image is made larger than twice the analytic field, so the measurement
  is never clipped by the border.

The measured field can only be smaller than the analytic one (weights near zero on the
longest paths, residual scaling); the recorded context is the measured field rounded up to
a multiple of 4 (``--round``). The script prints both, and the distances at which the
change falls below 1e-4 and below half a grey level, to show how concentrated the field is.

Models with global pooling (``tiling.global_pool``: the squeeze-and-excitation blocks of
waifu2x CUNet and Real-CUGAN) see their whole input, so one changed pixel moves every
output a little and the field above would be the image. What tiling needs is the *local*
field once the pooled averages are shared between tiles (what a runner that honours
``global_pool`` does, and what realcugan-ncnn-vulkan's syncgap mode does), so for these
models every average is held at its value on the unperturbed image
(:class:`FrozenPools`), in the measurement and in the tiled-vs-whole check. The analytic
walk likewise leaves the pooled branch out. Their U-Nets downsample, so tiles agree with
the whole image only where windows start on the model's size multiple: the check uses
image sides that the planner splits at multiples of 8.

Usage::

    python benchmarks/receptive_field.py                 # every family, print only
    python benchmarks/receptive_field.py --write         # and write tiling.context via yaml_edit
    python benchmarks/receptive_field.py --models esrgan-slim.x2 esrgan-thick.x2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

THRESHOLD = 1e-6
"""A change above this fraction of the model's value range counts as 'alters the output'."""


@dataclass
class FieldResult:
    model: str
    analytic: int
    measured: int | None = None
    measured_1e4: int | None = None
    measured_half_lsb: int | None = None
    size: int = 0
    seconds: float = 0.0
    context: int = 0
    verified: tuple[int, int, int] | None = None

    @property
    def field(self) -> int:
        """The measured field, never above the analytic bound: a change beyond every
        convolution's reach is impossible, so one seen there is float32 rounding noise
        (SPAN on uniform noise drives activations to several hundred, where one ulp is
        above the 1e-6 threshold)."""
        return min(self.measured, self.analytic) if self.measured is not None else self.analytic


# ----------------------------------------------------------------------------- analytic


def analytic_field(model_json: Path) -> int:
    """Receptive field radius in input pixels, from the TF.js layers topology."""
    from upscaler.convert.tfjs import _parse_topology

    doc = json.loads(model_json.read_text(encoding="utf-8"))
    graph, _ = _parse_topology(doc, str(model_json))
    # reach per tensor: (input-space pixels, output-space pixels, upsampling factor so far)
    reach: dict[Any, tuple[int, int, int]] = {graph.input: (0, 0, 1)}
    for step in graph.steps:
        inputs = [reach[ref] for ref in step.inputs]
        lr = max(r[0] for r in inputs)
        hr = max(r[1] for r in inputs)
        factor = max(r[2] for r in inputs)
        op = step.op
        name = op.class_name
        if name == "Conv2D":
            if max(op.strides) != 1:  # type: ignore[attr-defined]
                raise SystemExit(f"{model_json}: strided convolution {op.name} not handled")
            kernel = op.kernel_size  # type: ignore[attr-defined]
            dilation = op.dilation  # type: ignore[attr-defined]
            step_reach = max(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
            if factor == 1:
                lr += step_reach
            else:
                hr += step_reach
        elif name == "UpSampling2D":
            size = max(op.size)  # type: ignore[attr-defined]
            if op.interpolation != "nearest":  # type: ignore[attr-defined]
                hr += size  # bilinear reads the neighbouring input pixel
            hr *= size
            factor *= size
        elif name.startswith("PixelShuffle"):
            block = op.block  # type: ignore[attr-defined]
            hr *= block
            factor *= block
        elif name not in ("Activation", "Concatenate", "Add", "MultiplyBeta", "InputLayer"):
            raise SystemExit(f"{model_json}: layer type {name} not handled by the analysis")
        reach[step.output] = (lr, hr, factor)
    lr, hr, factor = reach[graph.output]
    return lr + math.ceil(hr / factor)


def analytic_field_of_ops(graph: Any) -> int:
    """Receptive field radius in input pixels of a converted graph (the shared op
    vocabulary every parser emits). Reach is kept in input pixels as a float: an op at a
    resolution ``factor`` times the input's reaches ``k // 2 / factor`` input pixels."""
    from upscaler.convert import ops

    reach: dict[str, tuple[float, float]] = {graph.input: (0.0, 1.0)}
    for node in graph:
        inputs = [reach[ref] for ref in node.inputs] or [(0.0, 1.0)]
        field = max(r[0] for r in inputs)
        factor = max(r[1] for r in inputs)
        op = node.op
        if isinstance(op, ops.GlobalAvgPool):
            # The pooled vector reaches everywhere; that part is the runner's business
            # (tiling.global_pool). Only the local field is walked on.
            field = 0.0
        if isinstance(op, ops.Conv2D):
            kh, kw = op.kernel.shape[:2]
            if max(op.strides) != 1:
                # A downsampling convolution reads kernel - 1 pixels to one side at its
                # input's resolution; the resolution then drops by the stride.
                field += max(op.dilation[0] * (kh - 1), op.dilation[1] * (kw - 1)) / factor
                factor /= max(op.strides)
            else:
                step = max(op.dilation[0] * (kh - 1) // 2, op.dilation[1] * (kw - 1) // 2)
                field += step / factor
        elif isinstance(op, ops.Conv2DTranspose):
            factor *= max(op.strides)
            field += max(op.kernel.shape[:2]) / factor
        elif isinstance(op, ops.DepthToSpace):
            factor *= op.block
        elif isinstance(op, ops.ResizeNearest | ops.ResizeBilinear):
            if isinstance(op, ops.ResizeBilinear):
                field += 1 / factor
            factor *= max(op.factor_h, op.factor_w)
        elif isinstance(op, ops.ResizeCubic):
            scale = max(op.scale_h, op.scale_w) or 1.0
            field += 2 / (factor * min(scale, 1.0))  # four taps, wider when shrinking
            factor *= scale
        reach[node.output] = (field, factor)
    return math.ceil(reach[graph.output][0])


def ncnn_graph_of(entry: Any) -> Any:
    """The shared-op graph of a catalog ncnn model (its verified .param and .bin)."""
    from upscaler.convert.ncnn import parse_ncnn
    from upscaler.prepare.materialize import fetch_entry_files

    files = fetch_entry_files(entry, cache_dir=None, progress=False)
    param = entry.weights.entry_point
    text = Path(files[param]).read_text(encoding="utf-8")
    weights = Path(files[param.removesuffix(".param") + ".bin"]).read_bytes()
    graph, _ = parse_ncnn(text, weights, param)
    return graph


def entry_analytic_field(entry: Any) -> int:
    """The analytic field of any catalog model, whichever format its weights are in."""
    if entry.weights.format == "ncnn":
        return analytic_field_of_ops(ncnn_graph_of(entry))
    return analytic_field(model_json_of(entry))


def wrapped_graph_of(entry: Any) -> Any:
    """The graph the converter saves for a catalog ncnn model: its wrapper around the
    network, and the same rewrites."""
    from upscaler.convert.rewrites import (
        fold_torch_depth_to_space,
        fuse_pointwise_concats,
        normalize_prelu_slopes,
        prune,
    )
    from upscaler.convert.writer import wrap
    from upscaler.prepare.materialize import entry_wrapper

    graph = ncnn_graph_of(entry)
    wrapper = entry_wrapper(entry)
    if wrapper is not None:
        graph = wrap(graph, wrapper, entry.scale)
    for rewrite in (prune, fuse_pointwise_concats, fold_torch_depth_to_space):
        graph = rewrite(graph)[0]
    return normalize_prelu_slopes(graph)[0]


class FrozenPools:
    """A model whose global average pools output held values instead of their input's
    mean: the local part of a squeeze-and-excitation network, as a tiled runner that
    shares the pooled averages between tiles computes it.

    Two modules built from the converter's graph: a probe returning every pooled vector
    (concatenated) for an image, and the network with each pool replaced by a constant
    held in a variable. :meth:`freeze` sets the variables from an image; :meth:`predict`
    freezes on the batch's first image and runs the whole batch, so a perturbed copy
    beside its base sees the base's averages.
    """

    def __init__(self, entry: Any) -> None:
        from upscaler.convert import ops
        from upscaler.convert.builder import build_module
        from upscaler.convert.rewrites import prune
        from upscaler.runtime.savedmodel import require_tensorflow

        self.tf = require_tensorflow()
        graph = wrapped_graph_of(entry)
        pools = [n for n in graph.nodes if isinstance(n.op, ops.GlobalAvgPool)]
        if not pools:
            raise SystemExit(f"{entry.id}: tiling.global_pool is set but the graph has no pool")
        probe_nodes = (
            *graph.nodes,
            ops.Node("pools", "Concat", ops.Concat(), tuple(n.output for n in pools), "__pools"),
        )
        probe = prune(ops.Graph(graph.input, probe_nodes, "__pools"))[0]
        self.probe = build_module(self.tf, probe)
        self.widths: list[int] = []
        self.names: list[str] = []
        nodes = []
        for node in graph.nodes:
            if not isinstance(node.op, ops.GlobalAvgPool):
                nodes.append(node)
                continue
            width = self._channels(graph, node)
            name = f"frozen_pool_{len(self.widths)}"
            value = np.zeros((1, 1, 1, width), np.float32)
            nodes.append(ops.Node(name, "FrozenPool", ops.Constant(value), (), node.output))
            self.widths.append(width)
            self.names.append(name)
        self.module = build_module(self.tf, ops.Graph(graph.input, tuple(nodes), graph.output))
        by_name = {v.name.split(":")[0]: v for v in self.module.weights_list}
        self.variables = [by_name[f"{name}_value"] for name in self.names]

    @staticmethod
    def _channels(graph: Any, pool: Any) -> int:
        """Channels of a pool's input: the next Dense after it reads exactly that many."""
        from upscaler.convert import ops

        consumers = [n for n in graph.nodes if pool.output in n.inputs]
        for node in consumers:
            if isinstance(node.op, ops.Dense):
                return int(node.op.kernel.shape[0])
        raise SystemExit(f"{pool.name}: no dense layer reads the pooled vector")

    def freeze(self, image: np.ndarray) -> None:
        """Hold every pool at its value on ``image`` (NHWC, one image, value range)."""
        pooled = self.probe.serve(self.tf.constant(image[:1]))["output"].numpy()
        start = 0
        for variable, width in zip(self.variables, self.widths, strict=True):
            variable.assign(pooled[:, :, :, start : start + width])
            start += width

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.freeze(batch)
        return np.asarray(self.module.serve(self.tf.constant(batch))["output"])

    def as_loaded(self, loaded: Any) -> Any:
        """``loaded`` (the catalog model's LoadedModel) running the frozen network, for
        the tiled runner."""
        module = self.module

        def function(**inputs: Any) -> Any:
            (batch,) = inputs.values()
            return {loaded.output_name: module.serve(batch)["output"]}

        return dataclasses.replace(loaded, _function=function)


def model_json_of(entry: Any) -> Path:
    from upscaler.prepare.materialize import fetch_entry_files

    files = fetch_entry_files(entry, cache_dir=None, progress=False)
    return Path(files[entry.weights.entry_point])


# ----------------------------------------------------------------------------- measured


def _farthest(changed: np.ndarray, centre: int, scale: int) -> int:
    """Largest Chebyshev distance, in input pixels, from ``centre`` to a changed pixel."""
    ys, xs = np.nonzero(changed)
    if ys.size == 0:
        return 0
    dy = np.abs(ys // scale - centre)
    dx = np.abs(xs // scale - centre)
    return int(np.max(np.maximum(dy, dx)))


NOISE_BASES = 8
"""Uniform-noise base images (besides the zero image and a photo-like one); models whose
analytic field exceeds 64 pixels get 3, because each costs a large run."""

RESULTS = common.RECEPTIVE_FIELDS
"""Where the measured contexts are kept for the speed benchmarks before they reach the
catalog."""


def _inverted_centre(base: np.ndarray, centre: int, lo: float, hi: float) -> np.ndarray:
    perturbed = base.copy()
    perturbed[centre, centre] = lo + hi - base[centre, centre]
    return perturbed


def measure_field(model: Any, entry: Any, analytic: int) -> tuple[int, int, int, int]:
    """(field at 1e-6, at 1e-4, at half a grey level, image size) by perturbing one pixel."""
    lo, hi = (float(v) for v in entry.value_range)
    span = hi - lo
    scale = entry.scale
    size = 2 * (analytic + 12) + 1
    centre = size // 2
    bases = []
    zero = np.full((size, size, 3), lo, np.float32)
    impulse = zero.copy()
    impulse[centre, centre] = hi
    bases.append((zero, impulse))
    photo = common.sample_image(size, size).astype(np.float32) * np.float32(span / 255.0) + lo
    noise_bases = NOISE_BASES if analytic <= 64 else 3
    for seed in range(noise_bases):
        rng = np.random.default_rng(seed)
        noise = rng.uniform(lo, hi, (size, size, 3)).astype(np.float32)
        bases.append((noise, _inverted_centre(noise, centre, lo, hi)))
    bases.append((photo, _inverted_centre(photo, centre, lo, hi)))
    fields = [0, 0, 0]
    per_base = []
    for base, perturbed in bases:
        out = model.predict(np.stack([base, perturbed]))
        diff = np.max(np.abs(out[1] - out[0]), axis=-1) / span
        per_base.append(_farthest(diff > THRESHOLD, centre, scale))
        for i, threshold in enumerate((THRESHOLD, 1e-4, 0.5 / 255)):
            fields[i] = max(fields[i], _farthest(diff > threshold, centre, scale))
    print(f"  {entry.id}: 1e-6 field per base (zero, noise x{noise_bases}, photo): {per_base}")
    if fields[0] >= centre - 2:
        print(f"  warning: {entry.id}: the change reaches the border; the field may be larger")
    return fields[0], fields[1], fields[2], size


def verified_text(max_diff: int, differ: int, tiles: int) -> str:
    return f"max {max_diff}; {differ} values differ ({tiles} tiles)"


def verify_context(
    model: Any, entry: Any, context: int, frozen: FrozenPools | None = None
) -> tuple[int, int, int]:
    """Tiled (``context``, tiles of ``max(32, context)``) vs whole-image on a photo-like
    image: (largest difference in grey levels, number of values that differ, tiles).

    With ``frozen`` (global-pool models) the tiles run with the whole image's pooled
    averages, and the sides are multiples of 8 so that every window starts on a multiple
    of 4 (see the module docstring)."""
    from upscaler.runtime.tiled import TiledRunner
    from upscaler.runtime.whole_image import upscale_rgb

    tile = max(32, context)
    side = 2 * tile + 2 * context + 17  # three tiles a side: every kind of seam
    width = side - 6
    if frozen is not None:
        side, width = round_up(side, 8), round_up(width, 8)
    pixels = common.sample_image(side, width, seed=3)
    tiled_model = model
    if frozen is not None:
        lo, hi = (float(v) for v in entry.value_range)
        frozen.freeze((pixels[None].astype(np.float32) / 255.0) * (hi - lo) + lo)
        tiled_model = frozen.as_loaded(model)
    runner = TiledRunner(
        tiled_model,
        scale=entry.scale,
        value_range=entry.value_range,
        tile=tile,
        context=context,
        device="cpu",
        border="zero",  # the whole-image call below zero-pads too: compare like with like
    )
    tiled = runner.run(pixels, progress=False).astype(np.int16)
    whole = upscale_rgb(model, pixels, entry.value_range).astype(np.int16)
    diff = np.abs(tiled - whole)
    return int(diff.max()), int(np.count_nonzero(diff)), runner.plan(*pixels.shape[:2]).count


# ----------------------------------------------------------------------------- main


def global_pool(entry: Any) -> bool:
    return bool(entry.tiling is not None and entry.tiling.global_pool)


def round_up(value: int, multiple: int) -> int:
    return multiple * math.ceil(value / multiple) if value > 0 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", help="catalog ids (default: every model)")
    parser.add_argument("--write", action="store_true", help="write tiling.context via yaml_edit")
    parser.add_argument("--round", type=int, default=4, help="round the context up to this")
    parser.add_argument(
        "--cap",
        type=int,
        default=None,
        help="probe at most this field (deep RRDBs reach hundreds of pixels analytically; the "
        "probe image grows with the square of it): the context is then what the capped probe "
        "measured, and the tiled-vs-whole check says whether it is enough",
    )
    parser.add_argument(
        "--measure",
        choices=("defaults", "all"),
        default="all",
        help="measure every model (default: each variant has its own weights) or only family "
        "defaults and variants whose topology differs",
    )
    args = parser.parse_args(argv)

    import time

    cat = common.catalog()
    entries = [e for e in cat.entries if e.weights is not None]
    if args.models:
        wanted = {cat.get(m).id for m in args.models}
        entries = [e for e in entries if e.id in wanted]

    results: dict[str, FieldResult] = {}
    for entry in entries:
        results[entry.id] = FieldResult(entry.id, entry_analytic_field(entry))

    defaults = {e.family: e for e in cat.entries if e.default}
    for entry in entries:
        result = results[entry.id]
        family_default = defaults[entry.family]
        default_analytic = (
            results[family_default.id].analytic if family_default.id in results else None
        )
        if not (
            args.measure == "all"
            or entry.default
            or default_analytic is None
            or result.analytic != default_analytic
        ):
            continue
        _, model = common.load_model(entry.id)
        if global_pool(entry):
            model = FrozenPools(entry)
        start = time.perf_counter()
        probe = result.analytic if args.cap is None else min(result.analytic, args.cap)
        measured, at_1e4, half, size = measure_field(model, entry, probe)
        result.measured, result.measured_1e4, result.measured_half_lsb = measured, at_1e4, half
        result.size, result.seconds = size, time.perf_counter() - start
        if measured > result.analytic:
            print(
                f"  warning: {entry.id}: measured {measured} > analytic {result.analytic}; "
                "the topology walk misses something"
            )
        print(f"  measured {entry.id}: {measured} px in {result.seconds:.1f} s", flush=True)

    # The context each model gets: its own measurement, else its family default's (same
    # topology), else the analytic bound.
    def context_of(entry: Any) -> int:
        result = results[entry.id]
        if result.measured is None:
            family_default = results.get(defaults[entry.family].id)
            if family_default is not None and family_default.analytic == result.analytic:
                return round_up(family_default.field, args.round)
        return round_up(result.field, args.round)

    for entry in entries:
        result = results[entry.id]
        result.context = context_of(entry)
        if result.measured is not None:
            _, model = common.load_model(entry.id)
            frozen = FrozenPools(entry) if global_pool(entry) else None
            result.verified = verify_context(model, entry, result.context, frozen)
            print(f"  verified {entry.id}: {result.verified}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    known: dict[str, Any] = {}
    if RESULTS.is_file():  # keep models measured by earlier runs with other --models
        known = json.loads(RESULTS.read_text(encoding="utf-8")).get("models", {})
    known.update({k: dataclasses.asdict(v) for k, v in results.items()})
    RESULTS.write_text(
        json.dumps(
            {
                "threshold": THRESHOLD,
                "command": common.command_line(),
                "date": common.today(),
                "models": dict(sorted(known.items())),
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )

    rows = []
    for entry in entries:
        r = results[entry.id]
        rows.append(
            [
                entry.id,
                r.analytic,
                "—" if r.measured is None else r.measured,
                "—" if r.measured_1e4 is None else r.measured_1e4,
                "—" if r.measured_half_lsb is None else r.measured_half_lsb,
                r.context,
                f"{r.size}²" if r.size else "same topology as default",
                "—" if r.verified is None else verified_text(*r.verified),
            ]
        )
    print()
    print(
        f"Receptive field in input pixels (change > {THRESHOLD:g} of the value range; "
        f"context = measured rounded up to a multiple of {args.round})"
    )
    print()
    print(
        common.table(
            [
                "model",
                "analytic",
                "measured (1e-6)",
                "1e-4",
                "½ grey level",
                "context",
                "probe image",
                "tiled vs whole (grey levels)",
            ],
            rows,
        )
    )

    if args.write:
        write_contexts(cat, entries, context_of)
    return 0


def write_contexts(cat: Any, entries: list[Any], context_of: Any) -> None:
    """Family default's context under ``defaults:``; a variant that needs another value
    gets its own ``tiling:``."""
    from upscaler.catalog.yaml_edit import set_variant_values

    by_family: dict[str, list[Any]] = {}
    for entry in entries:
        by_family.setdefault(entry.family, []).append(entry)
    for family, members in by_family.items():
        default = next((e for e in members if e.default), None)
        if default is None:
            print(f"  skipped {family}: its default variant was not measured")
            continue
        family_context = context_of(default)

        def tiling(entry: Any, context: int) -> dict[str, Any]:
            # The whole mapping is rewritten: keep what else the entry records (border).
            kept = entry.tiling.model_dump(exclude_none=True) if entry.tiling else {}
            return {"tiling": {**kept, "context": context}}

        values: dict[str, dict[str, Any]] = {"defaults": tiling(default, family_context)}
        for entry in members:
            own = context_of(entry)
            if own != family_context:
                values[entry.variant] = tiling(entry, own)
        path = common.family_file(default)
        set_variant_values(path, values)
        print(f"  wrote {path.relative_to(common.REPO)}: {values}")


if __name__ == "__main__":
    raise SystemExit(main())
