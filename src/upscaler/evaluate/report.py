"""The catalog's measured metrics as Markdown tables (for docs/evaluation.md and
docs/protocols.md).

``python -m upscaler.evaluate.report`` prints the clean protocol's table and
``python -m upscaler.evaluate.report --protocols`` one table per degradation protocol;
tests check that the docs hold exactly this output, so they never drift from the catalog.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from upscaler.catalog.loader import Catalog, default_catalog
from upscaler.catalog.protocols import BICUBIC, PROTOCOLS
from upscaler.catalog.schema import Metrics

BEGIN = "<!-- metrics-table:begin (python -m upscaler.evaluate.report) -->"
END = "<!-- metrics-table:end -->"
SETS: Sequence[tuple[str, str]] = (("set5", "Set5"), ("set14", "Set14"), ("bsd100", "BSD100"))
PROTOCOLS_BEGIN = "<!-- protocol-tables:begin (python -m upscaler.evaluate.report --protocols) -->"
PROTOCOLS_END = "<!-- protocol-tables:end -->"
PROTOCOL_SETS: Sequence[tuple[str, str]] = (*SETS, ("illustration", "Illustration"))


def _cell(catalog: Catalog, model_id: str, key: str) -> str:
    metrics = catalog.by_id[model_id].metrics
    if metrics is None or key not in metrics.sets:
        return "—"
    m = metrics.sets[key]
    return f"{m.psnr_y:.2f} / {m.ssim_y:.4f}"


def metrics_table(catalog: Catalog) -> str:
    """One row per model, by scale then best mean PSNR; best trained model per scale in bold."""
    rows: list[tuple[int, float, str]] = []
    for entry in catalog.entries:
        metrics = entry.metrics
        psnr = (
            sum(metrics.sets[k].psnr_y for k, _ in SETS if k in metrics.sets)
            if metrics is not None
            else float("-inf")
        )
        rows.append((entry.scale, -psnr, entry.id))
    rows.sort()
    best: dict[int, str] = {}
    for scale, _, model_id in rows:
        entry = catalog.by_id[model_id]
        if scale not in best and not catalog.vocab.is_baseline(entry.architecture):
            best[scale] = model_id
    header = "| scale | model | " + " | ".join(f"{name} PSNR / SSIM" for _, name in SETS) + " |"
    lines = [header, "|---|---|" + "---|" * len(SETS)]
    for scale, _, model_id in rows:
        name = f"**`{model_id}`**" if best.get(scale) == model_id else f"`{model_id}`"
        cells = " | ".join(_cell(catalog, model_id, key) for key, _ in SETS)
        lines.append(f"| x{scale} | {name} | {cells} |")
    return "\n".join(lines)


def _protocol_cell(metrics: Metrics, key: str) -> str:
    if key not in metrics.sets:
        return "—"
    m = metrics.sets[key]
    lpips = f" / {m.lpips:.3f}" if m.lpips is not None else ""
    return f"{m.psnr_y:.2f} / {m.ssim_y:.4f}{lpips}"


def protocol_tables(catalog: Catalog) -> str:
    """One table per degradation protocol that some model was measured under: its models
    by scale, then by mean PSNR over the sets they have (perceptual models: PSNR / SSIM /
    LPIPS, LPIPS ranks them), ordered by the mean PSNR over the sets every row has. A dash
    is a set that model was not measured on."""
    parts: list[str] = []
    for name, spec in PROTOCOLS.items():
        if name == BICUBIC:
            continue
        measured = [e for e in catalog.entries if name in e.protocol_metrics]
        if not measured:
            continue
        keys = [
            (k, n)
            for k, n in PROTOCOL_SETS
            if any(k in e.protocol_metrics[name].sets for e in measured)
        ]

        shared = frozenset.intersection(
            *(frozenset(e.protocol_metrics[name].sets) for e in measured)
        )

        def order(
            entry_id: str, name: str = name, shared: frozenset[str] = shared
        ) -> tuple[int, float, str]:
            # by the mean over the sets every row has, as the resolver compares them
            entry = catalog.by_id[entry_id]
            sets = entry.protocol_metrics[name].sets
            values = [sets[k].psnr_y for k in (shared or sets)]
            return (entry.scale, -sum(values) / len(values), entry_id)

        header = "| scale | model | " + " | ".join(label for _, label in keys) + " |"
        lines = [f"**`{name}`**: {spec.title} (`{spec.id}`)", "", header]
        lines.append("|---|---|" + "---|" * len(keys))
        for entry_id in sorted((e.id for e in measured), key=order):
            entry = catalog.by_id[entry_id]
            cells = " | ".join(_protocol_cell(entry.protocol_metrics[name], k) for k, _ in keys)
            lines.append(f"| x{entry.scale} | `{entry_id}` | {cells} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    """Print a table between its markers, ready to paste into its docs page."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--protocols"]:
        print(PROTOCOLS_BEGIN)
        print(protocol_tables(default_catalog()))
        print(PROTOCOLS_END)
        return
    print(BEGIN)
    print(metrics_table(default_catalog()))
    print(END)


if __name__ == "__main__":  # pragma: no cover
    main()
