"""Warm starts: begin a run from another run's trained weights instead of random ones.

Why: the body of a compact network learns the same features at every scale, so an x3
or x8 run that starts from a finished x2 or x4 body converges in a fraction of the
steps a random start needs (the EDSR paper pre-trains its x3 and x4 models from x2 this
way: Lim et al., 2017, section 4.2). On a 2-core machine that is the difference
between a model that fits the two-hour budget and one that does not.

Only whole arrays move: every weight whose shape matches the same weight of the new
network is copied, the rest (the tail that maps to ``channels * scale²`` outputs, or
the head when the channel count differs) keeps its fresh initialisation. Adam's moments
start at zero, as in any new run. The source is pinned in ``run.json`` by its step and
the sha256 of its checkpoint file, so a resume before the first checkpoint restarts
from exactly the same weights, and a catalog entry says where its start came from.

A source that is *wider* (more ``features``, same depth) is pruned first, when the
architecture knows how (:class:`upscaler.train.architectures.Pruning`): for ``srvgg``
each layer keeps the filters with the largest L1 norm (Li et al., "Pruning Filters for
Efficient ConvNets", ICLR 2017), and the run that starts from them is the fine-tuning
that recovers the accuracy the cut filters carried. The record then says what was pruned
(``"pruned": {"features": [32, 24]}`` and ``"pruning": "l1-filter"``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.errors import TrainingError
from upscaler.train import checkpoint as ckpt
from upscaler.train.architectures import PRUNING_TEXT, Architecture, get_architecture

log = logging.getLogger("upscaler.train")


@dataclass(frozen=True)
class WarmStart:
    """The weights a run starts from (None where the new network's array differs)."""

    weights: list[npt.NDArray[np.float32] | None]
    record: dict[str, Any]
    """What ``run.json`` keeps: the source's folder name, step, checkpoint sha256 and command."""

    @property
    def copied(self) -> int:
        return sum(w is not None for w in self.weights)


def _source_record(source: Path) -> dict[str, Any]:
    record = ckpt.read_run_record(source)
    if record is None:
        raise TrainingError(
            f"--init-from {source} is not a training run folder (it has no {ckpt.RUN_FILE})",
            hint="pass the --run folder of a finished or checkpointed `upscaler train`",
        )
    return record


def load_warm_start(
    source: str | Path,
    *,
    architecture: str,
    params: dict[str, int],
    shapes: Sequence[tuple[int, ...]],
    pinned: dict[str, Any] | None = None,
) -> WarmStart:
    """The newest checkpoint of run ``source``, matched array by array to ``shapes``.

    ``pinned`` is the record of an earlier start of the same run: its checkpoint (by step
    and sha256) is used again, so restarting before the first checkpoint is exact.
    """
    from upscaler.train.config import TrainConfig
    from upscaler.train.export import command_line

    folder = Path(source).expanduser()
    record = _source_record(folder)
    theirs = TrainConfig.model_validate(record["config"])
    their_params: dict[str, int] = record.get("params", {})
    arch = get_architecture(architecture)
    pruned = _pruned_params(folder, arch, theirs.architecture, their_params, params)
    found = ckpt.list_checkpoints(folder)
    if pinned is not None:
        found = [(s, p) for s, p in found if s == pinned.get("step")]
    if not found:
        raise TrainingError(
            f"--init-from {folder} has no checkpoint"
            + (f" at step {pinned.get('step')}" if pinned is not None else ""),
            hint="train the source run first (or use the folder this run started from)",
        )
    step, path = found[-1]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if pinned is not None and digest != pinned.get("sha256"):
        raise TrainingError(
            f"the checkpoint this run started from ({path.name} of {folder}) has changed",
            hint="restore it, or start a new run folder",
        )
    info: dict[str, Any] = {
        "run": folder.name,
        "step": step,
        "sha256": digest,
        "command": command_line(theirs),
    }
    with np.load(path, allow_pickle=False) as data:
        source_weights = [data[n] for n in sorted(data.files) if n.startswith("w")]
    if pruned:
        assert arch.pruning is not None  # _pruned_params refuses otherwise
        source_weights = arch.pruning.prune(source_weights, their_params, params)
        info.update(pruned=pruned, pruning=arch.pruning.method)
        log.info("warm start from %s: %s", folder, pruning_text(info))
    weights: list[npt.NDArray[np.float32] | None] = []
    for index, shape in enumerate(shapes):
        theirs_w = source_weights[index] if index < len(source_weights) else None
        same = theirs_w is not None and tuple(theirs_w.shape) == tuple(shape)
        weights.append(np.asarray(theirs_w, dtype=np.float32) if same else None)
    start = WarmStart(weights, info)
    log.info(
        "warm start from %s step %d: %d of %d arrays copied, the rest freshly initialised",
        folder,
        step,
        start.copied,
        len(shapes),
    )
    if not start.copied:
        raise TrainingError(
            f"--init-from {folder}: no array of its network fits this one",
            hint="warm starts need the same architecture and size parameters",
        )
    return start


def _params_text(params: dict[str, int]) -> str:
    return " ".join(f"{name}={value}" for name, value in sorted(params.items()))


def _pruned_params(
    folder: Path,
    arch: Architecture,
    their_architecture: str,
    theirs: dict[str, int],
    ours: dict[str, int],
) -> dict[str, list[int]]:
    """What a start from ``theirs`` prunes: ``{param: [from, to]}``, empty when the size
    parameters are the same. Anything but a narrower network of the same architecture
    (and one its :class:`Pruning` handles) is refused, naming both and the fix."""
    if their_architecture == arch.id and theirs == ours:
        return {}
    pruning = arch.pruning if their_architecture == arch.id else None
    differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    if (
        pruning is not None
        and differ == [pruning.param]
        and pruning.param in theirs
        and pruning.param in ours
        and ours[pruning.param] < theirs[pruning.param]
    ):
        return {pruning.param: [theirs[pruning.param], ours[pruning.param]]}
    same = " ".join(f"--param {k}={v}" for k, v in sorted(theirs.items()))
    hint = f"warm starts need the same architecture and size parameters ({same})"
    if pruning is not None:
        hint += (
            f", or a smaller {pruning.param} than the source's to prune it "
            f"({PRUNING_TEXT[pruning.method]}; only {pruning.param} may differ)"
        )
    raise TrainingError(
        f"--init-from {folder} trained {their_architecture} {_params_text(theirs)}; "
        f"this run is {arch.id} {_params_text(ours)}",
        hint=hint,
    )


def pruning_text(record: dict[str, Any]) -> str | None:
    """How a start pruned its source ("filters pruned by L1 norm, features 32 -> 24"),
    None for a start that pruned nothing."""
    pruned = record.get("pruned")
    if not pruned:
        return None
    method = str(record.get("pruning"))
    sizes = ", ".join(f"{name} {a} -> {b}" for name, (a, b) in sorted(pruned.items()))
    return f"{PRUNING_TEXT.get(method, method)}, {sizes}"


def describe(record: dict[str, Any]) -> str:
    """The catalog's ``training.init`` text: which training, at which step, and how it
    was pruned, if it was ("step 9000 of: upscaler train ...; filters pruned by L1 norm,
    features 32 -> 24")."""
    text = f"step {record['step']} of: {record['command']}"
    pruned = pruning_text(record)
    return f"{text}; {pruned}" if pruned else text
