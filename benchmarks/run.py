"""Speed and memory benchmarks for the runner; prints markdown tables.

Usage::

    python benchmarks/run.py                   # everything (about 20-30 min on 2 CPU cores)
    python benchmarks/run.py --quick           # a smoke run: slim only, small images
    python benchmarks/run.py --sections speed tiled --models esrgan-slim.x2
    python benchmarks/run.py --sections none --write-speed   # measure and write speed: for
                                                             # every trained catalog model

Sections (``--sections``, default all):

speed    ms per output megapixel, default tiled runner, each family's default and x4 models
tiled    tiled (default settings) vs one whole-image call, and the overhead in %
bicubic  PIL bicubic resize, the no-model baseline
memory   peak RSS of a fresh process per case (esrgan-slim.x4 at 512², 2048², 4096²;
         pixel-upsampler.x2 at 6000x4000, where the output dominates); ``--memory-case
         MODEL:WxH`` runs only the cases given
levers   what threads, XLA, oneDNN, tile size and batch size do
peers    ours against peer runtimes side by side in one run, on the same input and weights,
         in alternating rounds: UpscalerJS 1.0 in Node (tfjs-node and wasm backends; needs
         the UpscalerJS peer harness: ``--upscalerjs DIR`` or ``UPSCALERJS_PEER``, skipped
         with the reason without it) on its models at ``--size``² input, and the ncnn
         runtime on the ncnn models at ``--size``² output (``--peers`` picks); then the
         ceiling table for every model timed
ceiling  a plain 3x3 convolution stack's GFLOP/s on this machine (the measured ceiling),
         the theoretical peak from the CPU's facts, and each model's GFLOP/s against both
         (the ``--models`` given, else esrgan-slim.x2, whole-image calls)
precision  float32 vs bfloat16 (UPSCALER_PRECISION, fresh process each): time and how far
         the outputs differ
luma     a native 1-channel (Y) model against RGB models on one gray photo (time, PSNR);
         needs ``--luma-models Y_MODEL RGB_MODEL ...``

Timings are the best of ``--repeats`` calls after one warm-up call (on a shared machine
every disturbance only adds time), wall clock, in this process unless a lever needs a
fresh one (thread pools and oneDNN are fixed when TensorFlow starts). Benchmarks never
assert; tests never time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

SPEED_MODELS = [
    "esrgan-slim.x2",
    "esrgan-medium.x2",
    "esrgan-thick.x2",
    "esrgan-legacy.div2k-x2",
    "pixel-upsampler.x2",
    "esrgan-slim.x4",
    "esrgan-medium.x4",
    "esrgan-thick.x4",
    "esrgan-legacy.div2k-x4",
    "esrgan-legacy.gans-x4",
    "pixel-upsampler.x4",
]
TILED_MODELS = [
    "esrgan-slim.x2",
    "esrgan-medium.x2",
    "esrgan-thick.x2",
    "esrgan-legacy.div2k-x2",
    "esrgan-slim.x4",
    "esrgan-legacy.gans-x4",
]
TILED_LARGE = ["esrgan-slim.x2", "esrgan-medium.x2", "esrgan-slim.x4"]
"""Models also compared at 1024² input, where every default plan really tiles."""
RSS_MODEL = "esrgan-slim.x4"
MEMORY_LARGE_MODEL = "pixel-upsampler.x2"
"""A model with almost no activations: its peak is the output and the copies around it."""
PRECISION_MODELS = ["esrgan-slim.x2", "esrgan-medium.x2", "esrgan-slim.x4", "esrgan-legacy.gans-x4"]
"""Models run in float32 and bfloat16."""
SECTIONS = (
    "speed",
    "tiled",
    "bicubic",
    "memory",
    "levers",
    "peers",
    "ceiling",
    "precision",
    "luma",
)


# ----------------------------------------------------------------------------- helpers


def time_tiled(entry: Any, model: Any, pixels: np.ndarray, repeats: int, **overrides: Any) -> float:
    runner = common.runner_for(entry, model, **overrides)
    best, _ = common.best_of(lambda: runner.run(pixels, progress=False), repeats)
    return best


def upscale_call(entry: Any, model: Any, pixels: np.ndarray) -> Callable[[], object]:
    """One upscale of ``pixels`` as ``Upscaler(model=entry.id)`` runs it: the default tiled
    runner, or for a self-ensemble variant its 8 passes through that runner, averaged
    (``upscaler.upscaler.run_self_ensemble``)."""
    runner = common.runner_for(entry, model)
    if getattr(entry, "ensemble", None) is None:
        return lambda: runner.run(pixels, progress=False)
    from upscaler.upscaler import run_self_ensemble

    return lambda: run_self_ensemble(runner, pixels, progress=False)


def time_model(entry: Any, model: Any, pixels: np.ndarray, repeats: int) -> float:
    """Best seconds of :func:`upscale_call` over ``repeats`` calls after one warm-up."""
    best, _ = common.best_of(upscale_call(entry, model, pixels), repeats)
    return best


def time_whole(entry: Any, model: Any, pixels: np.ndarray, repeats: int) -> float:
    from upscaler.runtime.whole_image import upscale_rgb

    best, _ = common.best_of(lambda: upscale_rgb(model, pixels, entry.value_range), repeats)
    return best


def ms_per_mp(seconds: float, size: int, scale: int) -> float:
    return seconds * 1000 / ((size * scale) ** 2 / 1e6)


def child(
    args: list[str], env: dict[str, str] | None = None, timeout: int = 1800
) -> dict[str, Any]:
    """Run this script in a fresh interpreter for one case; its last stdout line is JSON."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------------- sections


def section_speed(models: list[str], size: int, repeats: int) -> tuple[str, dict[str, float]]:
    rows = []
    speeds: dict[str, float] = {}
    pixels = common.sample_image(size, size)
    for model_id in models:
        entry, model = common.load_model(model_id)
        seconds = time_model(entry, model, common.model_input(entry, pixels), repeats)
        speeds[model_id] = ms_per_mp(seconds, size, entry.scale)
        rows.append([model_id, f"{seconds:.3f}", f"{speeds[model_id]:,.0f}"])
        print(f"  speed {model_id}: {seconds:.3f} s", file=sys.stderr, flush=True)
    text = (
        f"### Speed: default tiled runner, {size}x{size} input, best of {repeats}\n\n"
        + common.table(["model", "seconds", "ms per output MP"], rows)
    )
    return text, speeds


def plan_text(runner: Any, size: int) -> str:
    plan = runner.plan(size, size)
    if plan.single:
        return "1 window"
    grid = "×".join(str(n) for n in plan.grid)
    return f"{grid} of {plan.window[0]}×{plan.window[1]}"


def section_tiled(cases: list[tuple[str, int]], repeats: int) -> str:
    rows = []
    for model_id, size in cases:
        entry, model = common.load_model(model_id)
        pixels = common.sample_image(size, size)
        runner = common.runner_for(entry, model)
        plan = runner.plan(size, size)
        tiled = time_tiled(entry, model, pixels, repeats)
        whole = time_whole(entry, model, pixels, repeats)
        rows.append(
            [
                model_id,
                f"{size}²",
                runner.context,
                plan_text(runner, size),
                f"{plan.overhead * 100:.1f} %",
                f"{whole:.3f}",
                f"{tiled:.3f}",
                f"{(tiled / whole - 1) * 100:+.1f} %",
            ]
        )
        print(f"  tiled {model_id} {size}: {whole:.3f} vs {tiled:.3f}", file=sys.stderr, flush=True)
    return f"### Tiled (default settings) vs one whole-image call, best of {repeats}\n\n" + (
        common.table(
            [
                "model",
                "input",
                "context",
                "tiles",
                "extra pixels",
                "whole-image s",
                "tiled s",
                "time overhead",
            ],
            rows,
        )
    )


def section_bicubic(size: int, repeats: int) -> str:
    from PIL import Image

    pixels = common.sample_image(size, size)
    image = Image.fromarray(pixels)
    rows = []
    for scale in (2, 4):
        best, _ = common.best_of(
            lambda s=scale: image.resize((size * s, size * s), Image.Resampling.BICUBIC), repeats
        )
        rows.append([f"x{scale}", f"{best * 1000:.1f}", f"{ms_per_mp(best, size, scale):.2f}"])
    return f"### Bicubic baseline (PIL resize), {size}x{size} input\n\n" + common.table(
        ["scale", "ms", "ms per output MP"], rows
    )


def parse_memory_case(text: str) -> tuple[str, int, int]:
    """``MODEL:WxH`` (or ``MODEL:N`` for a square) as (model id, width, height)."""
    model_id, _, size = text.rpartition(":")
    width, _, height = size.partition("x")
    return model_id or RSS_MODEL, int(width), int(height or width)


def section_memory(cases: list[tuple[str, int, int]]) -> str:
    rows = []
    for model_id, width, height in cases:
        label = f"{model_id} {width}x{height}"
        result = child(["rss", model_id, f"{width}x{height}"])
        if "error" in result:
            rows.append([label, "—", "—", "—", "—", result["error"]])
            continue
        out_mb = result["output_bytes"] / 1e6
        target = 2 * result["output_bytes"] / 1e6 + 1200
        rows.append(
            [
                label,
                f"{out_mb:,.0f}",
                f"{result['rss_loaded_mb']:,.0f}",
                f"{result['rss_peak_mb']:,.0f}",
                f"{target:,.0f}",
                f"{result['seconds']:.1f} s, {result['tiles']} tiles, memmap={result['memmap']}",
            ]
        )
        print(f"  memory {label}: {result}", file=sys.stderr, flush=True)
    return "### Peak RSS, default tiled runner, fresh process per case\n\n" + common.table(
        [
            "model and input (WxH)",
            "output MB",
            "RSS after load MB",
            "peak RSS MB",
            "target MB (2 × output + 1200)",
            "notes",
        ],
        rows,
    )


def section_levers(size: int, repeats: int, sweep_size: int, quick: bool) -> str:
    import tensorflow as tf

    parts = []
    model_id = "esrgan-slim.x2"
    rows = []
    for label, env in (
        ("threads: all cores (default)", {}),
        ("threads: 1", {"UPSCALER_BENCH_THREADS": "1"}),
        ("oneDNN on (TensorFlow default)", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
        ("oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    ):
        result = child(["speed", model_id, str(size), str(repeats)], env=env)
        seconds = result.get("seconds")
        rows.append([label, "—" if seconds is None else f"{seconds:.3f}", result.get("error", "")])
        print(f"  lever {label}: {result}", file=sys.stderr, flush=True)

    entry, model = common.load_model(model_id)
    pixels = common.sample_image(size, size)
    batch = tf.constant(pixels[np.newaxis].astype(np.float32))
    serving = model._function
    plain = tf.function(lambda x: serving(input=x)["output"], autograph=False)
    xla = tf.function(lambda x: serving(input=x)["output"], autograph=False, jit_compile=True)
    start = time.perf_counter()
    xla(batch).numpy()
    compile_s = time.perf_counter() - start
    plain_s, _ = common.best_of(lambda: plain(batch).numpy(), repeats)
    xla_s, _ = common.best_of(lambda: xla(batch).numpy(), repeats)
    rows.append(["XLA off (default)", f"{plain_s:.3f}", ""])
    rows.append(["XLA jit_compile=True", f"{xla_s:.3f}", f"first call (compile) {compile_s:.1f} s"])
    parts.append(
        f"### Levers: {model_id}, {size}x{size}, one whole-image call, best of {repeats}\n\n"
        + common.table(["setting", "seconds", "notes"], rows)
    )

    # Window sizing on an image that really gets tiled: memory budgets, fixed tiles, batch.
    sweep_models = ["esrgan-slim.x2"] if quick else ["esrgan-slim.x2", "esrgan-medium.x2"]
    settings: list[dict[str, Any]] = [{}]
    settings += [{"memory_budget": mib << 20} for mib in (256, 1024, 2048)]
    settings += [{"tile": tile} for tile in ((128, 256) if quick else (128, 256, 512))]
    settings += [{"tile": 128, "batch": 4}]
    rows = []
    sweep = common.sample_image(sweep_size, sweep_size)
    for sweep_id in sweep_models:
        entry, model = common.load_model(sweep_id)
        whole = time_whole(entry, model, sweep, repeats)
        rows.append([sweep_id, "whole image (one call)", "1 window", "0.0 %", f"{whole:.3f}", ""])
        for options in settings:
            runner = common.runner_for(entry, model, **options)
            plan = runner.plan(sweep_size, sweep_size)
            seconds = time_tiled(entry, model, sweep, repeats, **options)
            label = (
                ", ".join(
                    f"{k}={v >> 20} MiB" if k == "memory_budget" else f"{k}={v}"
                    for k, v in options.items()
                )
                or "defaults"
            )
            rows.append(
                [
                    sweep_id,
                    label,
                    plan_text(runner, sweep_size),
                    f"{plan.overhead * 100:.1f} %",
                    f"{seconds:.3f}",
                    f"{(seconds / whole - 1) * 100:+.1f} %",
                ]
            )
            print(f"  sweep {sweep_id} {label}: {seconds:.3f}", file=sys.stderr, flush=True)
    parts.append(
        f"### Levers: window size and batch, {sweep_size}x{sweep_size} input, best of {repeats}"
        + "\n\n"
        + common.table(
            ["model", "setting", "tiles", "extra pixels", "seconds", "vs whole image"], rows
        )
    )
    return "\n\n".join(parts)


def section_precision(models: list[str], size: int, repeats: int) -> str:
    """float32 against bfloat16, each in a fresh process (the precision is per process)."""
    from upscaler.runtime.precision import cpu_has_native_bfloat16

    if not cpu_has_native_bfloat16():
        return "### Precision\n\nSkipped: this CPU has no native bfloat16 (AVX512-BF16/AMX)."
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for model_id in models:
            runs = {}
            for precision in ("float32", "bfloat16"):
                out = str(Path(scratch) / f"{precision}.npy")
                runs[precision] = child(
                    ["tiled", model_id, str(size), str(repeats), out],
                    env={"UPSCALER_PRECISION": precision},
                )
                print(f"  precision {model_id} {precision}: {runs[precision]}", file=sys.stderr)
            if "error" in runs["float32"] or "error" in runs["bfloat16"]:
                rows.append([model_id, "—", "—", "—", "—", "—", "failed"])
                continue
            exact = np.load(Path(scratch) / "float32.npy").astype(np.int32)
            approx = np.load(Path(scratch) / "bfloat16.npy").astype(np.int32)
            diff = np.abs(exact - approx)
            f32, bf16 = runs["float32"]["seconds"], runs["bfloat16"]["seconds"]
            rows.append(
                [
                    model_id,
                    f"{f32:.3f}",
                    f"{bf16:.3f}",
                    f"{f32 / bf16:.2f}×",
                    f"{int(diff.max())}",
                    f"{diff.mean():.3f}",
                    f"{np.count_nonzero(diff) / diff.size * 100:.1f} %",
                ]
            )
    return (
        f"### Precision: default tiled runner, {size}x{size} input, best of {repeats}\n\n"
        + common.table(
            [
                "model",
                "float32 s",
                "bfloat16 s",
                "speed-up",
                "max diff (grey levels)",
                "mean diff",
                "values that differ",
            ],
            rows,
        )
    )


# ----------------------------------------------------------------------------- children


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (10^6 bytes, like the target)."""
    return common.peak_rss_bytes() / 1e6


def run_child(argv: list[str]) -> int:
    """One measurement in a fresh process (thread pools and oneDNN are per process)."""
    kind, model_id, size_text = argv[0], argv[1], argv[2]
    width, _, height = size_text.partition("x")
    size = int(width)
    threads = os.environ.get("UPSCALER_BENCH_THREADS")
    from upscaler.runtime.device import configure_threads

    configure_threads(int(threads) if threads else None)  # before TensorFlow runs anything
    entry, model = common.load_model(model_id)
    pixels = common.sample_image(int(height or width), size)
    if kind == "rss":
        loaded = peak_rss_mb()
        runner = common.runner_for(entry, model)
        start = time.perf_counter()
        out = runner.run(pixels, progress=False)
        seconds = time.perf_counter() - start
        peak = peak_rss_mb()
        facts = runner.describe()
        result = {
            "rss_loaded_mb": loaded,
            "rss_peak_mb": peak,
            "output_bytes": int(out.nbytes),
            "seconds": seconds,
            "tiles": facts["tiles"],
            "memmap": facts["memmap"],
        }
    elif kind == "tiled":
        repeats = int(argv[3])
        runner = common.runner_for(entry, model)
        seconds, _ = common.best_of(lambda: runner.run(pixels, progress=False), repeats)
        np.save(argv[4], runner.run(pixels, progress=False))
        result = {"seconds": seconds, "precision": runner.describe()["precision"]}
    else:
        repeats = int(argv[3])
        seconds = time_whole(entry, model, pixels, repeats)
        result = {"seconds": seconds}
    print(json.dumps(result))
    return 0


# ----------------------------------------------------------------------------- speed writes


def write_speeds(
    size: int, repeats: int, models: list[str] | None, compare: Sequence[str] = ()
) -> str:
    """Measure every trained catalog variant (or ``models``) and write ``speed:``.

    ``compare``: more catalog ids timed in the same pass, the same way, and printed beside
    them but not written. A speed written on one day's machine next to a rival's written
    on another's is no comparison; these rows are the comparison, from one run. With
    ``compare``, every model is loaded first and the timed calls alternate between them,
    round by round (:func:`common.interleaved`), so a change of load on a shared machine
    during the run hits every side alike; without it, models are timed one at a time.
    """
    from upscaler.catalog.yaml_edit import set_variant_values

    cat = common.catalog()
    # int8 and bfloat16 variants have no weights of their own (built from their parent's),
    # nor have self-ensembles (their parent's model, run 8 times)
    entries = [
        e
        for e in cat.entries
        if e.weights is not None or e.built_from_parent or e.ensemble is not None
    ]
    if models:
        wanted = {cat.get(m).id for m in models}
        entries = [e for e in entries if e.id in wanted]
    written = {e.id for e in entries}
    entries += [cat.get(m) for m in compare if cat.get(m).id not in written]
    pixels = common.sample_image(size, size)
    ensembles = (
        "; self-ensembles: all 8 passes, averaged"
        if any(e.ensemble is not None for e in entries)
        else ""
    )
    provenance = {
        "command": common.command_line(),
        "version": common.version(),
        "date": common.today(),
        "protocol": (
            f"{size}x{size} photo-like input, default tiled runner (float32, or int8 and "
            f"bfloat16 for those variants; catalog context{ensembles}), "
            + (
                f"best of {repeats} alternating rounds over the models timed together, "
                "after 1 warm-up each, wall clock"
                if compare
                else f"best of {repeats} after 1 warm-up, wall clock"
            )
        ),
        "machine": common.machine("cpu"),
    }
    rows = []
    by_file: dict[Path, dict[str, dict[str, Any]]] = {}
    together: dict[str, float] = {}
    if compare:
        calls = {}
        for entry in entries:
            _, model = common.load_model(entry.id)
            calls[entry.id] = upscale_call(entry, model, common.model_input(entry, pixels))
        together = common.interleaved(calls, repeats)
    for entry in entries:
        if entry.id in together:
            seconds = together[entry.id]
        else:
            _, model = common.load_model(entry.id)
            seconds = time_model(entry, model, common.model_input(entry, pixels), repeats)
        speed = round(ms_per_mp(seconds, size, entry.scale), 1)
        if entry.id in written:
            by_file.setdefault(common.family_file(entry), {})[entry.variant] = {
                "speed": {"ms_per_output_megapixel": speed, "provenance": provenance}
            }
        rows.append(
            [entry.id, f"{seconds:.3f}", f"{speed:,.1f}", "yes" if entry.id in written else "no"]
        )
        print(f"  speed {entry.id}: {speed} ms/MP", file=sys.stderr, flush=True)
    for path, values in by_file.items():
        set_variant_values(path, values)
    return f"### Speed written to the catalog ({size}x{size}, best of {repeats})\n\n" + (
        common.table(["model", "seconds", "ms per output MP", "written"], rows)
    )


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return run_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="slim models, small images")
    parser.add_argument("--models", nargs="*", help="catalog ids for the speed section")
    parser.add_argument(
        "--compare",
        nargs="*",
        metavar="MODEL",
        help="with --write-speed: more models timed in the same pass and printed, not written",
    )
    parser.add_argument(
        "--sections", nargs="*", default=list(SECTIONS), help=f"any of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--size", type=int, default=512, help="input side for speed tables")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-speed", action="store_true", help="write speed: via yaml_edit")
    parser.add_argument("--speed-size", type=int, default=512, help="input side for --write-speed")
    parser.add_argument("--speed-repeats", type=int, default=2)
    parser.add_argument(
        "--memory-case",
        action="append",
        default=[],
        metavar="MODEL:WxH",
        help="memory section: only these cases (e.g. pixel-upsampler.x2:6000x4000)",
    )
    parser.add_argument(
        "--luma-models",
        nargs="+",
        metavar="MODEL",
        help="luma section: a 1-channel model, then the RGB models to set beside it",
    )
    parser.add_argument(
        "--peers",
        nargs="+",
        default=["upscalerjs", "ncnn"],
        choices=["upscalerjs", "ncnn"],
        help="peers section: which peers to run",
    )
    parser.add_argument(
        "--upscalerjs",
        metavar="DIR",
        help="peers section: the UpscalerJS peer harness after `npm ci` "
        "(default: $UPSCALERJS_PEER; without either that peer is skipped)",
    )
    parser.add_argument(
        "--upscalerjs-backends",
        nargs="+",
        default=["tensorflow", "wasm"],
        choices=["tensorflow", "wasm", "cpu"],
        help="peers section: UpscalerJS backends (tensorflow = tfjs-node, once built)",
    )
    args = parser.parse_args(argv)
    sections = [s for s in args.sections if s != "none"]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    size = 256 if args.quick and args.size == 512 else args.size
    repeats = 1 if args.quick else args.repeats
    models = args.models or (["esrgan-slim.x2", "esrgan-slim.x4"] if args.quick else SPEED_MODELS)

    print("## upscaler benchmarks\n")
    print(f"- command: `{common.command_line()}`")
    print(f"- date: {common.today()}, upscaler {common.version()}")
    print(f"- machine: {common.machine('cpu')}")
    print(f"- cpu: {common.cpu_line()}")
    print(f"- load average at start: {common.load_average()}\n")
    sys.stdout.flush()

    if "speed" in sections:
        text, _ = section_speed(models, size, repeats)
        print(text + "\n", flush=True)
    if "tiled" in sections:
        if args.quick:
            cases = [("esrgan-slim.x2", size), ("esrgan-slim.x4", size)]
        else:
            cases = [(m, size) for m in TILED_MODELS] + [(m, 1024) for m in TILED_LARGE]
        print(section_tiled(cases, repeats) + "\n", flush=True)
    if "bicubic" in sections:
        print(section_bicubic(size, max(3, repeats)) + "\n", flush=True)
    if "memory" in sections:
        if args.memory_case:
            cases = [parse_memory_case(c) for c in args.memory_case]
        elif args.quick:
            cases = [(RSS_MODEL, s, s) for s in (256, 1024)]
        else:
            cases = [(RSS_MODEL, s, s) for s in (512, 2048, 4096)]
            cases.append((MEMORY_LARGE_MODEL, 6000, 4000))
        print(section_memory(cases) + "\n", flush=True)
    if "levers" in sections:
        sweep = 512 if args.quick else 1024
        print(section_levers(size, repeats, sweep, args.quick) + "\n", flush=True)
    if "peers" in sections or "ceiling" in sections:
        from ceiling import measure_whole, section_ceiling
        from peers import section_peers

        measured = []
        if "peers" in sections:
            text, measured = section_peers(
                args.models,
                size,
                max(3, repeats),
                peers=args.peers,
                harness_option=args.upscalerjs,
                backends=args.upscalerjs_backends,
            )
            print(text + "\n", flush=True)
        if not measured:
            measured = measure_whole(args.models or ["esrgan-slim.x2"], size, repeats)
        print(section_ceiling(measured, repeats) + "\n", flush=True)
    if "luma" in sections and args.luma_models:
        from luma import section_luma

        print(section_luma(args.luma_models, max(3, repeats)) + "\n", flush=True)
    if "precision" in sections:
        chosen = ["esrgan-slim.x2"] if args.quick else PRECISION_MODELS
        print(section_precision(chosen, size, repeats) + "\n", flush=True)
    if args.write_speed:
        text = write_speeds(args.speed_size, args.speed_repeats, args.models, args.compare or [])
        print(text + "\n", flush=True)
    print(f"- load average at end: {common.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
