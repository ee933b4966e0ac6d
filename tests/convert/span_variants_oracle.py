"""Oracle for the deployed SPAN derivatives spandrel does not know: SPANF and ESPAN.

Run as a script in its own interpreter (``python span_variants_oracle.py SPEC.json OUT``),
as ``spandrel_oracle.py`` is. Each network is written here in plain PyTorch functional
calls from the NTIRE 2025 challenge's model files (Amazingren/NTIRE2025_ESR,
``models/team24_SPANF.py`` and ``models/team36_espan.py``, MIT), independently of the
converter: random weights, eval-mode forward, the state dict saved with the challenge
files' key names. Each spec: ``{"id", "arch": "SPANF" | "ESPAN", "features", "scale",
"blocks", "first_kernel", "seed", "h", "w"}``; OUT gets ``ID.pth`` and ``ID.npz``
(``input`` and ``output``, NCHW float32). The last convolution is rescaled so outputs
sit around 0.5 with a 0.15 spread, where a grey level means something.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

State = dict[str, torch.Tensor]


def _conv(state: State, key: str, c_out: int, c_in: int, k: int, bias: bool = True) -> None:
    bound = 1 / (c_in * k * k) ** 0.5
    state[f"{key}.weight"] = (torch.rand(c_out, c_in, k, k) * 2 - 1) * bound
    if bias:
        state[f"{key}.bias"] = (torch.rand(c_out) * 2 - 1) * bound


def _apply(state: State, key: str, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
    weight = state[f"{key}.weight"]
    return functional.conv2d(
        x, weight, state.get(f"{key}.bias"), padding=weight.shape[-1] // 2, groups=groups
    )


def _block(state: State, prefix: str, x: torch.Tensor, convs: int, attend: bool) -> torch.Tensor:
    h = x
    for i in range(1, convs + 1):
        h = _apply(state, f"{prefix}.c{i}_r.eval_conv", h)
        if i < convs:
            h = functional.silu(h)
    return (h + x) * (torch.sigmoid(h) - 0.5) if attend else h


def spanf(spec: dict[str, Any]) -> tuple[State, Any]:
    f, s, nb = spec["features"], spec["scale"], spec["blocks"]
    state: State = {}
    _conv(state, "conv_near", 3 * s * s, 1, 3, bias=False)
    for n in range(1, nb + 1):
        c_in = 3 if n == 1 else f
        _conv(state, f"block_{n}.c1_r.eval_conv", f, c_in, 3)
        _conv(state, f"block_{n}.c2_r.eval_conv", f, f, 3)
        _conv(state, f"block_{n}.c3_r.eval_conv", f, f, 3)
    _conv(state, "conv_cat", f, 3 * s * s + 2 * f, 1)
    _conv(state, "conv_2.eval_conv", 3 * s * s, f, 3)

    def forward(x: torch.Tensor) -> torch.Tensor:
        near = _apply(state, "conv_near", x, groups=3)
        first = _block(state, "block_1", x, 3, attend=False)
        h = first
        for n in range(2, nb + 1):
            h = _block(state, f"block_{n}", h, 3, attend=True)
        out = _apply(state, "conv_cat", torch.cat([near, h, first], 1))
        return functional.pixel_shuffle(_apply(state, "conv_2.eval_conv", out), s)

    return state, (forward, "conv_2.eval_conv")


def espan(spec: dict[str, Any]) -> tuple[State, Any]:
    f, s, nb, k = spec["features"], spec["scale"], spec["blocks"], spec["first_kernel"]
    state: State = {}
    _conv(state, "conv_1.eval_conv", f, 3, k)
    for n in range(1, nb + 1):
        for i in (1, 2, 3):
            _conv(state, f"block_{n}.c{i}_r.eval_conv", f, f, 3)
    for i in (1, 2):
        _conv(state, f"teacher_block_seq.c{i}_r.eval_conv", f, f, 3)
    _conv(state, "tea_conv_cat", f, 4 * f, 1)
    _conv(state, "tea_conv_2.eval_conv", f, f, 3)
    _conv(state, "tea_upsampler.0.eval_conv", 3 * s * s, f, 3)

    def forward(x: torch.Tensor) -> torch.Tensor:
        feature = _apply(state, "conv_1.eval_conv", x)
        h = feature
        outs = []
        for n in range(1, nb + 1):
            h = _block(state, f"block_{n}", h, 3, attend=True)
            outs.append(h)
        teacher = _block(state, "teacher_block_seq", h, 2, attend=True)
        final = _apply(state, "tea_conv_2.eval_conv", teacher)
        out = _apply(state, "tea_conv_cat", torch.cat([feature, final, outs[0], teacher], 1))
        return functional.pixel_shuffle(_apply(state, "tea_upsampler.0.eval_conv", out), s)

    return state, (forward, "tea_upsampler.0.eval_conv")


def make(spec: dict[str, Any], out_dir: Path) -> None:
    torch.manual_seed(spec["seed"])
    state, (forward, last) = {"SPANF": spanf, "ESPAN": espan}[spec["arch"]](spec)
    x = torch.rand(
        1, 3, spec["h"], spec["w"], generator=torch.Generator().manual_seed(spec["seed"] + 1)
    )
    with torch.no_grad():
        state[f"{last}.bias"].zero_()
        spread = float(forward(x).std())
        state[f"{last}.weight"].mul_(0.15 / max(spread, 1e-6))
        state[f"{last}.bias"].fill_(0.5)
        y = forward(x)
    torch.save({k: v.contiguous() for k, v in state.items()}, out_dir / f"{spec['id']}.pth")
    np.savez(out_dir / f"{spec['id']}.npz", input=x.numpy(), output=y.numpy())


def main() -> None:
    torch.set_num_threads(2)
    out_dir = Path(sys.argv[2])
    for spec in json.loads(Path(sys.argv[1]).read_text()):
        make(spec, out_dir)


if __name__ == "__main__":
    main()
