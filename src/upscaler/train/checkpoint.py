"""Run folders and checkpoints: written whole or not at all, resumed at the same step.

Layout of a run folder::

    run.json                   the configuration, the data folders' manifest hashes and
                               the architecture's full parameters (written once)
    checkpoints/step-<N>.npz   every weight and every optimiser moment after step N
    log.jsonl                  one line per validation: step, loss, PSNR, learning rate
    savedmodel/                the exported model, once the last step is done

A checkpoint is an uncompressed ``.npz`` of float32 arrays (exact bits, no pickles),
written to a temp file beside its final name and renamed, so a kill at any moment
leaves either the previous checkpoints or the new one, never half of one. The step
and nothing else identifies the data to come (batches are keyed by step), so the
arrays and the step are the whole state of a run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.atomic import write_atomically
from upscaler.errors import TrainingError

log = logging.getLogger("upscaler.train")

RUN_FILE = "run.json"
LOG_FILE = "log.jsonl"
CHECKPOINTS = "checkpoints"
SAVEDMODEL = "savedmodel"
_NAME = re.compile(r"^step-(\d{8,})\.npz\Z")


@dataclass(frozen=True)
class Checkpoint:
    """The state after ``step`` steps: model weights and Adam's two moments, in order."""

    step: int
    weights: list[npt.NDArray[np.float32]]
    first: list[npt.NDArray[np.float32]]
    second: list[npt.NDArray[np.float32]]


def checkpoint_path(run: Path, step: int) -> Path:
    return run / CHECKPOINTS / f"step-{step:08d}.npz"


def list_checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, path) of every finished checkpoint, oldest first."""
    folder = run / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match[1]), path))
    return sorted(found)


def save_checkpoint(run: Path, state: Checkpoint, *, keep: int) -> Path:
    """Write ``state`` atomically, then drop all but the newest ``keep`` checkpoints."""
    target = checkpoint_path(run, state.step)
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"step": np.array(state.step, dtype=np.int64)}
    for group, values in (("w", state.weights), ("m", state.first), ("v", state.second)):
        for index, value in enumerate(values):
            arrays[f"{group}{index:04d}"] = np.asarray(value, dtype=np.float32)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez(handle, **arrays)

    write_atomically(target, write)
    for _step, old in list_checkpoints(run)[:-keep]:
        old.unlink(missing_ok=True)
    log.debug("checkpoint %s", target)
    return target


def read_arrays(path: Path) -> tuple[str, dict[str, npt.NDArray[Any]]]:
    """Every array of a checkpoint file, and the sha256 of the very bytes they came from
    (one read: a warm start pins its source by that hash, so hashing a second read could
    describe another file than the one loaded)."""
    try:
        raw = path.read_bytes()
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise TrainingError(
            f"checkpoint {path} cannot be read ({exc})",
            hint="delete it: the run resumes from the previous checkpoint",
        ) from None
    return hashlib.sha256(raw).hexdigest(), arrays


def model_weights(arrays: dict[str, npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
    """The network's weights of a checkpoint's arrays, in the network's order."""
    return [arrays[name] for name in sorted(arrays) if name.startswith("w")]


def load_checkpoint(path: Path, shapes: Sequence[tuple[int, ...]]) -> Checkpoint:
    """Read a checkpoint and check it fits the network (``shapes``: each weight's shape)."""
    _digest, arrays = read_arrays(path)
    groups: dict[str, list[npt.NDArray[np.float32]]] = {}
    for group in ("w", "m", "v"):
        groups[group] = [arrays.get(f"{group}{i:04d}") for i in range(len(shapes))]  # type: ignore[misc]
        for index, (value, shape) in enumerate(zip(groups[group], shapes, strict=True)):
            if value is None or tuple(value.shape) != tuple(shape) or value.dtype != np.float32:
                raise TrainingError(
                    f"checkpoint {path} does not fit this network (array {group}{index:04d})",
                    hint="it belongs to another run: use a new run folder",
                )
    return Checkpoint(_step_of(path, arrays), groups["w"], groups["m"], groups["v"])


def _step_of(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> int:
    """The step a checkpoint holds: one non-negative integer, the one its name gives.

    The step alone decides which batches come next, so a file whose step is two numbers,
    text, a fraction or another step than its name would resume a different training
    (or crash converting it); the checkpoint is refused instead, by name.
    """
    hint = "delete it: the run resumes from the previous checkpoint"
    if "step" not in arrays:
        raise TrainingError(f"checkpoint {path} has no step", hint=hint)
    value = arrays["step"]
    if value.shape != () or value.dtype.kind not in "iu" or int(value) < 0:
        raise TrainingError(
            f"checkpoint {path} holds a malformed step (a {value.dtype} array of shape "
            f"{value.shape}; expected one non-negative integer)",
            hint=hint,
        )
    step = int(value)
    named = _NAME.match(path.name)
    if named is not None and int(named[1]) != step:
        raise TrainingError(
            f"checkpoint {path} holds step {step}, not the step {int(named[1])} its name says",
            hint=hint,
        )
    return step


def latest_checkpoint(run: Path) -> Path | None:
    found = list_checkpoints(run)
    return found[-1][1] if found else None


def write_run_record(run: Path, record: dict[str, Any]) -> None:
    """``run.json``, atomically (sorted keys: the same run gives the same bytes)."""
    run.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    write_atomically(run / RUN_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_run_record(run: Path) -> dict[str, Any] | None:
    """The run's record, None for a new folder; a damaged one is a TrainingError."""
    path = run / RUN_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(
            f"{path} is not readable ({exc})", hint="use a new run folder"
        ) from None
    if not isinstance(data, dict) or "config" not in data:
        raise TrainingError(f"{path} is not a training run record", hint="use a new run folder")
    return data


def append_log(run: Path, line: dict[str, Any]) -> None:
    """One JSON line in ``log.jsonl``. Appending is safe to interrupt: a reader skips a
    torn last line, and a resumed run logs its steps again."""
    with (run / LOG_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")


def read_log(run: Path) -> list[dict[str, Any]]:
    """Every whole line of ``log.jsonl``, the latest per step."""
    path = run / LOG_FILE
    if not path.is_file():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("step"), int):
            by_step[line["step"]] = line
    return [by_step[k] for k in sorted(by_step)]
