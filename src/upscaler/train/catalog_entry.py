"""A finished run → a catalog entry with its weights shipped inside the package.

:func:`add_to_catalog` copies the run's SavedModel into the catalog's
``weights/<family>/<variant>/`` (package data, each file at most 2 MiB and pinned by
sha256) and writes the variant's entry with its ``params``, receptive field and the whole
training record (:func:`upscaler.train.export.training_record`). The new family file is
validated with the rest of the catalog before anything is written, so a bad export
changes nothing; a model the runtime cannot load never enters the catalog.

Every option is checked before it touches a path: the family and variant ids become
``models/<family>.yaml``, ``weights/<family>/<variant>/`` and a temp file name, so an id
such as ``../x`` would otherwise write outside the catalog (issue 29). The run's export
must hold the very weights of the run's last checkpoint, since the entry's provenance
(seed, data hashes, command) is read from the run, not from the export.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.catalog.yaml_edit import flow_list
from upscaler.errors import CatalogError, TrainingError, nearest
from upscaler.train import checkpoint as ckpt
from upscaler.train.architectures import get_architecture
from upscaler.train.config import TrainConfig
from upscaler.train.export import check_export, read_run, training_record

if TYPE_CHECKING:
    from upscaler.catalog.loader import Catalog

log = logging.getLogger("upscaler.train")

IMPLEMENTATION = "upscaler"
"""The vocabulary id of models this project trains."""

_ID_FORM = (
    "lowercase letters, digits and '-', starting with a letter or digit (e.g. 'my-models', 'x2')"
)
_NOTHING_WRITTEN = "nothing was written; fix the option and rerun"


@dataclass(frozen=True)
class AddedEntry:
    """What :func:`add_to_catalog` wrote."""

    model_id: str
    family_file: Path
    weights_folder: Path
    files: list[dict[str, Any]]


def _weights_files(folder: Path) -> list[dict[str, Any]]:
    """Every file of a SavedModel, ``saved_model.pb`` first, with sha256 and size; a file
    over the in-package limit is refused here, before anything is written."""
    from upscaler.catalog.schema import PACKAGE_FILE_LIMIT
    from upscaler.fetch.hashing import file_digest

    files = sorted(
        (p for p in folder.rglob("*") if p.is_file()),
        key=lambda p: (p.name != "saved_model.pb", p.relative_to(folder).as_posix()),
    )
    out = []
    for path in files:
        sha, size = file_digest(path, "sha256")
        if size > PACKAGE_FILE_LIMIT:
            raise TrainingError(
                f"{path.relative_to(folder)} is {size:,} bytes; weights shipped in the package "
                f"may have at most {PACKAGE_FILE_LIMIT:,} per file",
                hint="train a smaller network (fewer --param features or convs)",
            )
        out.append({"path": path.relative_to(folder).as_posix(), "sha256": sha, "size": size})
    return out


def _entry_defaults(dataset: str, config: TrainConfig, record: dict[str, Any]) -> dict[str, Any]:
    """What every model trained here is, beyond its variant's own facts (a run pruned from
    another says how: ``pruning`` is the method's vocabulary id)."""
    init = record.get("init") or {}
    return {
        "dataset": dataset,
        "objective": "fidelity",
        "degradation": "bicubic" if config.degradation == "none" else "real-world",
        "pruning": str(init["pruning"]) if init.get("pruned") else "none",
        "quantization": "none",
        "value_range": [0, 1],
    }


def _variant_values(
    doc: Any, variant: str, architecture: str, defaults: dict[str, Any]
) -> dict[str, Any]:
    """The variant keys that make the merged entry right in any family file: the first
    variant becomes the family default, and whatever the family says otherwise
    (architecture, implementation, dataset, value range ...) is overridden here."""
    values: dict[str, Any] = {}
    variants = doc["variants"]
    if not any(bool(v.get("default")) for k, v in variants.items() if k != variant):
        values["default"] = True
    for key, wanted in (("architecture", architecture), ("implementation", IMPLEMENTATION)):
        if doc.get(key) != wanted:
            values[key] = wanted
    family_defaults = doc.get("defaults") or {}
    for key, wanted in defaults.items():
        have = family_defaults.get(key)
        if (list(have) if isinstance(have, list) else have) != wanted:
            values[key] = flow_list(wanted) if isinstance(wanted, list) else wanted
    return values


def _family_doc(path: Path, new_family: dict[str, Any]) -> Any:
    from ruamel.yaml.comments import CommentedMap

    from upscaler.catalog.yaml_edit import round_trip_yaml
    from upscaler.catalog.yaml_lines import checked_text

    if path.is_file():
        doc = round_trip_yaml().load(checked_text(path))
        if not isinstance(doc, dict) or not isinstance(doc.get("variants"), dict):
            raise CatalogError([f"{path}:1: not a family file with `variants`"])
        return doc
    from upscaler.catalog.yaml_edit import plain_to_commented

    doc = CommentedMap()
    for key, value in new_family.items():
        doc[key] = plain_to_commented(value)
    doc["variants"] = CommentedMap()
    return doc


def _check_ids(family: str, variant: str) -> None:
    """Refuse ids the catalog would refuse, before any path is built from them.

    The catalog's own anchored pattern (``ID_PATTERN``: ``family.variant``, neither part
    holding a dot) decides, so what is accepted here is exactly what loads; checking
    each part on its own names the one that is wrong.
    """
    from upscaler.catalog.schema import ID_PATTERN

    problem = None
    if ID_PATTERN.match(f"{family}.x") is None:
        path = f"models/{family}.yaml"
        problem = f"--family {family!r} is not a family id (it would be the file {path!r})"
    elif ID_PATTERN.match(f"x.{variant}") is None:
        path = f"weights/{family}/{variant}"
        problem = f"--variant {variant!r} is not a variant id (it would be the folder {path!r})"
    if problem is not None:
        raise CatalogError([f"{problem}: ids are {_ID_FORM}"], hint=_NOTHING_WRITTEN)


def _check_text(flag: str, value: str | None, *, lines: bool = False) -> None:
    """A title, licence or description goes into the YAML as given and from there into
    tables and ``describe()``; the loader refuses raw control characters in catalog
    files, and a line break in a one-line field breaks every table it is shown in.
    So: not blank, and no control or line-separator characters (a description may hold
    line breaks and tabs)."""
    if value is None:
        return
    allowed = "\n\t" if lines else ""
    bad = [
        ch for ch in value if ch not in allowed and unicodedata.category(ch) in ("Cc", "Zl", "Zp")
    ]
    if not value.strip() or bad:
        what = (
            "is blank"
            if not value.strip()
            else f"holds {bad[0]!r} (a line break or control character)"
        )
        raise CatalogError(
            [f"{flag} {value!r} {what}"],
            hint=(
                "give text of one or more lines"
                if lines
                else "give one line of text, without line breaks or control characters"
            )
            + "; "
            + _NOTHING_WRITTEN,
        )


def _check_catalog_root(root: Path, family: str, variant: str) -> None:
    """``--catalog`` is a folder, and the paths written under it stay in it: a symbolic
    link there would put the weights outside the catalog, where fetching them is
    refused (so the entry would be broken at once)."""
    if not root.is_dir():
        state = "a file" if root.exists() else "missing"
        raise CatalogError(
            [f"--catalog {root} is not a folder (it is {state})"],
            hint="pass the catalog folder, the one that holds vocab.yaml and models/",
        )
    written = (root / "models", root / "weights", root / "weights" / family)
    for path in (*written, root / "weights" / family / variant):
        if path.is_symlink():
            raise CatalogError(
                [f"{path} is a symbolic link; the catalog's files must lie inside {root}"],
                hint="replace the link by a folder; nothing was written",
            )


def _export_of(run: Path, steps: int) -> Path:
    """The run's own export folder: present, and neither it nor anything in it a
    symbolic link (what is copied must be what the run wrote, not a file elsewhere)."""
    saved = run / ckpt.SAVEDMODEL
    if saved.is_symlink():
        raise TrainingError(
            f"{saved} is a symbolic link (to {saved.readlink()}); `catalog add` takes only "
            "the run's own export",
            hint=f"remove the link and export the run again: `upscaler train --run {run}`",
        )
    if not (saved / "saved_model.pb").is_file():
        raise TrainingError(
            f"{run} has no exported model yet (its last step is {steps})",
            hint="finish the run: rerun the same `upscaler train` command",
        )
    for path in sorted(saved.rglob("*")):
        if path.is_symlink():
            raise TrainingError(
                f"{path} is a symbolic link (to {path.readlink()}); the export must hold "
                "only the files the run wrote",
                hint=f"export the run again: `upscaler train --run {run}`",
            )
    return saved


def add_to_catalog(
    run: str | Path,
    *,
    family: str,
    variant: str,
    dataset: str,
    catalog_root: str | Path | None = None,
    title: str | None = None,
    license: str = "MIT",
    description: str | None = None,
    replace: bool = False,
    derived_from: str | None = None,
) -> AddedEntry:
    """Copy a finished run's SavedModel into ``<catalog>/weights/<family>/<variant>/`` and
    write the variant into ``<catalog>/models/<family>.yaml`` (created if new).

    ``dataset`` is the vocabulary id of the training data (an alias is accepted and
    written as the id). ``derived_from`` names the catalog model this one was made from
    (for a run pruned from that model's run: the resolver then weighs the pruned model's
    quality loss against it). The whole family file is validated with the catalog before
    any file is written; a variant that already exists is replaced only with ``replace``.
    Bad ids or texts raise :class:`~upscaler.errors.CatalogError`; a run whose export is
    missing, linked from elsewhere or not made from its last checkpoint raises
    :class:`~upscaler.errors.TrainingError`. Either way nothing is written.
    """
    from upscaler.catalog.loader import load_catalog, shipped_catalog_dir
    from upscaler.catalog.schema import model_id
    from upscaler.catalog.yaml_edit import (
        dump,
        plain_to_commented,
        round_trip_yaml,
        write_atomically,
    )
    from upscaler.convert.writer import atomic_write_dir

    _check_ids(family, variant)
    _check_text("--title", title)
    _check_text("--license", license)
    _check_text("--description", description, lines=True)
    root = Path(catalog_root) if catalog_root is not None else shipped_catalog_dir()
    _check_catalog_root(root, family, variant)
    run = Path(run)
    record, config = read_run(run)
    saved = _export_of(run, config.steps)
    check_export(run, saved)
    _check_runnable(saved)
    catalog = load_catalog(root)
    canonical = catalog.vocab.canonical("dataset", dataset)
    if canonical is None:
        raise TrainingError(
            f"dataset {dataset!r} is not in {root / 'vocab.yaml'}",
            hint="add it under `datasets:` (id, title, description) in the same pull request",
        )
    _check_parent(catalog, derived_from, model_id(family, variant), record)
    arch = get_architecture(config.architecture)
    files = _weights_files(saved)
    package = f"weights/{family}/{variant}"
    path = root / "models" / f"{family}.yaml"
    defaults = _entry_defaults(canonical, config, record)
    doc = _family_doc(
        path,
        {
            "schema_version": 1,
            "family": family,
            "title": title or family,
            "architecture": arch.id,
            "implementation": IMPLEMENTATION,
            "license": license,
            **({"description": description} if description else {}),
            "defaults": {**defaults, "value_range": flow_list(defaults["value_range"])},
        },
    )
    variants = doc["variants"]
    if variant in variants and not replace:
        raise TrainingError(
            f"{path} already has a variant {variant!r}",
            hint="pass --replace to overwrite it, or choose another --variant",
        )
    values = _variant_values(doc, variant, arch.id, defaults)
    values.update(
        {
            "scale": config.scale,
            "channels": config.channels,
            **({"derived_from": derived_from} if derived_from else {}),
            "params": dict(record["params"]),
            "tiling": {"context": arch.receptive_field(record["params"])},
            "weights": {
                "format": "savedmodel",
                "source": {"package": package},
                "files": flow_list(files),
            },
            "training": training_record(record, int(record["config"]["steps"])),
        }
    )
    variants[variant] = plain_to_commented(values)
    text = dump(round_trip_yaml(), doc)
    with tempfile.TemporaryDirectory(prefix="upscaler-add-") as tmp:
        candidate = Path(tmp) / f"{family}.yaml"
        candidate.write_text(text, encoding="utf-8")
        try:
            load_catalog(root, overlay=[candidate])
        except CatalogError as exc:
            raise CatalogError(
                [p.replace(str(candidate), str(path)) for p in exc.problems],
                hint="nothing was written; fix the options (or the vocabulary) and rerun",
            ) from None
    target = root.joinpath(*package.split("/"))
    atomic_write_dir(target, lambda tmp: _copy_tree(saved, tmp, files), overwrite=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
    added = AddedEntry(model_id(family, variant), path, target, files)
    log.info("added %s to %s (weights in %s)", added.model_id, path, target)
    return added


def _check_parent(
    catalog: Catalog, parent: str | None, own_id: str, record: dict[str, Any]
) -> None:
    """``--derived-from`` must name another model of the catalog; a pruned run whose
    parent was trained by another command than its source is only warned about (the
    parent may have been trained elsewhere with the same network)."""
    init = record.get("init") or {}
    if parent is None:
        if init.get("pruned"):
            log.warning(
                "this run was pruned from run %s; pass --derived-from with that run's catalog "
                "id so that prefer='fast' weighs the quality it lost",
                init.get("run"),
            )
        return
    entry = catalog.by_id.get(parent)
    if entry is None or parent == own_id:
        close = nearest(parent, sorted(m for m in catalog.by_id if m != own_id))
        raise TrainingError(
            f"--derived-from {parent!r} is not "
            + ("another model" if parent == own_id else "a model of the catalog"),
            hint=(f"did you mean {', '.join(close)}? " if close else "")
            + "name the catalog id of the model this run was made from",
        )
    command = entry.training.command if entry.training else None
    if init.get("pruned") and command and command != init.get("command"):
        log.warning(
            "this run was pruned from `%s`, but %s was trained by `%s`",
            init.get("command"),
            parent,
            command,
        )


def _check_runnable(saved: Path) -> None:
    """Only a model the runtime can load may enter the catalog: every run this trainer
    exports (gray, RGB and RGBA alike) honours the serving contract, so this catches a
    run folder whose SavedModel was damaged or replaced, before it is copied into the
    package and pinned by hash."""
    from upscaler.errors import ModelLoadError
    from upscaler.runtime.savedmodel import load_savedmodel

    try:
        load_savedmodel(saved)
    except ModelLoadError as exc:
        raise TrainingError(
            f"the runtime cannot load {saved}: {exc.message}",
            hint="export the run again (rerun the same `upscaler train` command); the "
            "catalog only takes models every user's runtime can run",
        ) from None


def _copy_tree(source: Path, dest: Path, files: list[dict[str, Any]]) -> None:
    """Copy the export, then hash the copy: the entry pins the hashes taken when the
    export was checked, so a file that changed meanwhile must not ship under them."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    if _weights_files(dest) != files:
        raise TrainingError(
            f"{source} changed while it was copied into the catalog",
            hint="try again when nothing else writes to the run folder; " + _NOTHING_WRITTEN,
        )
