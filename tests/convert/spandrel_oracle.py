"""spandrel as the oracle: build networks with seeded random weights, save their state dicts
as ``.pth`` and ``.safetensors``, and record their outputs on a fixed input.

Run as a script in its own interpreter (``python spandrel_oracle.py SPEC.json OUT_DIR``):
importing spandrel (through triton) after TensorFlow crashes this interpreter, and the test
process has TensorFlow loaded, so the oracle never shares a process with it.

Each spec: ``{"id", "arch", "kwargs", "keys", "container", "seed", "h", "w"}``. For each,
OUT_DIR gets ``ID.pth``, ``ID.safetensors`` and ``ID.npz`` (``input`` and ``output``,
NCHW float32). Weights are rescaled so that outputs land around [0, 1], where a grey
level means something: the last convolution is scaled to a 0.15 standard deviation
around 0.5.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file


def _model(arch: str, kwargs: dict[str, Any]) -> tuple[torch.nn.Module, str]:
    if arch == "ESRGAN":
        from spandrel.architectures.ESRGAN import ESRGAN

        model = ESRGAN(**kwargs)
        last = f"model.{len(model.model) - 1}"
        return model, last
    if arch == "Compact":
        from spandrel.architectures.Compact import Compact

        model = Compact(**kwargs)
        return model, f"body.{len(model.body) - 1}"
    if arch == "SPAN":
        from spandrel.architectures.SPAN import SPAN

        return SPAN(**kwargs), "upsampler.0"
    if arch.startswith("RealCUGAN"):
        from spandrel.architectures import RealCUGAN

        network = getattr(RealCUGAN, arch.split(":")[1])(**kwargs)
        last = "conv_final" if hasattr(network, "conv_final") else "unet2.conv_bottom"
        return network, last
    raise SystemExit(f"unknown architecture {arch}")


def _rename(state: dict[str, torch.Tensor], keys: str, ups: int) -> dict[str, torch.Tensor]:
    """ESRGAN's original ``model.N`` keys in BasicSR's or BSRGAN's spelling."""
    if keys == "esrgan":
        return state
    nb = max(int(k.split(".")[3]) for k in state if k.startswith("model.1.sub.")) + 0
    names = {
        "basicsr": ("conv_first", "body", "rdb", "conv_body", "conv_up", "conv_hr"),
        "bsrgan": ("conv_first", "RRDB_trunk", "RDB", "trunk_conv", "upconv", "HRconv"),
    }[keys]
    first, body, rdb, trunk, up, hr = names
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key)
        if m:
            b, r, c, kind = m.groups()
            out[f"{body}.{b}.{rdb}{r}.conv{c}.{kind}"] = value
            continue
        m = re.fullmatch(r"model\.(\d+)(?:\.sub\.(\d+))?\.(weight|bias)", key)
        assert m, key
        index, sub, kind = int(m.group(1)), m.group(2), m.group(3)
        if index == 0:
            name = first
        elif index == 1 and sub is not None and int(sub) == nb:
            name = trunk
        elif index == 3 * ups + 2:
            name = hr
        elif index == 3 * ups + 4:
            name = "conv_last"
        else:
            name = f"{up}{index // 3}"
        out[f"{name}.{kind}"] = value
    return out


def make(spec: dict[str, Any], out_dir: Path) -> None:
    torch.manual_seed(spec["seed"])
    model, last = _model(spec["arch"], spec["kwargs"])
    model.eval()
    g = torch.Generator().manual_seed(spec["seed"] + 1)
    x = torch.rand(1, spec["kwargs"].get("in_nc", 3), spec["h"], spec["w"], generator=g)
    if spec["arch"] == "ESRGAN" and spec["kwargs"].get("shuffle_factor"):
        x = x[:, :3]
    params = dict(model.named_parameters())
    with torch.no_grad():
        weight, bias = params[f"{last}.weight"], params[f"{last}.bias"]
        bias.zero_()
        spread = float(model(x).std())
        weight.mul_(0.15 / max(spread, 1e-6))
        bias.fill_(0.5)
        y = model(x)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if spec["arch"] == "ESRGAN":
        ups = (len(model.model) - 5) // 3
        state = _rename(state, spec.get("keys", "esrgan"), ups)
    container = spec.get("container")
    torch.save({container: state} if container else state, out_dir / f"{spec['id']}.pth")
    save_file(state, str(out_dir / f"{spec['id']}.safetensors"))
    np.savez(out_dir / f"{spec['id']}.npz", input=x.numpy(), output=y.numpy())


def main() -> None:
    torch.set_num_threads(2)
    specs = json.loads(Path(sys.argv[1]).read_text())
    out_dir = Path(sys.argv[2])
    for spec in specs:
        make(spec, out_dir)


if __name__ == "__main__":
    main()
