"""A native RGBA model against an RGB model with the alpha adapter, on RGBA images.

Evaluation sets hold no alpha, so each HR image of the given folders gets a synthetic
matte (:func:`upscaler.train.data.synthetic_alpha`, the mattes RGBA models train on:
opaque and clear regions, hard and feathered edges, ramps), drawn from ``--seed`` and
the image's name, so every run and every model sees the same images. The LR is the
evaluation protocol's MATLAB-compatible bicubic (:func:`upscaler.evaluate.protocol.make_lr`)
of all four channels. Each LR is upscaled through the public ``Upscaler`` by

- ``native``: the RGBA model, colour and alpha in one call;
- ``adapter``: the RGB model, colour through it and alpha through it again on alpha
  replicated to RGB (the alpha adapter's default, ``alpha="model"``),

and compared with the HR, ``scale`` border pixels shaved as in the protocol:

- ``colour PSNR (opaque)``: RGB where the HR alpha is 255, what a viewer sees in full;
- ``alpha PSNR`` and ``alpha MAE`` (grey levels) over the whole image;
- ``edge alpha MAE``: alpha error where the HR matte changes fast (its gradient magnitude
  at least ``--edge`` grey levels per pixel), where jaggies and halos show;
- ``colour PSNR (band)``: RGB where 0 < HR alpha < 255, the semi-transparent band in
  which colour and alpha meet;
- ``ms``: the upscale's wall time (the adapter runs its model twice).

Means over the images close each set (PSNR means skip images whose mask is empty).
Nothing asserts; it prints tables.

    python benchmarks/alpha.py --rgba RUN/savedmodel --rgb span.ch48-x2 --data DATA/Set5

``--rgba`` and ``--rgb`` take a catalog id or a model path (``./name`` or any path with a
``/``); a path needs ``--scale`` unless its ``upscaler.json`` records one.
"""

from __future__ import annotations

import argparse
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

METHODS = ("native", "adapter")
COLUMNS = [
    "image",
    "method",
    "colour PSNR (opaque)",
    "alpha PSNR",
    "alpha MAE",
    "edge alpha MAE",
    "colour PSNR (band)",
    "ms",
]


@dataclass(frozen=True)
class Pair:
    """One test image: the HR with its matte (HxWx4 uint8) and its bicubic LR."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


def rgba_pairs(folder: Path, scale: int, seed: int) -> tuple[str, list[Pair]]:
    """(set name, every image of ``folder`` with a matte and its LR)."""
    from upscaler.evaluate.datasets import load_set, read_ground_truth
    from upscaler.evaluate.protocol import make_lr, modcrop
    from upscaler.train.data import synthetic_alpha

    image_set = load_set(folder)
    pairs = []
    for path in image_set.images:
        rgb = modcrop(read_ground_truth(path).rgb, scale)
        rng = np.random.default_rng([seed, zlib.crc32(path.name.encode())])
        hr = np.concatenate([rgb, synthetic_alpha(rgb.shape[:2], rng)], axis=2)
        pairs.append(Pair(path.name, hr, make_lr(hr, scale)))
    return image_set.name, pairs


def masked_psnr(reference: np.ndarray, test: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (peak 255) over the pixels of ``mask``; NaN when it selects none."""
    if not mask.any():
        return math.nan
    diff = reference[mask].astype(np.float64) - test[mask].astype(np.float64)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def measures(hr: np.ndarray, sr: np.ndarray, scale: int, edge: float) -> list[float]:
    """The table's quality columns for one result (``scale`` pixels shaved)."""
    cut = (slice(scale, -scale), slice(scale, -scale))
    hr, sr = hr[cut], sr[cut]
    alpha_hr = hr[:, :, 3].astype(np.float64)
    alpha_error = np.abs(alpha_hr - sr[:, :, 3])
    rows, cols = np.gradient(alpha_hr)
    edges = np.hypot(rows, cols) >= edge
    band = (alpha_hr > 0) & (alpha_hr < 255)
    everywhere = np.ones(alpha_hr.shape, bool)
    return [
        masked_psnr(hr[:, :, :3], sr[:, :, :3], alpha_hr == 255),
        masked_psnr(hr[:, :, 3], sr[:, :, 3], everywhere),
        float(alpha_error.mean()),
        float(alpha_error[edges].mean()) if edges.any() else math.nan,
        masked_psnr(hr[:, :, :3], sr[:, :, :3], band),
    ]


def upscaler_for(model: str, scale: int | None) -> Any:
    """A catalog id, or a model path (``scale`` needed when its metadata has none)."""
    from upscaler import Upscaler
    from upscaler.prepare.local_models import is_path_form

    if is_path_form(model):
        return Upscaler(model=model, scale=scale)
    return Upscaler(model=model)


def mean_row(rows: Sequence[list[float]]) -> list[float]:
    """Means of each column over ``rows``, NaN entries skipped."""
    columns = np.array(rows, dtype=np.float64).T
    return [math.nan if np.isnan(c).all() else float(np.nanmean(c)) for c in columns]


def cell(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def format_values(values: Sequence[float]) -> list[str]:
    """PSNR with 2 decimals, errors with 3, milliseconds whole."""
    digits = [2, 2, 3, 3, 2, 0]
    return [cell(v, d) for v, d in zip(values, digits, strict=True)]


def section(name: str, pairs: list[Pair], upscalers: dict[str, Any], edge: float) -> str:
    """One set's table: every image by both methods, then each method's mean."""
    scale = next(iter(upscalers.values())).scale
    rows: list[list[object]] = []
    collected: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    for pair in pairs:
        for method, up in upscalers.items():
            start = time.perf_counter()
            sr = up.upscale(pair.lr, progress=False)
            seconds = time.perf_counter() - start
            values = [*measures(pair.hr, sr, scale, edge), seconds * 1000]
            collected[method].append(values)
            rows.append([pair.name, method, *format_values(values)])
    for method in METHODS:
        rows.append(["**mean**", method, *format_values(mean_row(collected[method]))])
    header = f"### {name}: {len(pairs)} images, x{scale}, edge = alpha gradient >= {edge:g}\n\n"
    return header + common.table(COLUMNS, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rgba", required=True, help="the native RGBA model: id or path")
    parser.add_argument("--rgb", required=True, help="the RGB model for the alpha adapter")
    parser.add_argument("--data", nargs="+", type=Path, required=True, help="set folders")
    parser.add_argument("--scale", type=int, help="for a model path without metadata")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mattes (default 0)")
    parser.add_argument("--edge", type=float, default=16.0, help="edge threshold (grey/px)")
    args = parser.parse_args(argv)
    upscalers = {
        "native": upscaler_for(args.rgba, args.scale),
        "adapter": upscaler_for(args.rgb, args.scale),
    }
    scales = {up.scale for up in upscalers.values()}
    if len(scales) != 1:
        parser.error(f"the models must share a scale, got {sorted(scales)}")
    for method, wanted in (("native", 4), ("adapter", 3)):
        # loading settles a model path's channels (its signature says them)
        got = upscalers[method].load(progress=False).model.channels
        if got != wanted:
            parser.error(f"the {method} model takes {got} channels, not {wanted}")
    native = upscalers["native"]
    print(f"# Native RGBA vs the alpha adapter, {common.today()}")
    print(f"machine: {common.machine()}; load average {common.load_average()}")
    print(f"command: {common.command_line()}")
    print(f"native: {native.model.id}; adapter: {upscalers['adapter'].model.id}\n")
    for folder in args.data:
        name, pairs = rgba_pairs(folder, native.scale, args.seed)
        for up in upscalers.values():  # load, convert and trace once, outside the timing
            up.upscale(pairs[0].lr, progress=False)
        print(section(name, pairs, upscalers, args.edge) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
