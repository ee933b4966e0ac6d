"""What the explorer (and the docs' model pages) show: plain data and Markdown.

No Gradio here, so everything a person reads on the page is unit-tested without a
browser: the controls' choices come from the catalog's vocabulary, the resolver's answer
is rendered from :meth:`Resolution.to_dict`, and metrics come from the catalog entries
(``"not measured yet"`` until `upscaler eval` and the benchmarks have written them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from upscaler.catalog.attributes import QUERY_ATTRIBUTES
from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.catalog.vocab import SECTIONS
from upscaler.errors import NoMatchingModel, UpscalerError
from upscaler.explore.codegen import ANY, AUTO_MODEL, Choice, upscaler_call
from upscaler.resolve.prefer import PREFER_CHOICES
from upscaler.resolve.resolver import choose, resolve
from upscaler.resolve.result import Resolution

NOT_MEASURED = "not measured yet"
CHANNEL_LABELS = {1: "1 (gray)", 3: "3 (RGB)", 4: "4 (RGBA)"}
COMMON_SCALES = (2, 3, 4, 8)

Option = tuple[str, str]


@dataclass(frozen=True)
class Controls:
    """The choices each control offers, as (label, value) pairs; ``"any"`` first."""

    model: list[Option]
    attributes: dict[str, list[Option]]
    prefer: list[str]


def control_options(catalog: Catalog) -> Controls:
    """Every control's options, built from the catalog and its vocabulary."""
    models = [("auto: resolve from the attributes", AUTO_MODEL)] + [
        (f"{e.id} ({e.title})", e.id) for e in catalog.entries
    ]
    attributes: dict[str, list[Option]] = {}
    for attribute in SECTIONS.values():
        terms = catalog.vocab.terms(attribute)
        used = {str(e.attribute(attribute)) for e in catalog.entries}
        # Values some model has first; the rest of the vocabulary still resolves (to an
        # alternative), which is worth being able to try.
        ordered = sorted(terms, key=lambda t: (t not in used, t))
        attributes[attribute] = [(f"{ANY}", ANY)] + [
            (f"{t} ({terms[t].title})", t) for t in ordered
        ]
    scales = sorted({e.scale for e in catalog.entries} | set(COMMON_SCALES))
    attributes["scale"] = [(ANY, ANY)] + [(f"x{s}", str(s)) for s in scales]
    channels = sorted({e.channels for e in catalog.entries} | set(CHANNEL_LABELS))
    attributes["channels"] = [(ANY, ANY)] + [
        (CHANNEL_LABELS.get(c, str(c)), str(c)) for c in channels
    ]
    return Controls(model=models, attributes=attributes, prefer=list(PREFER_CHOICES))


@dataclass(frozen=True)
class Outcome:
    """The resolver's answer for a choice, and what ``Upscaler(...)`` would do with it."""

    choice: Choice
    resolution: Resolution | None
    model: ModelEntry | None
    error: UpscalerError | None

    @property
    def runnable(self) -> bool:
        """True when ``Upscaler(**choice.kwargs())`` would construct without raising."""
        return self.model is not None and self.error is None

    @property
    def scale(self) -> int | None:
        """The scale the upscaler delivers: the query's, else the chosen model's."""
        wanted = self.choice.attribute("scale")
        if isinstance(wanted, int):
            return wanted
        return self.model.scale if self.model is not None else None


def evaluate(choice: Choice, catalog: Catalog) -> Outcome:
    """Normalise and resolve a choice exactly as ``Upscaler(**choice.kwargs())`` would."""
    try:
        normal = choice.normalised(catalog)
    except UpscalerError as exc:
        return Outcome(choice=choice, resolution=None, model=None, error=exc)
    resolution = resolve(normal.query(), catalog, prefer=normal.prefer, model=normal.model)
    try:
        model = choose(resolution, strict=normal.strict)
    except NoMatchingModel as exc:
        return Outcome(choice=normal, resolution=resolution, model=None, error=exc)
    return Outcome(choice=normal, resolution=resolution, model=model, error=None)


def _error_text(error: UpscalerError) -> str:
    return error.message + (f" (hint: {error.hint})" if error.hint else "")


def resolution_markdown(outcome: Outcome) -> str:
    """The headline: the model chosen and why, or why nothing can be."""
    call = upscaler_call(outcome.choice)
    res = outcome.resolution
    if res is None:
        assert outcome.error is not None
        return f"### Invalid choice\n\n`{call}` raises `{type(outcome.error).__name__}`: " + (
            _error_text(outcome.error)
        )
    lines: list[str] = []
    if outcome.model is None:
        assert outcome.error is not None
        lines.append("### No model")
        lines.append(
            f"`{call}` raises `{type(outcome.error).__name__}`: {_error_text(outcome.error)}"
        )
        if res.alternatives:
            lines.append("Select an alternative below to pin it, or untick *strict*.")
        return "\n\n".join(lines)
    kind = "Exact match" if res.exact else "Nearest alternative"
    lines.append(f"### {kind}: `{outcome.model.id}`")
    lines.append(f"{outcome.model.title}. **Why:** {res.reason}.")
    if len(res.matches) > 1:
        others = ", ".join(f"`{m}`" for m in res.matches[1:])
        lines.append(f"Other exact matches (ranked by prefer={res.prefer}): {others}.")
    if res.adapters:
        lines.append(
            "**Adapters:** " + "; ".join(f"{a.kind}: {a.detail}" for a in res.adapters) + "."
        )
    if not res.exact:
        lines.append(
            "`Upscaler(...)` takes it with a warning; tick *strict* to raise `NoMatchingModel`."
        )
    return "\n\n".join(lines)


def pin_alternative(outcome: Outcome, model_id: str) -> dict[str, Any]:
    """Control values that turn the choice into the alternative's own ``call``.

    The call pins the model and keeps only a scale it must still deliver, so the
    attribute controls go back to ``any`` (except that scale); prefer and strict stay.
    """
    values: dict[str, Any] = {"model": model_id}
    values.update(dict.fromkeys(QUERY_ATTRIBUTES, ANY))
    alternatives = outcome.resolution.alternatives if outcome.resolution else []
    alt = next((a for a in alternatives if a.id == model_id), None)
    wanted = outcome.choice.attribute("scale")
    if alt is not None and wanted is not None and f"scale={wanted}" in alt.call:
        values["scale"] = str(wanted)
    return values


ALTERNATIVE_HEADERS = ["model", "cost", "adaptable", "differences", "call"]


def alternative_rows(outcome: Outcome) -> list[list[str]]:
    """One row per alternative, in the resolver's order."""
    if outcome.resolution is None:
        return []
    return [
        [
            alt["id"],
            f"{alt['cost']:g}",
            "yes" if alt["adaptable"] else "no",
            "; ".join(alt["differences"]),
            alt["call"],
        ]
        for alt in outcome.resolution.to_dict()["alternatives"]
    ]


# ------------------------------------------------------------------- measured facts


def metric_rows(entry: ModelEntry) -> list[list[str]]:
    """``[set, PSNR-Y, SSIM-Y]`` per evaluation set; empty when not measured."""
    if entry.metrics is None:
        return []
    return [[name, f"{m.psnr_y:.2f}", f"{m.ssim_y:.4f}"] for name, m in entry.metrics.sets.items()]


def metrics_text(entry: ModelEntry) -> str:
    """``set5 32.10 dB / 0.9012, ...`` or ``not measured yet``."""
    rows = metric_rows(entry)
    if not rows:
        return NOT_MEASURED
    return ", ".join(f"{name} {psnr} dB / {ssim}" for name, psnr, ssim in rows)


def speed_text(entry: ModelEntry) -> str:
    """``1234 ms per output megapixel`` (with the machine when known) or ``not measured yet``."""
    if entry.speed is None:
        return NOT_MEASURED
    text = f"{entry.speed.ms_per_output_megapixel:,.0f} ms per output megapixel"
    machine = entry.speed.provenance.machine
    return f"{text} ({machine})" if machine else text


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub/Markdown pipe table; ``|`` inside cells is escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def model_facts_markdown(entry: ModelEntry) -> str:
    """The chosen model's attributes, licence, metrics and speed, for the result panel."""
    parts = [
        f"**{entry.id}**: {entry.architecture} by {entry.implementation}, trained on "
        f"{entry.dataset}, x{entry.scale}, {entry.channels} channels; licence {entry.license}.",
    ]
    rows = metric_rows(entry)
    if rows:
        parts.append(markdown_table(["set", "PSNR-Y (dB)", "SSIM-Y"], rows))
        assert entry.metrics is not None
        prov = entry.metrics.provenance
        parts.append(f"Measured by `{prov.command}` (upscaler {prov.version}, {prov.date}).")
    else:
        parts.append(f"Quality metrics: {NOT_MEASURED}.")
    parts.append(f"Speed: {speed_text(entry)}.")
    return "\n\n".join(parts)


# ------------------------------------------------------------------- side by side


@dataclass(frozen=True)
class ComparedRun:
    """One model's run in a side-by-side comparison: what it made and how long it took."""

    model: ModelEntry
    width: int
    height: int
    run_s: float
    load_s: float


COMPARE_HEADERS = ["model", "output", "time", "load", "mean PSNR-Y", "catalog speed"]


def comparison_markdown(runs: Sequence[ComparedRun], catalog: Catalog) -> str:
    """The timings of a side-by-side run, with each model's catalog numbers beside them.

    The time is this machine's, on this image; the catalog's speed is the benchmark's, so
    both are shown rather than one standing in for the other.
    """
    from upscaler.gallery.measures import points

    psnr = {p.id: p.psnr for scale in {r.model.scale for r in runs} for p in points(catalog, scale)}
    rows = []
    for r in runs:
        mean = psnr.get(r.model.id)
        rows.append(
            [
                r.model.id,
                f"{r.width}×{r.height}",
                f"**{r.run_s:.2f} s**",
                f"{r.load_s:.2f} s" if r.load_s >= 0.05 else "loaded",
                f"{mean:.2f} dB" if mean is not None else NOT_MEASURED,
                (
                    f"{r.model.speed.ms_per_output_megapixel:,.0f} ms/MP"
                    if r.model.speed
                    else NOT_MEASURED
                ),
            ]
        )
    fastest = min(runs, key=lambda r: r.run_s)
    return (
        markdown_table(COMPARE_HEADERS, rows)
        + f"\n\nFastest here: `{fastest.model.id}`. Times are this machine's, on this image; "
        "the catalog speed is the benchmark's."
    )
