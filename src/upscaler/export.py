"""A catalog or local model written out for other runtimes: ``upscaler export``.

Export starts from the model's weights, not from its SavedModel: the format table's
reader (:meth:`~upscaler.convert.formats.WeightsFormat.read`) parses them into the
shared ops and a second builder writes those in the target format
(:mod:`upscaler.convert.onnx_export` for ONNX). So only formats with a reader export
(``tfjs-layers``, ``ncnn``, ``npz`` and whatever registers one); a SavedModel folder or a
Keras file has no op-level reading and is refused with the list of those that do.

The export formats are one table, :data:`EXPORT_FORMATS`, so that a TF.js graph model
can be added as a row.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.convert.formats import WeightsFormat, derivable_formats, weights_format
from upscaler.errors import ConversionError

if TYPE_CHECKING:
    from upscaler.catalog.loader import Catalog
    from upscaler.catalog.schema import ModelEntry
    from upscaler.convert.onnx_export import OnnxExport
    from upscaler.convert.parsed import ParsedModel, Wrapper

log = logging.getLogger("upscaler.export")


@dataclass(frozen=True)
class ExportFormat:
    """One format a model can be exported to: its name, the file suffix it is usually
    given, and the function writing it."""

    name: str
    title: str
    suffix: str
    writer: Callable[..., OnnxExport]


def _write_onnx(parsed: ParsedModel, path: Path, **facts: Any) -> OnnxExport:
    from upscaler.convert.onnx_export import write_onnx

    return write_onnx(parsed, path, **facts)


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat("onnx", "ONNX (opset 17, NCHW float32 in [0, 1])", ".onnx", _write_onnx),
}
"""The export formats, by the name ``--format`` takes."""


@dataclass(frozen=True)
class _Source:
    """A model ready to export: its parsed network and the facts around it."""

    where: str
    parsed: ParsedModel
    scale: int
    value_range: tuple[float, float]
    wrapper: Wrapper | None
    inputs: list[Path]
    protected: list[Path]
    metadata: dict[str, str]


def _no_reader(fmt: WeightsFormat, what: str) -> ConversionError:
    return ConversionError(
        f"{what} is a {fmt.title}, which cannot be exported: export reads a model's "
        "weights into the converter's ops, and this format has no reader",
        hint=f"export a model whose weights are {', '.join(derivable_formats())}",
    )


def _local_source(path: Path, scale: int | str | None) -> _Source:
    from upscaler.prepare.local_models import local_entry, local_kind

    fmt = weights_format(local_kind(path))
    if not fmt.derivable:
        raise _no_reader(fmt, str(path))
    entry, _ = local_entry(path, scale=scale, value_range=None)
    parsed = fmt.read(path)
    inputs = fmt.model_files(path)
    return _Source(
        where=str(path),
        parsed=parsed,
        scale=entry.scale,
        value_range=entry.value_range,
        wrapper=None,
        inputs=inputs,
        protected=[],
        metadata={"upscaler.model": entry.id, "upscaler.source_format": fmt.name},
    )


def _catalog_source(
    entry: ModelEntry, *, cache_dir: str | os.PathLike[str] | None, progress: bool
) -> _Source:
    from upscaler.prepare.materialize import (
        entry_catalog_root,
        entry_wrapper,
        fetch_entry_files,
        parse_entry,
    )

    if entry.built_from_parent or entry.ensemble is not None:
        raise ConversionError(
            f"{entry.id} is a variant built from {entry.derived_from} at run time "
            "(int8, bfloat16 or an ensemble); it has no weights of its own to export",
            hint=f"export its parent: upscaler export {entry.derived_from}",
        )
    if entry.weights is None:
        raise ConversionError(f"{entry.id} has no weights in the catalog to export")
    fmt = weights_format(entry.weights.format)
    if not fmt.derivable:
        raise _no_reader(fmt, entry.id)
    files = fetch_entry_files(entry, cache_dir=cache_dir, progress=progress)
    root = entry_catalog_root(entry)
    return _Source(
        where=entry.id,
        parsed=parse_entry(entry, files),
        scale=entry.scale,
        value_range=entry.value_range,
        wrapper=entry_wrapper(entry),
        inputs=list(files.values()),
        protected=[root] if root is not None else [],
        metadata={
            "upscaler.model": entry.id,
            "upscaler.title": entry.title,
            "upscaler.license": entry.license,
            "upscaler.source_format": fmt.name,
        },
    )


def check_export_target(target: Path, inputs: list[Path], protected: list[Path]) -> None:
    """Refuse an output that would replace one of the model's own files or land inside
    the catalog, or that cannot be written at all; found before any work."""
    if target.is_dir():
        raise ConversionError(f"output {target} is a folder", hint="give a file name: model.onnx")
    if not target.parent.is_dir():
        raise ConversionError(
            f"output folder {target.parent} does not exist", hint="create it first"
        )
    where = target.resolve()
    for source in inputs:
        if source.exists() and where == source.resolve():
            raise ConversionError(
                f"output {target} is one of the model's own files",
                hint="write the export to another file",
            )
    for folder in protected:
        if where.is_relative_to(folder.resolve()):
            raise ConversionError(
                f"output {target} is inside the catalog at {folder}",
                hint="write the export outside the catalog",
            )


def export_model(
    model: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    format: str = "onnx",
    scale: int | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    catalog: Catalog | None = None,
    progress: bool = True,
) -> OnnxExport:
    """Write ``model`` (a catalog id, or a local model path with a ``/``) to ``path`` in
    ``format`` (a key of :data:`EXPORT_FORMATS`). ``scale`` is needed for a local model
    that does not record one, as for ``Upscaler(model=PATH, scale=N)``. Catalog weights
    are fetched and verified as for a run (cached). The file is written atomically."""
    from upscaler.prepare.local_models import is_path_form

    row = EXPORT_FORMATS.get(format)
    if row is None:
        raise ConversionError(
            f"unknown export format {format!r}", hint=f"choose {', '.join(EXPORT_FORMATS)}"
        )
    target = Path(path).expanduser()
    if not target.parent.is_dir():  # before any download
        raise ConversionError(
            f"output folder {target.parent} does not exist", hint="create it first"
        )
    if is_path_form(model):
        source = _local_source(Path(os.fspath(model)).expanduser(), scale)
    else:
        from upscaler.upscaler import Upscaler

        entry = Upscaler(model=model, cache_dir=cache_dir, catalog=catalog).model
        source = _catalog_source(entry, cache_dir=cache_dir, progress=progress)
    check_export_target(target, source.inputs, source.protected)
    log.info("exporting %s as %s to %s", source.where, row.name, target)
    return row.writer(
        source.parsed,
        target,
        scale=source.scale,
        value_range=source.value_range,
        wrapper=source.wrapper,
        metadata=source.metadata,
    )


def export_onnx(
    model: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    scale: int | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    catalog: Catalog | None = None,
    progress: bool = True,
) -> OnnxExport:
    """``export_model(model, path, format="onnx")``: an ONNX file taking NCHW float32 in
    [0, 1] and returning the upscaled image the same way (see docs/export.md)."""
    return export_model(
        model,
        path,
        format="onnx",
        scale=scale,
        cache_dir=cache_dir,
        catalog=catalog,
        progress=progress,
    )
