"""`upscaler models list|show` and `upscaler resolve`."""

from __future__ import annotations

import argparse
from typing import Any

from upscaler.cli.output import print_json, print_table
from upscaler.errors import QueryError

LIST_COLUMNS = (
    "id",
    "architecture",
    "implementation",
    "dataset",
    "scale",
    "channels",
    "pruning",
    "quantization",
)


def register(sub: Any) -> None:
    """Add the model-browsing subcommands."""
    models = sub.add_parser("models", help="browse the model catalog")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    lst = msub.add_parser("list", help="list catalog models")
    lst.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="ATTR=VALUE",
        help="keep models whose attribute equals VALUE (aliases allowed); repeatable",
    )
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.set_defaults(handler=cmd_list)
    show = msub.add_parser("show", help="show one model's full catalog entry")
    show.add_argument("id", help="model id (family.variant) or family name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)
    from upscaler.cli import gallery_cmds  # `models plot` and `models samples`

    gallery_cmds.register(msub)

    res = sub.add_parser("resolve", help="resolve a query to a model or nearest alternatives")
    res.add_argument("query", nargs="?", default="", help='e.g. "dataset=DIV2K scale=2 channels=4"')
    res.add_argument("--prefer", default="balanced", choices=("balanced", "fast", "accurate"))
    res.add_argument("--json", action="store_true")
    res.set_defaults(handler=cmd_resolve)


def cmd_list(args: argparse.Namespace) -> int:
    """`models list`: every entry, optionally filtered by exact attribute values."""
    from upscaler.catalog import default_catalog
    from upscaler.resolve import build_query

    catalog = default_catalog()
    raw: dict[str, str] = {}
    for item in args.filter:
        if "=" not in item:
            raise QueryError(f"--filter {item!r} is not ATTR=VALUE", hint="--filter scale=2")
        key, value = item.split("=", 1)
        raw[key] = value
    query = build_query(raw, catalog)
    rows = [
        e.summary() for e in catalog.entries if all(e.attribute(k) == v for k, v in query.items())
    ]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, LIST_COLUMNS)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """`models show ID`: the merged catalog entry."""
    from upscaler.catalog import default_catalog

    entry = default_catalog().get(args.id)
    data = entry.model_dump(mode="json")
    if args.json:
        print_json(data)
        return 0
    for key, value in data.items():
        if value in (None, {}, []):
            continue
        if key == "weights":
            print(f"{'weights':<16}{value['format']} {value['source']}")
            for f in value["files"]:
                print(f"{'':<16}{f['path']}  sha256={f['sha256']}  size={f['size']}")
        else:
            print(f"{key:<16}{value}")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    """`resolve QUERY`: exact match or alternatives; exit 0 either way (it is a question)."""
    from upscaler.catalog import default_catalog
    from upscaler.resolve import build_query, resolve

    catalog = default_catalog()
    resolution = resolve(build_query(args.query, catalog), catalog, prefer=args.prefer)
    if args.json:
        print_json(resolution.to_dict())
        return 0
    chosen = resolution.model.id if resolution.model else "none"
    print(f"exact: {'yes' if resolution.exact else 'no'}")
    print(f"model: {chosen}  ({resolution.reason})")
    for adapter in resolution.adapters:
        print(f"adapter: {adapter.kind}: {adapter.detail}")
    if resolution.matches[1:]:
        print("other exact matches: " + ", ".join(resolution.matches[1:]))
    if resolution.alternatives:
        print("alternatives:")
        for alt in resolution.alternatives:
            flag = "" if alt.adaptable else "  (not adaptable)"
            print(
                f"  {alt.id:<28} cost {alt.cost:>5.1f}  {'; '.join(alt.describe_differences())}"
                f"{flag}\n  {'':<28} {alt.call}"
            )
    return 0
