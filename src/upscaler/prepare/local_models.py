"""Models the user brings by path: the formats the format table accepts so
(:func:`upscaler.convert.formats.local_formats`: a SavedModel folder, a TF.js
``model.json``, a ``.keras``/``.h5``, a PyTorch ``.pth``/``.pt``/``.ckpt`` or a
``.safetensors`` checkpoint, whose architecture, scale and hyper-parameters are detected
from the weights).

They get a synthetic catalog entry (id ``local:<name>``) so that describe(), the run path
and the CLI treat them like catalog models. Files are converted once into the cache under
a key made of their content hashes and the converter version, like catalog models; a
SavedModel folder is loaded in place. The scale a user gives goes through the query
parser catalog queries use, so ``"x2"`` means the same for both.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from upscaler.catalog.schema import ModelEntry
from upscaler.convert.formats import (
    WeightsFormat,
    accepted_locally,
    local_formats,
    weights_format,
)
from upscaler.errors import ModelLoadError, QueryError
from upscaler.fetch.hashing import file_digest
from upscaler.resolve.query import parse_scale

LocalKind = str
"""The name of a model's weights format (a row of :mod:`upscaler.convert.formats`)."""
DEFAULT_VALUE_RANGE = (0.0, 255.0)
LOCAL_CHANNELS = (3, 4)
"""Channels a model given by path may take: RGB, or RGBA (what ``upscaler train
--channels 4`` exports). Not 1: a luma model's meaning (which Y) is a catalog fact."""


def is_path_form(model: str | os.PathLike[str]) -> bool:
    """True when ``model`` unambiguously names a local file or folder.

    A ``Path`` (any ``os.PathLike``) is one; so is a string with a path separator in it
    (``./mine``, ``models/up.keras``, ``/abs/saved``) or one starting with ``~``. A bare
    word never is, even when a file of that name exists in the working folder: model ids
    (``family.variant``) have no separator, so an id always means the hash-checked
    catalog model and a folder someone dropped into the cwd cannot take its place.
    """
    if not isinstance(model, str):
        return True
    return "/" in model or os.sep in model or model.startswith("~")


def bare_local_hint(model: str) -> str | None:
    """For a bare word that is no catalog model but exists on disk: how to name it as a
    local model (None when nothing of that name exists)."""
    if is_path_form(model) or not Path(model).exists():
        return None
    return f"to run the local model {model!r}, write it as a path: ./{model}"


def local_kind(path: Path) -> LocalKind:
    """What format a path holds, or a ModelLoadError saying what is accepted."""
    accepted = accepted_locally()
    if not path.exists():
        raise ModelLoadError(f"no model at {path}", hint=f"pass {accepted}")
    for fmt in local_formats():
        if fmt.holds(path):
            return fmt.name
    if path.is_dir():
        folders = [f for f in local_formats() if f.folder_marker is not None]
        files = [f for f in local_formats() if f.folder_marker is None]
        raise ModelLoadError(
            f"{path} is a folder without "
            + " or ".join(f"{f.folder_marker}, so not a {f.title}" for f in folders),
            hint=f"pass the {' or '.join(f.title for f in folders)} folder itself, or "
            f"{accepted_locally(files)}",
        )
    raise ModelLoadError(
        f"{path.name}: unknown model format {path.suffix or '(no suffix)'}",
        hint=f"accepted: {accepted}",
    )


def _metadata(path: Path, fmt: WeightsFormat) -> dict[str, Any]:
    """What a SavedModel written here recorded (its scale, value range, channels), or
    what a format that reads it from the weights detected (a PyTorch checkpoint's
    architecture, scale and hyper-parameters)."""
    if fmt.facts is not None:
        return fmt.local_facts(path)
    if fmt.ready != "copy":
        return {}
    try:
        data = json.loads((path / "upscaler.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def local_entry(
    path: Path, *, scale: int | str | None, value_range: tuple[float, float] | None
) -> tuple[ModelEntry, LocalKind]:
    """A catalog-shaped entry for a user's model file. ``scale`` is parsed as a query's
    (``2``, ``"2"``, ``"x2"``); without it, the one a SavedModel written here recorded or
    the one detected from a checkpoint's weights."""
    kind = local_kind(path)
    meta = _metadata(path, weights_format(kind))
    scale = parse_scale(scale) if scale is not None else meta.get("scale")
    if not isinstance(scale, int):
        raise QueryError(
            f"the scale of local model {path} is unknown",
            hint=f'say it: Upscaler(model="{path}", scale=2)',
            cli_hint=f"say it: --model {path} --scale 2",
        )
    vr = value_range or tuple(meta.get("value_range") or DEFAULT_VALUE_RANGE)
    # The converters and the trainer record the input channels; the loaded signature has
    # the last word (Upscaler.load), this only makes describe() right before loading.
    channels = meta.get("input_channels")
    channels = channels if channels in LOCAL_CHANNELS else 3
    name = path.stem if path.suffix else path.name
    detected = meta.get("detected") if isinstance(meta.get("detected"), dict) else None
    detail = f" ({meta.get('description')})" if detected else ""
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    entry = ModelEntry(
        id=f"local:{name}",
        family="local",
        variant=name,
        title=f"local {kind} model {path}" + (f": {meta.get('found')}" if detected else ""),
        default=False,
        architecture=str(meta.get("architecture") or "unknown"),
        implementation="unknown",
        dataset="unknown",
        scale=scale,
        channels=channels,
        objective="unknown",
        degradation="unknown",
        domain="general",
        pruning="none",
        quantization="none",
        value_range=(float(vr[0]), float(vr[1])),
        license="unknown",
        description=f"loaded from {path}{detail}",
        params=params,
        source_file=str(path),
    )
    return entry, kind


def prepare_local(
    entry: ModelEntry,
    path: Path,
    kind: LocalKind,
    *,
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[Path, dict[str, Any] | None]:
    """The SavedModel folder for a local model, converting (once, cached) when needed."""
    fmt = weights_format(kind)
    if fmt.ready == "copy":
        return path, None
    from upscaler.convert.writer import CONVERTER_VERSION, convert_weights
    from upscaler.prepare.materialize import cached_savedmodel, report_dict

    digest = hashlib.sha256()
    for source in fmt.model_files(path):
        if not source.is_file():
            raise ModelLoadError(f"{path} needs {source}, which is missing")
        digest.update(file_digest(source, "sha256")[0].encode())
    digest.update(f"{CONVERTER_VERSION}|{entry.scale}|{entry.value_range}".encode())
    key = f"local-{kind}-{digest.hexdigest()[:32]}"

    def build(out: Path) -> dict[str, Any]:
        report = convert_weights(kind, path, out, value_range=entry.value_range, scale=entry.scale)
        return report_dict(report)

    return cached_savedmodel(key, entry.id.replace(":", "-"), build, cache_dir=cache_dir)
