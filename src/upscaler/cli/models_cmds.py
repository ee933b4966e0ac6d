"""`upscaler models list|show` and `upscaler resolve`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from upscaler.cli.options import add_prefer_option
from upscaler.cli.output import Column, print_json, print_table
from upscaler.errors import QueryError

if TYPE_CHECKING:
    from upscaler.catalog.schema import ModelEntry

LIST_COLUMNS = (
    Column("id"),
    Column("scale", numeric=True),
    Column("mean_psnr_y", "PSNR", numeric=True),
    Column("ms_per_mp", "MS/MP", numeric=True),
    Column("channels", numeric=True),
    Column("domain"),
    Column("denoise"),
    Column("protocols"),
    Column("architecture"),
    Column("dataset"),
    Column("implementation"),
    Column("quantization"),
    Column("pruning"),
)
"""`models list` columns, most useful first: a narrow terminal drops them from the end
(quality and speed before channels, so 60 columns still show them beside long ids)."""

LIST_HELP = (
    "PSNR is the mean PSNR on luma (dB) over the evaluation sets in `models show` (higher "
    "is better); MS/MP the milliseconds per output megapixel measured on the CPU that "
    "`models show` names (lower is faster). PSNR is under the clean bicubic protocol "
    "unless --protocol names another; PROTOCOLS lists every protocol a model was measured "
    "under (docs/protocols.md). Columns that do not fit the terminal are dropped from the "
    "right; --json has them all."
)


def register(sub: Any) -> None:
    """Add the model-browsing subcommands."""
    models = sub.add_parser("models", help="browse the model catalog")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    lst = msub.add_parser("list", help="list catalog models", description=LIST_HELP)
    lst.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="ATTR=VALUE",
        help="keep models whose attribute equals VALUE (aliases allowed); repeatable, and "
        'one --filter may hold several, as `resolve` takes them: "scale=4 channels=3"',
    )
    lst.add_argument(
        "--protocol",
        default="bicubic",
        metavar="NAME",
        help="whose PSNR to show: bicubic (default), jpeg-q30, jpeg-q50, jpeg-q75, "
        "noise-s15, noise-s25, real-world",
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
    res.add_argument(
        "query",
        nargs="*",
        metavar="ATTR=VALUE",
        help="e.g. dataset=DIV2K scale=2 channels=4 (one quoted string or several words)",
    )
    add_prefer_option(res)
    res.add_argument("--json", action="store_true")
    res.set_defaults(handler=cmd_resolve)


def cmd_list(args: argparse.Namespace) -> int:
    """`models list`: every entry, optionally filtered by exact attribute values."""
    from upscaler.catalog import default_catalog
    from upscaler.catalog.protocols import BICUBIC, protocol_named
    from upscaler.resolve.prefer import refuse_prefer_in_filter
    from upscaler.resolve.query import normalise_query, parse_query_string

    catalog = default_catalog()
    protocol = protocol_named(args.protocol).name
    words = [word for item in args.filter for word in item.split()]
    for word in words:
        if "=" not in word:
            raise QueryError(f"--filter {word!r} is not ATTR=VALUE", hint="--filter scale=2")
    terms = parse_query_string(" ".join(words))
    refuse_prefer_in_filter(terms)
    query = normalise_query(terms, catalog.vocab)
    rows = [
        list_row(e, protocol)
        for e in catalog.entries
        if all(e.attribute(k) == v for k, v in query.items())
    ]
    if args.json:
        print_json(rows)
    else:
        if not rows:
            print(_no_match_note(query))
            return 0
        table = [
            {
                **r,
                "mean_psnr_y": None if r["mean_psnr_y"] is None else f"{r['mean_psnr_y']:.2f}",
                "ms_per_mp": _speed_text(r["ms_per_output_megapixel"]),
            }
            for r in rows
        ]
        columns: tuple[Column, ...] = LIST_COLUMNS
        if protocol != BICUBIC:
            label = f"PSNR:{protocol}"
            columns = tuple(
                Column(c.key, label, numeric=True) if c.key == "mean_psnr_y" else c
                for c in LIST_COLUMNS
            )
        print_table(table, columns, fit=True)
    return 0


def _no_match_note(query: dict[str, Any]) -> str:
    """What to do when no catalog model has these attributes: the resolver still finds
    one through an adapter (alpha, gray, chain, resize) when the difference allows."""
    text = " ".join(f"{k}={v}" for k, v in query.items())
    adapters = {
        4: "an RGB model runs 4-channel images through the alpha adapter",
        1: "an RGB model runs gray images through the gray adapter",
    }
    lines = [f"no catalog model has {text}."]
    if query.get("channels") in adapters:
        lines.append(f"That is not needed: {adapters[query['channels']]}.")
    lines.append(f"`upscaler resolve {text}` shows the model that would run, and how.")
    return "\n".join(lines)


def list_row(entry: ModelEntry, protocol: str = "bicubic") -> dict[str, Any]:
    """An entry's summary plus the two numbers a user chooses by: mean PSNR-Y over the
    measured sets under ``protocol``, and the measured ms per output megapixel (None when
    not measured); and the protocols it has numbers under."""
    from upscaler.resolve.resolver import metrics_under

    row = entry.summary()
    metrics = metrics_under(entry, protocol)
    sets = metrics.sets.values() if metrics is not None else []
    psnrs = [m.psnr_y for m in sets]
    row["mean_psnr_y"] = round(sum(psnrs) / len(psnrs), 2) if psnrs else None
    row["psnr_protocol"] = protocol
    row["protocols"] = ",".join(entry.metrics_by_protocol()) or None
    row["ms_per_output_megapixel"] = (
        entry.speed.ms_per_output_megapixel if entry.speed is not None else None
    )
    return row


def _speed_text(value: float | None) -> str | None:
    return None if value is None else f"{value:,.0f}"


def cmd_show(args: argparse.Namespace) -> int:
    """`models show ID`: the merged catalog entry."""
    from upscaler.catalog import default_catalog

    entry = default_catalog().get(args.id)
    data = entry.model_dump(mode="json")
    if args.json:
        print_json(data)
        return 0
    for line in show_lines(data):
        print(line)
    return 0


def show_lines(data: dict[str, Any]) -> list[str]:
    """An entry as aligned ``key  value`` lines, nested values indented beneath their key:
    weights as source and files, metrics as a small table, speed with its machine, and
    every provenance as one line (the raw dicts are what ``--json`` is for)."""
    lines: list[str] = []
    for key, value in data.items():
        if value in (None, {}, []):
            continue
        if key == "weights":
            lines.append(f"{'weights':<16}{value['format']} from {_source_text(value['source'])}")
            for f in value["files"]:
                lines.append(f"{'':<16}{f['path']}  sha256={f['sha256']}  size={f['size']}")
        elif key == "metrics":
            lines.append(f"{'metrics':<16}{'set':<10}{'PSNR-Y':>8}{'SSIM-Y':>9}")
            for name, metric in value["sets"].items():
                psnr, ssim = metric["psnr_y"], metric["ssim_y"]
                lines.append(f"{'':<16}{name:<10}{psnr:>8.2f}{ssim:>9.4f}")
            lines.append(f"{'':<16}{_provenance_text(value['provenance'])}")
        elif key == "speed":
            ms = value["ms_per_output_megapixel"]
            lines.append(f"{'speed':<16}{ms:,} ms per output megapixel")
            lines.append(f"{'':<16}{_provenance_text(value['provenance'])}")
        elif key == "quantize":
            cal = value["calibration"]
            lines.append(f"{'quantize':<16}{value['scheme']} on {value['runtime']}")
            lines.append(
                f"{'':<16}{len(value['ranges'])} activation ranges from {cal['patches']} "
                f"{cal['patch_size']}px patches of {cal['images']} images "
                f"({', '.join(cal['data'])}, seed {cal['seed']}), percentile {cal['percentile']:g}"
            )
            lines.append(f"{'':<16}{_provenance_text(cal)}")
        elif key == "value_range":
            lo, hi = value
            lines.append(f"{key:<16}{lo:g} to {hi:g}")
        elif isinstance(value, dict):
            lines.append(f"{key:<16}{_pairs_text(value)}")
        elif isinstance(value, list):
            lines.append(f"{key:<16}{', '.join(map(str, value))}")
        elif isinstance(value, bool):
            lines.append(f"{key:<16}{'yes' if value else 'no'}")
        else:
            lines.append(f"{key:<16}{value}")
    return lines


def _pairs_text(value: dict[str, Any]) -> str:
    """``k=v, ...``; a nested mapping (a training entry's dataset hashes) reads as
    ``k=(a x, b y)`` rather than as a Python dict."""
    return ", ".join(
        f"{k}=({', '.join(f'{a} {b}' for a, b in v.items())})"
        if isinstance(v, dict)
        else f"{k}={v}"
        for k, v in value.items()
        if v not in (None, {}, [])
    )


def _source_text(source: dict[str, Any]) -> str:
    if "npm" in source:
        return f"npm {source['npm']}@{source['version']}"
    return _pairs_text(source)


def _provenance_text(provenance: dict[str, Any]) -> str:
    parts = [f"measured {provenance['date']} by `{provenance['command']}`"]
    if provenance.get("machine"):
        parts.append(f"on {provenance['machine']}")
    if provenance.get("protocol"):
        parts.append(f"(protocol: {provenance['protocol']})")
    return " ".join(parts)


def cmd_resolve(args: argparse.Namespace) -> int:
    """`resolve QUERY`: exact match or alternatives; exit 0 either way (it is a question)."""
    from upscaler.catalog import default_catalog
    from upscaler.resolve import resolve
    from upscaler.resolve.query import normalise_query, read_query

    catalog = default_catalog()
    asked = read_query(" ".join(args.query), prefer=args.prefer)
    query = normalise_query(asked.attributes, catalog.vocab)
    resolution = resolve(query, catalog, prefer=asked.prefer)
    if args.json:
        print_json(resolution.to_dict())
        return 0
    chosen = resolution.model.id if resolution.model else "none"
    print(f"exact: {'yes' if resolution.exact else 'no'}")
    print(f"model: {chosen}  ({resolution.reason})")
    if resolution.ranking:
        print(f"ranked by: {resolution.ranking}")
    for adapter in resolution.adapters:
        print(f"adapter: {adapter.kind}: {adapter.detail}")
    if resolution.matches[1:]:
        print("other exact matches: " + ", ".join(resolution.matches[1:]))
    if resolution.model is not None:
        print(f"run it: upscaler upscale IN -o OUT --model {chosen}")
    others = [a for a in resolution.alternatives if a.id != chosen]
    if others:
        print(f"other choices, closest first ({COST_LEGEND}):")
        for alt in others:
            flag = "" if alt.adaptable else "  (not adaptable)"
            print(
                f"  {alt.id:<28} cost {alt.cost:>5.1f}  {'; '.join(alt.describe_differences())}"
                f"{flag}\n  {'':<28} {alt.flags}"
            )
    return 0


COST_LEGEND = (
    "cost = how far a model is from the query, lower is closer: 2 for channels an adapter "
    "bridges (alpha, gray), 8-20 for a different quantization, architecture or dataset, "
    "25+ for a scale reached by chaining or resizing; docs/concepts.md has the table"
)
