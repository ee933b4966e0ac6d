"""Shared helpers for the benchmark scripts: loading catalog models, timing, the machine.

Benchmarks are scripts, not tests: they print markdown tables and never assert on time.
They import the library exactly as a user would (the package is installed editable in
development), so what they measure is what users get.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def catalog() -> Any:
    """The catalog the library would use (the repository's, in a checkout)."""
    from upscaler.catalog import default_catalog

    return default_catalog()


def load_model(model_id: str) -> tuple[Any, Any]:
    """(catalog entry, LoadedModel) for a catalog id: fetched, converted and cached once
    (an int8 or bfloat16 variant built from its parent; int8 runs in TFLite)."""
    from upscaler.prepare.materialize import prepare_savedmodel
    from upscaler.runtime.tflite import load_model as load_folder

    cat = catalog()
    entry = cat.get(model_id)
    parent = cat.by_id.get(entry.derived_from or "")
    folder, _ = prepare_savedmodel(entry, progress=False, parent=parent)
    return entry, load_folder(folder)


def runner_for(entry: Any, model: Any, **overrides: Any) -> Any:
    """The tiled runner as the library builds it: catalog context and border, CPU."""
    from upscaler.runtime.tiled import TiledRunner
    from upscaler.upscaler import entry_border

    options: dict[str, Any] = {
        "context": context_for(entry),
        "device": "cpu",
        "border": entry_border(entry),  # what Upscaler(model=...) runs with
    }
    options.update(overrides)
    return TiledRunner(model, scale=entry.scale, value_range=entry.value_range, **options)


def sample_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth gradients plus noise (not flat, not pure noise).

    Built 256 rows at a time in float32, so making a 4096² image does not raise the
    process's peak memory (the memory benchmark reads that peak) above the image itself.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((height, width, 3), np.uint8)
    x = np.arange(width, dtype=np.float32)[np.newaxis, :]
    for top in range(0, height, 256):
        y = np.arange(top, min(top + 256, height), dtype=np.float32)[:, np.newaxis]
        planes = (
            128 + 100 * np.sin(x / 23.0) * np.cos(y / 31.0),
            128 + 90 * np.cos((x + y) / 41.0),
            128 + 80 * np.sin(np.hypot(x - width / 2, y - height / 2) / 17.0),
        )
        for channel, plane in enumerate(planes):
            noise = rng.normal(0, 12, plane.shape).astype(np.float32)
            out[top : top + y.shape[0], :, channel] = np.clip(np.rint(plane + noise), 0, 255)
    return out


def model_input(entry: Any, rgb: np.ndarray) -> np.ndarray:
    """What a model's runner is fed: the RGB image; for a 1-channel (luma) model its
    full-range BT.601 Y plane (what the luma adapter gives it); for a 4-channel model
    the RGB with a horizontal alpha ramp (a network's time does not depend on the
    values, but a real matte keeps the input what such a model is for)."""
    from upscaler.evaluate.color import gray_level
    from upscaler.evaluate.imresize import round_uint8

    if entry.channels == 4:
        ramp = np.linspace(0, 255, rgb.shape[1]).round().astype(np.uint8)
        alpha = np.broadcast_to(ramp, rgb.shape[:2])[:, :, np.newaxis]
        return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=2))
    if entry.channels != 1:
        return rgb
    return np.ascontiguousarray(round_uint8(gray_level(rgb))[:, :, np.newaxis])


def best_of(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Minimum wall time of ``repeats`` calls after ``warmup`` calls, and all the times.

    The minimum, because on a shared machine every disturbance only adds time.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), times


def interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best seconds per function over ``rounds`` alternating rounds, after one warm-up each.

    Side-by-side comparisons (ours against a peer runtime) call every side once per round,
    in turn, so a change of machine load during the run hits all sides alike; the best
    round is each side's figure, as in :func:`best_of`.
    """
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(max(1, rounds)):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def our_sides(entry: Any, model: Any, pixels: np.ndarray) -> dict[str, Callable[[], object]]:
    """Our two ways to upscale ``pixels``, as the sides of a comparison with a peer.

    ``tiled``: the default tiled runner, what ``Upscaler`` runs (catalog context, border
    replicated). ``whole``: one model call on the whole image with the models' own zero
    padding at the border, which is the arithmetic the peers do, so its output is the one
    to check theirs against.
    """
    from upscaler.runtime.whole_image import upscale_rgb

    runner = runner_for(entry, model)
    return {
        "tiled": lambda: runner.run(pixels, progress=False),
        "whole": lambda: upscale_rgb(model, pixels, entry.value_range),
    }


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> int:
    """Largest difference between two uint8 images, in grey levels (the sanity column of
    every side-by-side table: same weights and input should agree within one level)."""
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_facts() -> dict[str, Any]:
    """What /proc/cpuinfo says about the first CPU: vendor, family, model, clock and flags.

    Read at run time and printed with every run, because a virtual machine's CPU is
    whatever its hypervisor shows on that day (family, and whether AVX-512 is visible,
    have differed between descriptions of "this machine"); a figure of speed means little
    without the vector instructions it could use. The clock is cpufreq's maximum where the
    system publishes it, else cpuinfo's "cpu MHz" (under a hypervisor often the nominal
    clock, not the boost clock the cores run at).
    """
    facts: dict[str, Any] = dict.fromkeys(("vendor", "family", "model", "mhz", "mhz_source"))
    facts["flags"] = frozenset()
    keys = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "cpu MHz": "mhz"}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in keys:
            facts[keys[key]] = value
        elif key in ("flags", "Features"):
            facts["flags"] = frozenset(value.split())
    for key in ("family", "model"):
        with contextlib.suppress(TypeError, ValueError):
            facts[key] = int(facts[key])
    if facts["mhz"] is not None:
        facts["mhz"], facts["mhz_source"] = float(facts["mhz"]), '/proc/cpuinfo "cpu MHz"'
    with contextlib.suppress(OSError, ValueError):
        max_khz = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()
        facts["mhz"], facts["mhz_source"] = int(max_khz) / 1000, "cpufreq cpuinfo_max_freq"
    return facts


VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16")
"""The flags that decide which convolution kernels oneDNN can use, in the machine line."""


def cpu_line() -> str:
    """One line of CPU facts for a benchmark's header (see :func:`cpu_facts`)."""
    facts = cpu_facts()
    shown = [flag for flag in VECTOR_FLAGS if flag in facts["flags"]]
    absent = "" if "avx512f" in facts["flags"] else " (no AVX-512 flags)"
    clock = f"{facts['mhz'] / 1000:.2f} GHz ({facts['mhz_source']})" if facts["mhz"] else "n/a"
    return (
        f"{facts['vendor']} family {facts['family']} model {facts['model']}, "
        f"clock {clock}, vector flags: {' '.join(shown) or 'none'}{absent}"
    )


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def machine(device: str = "cpu") -> str:
    """One line naming the machine class, e.g. for ``speed.provenance.machine``."""
    import tensorflow as tf

    from upscaler.runtime.device import cpu_cores

    mem = memory_gib()
    mem_text = f", {mem:.0f} GiB" if mem is not None else ""
    kind = "GPU" if "gpu" in device.lower() else "CPU"
    # The same model name has shown up with different CPU families and vector units on
    # different days, and speeds differ twofold between them: say which one measured.
    facts = cpu_facts()
    flags = " ".join(flag for flag in VECTOR_FLAGS if flag in facts["flags"]) or "no AVX"
    family = f"family {facts['family']} model {facts['model']}, " if facts["family"] else ""
    return (
        f"{cpu_cores()}-core {platform.machine()} CPU ({cpu_model()}, {family}{flags})"
        f"{mem_text}, TensorFlow {tf.__version__} {kind}"
    )


def version() -> str:
    import upscaler

    return str(upscaler.__version__)


def today() -> str:
    return _dt.date.today().isoformat()


def command_line() -> str:
    """The command that is running, as a user would retype it."""
    args = " ".join(sys.argv[1:])
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(REPO)
    return f"python {script.as_posix()} {args}".strip()


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


RECEPTIVE_FIELDS = Path(__file__).resolve().parent / "results" / "receptive_field.json"


def context_for(entry: Any) -> int | None:
    """The catalog's ``tiling.context``, else the one receptive_field.py measured (kept in
    results/receptive_field.json until it is written into the catalog), else None."""
    if entry.tiling is not None:
        return int(entry.tiling.context)
    try:
        models = json.loads(RECEPTIVE_FIELDS.read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError):
        return None
    found = models.get(entry.id)
    return int(found["context"]) if found else None


def family_file(entry: Any) -> Path:
    """The catalog YAML an entry came from."""
    return Path(entry.source_file)


def peak_rss_bytes() -> int:
    """This process's peak resident memory in bytes.

    ``/proc/self/status`` VmHWM where it exists: Linux carries ``ru_maxrss`` across
    ``execve`` from the forking parent, so a child started by a process that already
    holds 1 GB would report at least that. ``resource.getrusage`` elsewhere.
    """
    import resource
    from pathlib import Path

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
