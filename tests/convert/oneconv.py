"""A made-up weights format for tests: one JSON file holding one 1×1 convolution and the
depth-to-space factor after it.

It exists to show what a new format costs: this parser, one
:class:`~upscaler.convert.formats.WeightsFormat` row (registered by
``test_formats.py``) and tests, nothing else in the package.
"""

from __future__ import annotations

import json
import os

import numpy as np

from upscaler.convert import ops
from upscaler.convert.files import SourceFiles
from upscaler.convert.formats import FileMap
from upscaler.convert.writer import ParsedModel


def read_oneconv(entry: str | os.PathLike[str], files: FileMap | None = None) -> ParsedModel:
    """``{"kernel": [[[[...]]]] (HWIO), "bias": [...], "block": 2}`` as the shared ops."""
    located = SourceFiles(entry, files, kind=".oneconv")
    doc = json.loads(located.path.read_text(encoding="utf-8"))
    conv = ops.Conv2D(
        kernel=np.asarray(doc["kernel"], np.float32), bias=np.asarray(doc["bias"], np.float32)
    )
    nodes = (
        ops.Node("conv", "OneConv", conv, ("input",), "features"),
        ops.Node("shuffle", "OneConv", ops.DepthToSpace(int(doc["block"])), ("features",), "out"),
    )
    graph = ops.Graph("input", nodes, "out")
    return ParsedModel(graph, {"OneConv": 1}, {"oneconv": located.label}, located.label)
