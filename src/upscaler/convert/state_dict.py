"""One entry for PyTorch and safetensors weights: :func:`read_state_dict`.

Why one entry: the architecture detection and the parsers want a flat mapping of
parameter names to arrays, whatever file it came from. Which reader a file needs is
decided from its first bytes, not its name (a ``.pth`` may be either PyTorch layout, and
files get renamed): a zip is PyTorch's zip layout, a pickle its legacy layout, an 8-byte
length followed by ``{`` a safetensors file. Anything else is refused by name.

Training frameworks wrap the weights: BasicSR and Real-ESRGAN save
``{"params_ema": ..., "params": ...}`` (the exponential moving average is the better
model and the one their releases mean), Lightning ``{"state_dict": ...}``, others
``model``, ``net_g``, ``netG``, ``generator``; ``torch.nn.DataParallel`` prefixes every
key with ``module.``. :func:`unwrap` takes the first of :data:`CONTAINERS` present (then
a lone nested dict), drops a prefix every key shares, as spandrel's
``canonicalize_state_dict`` does, and says what it took, for ``describe()``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy.typing as npt

from upscaler.convert import limits
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.convert.state_dict")

SourceFormat = Literal["pytorch-zip", "pytorch-legacy", "safetensors"]

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
"""The endings of checkpoint files (``.bin`` is not one: it is ncnn's weights file)."""

CONTAINERS = (
    "params_ema",
    "params-ema",
    "params",
    "state_dict",
    "model_state_dict",
    "model",
    "net_g",
    "netG",
    "generator",
    "net",
)
"""Keys that hold the weights inside a training checkpoint, most preferred first."""

PREFIXES = ("module.", "netG.")
"""Prefixes dropped when every key has them (DataParallel's, old pix2pix-style ones)."""

T = TypeVar("T")

_MAX_NESTING = 4
"""Containers unwrapped at most (``{"model": {"state_dict": ...}}`` is two)."""


@dataclass(frozen=True)
class StateDict:
    """The weights of a checkpoint as a flat ``name → array`` mapping.

    ``tensors``: floats as float32, integers (``num_batches_tracked``, relative position
    indices) as int64, booleans as bool; each a contiguous array of its own.
    ``container``: the wrapping taken (``"params_ema"``, ``"model/state_dict"``, with
    ``" (prefix 'module.' removed)"`` when one was), ``None`` for a bare state dict.
    ``source_format``: which layout the file had. ``metadata``: a safetensors file's
    ``__metadata__`` (empty for PyTorch files).
    """

    tensors: dict[str, npt.NDArray[Any]]
    container: str | None
    source_format: SourceFormat
    metadata: dict[str, str]


def sniff(path: Path) -> SourceFormat:
    """Which reader ``path`` needs, from its first bytes (refused when none does)."""
    from upscaler.convert.torch_checkpoint import check_regular

    check_regular(path, limits.MAX_CHECKPOINT_FILE_BYTES, "checkpoint")
    try:
        with path.open("rb") as stream:
            head = stream.read(512)
    except OSError as exc:
        raise ConversionError(f"cannot read the checkpoint {path}: {exc}") from exc
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "pytorch-zip"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return "pytorch-legacy"
    if head[8:9] == b"{":
        return "safetensors"
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise ConversionError(
            f"{path} is a tar archive: PyTorch's oldest checkpoint layout (before 1.0), "
            "which is not read",
            hint="re-save it with a recent PyTorch: torch.save(torch.load(path), path)",
        )
    raise ConversionError(
        f"{path} is not a PyTorch checkpoint or a safetensors file (it starts with {head[:8]!r})",
        hint="pass a file written by torch.save or safetensors' save_file "
        f"({', '.join(CHECKPOINT_SUFFIXES)})",
    )


def read_state_dict(path: Path) -> StateDict:
    """The weights in the PyTorch checkpoint or safetensors file ``path``.

    No torch and no unpickling: PyTorch files go through the restricted pickle machine
    (:mod:`upscaler.convert.torch_pickle`), which refuses any global that is not a tensor
    rebuilder, a storage type or a plain container before anything runs. Every size is
    bounded before it is allocated (:mod:`upscaler.convert.limits`). Any problem is a
    :class:`~upscaler.errors.ConversionError` naming the file and the value.
    """
    path = Path(path)
    source = sniff(path)
    where = f"checkpoint {path}"
    if source == "safetensors":
        return _read_safetensors(path, where)
    from upscaler.convert.torch_checkpoint import (
        check_regular,
        materialize,
        open_legacy,
        open_zip,
    )
    from upscaler.convert.torch_pickle import TensorRef

    size = check_regular(path, limits.MAX_CHECKPOINT_FILE_BYTES, "checkpoint")
    opener = open_zip if source == "pytorch-zip" else open_legacy
    checkpoint = opener(path, size, where)
    try:
        refs, container = unwrap(checkpoint.root, where, TensorRef)
        tensors = materialize(checkpoint, refs, where)
    finally:
        checkpoint.close()
    log.info("%s: %d tensors (%s, %s)", where, len(tensors), source, container or "bare")
    return StateDict(tensors, container, source, {})


def _read_safetensors(path: Path, where: str) -> StateDict:
    import numpy as np

    from upscaler.convert.safetensors_file import read_header, read_tensors
    from upscaler.convert.torch_checkpoint import check_regular

    size = check_regular(path, limits.MAX_CHECKPOINT_FILE_BYTES, "checkpoint")
    header = read_header(path, size, where)
    arrays = read_tensors(path, header, where)
    tensors, container = unwrap(arrays, where, np.ndarray)
    return StateDict(tensors, container, "safetensors", header.metadata)


def unwrap(root: object, where: str, leaf: type[T]) -> tuple[dict[str, T], str | None]:
    """The weights inside ``root`` (values of type ``leaf``) and what wrapped them.

    Non-weight values beside the weights (an epoch number, an optimiser's settings) are
    dropped; a checkpoint with no weights at all is refused, listing what it holds.
    """
    node, path = root, list[str]()
    for _ in range(_MAX_NESTING):
        if not isinstance(node, dict) or _all_leaves(node, leaf):
            break
        key = next((k for k in CONTAINERS if isinstance(node.get(k), dict)), None)
        if key is None and len(node) == 1:
            key = next(iter(node))
            if not isinstance(node[key], dict):
                key = None
        if key is None:
            break
        node, path = node[key], [*path, str(key)]
    if not isinstance(node, dict):
        raise ConversionError(
            f"{where}: holds a {type(node).__name__}, not a dict of weights",
            hint="save a state dict: torch.save(model.state_dict(), path)",
        )
    tensors = {k: v for k, v in node.items() if isinstance(k, str) and isinstance(v, leaf)}
    dropped = len(node) - len(tensors)
    if not tensors:
        shown = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(node.items())[:8])
        raise ConversionError(
            f"{where}: no weights found (it holds {{{shown}}}{', ...' if len(node) > 8 else ''})",
            hint="save a state dict: torch.save(model.state_dict(), path); known "
            f"wrappers: {', '.join(CONTAINERS)}",
        )
    if dropped:
        log.info("%s: ignored %d entries that are not tensors", where, dropped)
    container = "/".join(path) or None
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
            container = f"{container or 'state dict'} (prefix {prefix!r} removed)"
    return tensors, container


def _all_leaves(node: dict[Any, Any], leaf: type[Any]) -> bool:
    return bool(node) and all(isinstance(v, leaf) for v in node.values())
