"""Our runner against the ncnn runtime on the same ncnn models, side by side in one run.

Both sides get the same uint8 RGB image and the same weights (the catalog's verified
``.param``/``.bin``; ours converted to a SavedModel), both on 2 threads, float32. Rounds
alternate ours / ncnn so that any change of machine load hits both alike; each side's
figure is its best round. Nothing here asserts: it prints a table.
"""

from __future__ import annotations

from typing import Any

import _common as common
import numpy as np
from ceiling import Measured

NCNN_MODELS = [
    "span.ch48-x2",
    "span.ch52-x2",
    "span.ch48-x4",
    "span.ch52-x4",
    "realesrgan.animevideov3-x4",
]
"""The models the issue's speed target names (SPAN x2/x4, animevideov3), both widths."""

THREADS = 2


def ncnn_files(entry: Any) -> tuple[str, str]:
    """The verified .param and .bin of a catalog ncnn entry (fetched into the cache)."""
    from upscaler.prepare.materialize import fetch_entry_files

    files = fetch_entry_files(entry, cache_dir=None, progress=False)
    param = entry.weights.entry_point
    return str(files[param]), str(files[param.removesuffix(".param") + ".bin"])


class NcnnRunner:
    """One ncnn network on the CPU, fed like its wrapper tools feed it: RGB in [0, 1]."""

    def __init__(self, entry: Any) -> None:
        import ncnn

        self._ncnn = ncnn
        param, weights = ncnn_files(entry)
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = THREADS
        if self.net.load_param(param) or self.net.load_model(weights):
            raise RuntimeError(f"ncnn cannot load {param}")
        self.input_name = self.net.input_names()[0]
        self.output_name = self.net.output_names()[0]

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 HWC in, uint8 HWC out (rounded and clipped like our runner)."""
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / 255.0
        extractor = self.net.create_extractor()
        extractor.input(self.input_name, self._ncnn.Mat(chw))
        ret, out = extractor.extract(self.output_name)
        if ret != 0:
            raise RuntimeError(f"ncnn extract failed with {ret}")
        result = np.array(out).transpose(1, 2, 0)
        return np.clip(np.rint(result * 255.0), 0, 255).astype(np.uint8)


def section_ncnn(models: list[str], out_size: int, rounds: int) -> tuple[str, list[Measured]]:
    """Markdown: ours (tiled runner and one whole-image call) vs ncnn, ms and ratio; and
    our whole-image timings, for the ceiling table."""
    try:
        import ncnn  # noqa: F401
    except ImportError:
        return "### Against the ncnn runtime\n\nSkipped: `pip install ncnn` (a dev dependency).", []
    rows = []
    measured = []
    for model_id in models:
        entry, model = common.load_model(model_id)
        size = out_size // entry.scale
        pixels = common.sample_image(size, size)
        peer = NcnnRunner(entry)
        ours = common.our_sides(entry, model, pixels)
        best = common.interleaved({**ours, "ncnn": lambda n=peer, p=pixels: n.run(p)}, rounds)
        # Both sides zero-pad at the image border in a whole-image call: same arithmetic.
        diff = common.max_abs_diff(ours["whole"](), peer.run(pixels))
        measured.append(Measured(model_id, model, size, size, best["whole"]))
        megapixels = (size * entry.scale) ** 2 / 1e6
        rows.append(
            [
                model_id,
                f"{size}² → {size * entry.scale}²",
                f"{best['ncnn'] * 1000:.0f}",
                f"{best['tiled'] * 1000:.0f}",
                f"{best['whole'] * 1000:.0f}",
                f"{best['ncnn'] / best['tiled']:.2f}×",
                f"{best['tiled'] * 1000 / megapixels:.0f}",
                str(diff),
            ]
        )
    header = (
        f"### Against the ncnn runtime (same weights, same input, {THREADS} threads, float32, "
        f"best of {rounds} interleaved rounds)\n\n"
    )
    table = common.table(
        [
            "model",
            "input → output",
            "ncnn ms",
            "ours tiled ms",
            "ours whole ms",
            "speed-up (ncnn / ours tiled)",
            "ours ms per output MP",
            "max \\|Δ\\| grey levels (whole image)",
        ],
        rows,
    )
    return header + table, measured
