"""Ours against spandrel on PyTorch: the same network, the same input, the same threads.

Each row of :data:`ROWS` is one architecture in one configuration: spandrel builds it with
seeded random weights (speed does not depend on their values), its state dict is saved as
a ``.pth``, and our converter turns that file into a SavedModel exactly as
``Upscaler(model="x.pth")`` would. Both then upscale the same float32 input in [0, 1]
(64×64 by default) on the CPU, with 2 threads each (``--threads``), in interleaved rounds
(:func:`_common.interleaved`: the best round per side, so a load change on a shared
machine hits both alike). The table also gives the largest output difference, so a row
with a fast but wrong conversion cannot pass unnoticed.

Ours is the SavedModel's serving function called on the whole input (no tiling), spandrel
is ``model(x)`` under ``torch.inference_mode()`` in float32.

On a machine busy with other work, PyTorch's OpenMP threads spin while they wait for one
another and lose their core to the other processes: a 45 ms network then takes 600 ms
with 2 threads. ``OMP_WAIT_POLICY=PASSIVE`` avoids that (the header says which policy
ran); on a quiet machine the default is fastest.

Adding an architecture is one :class:`Row`.

Usage::

    python benchmarks/pytorch_vs_ours.py                  # every row
    python benchmarks/pytorch_vs_ours.py --rows swinir-light-x2 --size 96
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common


@dataclass(frozen=True)
class Row:
    """One network: ``network`` is spandrel's class as ``module:Class``, built with
    ``kwargs``; ``title`` says which published configuration it is."""

    id: str
    title: str
    network: str
    kwargs: dict[str, Any] = field(default_factory=dict)


ROWS: tuple[Row, ...] = (
    Row(
        "rrdb-x4",
        "ESRGAN RRDBNet x4 (Real-ESRGAN x4plus: 64 filters, 23 blocks)",
        "spandrel.architectures.ESRGAN:ESRGAN",
        {"in_nc": 3, "out_nc": 3, "num_filters": 64, "num_blocks": 23, "scale": 4},
    ),
    Row(
        "compact-x4",
        "SRVGGNetCompact x4 (realesr-general-x4v3: 64 features, 32 convolutions)",
        "spandrel.architectures.Compact:Compact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 32, "upscale": 4},
    ),
    Row(
        "span-x4",
        "SPAN x4, 48 channels (the authors' spanx4_ch48)",
        "spandrel.architectures.SPAN:SPAN",
        {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 48, "upscale": 4},
    ),
    Row(
        "realcugan-x2",
        "Real-CUGAN UpCunet2x (the published x2 models' network)",
        "spandrel.architectures.RealCUGAN:UpCunet2x",
        {"in_channels": 3, "out_channels": 3},
    ),
    Row(
        "swinir-tiny-x2",
        "SwinIR classical x2, embed 24, depths 2+2, 2 heads, window 8 (the tests' size)",
        "spandrel.architectures.SwinIR:SwinIR",
        {
            "upscale": 2,
            "upsampler": "pixelshuffle",
            "embed_dim": 24,
            "depths": [2, 2],
            "num_heads": [2, 2],
            "window_size": 8,
            "mlp_ratio": 2.0,
        },
    ),
    Row(
        "swinir-light-x2",
        "SwinIR lightweight x2 (the paper's SwinIR-S: embed 60, depths 4×6, 6 heads, window 8)",
        "spandrel.architectures.SwinIR:SwinIR",
        {
            "upscale": 2,
            "upsampler": "pixelshuffledirect",
            "embed_dim": 60,
            "depths": [6, 6, 6, 6],
            "num_heads": [6, 6, 6, 6],
            "window_size": 8,
            "mlp_ratio": 2.0,
        },
    ),
    Row(
        "hat-tiny-x2",
        "HAT x2, embed 24, depths 2+2, 2 heads, window 8 (the tests' size)",
        "spandrel.architectures.HAT:HAT",
        {
            "upscale": 2,
            "embed_dim": 24,
            "depths": [2, 2],
            "num_heads": [2, 2],
            "window_size": 8,
            "mlp_ratio": 2.0,
            "compress_ratio": 3,
            "squeeze_factor": 6,
        },
    ),
)


def _spandrel_network(torch: Any, row: Row, seed: int) -> Any:
    module, _, name = row.network.partition(":")
    network = getattr(importlib.import_module(module), name)
    torch.manual_seed(seed)
    return network(**row.kwargs).eval()


def _measure(torch: Any, row: Row, size: int, rounds: int, folder: Path) -> list[object]:
    from upscaler.convert.writer import convert_weights
    from upscaler.runtime import load_savedmodel

    model = _spandrel_network(torch, row, seed=0)
    path = folder / f"{row.id}.pth"
    torch.save(model.state_dict(), path)
    convert_weights("pytorch", path, folder / row.id)
    ours = load_savedmodel(folder / row.id)
    rng = np.random.default_rng(0)
    x = rng.random((1, size, size, 3), dtype=np.float32)
    x_torch = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    def theirs() -> Any:
        with torch.inference_mode():
            return model(x_torch)

    expected = theirs().permute(0, 2, 3, 1).numpy()
    got = ours.predict(x)
    diff = float(np.abs(got - expected).max())
    best = common.interleaved({"ours": lambda: ours.predict(x), "spandrel": theirs}, rounds)
    ratio = best["spandrel"] / best["ours"]
    return [
        row.id,
        row.title,
        f"{best['ours'] * 1000:.0f}",
        f"{best['spandrel'] * 1000:.0f}",
        f"{ratio:.2f}×",
        f"{diff:.1e}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="*", help="row ids (default: every row)")
    parser.add_argument("--size", type=int, default=64, help="input side in pixels")
    parser.add_argument("--threads", type=int, default=2, help="threads for each side")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    args = parser.parse_args(argv)
    rows = [r for r in ROWS if not args.rows or r.id in args.rows]
    if not rows:
        parser.error(f"no such row; known: {', '.join(r.id for r in ROWS)}")

    # spandrel pulls in triton, whose extension crashes next to TensorFlow's; torch runs
    # without it. Torch first, then TensorFlow with the same thread count.
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from upscaler.runtime.tf_setup import configure_threads

    settings = configure_threads(args.threads)

    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            table.append(_measure(torch, row, args.size, args.rounds, Path(tmp)))
            print(f"  {row.id}: ours {table[-1][2]} ms, spandrel {table[-1][3]} ms", flush=True)
    print()
    threads = f"{args.threads} torch threads, TensorFlow {settings.intra_op} intra-op"
    print(f"{common.machine()}; {args.size}×{args.size} input, float32; {threads}")
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    print(f"torch {torch.__version__}, OMP_WAIT_POLICY {policy}; load {common.load_average()}")
    print()
    headers = ["row", "network", "ours ms", "spandrel ms", "spandrel / ours", "max abs diff"]
    print(common.table(headers, table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
