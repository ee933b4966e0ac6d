"""`upscaler catalog hash FAMILY`: recompute weights hashes from the real packages.

Contributors never type hashes: they write the npm coordinates and the model's entry
file, and this fills in the tarball's ``integrity`` and every file's sha256 and size
(adding the shards a TF.js ``model.json`` references). The YAML is edited in place with
ruamel's round-trip mode, so comments and layout survive, and written atomically.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from upscaler.catalog.yaml_edit import dump, round_trip_yaml, write_atomically
from upscaler.catalog.yaml_lines import checked_text
from upscaler.errors import CatalogError


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


def hash_family(path: Path, *, progress: bool = True, check: bool = False) -> list[HashChange]:
    """Recompute integrity/sha256/size for every npm-sourced variant in one family file.

    With ``check=True`` nothing is written; the returned changes say what is stale.
    """
    from upscaler.fetch import (
        download_npm_tarball,
        integrity_of,
        read_tarball_member,
        tarball_files,
    )

    yaml = round_trip_yaml()
    doc = yaml.load(checked_text(path))
    variants = doc.get("variants") if isinstance(doc, dict) else None
    if not isinstance(variants, dict):
        raise CatalogError([f"{path}:1: no `variants` mapping to hash"])
    changes: list[HashChange] = []
    tarballs: dict[tuple[str, str], tuple[Path, str, dict[str, tuple[str, int]]]] = {}
    for name, variant in variants.items():
        weights = variant.get("weights") if isinstance(variant, dict) else None
        if not isinstance(weights, dict):
            continue
        source = weights.get("source")
        if not isinstance(source, dict) or "npm" not in source:
            continue
        key = (str(source["npm"]), str(source["version"]))
        if key not in tarballs:
            tgz = download_npm_tarball(key[0], key[1], integrity=None, progress=progress)
            tarballs[key] = (tgz, integrity_of(tgz), tarball_files(tgz))
        tgz, integrity, members = tarballs[key]
        if source.get("integrity") != integrity:
            changes.append(HashChange(str(name), "integrity", source.get("integrity"), integrity))
            source["integrity"] = DoubleQuotedScalarString(integrity)
        files = weights.get("files") or []
        wanted = [str(f["path"]) for f in files if isinstance(f, dict) and "path" in f]
        if weights.get("format") == "tfjs-layers":
            for entry in [p for p in wanted if p.endswith(".json")]:
                if entry not in members:
                    raise CatalogError([f"{path}: {name}: {entry} is not in {key[0]}@{key[1]}"])
                for shard in _manifest_paths(read_tarball_member(tgz, entry), entry):
                    if shard not in wanted:
                        wanted.append(shard)
        new_files = CommentedSeq()
        for p in wanted:
            if p not in members:
                raise CatalogError([f"{path}: {name}: {p} is not in {key[0]}@{key[1]}"])
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
