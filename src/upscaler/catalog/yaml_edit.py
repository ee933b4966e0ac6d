"""Edit catalog YAML files in place, keeping comments and layout, atomically.

Commands that *measure* things (`catalog hash`, `eval --write`, the benchmarks, the
receptive-field probe) write their results into the catalog through this module, so a
contributor's comments survive and a crash never leaves half a file. Nobody types
metrics, speeds or hashes by hand.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from upscaler.atomic import write_atomically as write_atomically_with
from upscaler.catalog.yaml_lines import checked_text
from upscaler.errors import CatalogError


def round_trip_yaml() -> YAML:
    """A YAML instance that keeps comments, flow style and long lines as written."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one rename so a crash never leaves half a catalog file.

    The file keeps its mode (a new one gets 0666 less the umask); the temp name ends in
    ``.tmp`` so a reader globbing ``*.yaml`` never takes it for a family file.
    """
    write_atomically_with(
        path, lambda tmp: tmp.write_text(text, encoding="utf-8"), keep_suffix=False
    )


def dump(yaml: YAML, doc: Any) -> str:
    """Serialise a round-trip document to text."""
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue()


def plain_to_commented(value: Any) -> Any:
    """Nested dicts become block mappings; short flat dicts and lists stay flow style."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = plain_to_commented(v)
        if all(not isinstance(v, Mapping | list) for v in value.values()) and len(value) <= 4:
            node.fa.set_flow_style()
        return node
    return value


def flow_lists(value: Any) -> Any:
    """Nested mappings as block mappings and every list as a one-line ``[a, b]``: how a
    long table of pairs (an int8 recipe's ranges) stays one line per entry."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = flow_lists(v)
        return node
    if isinstance(value, list):
        seq = CommentedSeq(flow_lists(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    return value


def set_variant_values(
    path: Path,
    values: Mapping[str, Mapping[str, Any]],
    *,
    create: bool = False,
    drop: tuple[str, ...] = (),
    merge: tuple[str, ...] = (),
) -> None:
    """Set ``key: value`` under each named variant of one family file (``values[variant]``).

    ``variant`` may be ``"defaults"`` to set a family-wide value. Existing keys are
    replaced in place; new keys are appended to the variant's mapping. The file is
    re-read right before writing, so concurrent writers of *different* keys compose.
    ``create`` adds a variant that does not exist yet (at the end of ``variants``);
    ``drop`` removes those keys from the variants written (numbers a change made stale).
    Keys in ``merge`` hold mappings that several commands fill (``protocol_metrics``: one
    entry per protocol): the given entries are set inside the existing mapping, and the
    others stay. Writers hold a lock per file around the read and the rename, so two
    measuring processes never drop each other's numbers.
    """
    with catalog_file_lock(path):
        _set_variant_values(path, values, create=create, drop=drop, merge=merge)


def catalog_file_lock(path: Path) -> Any:
    """An inter-process lock for one catalog file, kept outside the catalog folder (a lock
    file beside the YAML would show up in contributors' diffs)."""
    import hashlib
    import tempfile

    from filelock import FileLock

    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return FileLock(str(Path(tempfile.gettempdir()) / f"upscaler-catalog-{key}.lock"))


def _set_variant_values(
    path: Path,
    values: Mapping[str, Mapping[str, Any]],
    *,
    create: bool,
    drop: tuple[str, ...],
    merge: tuple[str, ...],
) -> None:
    yaml = round_trip_yaml()
    doc = yaml.load(checked_text(path))
    if not isinstance(doc, dict):
        raise CatalogError([f"{path}:1: not a family mapping"])
    for variant, fields in values.items():
        if variant == "defaults":
            target = doc.setdefault("defaults", CommentedMap())
        else:
            variants = doc.get("variants")
            if isinstance(variants, dict) and create and variant not in variants:
                variants[variant] = CommentedMap()
            if not isinstance(variants, dict) or variant not in variants:
                raise CatalogError([f"{path}:1: no variant {variant!r} to write into"])
            target = variants[variant]
            for key in drop:
                target.pop(key, None)
        for key, value in fields.items():
            node = value if isinstance(value, CommentedMap) else plain_to_commented(value)
            existing = target.get(key)
            if key in merge and isinstance(existing, dict) and isinstance(node, Mapping):
                for inner, inner_value in node.items():
                    existing[inner] = inner_value
            else:
                target[key] = node
    write_atomically(path, dump(yaml, doc))


def flow_list(items: Sequence[Any]) -> CommentedSeq:
    """A YAML list written as the catalog writes them: one-line mappings (weights files,
    as `catalog hash` writes them), or a one-line list of numbers (shared by every
    command that writes catalog entries)."""
    seq = CommentedSeq()
    for item in items:
        if isinstance(item, dict):
            node = CommentedMap(item)
            node.fa.set_flow_style()
            seq.append(node)
        else:
            seq.append(item)
    if not any(isinstance(item, dict) for item in items):
        seq.fa.set_flow_style()
    return seq
