"""Models the user brings: a SavedModel folder, a TF.js ``model.json``, a ``.keras``/``.h5``.

They get a synthetic catalog entry (id ``local:<name>``) so that describe(), the run path
and the CLI treat them like catalog models. TF.js and Keras files are converted once into
the cache under a key made of their content hashes and the converter version, like
catalog models; a SavedModel folder is loaded in place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from upscaler.catalog.schema import ModelEntry
from upscaler.errors import ModelLoadError, QueryError
from upscaler.fetch.hashing import file_digest

LocalKind = Literal["savedmodel", "tfjs-layers", "keras"]
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
    """What kind of model a path holds, or a ModelLoadError saying what is accepted."""
    if not path.exists():
        raise ModelLoadError(
            f"no model at {path}",
            hint="pass a SavedModel folder, a TF.js model.json, or a .keras/.h5 file",
        )
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ModelLoadError(
            f"{path} is a folder without saved_model.pb, so not a SavedModel",
            hint="pass the SavedModel folder itself, or a model.json / .keras / .h5 file",
        )
    if path.suffix == ".json":
        return "tfjs-layers"
    if path.suffix in (".keras", ".h5", ".hdf5"):
        return "keras"
    raise ModelLoadError(
        f"{path.name}: unknown model format {path.suffix or '(no suffix)'}",
        hint="accepted: SavedModel folder, TF.js model.json, Keras .keras or .h5",
    )


def _metadata(path: Path, kind: LocalKind) -> dict[str, Any]:
    if kind != "savedmodel":
        return {}
    try:
        data = json.loads((path / "upscaler.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def local_entry(
    path: Path, *, scale: int | None, value_range: tuple[float, float] | None
) -> tuple[ModelEntry, LocalKind]:
    """A catalog-shaped entry for a user's model file."""
    kind = local_kind(path)
    meta = _metadata(path, kind)
    scale = scale if scale is not None else meta.get("scale")
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
    entry = ModelEntry(
        id=f"local:{name}",
        family="local",
        variant=name,
        title=f"local {kind} model {path}",
        default=False,
        architecture="unknown",
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
        description=f"loaded from {path}",
        source_file=str(path),
    )
    return entry, kind


def _tfjs_sources(model_json: Path) -> list[Path]:
    """model.json plus the shards it references (for the content key)."""
    try:
        doc = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {model_json} as TF.js JSON ({exc})") from None
    shards = [
        model_json.parent / p
        for group in doc.get("weightsManifest", [])
        for p in group.get("paths", [])
    ]
    return [model_json, *shards]


def prepare_local(
    entry: ModelEntry,
    path: Path,
    kind: LocalKind,
    *,
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[Path, dict[str, Any] | None]:
    """The SavedModel folder for a local model, converting (once, cached) when needed."""
    if kind == "savedmodel":
        return path, None
    from upscaler.convert.tfjs import CONVERTER_VERSION
    from upscaler.materialize import cached_savedmodel, report_dict

    sources = _tfjs_sources(path) if kind == "tfjs-layers" else [path]
    digest = hashlib.sha256()
    for source in sources:
        if not source.is_file():
            raise ModelLoadError(f"{path} needs {source}, which is missing")
        digest.update(file_digest(source, "sha256")[0].encode())
    digest.update(f"{CONVERTER_VERSION}|{entry.scale}|{entry.value_range}".encode())
    key = f"local-{kind}-{digest.hexdigest()[:32]}"

    def build(out: Path) -> dict[str, Any]:
        if kind == "tfjs-layers":
            from upscaler.convert.tfjs import convert_tfjs_layers

            report = convert_tfjs_layers(
                path, out, value_range=entry.value_range, scale=entry.scale
            )
        else:
            from upscaler.convert.keras_file import convert_keras_file

            report = convert_keras_file(path, out, value_range=entry.value_range, scale=entry.scale)
        return report_dict(report)

    return cached_savedmodel(key, entry.id.replace(":", "-"), build, cache_dir=cache_dir)
