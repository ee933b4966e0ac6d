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

A source that is *narrower* is grown the other way
(:class:`upscaler.train.architectures.Widening`): the wider network starts out computing
exactly what the trained narrow one computes, and its new filters learn from there. That
is how a model that has stopped improving at its size gets more capacity without paying
again for the steps it already took. The record says ``"widened": {"features": [32, 48]}``.
"""

from __future__ import annotations

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
from upscaler.train.config import command_line, recorded_config

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


@dataclass(frozen=True)
class _Source:
    """A warm start's source, whichever kind it was: its network and where it came from."""

    path: Path
    architecture: str
    params: dict[str, int]
    weights: list[npt.NDArray[Any]]
    record: dict[str, Any]
    """``run`` (or ``model``), ``step``, ``sha256`` and ``command``."""


def _from_run(folder: Path, pinned: dict[str, Any] | None) -> _Source:
    """The newest checkpoint of a run folder (or the pinned one)."""
    record = ckpt.read_run_record(folder)
    if record is None:
        raise TrainingError(
            f"--init-from {folder} is not a training run folder (it has no {ckpt.RUN_FILE})",
            hint="pass the --run folder of a finished or checkpointed `upscaler train`, a "
            "SavedModel it exported, or the id of a catalog model it trained",
        )
    theirs = recorded_config(record, folder / ckpt.RUN_FILE)
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
    digest, arrays = ckpt.read_arrays(path)
    info = {"run": folder.name, "step": step, "sha256": digest, "command": command_line(theirs)}
    return _Source(
        folder, theirs.architecture, record.get("params", {}), ckpt.model_weights(arrays), info
    )


def _from_export(folder: Path, where: str, key: str, name: str) -> _Source:
    """A SavedModel that ``upscaler train`` exported (a run's, or a catalog model's)."""
    from upscaler.train.exported_weights import read_exported_weights

    found = read_exported_weights(folder, where)
    info = {key: name, "step": found.step, "sha256": found.sha256, "command": found.command}
    return _Source(folder, found.architecture, found.params, list(found.weights), info)


def _from_catalog(model: str) -> _Source:
    """A catalog model trained by ``upscaler train``: its verified weights' SavedModel."""
    from upscaler.catalog.loader import load_catalog
    from upscaler.errors import UpscalerError
    from upscaler.fetch.weights import fetch_model_files

    try:
        entry = load_catalog().get(model)
    except UpscalerError:
        raise TrainingError(
            f"--init-from {model!r} is neither a folder nor a catalog model id",
            hint="pass a run folder, a SavedModel `upscaler train` exported, or a model id "
            "from `upscaler models list --filter implementation=upscaler`",
        ) from None
    weights = entry.weights
    if weights is None or weights.format != "savedmodel":
        made = "derived at first use" if weights is None else f"{weights.format}, converted"
        raise TrainingError(
            f"--init-from {entry.id}: its weights are {made}, not a network "
            "`upscaler train` can continue",
            hint="start from a model this project trained (implementation upscaler)",
        )
    files = fetch_model_files(entry.id, weights, progress=False)
    graph = files.get("saved_model.pb")
    if graph is None:
        raise TrainingError(f"--init-from {entry.id}: its weights list no saved_model.pb")
    return _from_export(graph.parent, f"--init-from {entry.id}", "model", entry.id)


def _read_source(source: str | Path, pinned: dict[str, Any] | None) -> _Source:
    """A run folder, an exported SavedModel folder, or a catalog model id, in that order."""
    from upscaler.train.exported_weights import is_exported_model

    folder = Path(source).expanduser()
    if folder.is_dir() and is_exported_model(folder):
        return _from_export(folder, f"--init-from {folder}", "run", folder.name)
    if folder.exists() or "/" in str(source) or "\\" in str(source):
        return _from_run(folder, pinned)
    return _from_catalog(str(source))


def load_warm_start(
    source: str | Path,
    *,
    architecture: str,
    params: dict[str, int],
    fresh: Sequence[npt.NDArray[np.float32]],
    pinned: dict[str, Any] | None = None,
) -> WarmStart:
    """The weights of ``source``, matched array by array to the new network's freshly
    initialised weights ``fresh`` (a widened start builds on them).

    ``source`` is a run folder (its newest checkpoint), a SavedModel ``upscaler train``
    exported, or the id of a catalog model it trained (the shipped models carry no run
    folder; their verified package weights are the start). ``pinned`` is the record of an
    earlier start of the same run: the same checkpoint or model (by step and sha256) is
    used again, so restarting before the first checkpoint is exact.
    """
    found = _read_source(source, pinned)
    if pinned is not None and [found.record[k] for k in ("step", "sha256")] != [
        pinned.get(k) for k in ("step", "sha256")
    ]:
        raise TrainingError(
            f"what this run started from (step {found.record['step']} of {found.path}) has changed",
            hint="restore it, or start a new run folder",
        )
    arch = get_architecture(architecture)
    kind, resized = _resizing(found.path, arch, found.architecture, found.params, params)
    info = dict(found.record)
    source_weights = found.weights
    if kind == PRUNED:
        assert arch.pruning is not None  # _resizing refuses otherwise
        source_weights = arch.pruning.prune(source_weights, found.params, params)
        info.update(pruned=resized, pruning=arch.pruning.method)
    elif kind == WIDENED:
        assert arch.widening is not None  # _resizing refuses otherwise
        source_weights = arch.widening.widen(source_weights, found.params, params, fresh)
        info.update(widened=resized)
    if kind:
        log.info("warm start from %s: %s", source, resizing_text(info))
    weights: list[npt.NDArray[np.float32] | None] = []
    for index, shape in enumerate(w.shape for w in fresh):
        theirs_w = source_weights[index] if index < len(source_weights) else None
        same = theirs_w is not None and tuple(theirs_w.shape) == tuple(shape)
        weights.append(np.asarray(theirs_w, dtype=np.float32) if same else None)
    start = WarmStart(weights, info)
    log.info(
        "warm start from %s step %d: %d of %d arrays copied, the rest freshly initialised",
        source,
        info["step"],
        start.copied,
        len(fresh),
    )
    if not start.copied:
        raise TrainingError(
            f"--init-from {source}: no array of its network fits this one",
            hint="warm starts need the same architecture and size parameters",
        )
    return start


def _params_text(params: dict[str, int]) -> str:
    return " ".join(f"{name}={value}" for name, value in sorted(params.items()))


PRUNED, WIDENED = "pruned", "widened"
"""The two ways a warm start can change the source's width (the record's key)."""


def _resizing(
    folder: Path,
    arch: Architecture,
    their_architecture: str,
    theirs: dict[str, int],
    ours: dict[str, int],
) -> tuple[str, dict[str, list[int]]]:
    """How a start from ``theirs`` changes the network: ``("", {})`` for the same size
    parameters, ``(PRUNED, {param: [from, to]})`` for a narrower network, ``(WIDENED,
    ...)`` for a wider one. Anything else (another architecture, depth, or a size the
    architecture cannot prune or widen) is refused, naming both and the fix."""
    if their_architecture == arch.id and theirs == ours:
        return "", {}
    same_arch = their_architecture == arch.id
    differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    for kind, way, narrower in (
        (PRUNED, arch.pruning, True),
        (WIDENED, arch.widening, False),
    ):
        if way is None or not same_arch or differ != [way.param]:
            continue
        if way.param in theirs and way.param in ours:
            a, b = theirs[way.param], ours[way.param]
            if (b < a) == narrower:
                return kind, {way.param: [a, b]}
    same = " ".join(f"--param {k}={v}" for k, v in sorted(theirs.items()))
    hint = f"warm starts need the same architecture and size parameters ({same})"
    ways = []
    if same_arch and arch.pruning is not None:
        ways.append(
            f"a smaller {arch.pruning.param} to prune it ({PRUNING_TEXT[arch.pruning.method]})"
        )
    if same_arch and arch.widening is not None:
        ways.append(f"a larger {arch.widening.param} to widen it")
    if ways:
        hint += ", or " + ", or ".join(ways) + " (only that parameter may differ)"
    raise TrainingError(
        f"--init-from {folder} trained {their_architecture} {_params_text(theirs)}; "
        f"this run is {arch.id} {_params_text(ours)}",
        hint=hint,
    )


def resizing_text(record: dict[str, Any]) -> str | None:
    """How a start pruned or widened its source ("filters pruned by L1 norm, features
    32 -> 24", "widened with the same function, features 32 -> 48"), None for a start
    that kept its size."""
    if record.get(PRUNED):
        method = str(record.get("pruning"))
        how, sizes = PRUNING_TEXT.get(method, method), record[PRUNED]
    elif record.get(WIDENED):
        how, sizes = "widened with the same function", record[WIDENED]
    else:
        return None
    return how + ", " + ", ".join(f"{name} {a} -> {b}" for name, (a, b) in sorted(sizes.items()))


def describe(record: dict[str, Any]) -> str:
    """The catalog's ``training.init`` text: which training, at which step, and how it
    was pruned or widened, if it was ("step 9000 of: upscaler train ...; filters pruned
    by L1 norm, features 32 -> 24")."""
    text = f"step {record['step']} of: {record['command']}"
    resized = resizing_text(record)
    return f"{text}; {resized}" if resized else text
