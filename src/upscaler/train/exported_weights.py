"""The trained weights inside a SavedModel that ``upscaler train`` exported.

Why: a warm start needs the source's weights, and a run folder is not always there. The
models this project ships carry no run folder, only their SavedModel (inside the
package), and a contributor who wants to fine-tune or widen one of them should not have
to retrain it first. Export writes the network's graph with no rewrites (its
``upscaler.json`` counts them: all zero), so the SavedModel's variables are the
network's weights, one per array, in the graph's order, which is the order a
:class:`~upscaler.train.network.Network` keeps them in.

Anything else (a converted UpscalerJS or ncnn model, a graph the writer rewrote) is
refused with the reason: its variables are not the weights of a network we can train.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.errors import TrainingError

TRAINED_FORMAT = "upscaler-train"
"""``source_format`` of a SavedModel that ``upscaler train`` exported."""

REWRITES = (
    "fused_concat_pointwise",
    "folded_depth_to_space",
    "folded_nearest_upsampling",
    "normalized_prelu",
    "pruned_layers",
)
"""Writer rewrites that would change the variables away from the network's arrays."""

_KEY = re.compile(r"^weights_list/(\d+)/\.ATTRIBUTES/VARIABLE_VALUE$")


@dataclass(frozen=True)
class ExportedWeights:
    """What a warm start needs from an exported model."""

    architecture: str
    params: dict[str, int]
    step: int
    command: str
    sha256: str
    """Digest of the variables folder's files (names and bytes, in name order)."""
    weights: list[npt.NDArray[np.float32]]


def is_exported_model(folder: Path) -> bool:
    """True for a folder that looks like a SavedModel (whether or not we can train it)."""
    return (folder / "saved_model.pb").is_file()


def _variables_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in (folder / "variables").iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _metadata(folder: Path, where: str) -> dict[str, Any]:
    from upscaler.errors import ModelLoadError
    from upscaler.runtime.savedmodel import METADATA_FILE, read_metadata

    hint = "warm starts take a SavedModel that `upscaler train` exported, or a run folder"
    if not (folder / METADATA_FILE).is_file():
        raise TrainingError(f"{where} has no {METADATA_FILE}", hint=hint)
    try:
        return read_metadata(folder)
    except ModelLoadError as exc:
        raise TrainingError(f"{where}: {exc.message}", hint=hint) from None


def _trained_source(meta: dict[str, Any], where: str) -> tuple[str, dict[str, int], int]:
    """Architecture, size parameters and step of an exported model; refuses the rest."""
    if meta.get("source_format") != TRAINED_FORMAT:
        raise TrainingError(
            f"{where} was converted from {meta.get('source_format') or 'an unknown format'}, "
            "not trained by `upscaler train`",
            hint="warm starts need weights of an architecture `upscaler train` knows: "
            "a run folder, or a model it exported",
        )
    rewritten = [name for name in REWRITES if meta.get(name)]
    if rewritten:
        raise TrainingError(
            f"{where}: the writer rewrote its graph ({', '.join(rewritten)}), so its "
            "variables are not the network's weights",
            hint="start from the run folder it was exported from",
        )
    source = meta.get("source")
    source = source if isinstance(source, dict) else {}
    architecture, params, step = (source.get(k) for k in ("architecture", "params", "step"))
    if (
        not isinstance(architecture, str)
        or not isinstance(params, dict)
        or not all(isinstance(k, str) and type(v) is int for k, v in params.items())
        or type(step) is not int
    ):
        raise TrainingError(
            f"{where}: upscaler.json does not say which network it holds "
            "(source.architecture, source.params and source.step)",
            hint="start from the run folder it was exported from",
        )
    return architecture, dict(params), step


def read_exported_weights(folder: Path, where: str | None = None) -> ExportedWeights:
    """The network weights of an exported SavedModel ``folder`` (``where`` names it in
    messages), pinned by the digest of the variable files they were read from."""
    where = where or str(folder)
    meta = _metadata(folder, where)
    architecture, params, step = _trained_source(meta, where)
    training = meta.get("training")
    command = training.get("command") if isinstance(training, dict) else None
    from upscaler.runtime.savedmodel import require_tensorflow

    tf = require_tensorflow()
    before = _variables_digest(folder)
    try:
        reader = tf.train.load_checkpoint(str(folder / "variables" / "variables"))
        keys = {
            int(m.group(1)): key
            for key in reader.get_variable_to_shape_map()
            if (m := _KEY.match(key)) is not None
        }
        weights = [
            np.asarray(reader.get_tensor(keys[i]), dtype=np.float32) for i in range(len(keys))
        ]
    except (KeyError, ValueError, tf.errors.OpError) as exc:
        raise TrainingError(
            f"{where}: its variables cannot be read ({exc})",
            hint="the SavedModel is damaged: re-export it, or reinstall the package",
        ) from None
    if not weights or _variables_digest(folder) != before:
        raise TrainingError(
            f"{where}: " + ("it holds no weights" if not weights else "it changed while read"),
            hint="re-export it, or try again when nothing else writes to it",
        )
    return ExportedWeights(
        architecture,
        params,
        step,
        command if isinstance(command, str) else f"{architecture} model {where}",
        before,
        weights,
    )
