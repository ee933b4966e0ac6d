"""Networks recognised from a PyTorch state dict by its keys and shapes.

A ``.pth`` or ``.safetensors`` file holds weights only: no graph, no hyper-parameters. The
architecture and its sizes are read back from the key names and tensor shapes, as
spandrel (the MIT library chaiNNer is built on) does, and each architecture then emits
the shared ops (:mod:`upscaler.convert.ops`) like every other parser. See
:mod:`upscaler.convert.architectures.registry` for the registry and how to add one.
"""

from __future__ import annotations

from upscaler.convert.architectures.registry import (
    Architecture,
    Detected,
    architectures,
    detect_architecture,
    register,
)

__all__ = ["Architecture", "Detected", "architectures", "detect_architecture", "register"]
