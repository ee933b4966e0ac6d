"""How close the models come to what this CPU can do: a measured convolution ceiling.

A ratio against a peer says who is faster, not how much faster anyone could be. This
module measures the ceiling the benchmark compares against itself, on the machine and
thread pool of the run: a plain stack of 3x3 float32 convolutions (no bias, no
activation, nothing but the kernel every model here spends its time in), timed in
TensorFlow like our models, in GFLOP/s. Each model's rate is its FLOPs per call, counted
from its own graph by TensorFlow's profiler at the image size run, over its best
whole-image time. Beside it, the theoretical peak from the CPU's facts (cores x clock x
FLOP per cycle), labelled as arithmetic, not a measurement: under a hypervisor the
reported clock is often the nominal one, and FLOP per cycle is assumed from the flags.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import _common as common
import numpy as np

CONV_LAYERS = 10
CONV_CHANNELS = 48
CONV_SIZE = 256
"""The ceiling's stack: 10 layers of 3x3, 48 -> 48 channels, on one 256x256 image (the
width of the slim and SPAN models, an image that stays in a 2-core machine's caches
about as a model's tile does)."""


@dataclass
class Measured:
    """One model's best whole-image call from a benchmark run, for the ceiling table."""

    model_id: str
    model: Any
    height: int
    width: int
    seconds: float


def conv_stack_flops(layers: int, channels: int, size: int) -> int:
    """FLOPs of the ceiling's stack (one multiply-add = 2 FLOPs, 'same' padding)."""
    return 2 * 9 * channels * channels * size * size * layers


def conv_ceiling(repeats: int) -> tuple[float, str]:
    """Measured GFLOP/s of the plain 3x3 convolution stack, and what was run."""
    from upscaler.runtime.device import configure_threads, cpu_cores

    configure_threads()  # as every model load does; a no-op once TensorFlow has run
    import tensorflow as tf

    rng = np.random.default_rng(0)
    kernels = [
        tf.constant(rng.normal(0, 0.05, (3, 3, CONV_CHANNELS, CONV_CHANNELS)).astype(np.float32))
        for _ in range(CONV_LAYERS)
    ]
    image = tf.constant(
        rng.random((1, CONV_SIZE, CONV_SIZE, CONV_CHANNELS), dtype=np.float32),
    )

    @tf.function(autograph=False)
    def stack(x: Any) -> Any:
        for kernel in kernels:
            x = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
        return x

    seconds, _ = common.best_of(lambda: stack(image).numpy(), max(3, repeats))
    flops = conv_stack_flops(CONV_LAYERS, CONV_CHANNELS, CONV_SIZE)
    what = (
        f"{CONV_LAYERS} × conv 3×3 {CONV_CHANNELS}→{CONV_CHANNELS}, {CONV_SIZE}², float32, "
        f"{cpu_cores()} threads: {flops / 1e9:.1f} GFLOP in {seconds * 1000:.1f} ms"
    )
    return flops / seconds / 1e9, what


def fp32_flop_per_cycle(facts: dict[str, Any]) -> tuple[int, str]:
    """float32 FLOP per cycle per core assumed from the CPU's flags, and why.

    Two FMA pipes on every x86 core this targets; their width is what varies. AMD's Zen 4
    (family 25) runs AVX-512 on 256-bit halves, Zen 5 (family 26) on full 512-bit pipes;
    Intel server cores with AVX-512 have two 512-bit FMA units (some smaller parts one).
    """
    flags = facts["flags"]
    amd = facts.get("vendor") == "AuthenticAMD"
    if "avx512f" in flags and not (amd and (facts.get("family") or 0) < 26):
        return 64, "AVX-512: 2 FMA pipes × 16 float32 × 2"
    if "avx512f" in flags:
        return 32, "AVX-512 on 256-bit halves (AMD before Zen 5): 2 FMA pipes × 8 float32 × 2"
    if {"avx2", "fma"} <= flags:
        return 32, "AVX2/FMA: 2 FMA pipes × 8 float32 × 2"
    return 16, "no AVX2/FMA: 2 pipes × 4 float32 × 2"


def theoretical_peak() -> tuple[float | None, str]:
    """cores × clock × FLOP per cycle in GFLOP/s (None without a clock), and the sum."""
    from upscaler.runtime.device import cpu_cores

    facts = common.cpu_facts()
    per_cycle, why = fp32_flop_per_cycle(facts)
    if not facts["mhz"]:
        return None, "no clock published by this system"
    ghz = facts["mhz"] / 1000
    peak = cpu_cores() * ghz * per_cycle
    return peak, (
        f"{cpu_cores()} cores × {ghz:.2f} GHz ({facts['mhz_source']}) × {per_cycle} FLOP/cycle "
        f"({why}) = {peak:.0f} GFLOP/s; arithmetic from the CPU's facts, not measured"
    )


def graph_flops(model: Any, height: int, width: int) -> int:
    """FLOPs of one whole-image call at ``height`` x ``width``, counted by TensorFlow.

    The serving function is traced for that one shape and frozen, so every convolution
    has static shapes, and TensorFlow's profiler sums the ops' registered FLOP counts
    (convolutions dominate; element-wise ops are counted too). Nothing is run.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )
    from tensorflow.python.profiler import model_analyzer, option_builder

    serving = model._function
    fn = tf.function(lambda x: serving(input=x)["output"], autograph=False)
    concrete = fn.get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32))
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    quiet = logging.getLogger("tensorflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the v1 profiler's deprecation notice, once per call
    try:
        return int(model_analyzer.profile(graph, options=options).total_float_ops)
    finally:
        quiet.setLevel(level)


def measure_whole(model_ids: list[str], size: int, repeats: int) -> list[Measured]:
    """Best whole-image call of each model on a ``size``² photo-like input."""
    measured = []
    pixels = common.sample_image(size, size)
    for model_id in model_ids:
        entry, model = common.load_model(model_id)
        seconds, _ = common.best_of(common.our_sides(entry, model, pixels)["whole"], repeats)
        measured.append(Measured(model_id, model, size, size, seconds))
    return measured


def section_ceiling(measured: list[Measured], repeats: int) -> str:
    """Markdown: the measured conv ceiling, the theoretical peak, and each model's share."""
    ceiling, what = conv_ceiling(repeats)
    peak, peak_text = theoretical_peak()
    rows = []
    for m in measured:
        flops = graph_flops(m.model, m.height, m.width)
        rate = flops / m.seconds / 1e9
        rows.append(
            [
                m.model_id,
                f"{m.width}×{m.height}",
                f"{flops / 1e9:.1f}",
                f"{m.seconds * 1000:.0f}",
                f"{rate:.0f}",
                f"{rate / ceiling * 100:.0f} %",
                "—" if peak is None else f"{rate / peak * 100:.0f} %",
            ]
        )
    return (
        "### Against the convolution ceiling of this machine\n\n"
        f"- measured ceiling: **{ceiling:.0f} GFLOP/s** ({what}, best of {max(3, repeats)})\n"
        f"- theoretical peak: {peak_text}\n\n"
        + common.table(
            [
                "model",
                "input",
                "GFLOP per call",
                "ours whole-image ms",
                "GFLOP/s",
                "of the measured ceiling",
                "of the theoretical peak",
            ],
            rows,
        )
    )
