"""The catalog's measured metrics as a Markdown table (for docs/evaluation.md).

``python -m upscaler.evaluate.report`` prints it; a test checks that the table in
docs/evaluation.md is exactly this output, so the docs never drift from the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence

from upscaler.catalog.loader import Catalog, default_catalog

BEGIN = "<!-- metrics-table:begin (python -m upscaler.evaluate.report) -->"
END = "<!-- metrics-table:end -->"
SETS: Sequence[tuple[str, str]] = (("set5", "Set5"), ("set14", "Set14"), ("bsd100", "BSD100"))


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


def main() -> None:
    """Print the table between its markers, ready to paste into docs/evaluation.md."""
    print(BEGIN)
    print(metrics_table(default_catalog()))
    print(END)


if __name__ == "__main__":  # pragma: no cover
    main()
