"""PyTorch modules as shared ops: the few translations every architecture here needs.

Why a module of its own: each architecture reads ``nn.Conv2d`` weights (OIHW, symmetric
zero padding), applies PReLU and LeakyReLU, pixel-shuffles and adds; written once here,
an architecture module is only its wiring. Node ``kind`` strings are the PyTorch module
types, so a conversion's layer counts read like the model's ``print(model)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.convert import ops
from upscaler.convert.architectures.registry import Tensors, shape_of, tensor
from upscaler.errors import ConversionError


def hwio(weight: npt.NDArray[Any], key: str) -> ops.Array:
    """A PyTorch ``[out, in, kh, kw]`` kernel in TensorFlow's ``[kh, kw, in, out]``."""
    if np.ndim(weight) != 4:
        raise ConversionError(f"{key} has shape {list(np.shape(weight))}, not a 2-D kernel")
    return ops.as_array(np.transpose(weight, (2, 3, 1, 0)), key)


def conv_op(
    tensors: Tensors,
    prefix: str,
    *,
    act: ops.Act = ops.LINEAR,
    stride: int = 1,
    bias: bool = True,
) -> ops.Conv2D:
    """``nn.Conv2d`` at ``prefix`` (``prefix.weight``, ``prefix.bias``) with PyTorch's
    symmetric ``k // 2`` zero padding, which for an odd kernel at stride 1 is SAME."""
    key = f"{prefix}.weight"
    kernel = hwio(tensor(tensors, key), key)
    kh, kw = kernel.shape[:2]
    b = ops.as_array(tensor(tensors, f"{prefix}.bias"), f"{prefix}.bias") if bias else None
    padding: ops.Padding
    if stride == 1 and kh % 2 == 1 and kw % 2 == 1:
        padding = "same"
    else:
        padding = (kh // 2, kh // 2, kw // 2, kw // 2)
    return ops.Conv2D(kernel, b, strides=(stride, stride), padding=padding, act=act)


def out_channels(tensors: Tensors, prefix: str) -> int:
    """The output channels of the convolution at ``prefix``."""
    return shape_of(tensors, f"{prefix}.weight")[0]


def in_channels(tensors: Tensors, prefix: str) -> int:
    """The input channels of the convolution at ``prefix``."""
    return shape_of(tensors, f"{prefix}.weight")[1]


def leaky(slope: float) -> ops.Act:
    """``nn.LeakyReLU(slope)``."""
    return ops.Act("leaky_relu", (slope,))


class GraphWriter:
    """Appends nodes with unique output names and closes them into an :class:`ops.Graph`.

    ``add`` returns the new tensor's name, so wiring reads like the PyTorch ``forward``:
    ``y = w.add("conv1", "Conv2d", op, x)``.
    """

    def __init__(self, input_channels: int) -> None:
        self.input = "input"
        self.input_channels = input_channels
        self._nodes: list[ops.Node] = []
        self._taken = {self.input}

    def add(self, name: str, kind: str, op: ops.Op, *inputs: str) -> str:
        output = name
        n = 1
        while output in self._taken:
            n += 1
            output = f"{name}#{n}"
        self._taken.add(output)
        self._nodes.append(ops.Node(name, kind, op, tuple(inputs), output))
        return output

    def conv(
        self,
        tensors: Tensors,
        prefix: str,
        x: str,
        *,
        act: ops.Act = ops.LINEAR,
        bias: bool = True,
    ) -> str:
        """``nn.Conv2d`` at ``prefix`` applied to ``x`` (activation fused)."""
        return self.add(prefix, "Conv2d", conv_op(tensors, prefix, act=act, bias=bias), x)

    def graph(self, output: str) -> ops.Graph:
        return ops.Graph(self.input, tuple(self._nodes), output, self.input_channels)
