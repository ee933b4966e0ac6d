"""Write tiny ncnn models (.param text + .bin packed with numpy) and run them with ncnn.

The real ``ncnn`` runtime is the oracle: every layer the converter supports is checked by
running the same random input through ncnn and through our SavedModel / graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FP16_TAG = 0x01306B47

Param = int | float | Sequence[int] | Sequence[float]


def _format(key: int, value: Param) -> str:
    if isinstance(value, (list, tuple)):
        items = [f"{v:e}" if isinstance(v, float) else str(v) for v in value]
        return f"{-23300 - key}={len(items)}," + ",".join(items)
    if isinstance(value, float):
        return f"{key}={value:e}"
    return f"{key}={value}"


class NcnnModel:
    """An ncnn model under construction: layer lines plus the .bin they read in order."""

    def __init__(self, seed: int = 0) -> None:
        self.lines: list[str] = []
        self.outputs: list[str] = []
        self.weights = bytearray()
        self.rng = np.random.default_rng(seed)

    # ----------------------------------------------------------- .bin
    def fp16(self, values: np.ndarray) -> None:
        half = np.asarray(values, np.float32).astype("<f2").tobytes()
        self.weights += FP16_TAG.to_bytes(4, "little") + half + b"\0" * ((-len(half)) % 4)

    def fp32_tagged(self, values: np.ndarray) -> None:
        self.weights += b"\0\0\0\0" + np.asarray(values, "<f4").tobytes()

    def raw(self, values: np.ndarray) -> None:
        self.weights += np.asarray(values, "<f4").tobytes()

    # ----------------------------------------------------------- .param
    def add(
        self,
        kind: str,
        name: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        params: Mapping[int, Param] | None = None,
    ) -> None:
        parts = [kind, name, str(len(inputs)), str(len(outputs)), *inputs, *outputs]
        parts += [_format(k, v) for k, v in (params or {}).items()]
        self.lines.append(" ".join(parts))
        self.outputs += list(outputs)

    def input(self, name: str = "in0") -> None:
        self.add("Input", "input", [], [name], {0: 0, 1: 0, 2: 3})

    def conv(
        self,
        name: str,
        src: str,
        dst: str,
        cin: int,
        cout: int,
        k: int | tuple[int, int] = 3,
        *,
        pad: int | tuple[int, int, int, int] | None = None,
        stride: int = 1,
        dilation: int = 1,
        act: int = 0,
        act_params: Sequence[float] = (),
        bias: bool = True,
        storage: str = "fp16",
        kind: str = "Convolution",
        extra: Mapping[int, Param] | None = None,
    ) -> None:
        """A Convolution (or Deconvolution) with random weights; ``k`` is (kh, kw)."""
        kh, kw = (k, k) if isinstance(k, int) else k
        params: dict[int, Param] = {0: cout, 1: kw}
        if kh != kw:
            params[11] = kh
        if dilation != 1:
            params[2] = dilation
        if stride != 1:
            params[3] = stride
        if isinstance(pad, tuple):
            top, bottom, left, right = pad
            params.update({4: left, 15: right, 14: top, 16: bottom})
        elif pad is None:
            params[4] = (kw - 1) * dilation // 2 if kind == "Convolution" else 0
        else:
            params[4] = pad
        params[5] = int(bias)
        params[6] = cout * cin * kh * kw
        if act:
            params[9] = act
        if act_params:
            params[10] = [float(v) for v in act_params]
        params.update(extra or {})
        self.add(kind, name, [src], [dst], params)
        weight = self.rng.standard_normal((cout, cin, kh, kw)) / np.sqrt(cin * kh * kw)
        (self.fp16 if storage == "fp16" else self.fp32_tagged)(weight)
        if bias:
            self.raw(self.rng.standard_normal(cout) * 0.1)

    def write(self, folder: Path, stem: str = "model") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        text = "7767517\n" + f"{len(self.lines)} {len(self.outputs)}\n" + "\n".join(self.lines)
        param = folder / f"{stem}.param"
        param.write_text(text + "\n", encoding="utf-8")
        param.with_suffix(".bin").write_bytes(bytes(self.weights))
        return param


def run_ncnn(param: Path, x: np.ndarray, *, inp: str = "in0", out: str = "out0") -> np.ndarray:
    """ncnn's output for one HWC float32 image (fp32 everywhere, one thread), as HWC."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    assert net.load_param(str(param)) == 0
    assert net.load_model(str(param.with_suffix(".bin"))) == 0
    chw = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
    # ncnn.Mat(array) borrows the array's memory without a reference count, and ncnn's
    # in-place layers dereference that count: clone into memory ncnn owns.
    mat = ncnn.Mat(chw).clone()
    ex = net.create_extractor()
    ex.input(inp, mat)
    ret, result = ex.extract(out)
    assert ret == 0, f"ncnn failed to extract {out!r} ({ret})"
    array = np.array(result)
    return array.transpose(1, 2, 0).copy() if array.ndim == 3 else array.copy()


def run_graph(param: Path, x: np.ndarray, tf: Any) -> np.ndarray:
    """Our translation of an ncnn model, built (rewrites included) and run on one HWC image
    without the writer's probe, so layers that do not upscale can be checked too."""
    from upscaler.convert.builder import build_module
    from upscaler.convert.ncnn import parse_ncnn
    from upscaler.convert.rewrites import (
        fold_torch_depth_to_space,
        fuse_pointwise_concats,
        normalize_prelu_slopes,
        prune,
    )

    graph, _ = parse_ncnn(
        param.read_text(encoding="utf-8"), param.with_suffix(".bin").read_bytes(), param.name
    )
    graph = fold_torch_depth_to_space(fuse_pointwise_concats(prune(graph)[0])[0])[0]
    graph = normalize_prelu_slopes(graph)[0]
    concrete = build_module(tf, graph).serve.get_concrete_function()
    return np.asarray(concrete(tf.constant(x[None], tf.float32))["output"])[0]
