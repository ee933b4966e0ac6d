"""A finished run → a SavedModel, and the training record a catalog entry carries.

:func:`export_savedmodel` gives whoever trained the model a SavedModel they can run at
once (``upscaler upscale --model RUN/savedmodel``); it goes through the converter's one
writer, so it honours the serving contract and gets the same probe and ``upscaler.json``
as every converted model. Making it a catalog model is
:func:`upscaler.train.catalog_entry.add_to_catalog`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from upscaler.errors import TrainingError
from upscaler.train import checkpoint as ckpt
from upscaler.train.architectures import get_architecture
from upscaler.train.config import TrainConfig, command_line, recorded_config
from upscaler.train.warm_start import describe as describe_warm_start

log = logging.getLogger("upscaler.train")

SOURCE_FORMAT = "upscaler-train"


def read_run(run: Path) -> tuple[dict[str, Any], TrainConfig]:
    """A run folder's record and configuration; a folder that is no run is an error."""
    record = ckpt.read_run_record(run)
    if record is None:
        raise TrainingError(
            f"{run} is not a training run (no {ckpt.RUN_FILE})",
            hint="pass the folder given to `upscaler train --run`",
        )
    config = recorded_config(record, run / ckpt.RUN_FILE)
    _check_record(record, run / ckpt.RUN_FILE)
    return record, config


def _check_record(record: dict[str, Any], path: Path) -> None:
    """The parts of ``run.json`` beyond its configuration that exports and catalog
    entries are made of (the network's parameters, the data folders' hashes, the warm
    start): a copied, older or hand-edited file that lacks them is named, not a
    KeyError deep inside an export."""
    params = record.get("params")
    data = record.get("data")
    init = record.get("init")
    problem = None
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in params.items()
    ):
        problem = "`params` is not a mapping of parameter names to integers"
    elif (
        not isinstance(data, list)
        or not data
        or not all(
            isinstance(f, dict)
            and isinstance(f.get("name"), str)
            and isinstance(f.get("sha256"), str)
            for f in data
        )
    ):
        problem = "`data` is not a list of data folders, each with a name and a sha256"
    elif init is not None and not (
        isinstance(init, dict)
        and type(init.get("step")) is int
        and isinstance(init.get("command"), str)
        and (not init.get("pruned") or isinstance(init.get("pruning"), str))
    ):
        problem = "`init` does not say which training the run started from (step, command)"
    if problem is not None:
        raise TrainingError(
            f"{path} is not a run record this version can read: {problem}",
            hint="use a run folder that `upscaler train` of this version wrote, or a new one",
        )


def check_export(run: Path, saved: Path) -> int:
    """Check that the SavedModel ``saved`` holds the weights of the run's last checkpoint,
    bit for bit, and that the run is finished; returns that step.

    Why: a catalog entry's provenance (seed, data hashes, command) is read from the run,
    its weights from the export. An export copied in from another run (another seed, say)
    would otherwise ship under this run's record. Export writes the checkpoint's float32
    arrays unchanged as the SavedModel's variables
    (:mod:`upscaler.train.exported_weights`), so comparing the bytes is exact and cheap
    (a few MiB at most), and catches a swapped ``variables/`` folder as well as a whole
    swapped export.
    """
    from upscaler.train.exported_weights import read_exported_weights

    record, config = read_run(run)
    found = ckpt.list_checkpoints(run)
    if not found:
        raise TrainingError(
            f"{run} has no checkpoint left to check its export against",
            hint="the export is checked against the run's last checkpoint: keep "
            f"{ckpt.CHECKPOINTS}/ in the run folder (or train the run again)",
        )
    step, path = found[-1]
    if step < config.steps:
        raise TrainingError(
            f"{run} is still in progress (step {step} of {config.steps})",
            hint="finish the run: rerun the same `upscaler train` command",
        )
    hint = (
        f"export the run again from its own last checkpoint: `upscaler train --run {run}` "
        "(a finished run exports again and trains no further)"
    )
    try:
        exported = read_exported_weights(saved, "the export")
    except TrainingError as exc:
        raise TrainingError(f"{saved} is not this run's export: {exc.message}", hint=hint) from None
    _digest, arrays = ckpt.read_arrays(path)
    ours = ckpt.model_weights(arrays)
    problem = None
    if (exported.architecture, exported.params) != (config.architecture, record["params"]):
        problem = (
            f"it holds a {exported.architecture} network with {exported.params}, the run "
            f"trains {config.architecture} with {record['params']}"
        )
    elif exported.step != step:
        problem = f"it was exported at step {exported.step}, the run's last step is {step}"
    elif len(exported.weights) != len(ours) or any(
        a.shape != b.shape or a.astype("float32").tobytes() != b.astype("float32").tobytes()
        for a, b in zip(exported.weights, ours, strict=False)
    ):
        problem = f"its weights are not those of the run's checkpoint of step {step}"
    if problem is not None:
        raise TrainingError(f"{saved} is not the export of {run}: {problem}", hint=hint)
    return step


def trained_graph(run: Path, step: int | None = None) -> tuple[Any, int]:
    """The run's network with the weights of checkpoint ``step`` (default: the latest)."""
    import numpy as np

    record, config = read_run(run)
    arch = get_architecture(config.architecture)
    graph = arch.build(config.channels, config.scale, record["params"], config.seed)
    found = dict(ckpt.list_checkpoints(run))
    if not found:
        raise TrainingError(f"{run} has no checkpoint yet", hint="train it first")
    chosen = max(found) if step is None else step
    if chosen not in found:
        raise TrainingError(
            f"{run} has no checkpoint of step {chosen}",
            hint=f"checkpoints kept: {', '.join(map(str, sorted(found)))}",
        )
    shapes = [a.shape for node in graph.nodes for a in node.op.arrays().values()]
    state = ckpt.load_checkpoint(found[chosen], shapes)
    weights = iter(state.weights)
    nodes = []
    for node in graph.nodes:
        arrays = {name: np.asarray(next(weights)) for name in node.op.arrays()}
        op = dataclasses.replace(node.op, **arrays) if arrays else node.op
        nodes.append(dataclasses.replace(node, op=op))
    return dataclasses.replace(graph, nodes=tuple(nodes)), chosen


def training_record(record: dict[str, Any], step: int) -> dict[str, Any]:
    """The catalog's ``training:`` block for a run: configuration and data hashes."""
    config = TrainConfig.model_validate(record["config"])
    out: dict[str, Any] = {
        "patch_size": config.patch,
        "steps": step,
        "batch_size": config.batch,
        "loss": config.loss,
        "optimizer": config.optimizer_text(),
        "seed": config.seed,
        "data": {str(f["name"]).lower(): str(f["sha256"]) for f in record["data"]},
        "command": command_line(config),
    }
    if config.teacher:
        out["teacher"] = config.teacher
    if record.get("init"):
        out["init"] = describe_warm_start(record["init"])
    if config.degradation != "none":
        out["notes"] = f"LR degradation: {config.degradation}"
    return out


def export_savedmodel(
    run: str | Path, out: str | Path | None = None, step: int | None = None
) -> Path:
    """Write the run's network as a SavedModel (default ``RUN/savedmodel``), atomically."""
    from upscaler.convert.writer import write_savedmodel

    run = Path(run)
    started = time.perf_counter()
    record, config = read_run(run)
    graph, chosen = trained_graph(run, step)
    target = Path(out) if out is not None else run / ckpt.SAVEDMODEL
    report = write_savedmodel(
        graph,
        target,
        where=f"training run {run.name}",
        source_format=SOURCE_FORMAT,
        layer_counts=dict(Counter(node.kind for node in graph.nodes)),
        source={"architecture": config.architecture, "params": record["params"], "step": chosen},
        value_range=(0.0, 1.0),
        scale=config.scale,
        wrapper=None,
        overwrite=True,
        started=started,
        extra_metadata={"training": training_record(record, chosen)},
    )
    log.info("exported %s (step %d) to %s", run, chosen, report.output)
    return report.output
