"""PyTorch and safetensors checkpoints as a weights format: read, detect, emit ops.

The reader of the ``pytorch`` and ``safetensors`` rows of the format table
(:mod:`upscaler.convert.formats`). The file is read without torch by
:func:`upscaler.convert.state_dict.read_state_dict` (restricted unpickler, size limits,
the usual ``params_ema`` / ``state_dict`` / ``module.`` wrappers undone), the network is
recognised from its keys and shapes (:mod:`~upscaler.convert.architectures.registry`),
and the architecture's module emits the shared ops.

:func:`checkpoint_facts` answers what a model given by path needs before anything is
converted (its scale, channels, architecture and hyper-parameters), so that
``Upscaler(model="x.pth")`` needs no ``scale=`` and ``describe()`` says what was found.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.convert import limits
from upscaler.convert.architectures.registry import Detected, detect_architecture
from upscaler.convert.files import SourceFiles
from upscaler.convert.formats import FileMap
from upscaler.convert.parsed import ParsedModel

if TYPE_CHECKING:
    from upscaler.convert.state_dict import StateDict

log = logging.getLogger("upscaler.convert.architectures.checkpoint")

VALUE_RANGE = (0.0, 1.0)
"""What every supported architecture takes and gives: RGB in [0, 1] (PyTorch's
convention; SPAN rescales internally)."""

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read(path: Path, where: str) -> tuple[StateDict, Detected]:
    from upscaler.convert.state_dict import read_state_dict

    state = read_state_dict(path)
    return state, detect_architecture(state.tensors, where)


def read_checkpoint(entry: str | os.PathLike[str], files: FileMap | None = None) -> ParsedModel:
    """A ``.pth`` / ``.pt`` / ``.ckpt`` / ``.safetensors`` file parsed into the shared
    ops. ``source`` records the detected architecture, its hyper-parameters, the
    checkpoint's format and the container the weights were taken from."""
    located = SourceFiles(entry, files, kind="checkpoint")
    where = located.label
    state, detected = _read(located.path, where)
    graph = detected.build(state.tensors)
    limits.check_tensor_sizes(graph, where)
    counts = Counter(node.kind for node in graph.nodes)
    source = {
        "checkpoint": Path(where).name,
        "checkpoint_sha256": _sha256(located.path),
        "checkpoint_format": state.source_format,
        "container": state.container,
        **detected.to_dict(),
    }
    log.debug("%s: %s %s", where, detected.name, detected.hyper)
    return ParsedModel(graph, dict(counts), source, where)


def found_in(detected: Detected, state: StateDict) -> str:
    """``ESRGAN from params_ema of a pytorch-zip file``: what was found where."""
    container = f"{state.container} of " if state.container else ""
    return f"{detected.name} from {container}a {state.source_format} file"


def describe_detected(detected: Detected, state: StateDict) -> str:
    """One line for a description: ``ESRGAN (num_filters=64, …) from params_ema of a
    pytorch-zip file``."""
    hyper = ", ".join(
        f"{k}={v}"
        for k, v in detected.hyper.items()
        if k not in ("scale", "in_channels", "out_channels")
    )
    name, _, where = found_in(detected, state).partition(" from ")
    return f"{name} ({hyper}) from {where}"


def checkpoint_facts(path: Path) -> dict[str, Any]:
    """What a checkpoint says about itself before conversion, in the keys a model given
    by path reads (:func:`upscaler.prepare.local_models.local_entry`): ``scale``,
    ``input_channels``, ``value_range``, ``architecture`` (the catalog's term),
    ``params`` (the integer hyper-parameters), ``found`` (a few words for a title) and
    ``description``."""
    state, detected = _read(path, path.name)
    params = {
        k: int(v)
        for k, v in detected.hyper.items()
        if isinstance(v, int | bool) and k not in ("scale", "in_channels")
    }
    return {
        "scale": detected.scale,
        "input_channels": detected.in_channels,
        "value_range": list(VALUE_RANGE),
        "architecture": detected.architecture.vocabulary,
        "params": params,
        "detected": detected.to_dict(),
        "container": state.container,
        "checkpoint_format": state.source_format,
        "found": found_in(detected, state),
        "description": describe_detected(detected, state),
        "receptive_field": detected.receptive_field,
    }
