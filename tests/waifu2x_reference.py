"""A plain-numpy waifu2x-chainer, the oracle for the npz converter's tests.

Written from the networks' definitions (the wheel's ``srcnn.py``) and the package's
inference (``reconstruct.py``: edge padding by the offset, pixels / 255; ``upscale_image``:
nearest-neighbour 2x before the 1:1 models), in Chainer's own layouts (NCHW tensors,
``[out, in, kh, kw]`` convolution and ``[in, out, kh, kw]`` deconvolution weights,
``[out, in]`` Linear weights) and in float64. It shares nothing with
``upscaler.convert.npz``: no transposes to TensorFlow's layout, no shared ops.

Also generates small parameter sets for each architecture (hidden widths of a few
channels), so the tests run in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

Params = Mapping[str, np.ndarray]

OFFSET = {"vgg7": 7, "upconv7": 7, "resnet10": 13, "upresnet10": 13}
"""Input pixels each network consumes per side (the package's offset / inner scale)."""

INNER_SCALE = {"vgg7": 1, "upconv7": 2, "resnet10": 1, "upresnet10": 2}


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Valid cross-correlation, stride 1: ``x`` [C, H, W], ``w`` [O, C, kh, kw]."""
    out_c, _, kh, kw = w.shape
    h, wd = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    y = np.zeros((out_c, h, wd))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("oc,chw->ohw", w[:, :, i, j], x[:, i : i + h, j : j + wd])
    return y if b is None else y + b[:, None, None]


def deconv(x: np.ndarray, w: np.ndarray, stride: int = 2, pad: int = 3) -> np.ndarray:
    """Transposed convolution as a scatter: each input pixel adds ``w`` [C, O, kh, kw]
    times its value at ``stride`` steps; then ``pad`` cut from every side."""
    _, out_c, kh, kw = w.shape
    h, wd = x.shape[1:]
    full = np.zeros((out_c, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(kh):
        for j in range(kw):
            full[
                :, i : i + (h - 1) * stride + 1 : stride, j : j + (wd - 1) * stride + 1 : stride
            ] += np.einsum("co,chw->ohw", w[:, :, i, j], x)
    return full[:, pad:-pad, pad:-pad]


def leaky(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, 0.1 * x)


def _p(params: Params, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    w = params[f"{name}/W"].astype(np.float64)
    b = params.get(f"{name}/b")
    return w, None if b is None else b.astype(np.float64)


def _vgg(params: Params, x: np.ndarray, up: bool) -> np.ndarray:
    for i in range(1, 7):
        x = leaky(conv(x, *_p(params, f"conv{i}")))
    if up:
        return deconv(x, _p(params, "conv7")[0])
    return conv(x, *_p(params, "conv7"))


def _block(params: Params, name: str, x: np.ndarray, se: bool) -> np.ndarray:
    h = leaky(conv(x, *_p(params, f"{name}/conv1")))
    h = leaky(conv(h, *_p(params, f"{name}/conv2")))
    if se:
        w1, b1 = _p(params, f"{name}/fc1")
        w2, b2 = _p(params, f"{name}/fc2")
        s = np.maximum(w1 @ h.mean(axis=(1, 2)) + b1, 0)
        s = 1 / (1 + np.exp(-(w2 @ s + b2)))
        h = h * s[:, None, None]
    return h + x[:, 2:-2, 2:-2]


def _resnet(params: Params, x: np.ndarray, up: bool) -> np.ndarray:
    h = bridge = leaky(conv(x, *_p(params, "conv_pre")))
    for i in range(1, 6):
        h = _block(params, f"res{i}", h, se=up)
    h = leaky(conv(h, *_p(params, "conv_bridge"))) + bridge[:, 11:-11, 11:-11]
    if up:
        return deconv(h, _p(params, "conv_post")[0])
    return conv(h, *_p(params, "conv_post"))


def network(arch: str, params: Params, x: np.ndarray) -> np.ndarray:
    """The bare network on a CHW float64 array (no padding)."""
    if arch in ("vgg7", "upconv7"):
        return _vgg(params, x, up=arch == "upconv7")
    return _resnet(params, x, up=arch == "upresnet10")


def upscale(arch: str, params: Params, image: np.ndarray, preupscale: int = 1) -> np.ndarray:
    """What the package computes for an HWC image in [0, 1] (one block holding the whole
    image): nearest-neighbour enlargement for the 1:1 scale models, edge padding by the
    offset, the network. Returns HWC float64, not clipped."""
    x = image.astype(np.float64)
    if preupscale > 1:
        x = x.repeat(preupscale, axis=0).repeat(preupscale, axis=1)
    pad = OFFSET[arch]
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return network(arch, params, x.transpose(2, 0, 1)).transpose(1, 2, 0)


# --------------------------------------------------------------------------- tiny parameters


def _conv_params(rng: np.random.Generator, out: int, inp: int, k: int = 3) -> np.ndarray:
    return (rng.standard_normal((out, inp, k, k)) * (0.6 / np.sqrt(inp * k * k))).astype(np.float32)


def _bias(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.standard_normal(n) * 0.05).astype(np.float32)


def tiny_params(arch: str, channels: int, seed: int = 0, width: int = 6) -> dict[str, np.ndarray]:
    """A random parameter set of ``arch`` with hidden widths around ``width``, in the
    exact key names and layouts of the wheel's files."""
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}

    def add_conv(name: str, out: int, inp: int, bias: bool = True) -> None:
        params[f"{name}/W"] = _conv_params(rng, out, inp)
        if bias:
            params[f"{name}/b"] = _bias(rng, out)

    def add_deconv(name: str, inp: int) -> None:
        params[f"{name}/W"] = (
            rng.standard_normal((inp, channels, 4, 4)) * 0.3 / np.sqrt(inp)
        ).astype(np.float32)

    if arch in ("vgg7", "upconv7"):
        widths = [channels, width, width, width + 2, width + 2, width + 4, width + 4]
        for i in range(1, 7):
            add_conv(f"conv{i}", widths[i], widths[i - 1])
        if arch == "vgg7":
            add_conv("conv7", channels, widths[6])
        else:
            add_deconv("conv7", widths[6])
        return params
    add_conv("conv_pre", width, channels)
    for i in range(1, 6):
        add_conv(f"res{i}/conv1", width, width)
        add_conv(f"res{i}/conv2", width, width)
        if arch == "upresnet10":
            squeeze = max(width // 2, 1)
            params[f"res{i}/fc1/W"] = (rng.standard_normal((squeeze, width)) * 0.5).astype(
                np.float32
            )
            params[f"res{i}/fc1/b"] = _bias(rng, squeeze)
            params[f"res{i}/fc2/W"] = (rng.standard_normal((width, squeeze)) * 0.5).astype(
                np.float32
            )
            params[f"res{i}/fc2/b"] = _bias(rng, width)
    add_conv("conv_bridge", width, width)
    if arch == "resnet10":
        add_conv("conv_post", channels, width)
    else:
        add_deconv("conv_post", width)
    return params
