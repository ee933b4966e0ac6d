"""The gallery's part of the documentation site: charts, sample images and their pages.

Called by the MkDocs hook (docs/hooks/models_pages.py) at build time; nothing here is
committed. Every image is referenced with Markdown image syntax inside ``md_in_html``
blocks, so MkDocs rewrites the links for each page and ``--strict`` fails on a broken
one. The before/after slider (docs/assets/gallery.js) is built in the browser from those
same images: without JavaScript the grid of every output still shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from upscaler.catalog.loader import Catalog
from upscaler.catalog.protocols import BICUBIC, PROTOCOLS
from upscaler.catalog.schema import ModelEntry
from upscaler.gallery.crops import Array, Crop, sample_crops
from upscaler.gallery.measures import (
    ANY_DOMAIN,
    DENOISE_ONLY_SCALE,
    chart_protocols,
    chart_scales,
    chart_title,
    common_sets,
    measured_count,
    points,
    scales_of,
)
from upscaler.gallery.samples import (
    FILL_HINT,
    NOT_AVAILABLE,
    NOT_CACHED,
    SampleRunner,
    png_bytes,
    reference_images,
)
from upscaler.resolve.resolver import FIDELITY

GALLERY_DIR = "models/gallery"
CHART_DIR = "models/charts"
#: What the reference images are called in captions and in the slider's menus.
REFERENCE_LABELS = {"lr": "LR input", "bicubic": "bicubic", "hr": "original (HR)"}


def chart_path(scale: int, protocol: str = BICUBIC) -> str:
    """The chart of one scale under one protocol, under docs/ (the bicubic one keeps the
    name it had before there were protocols, so old links still work)."""
    suffix = "" if protocol == BICUBIC else f"-{protocol}"
    return f"{CHART_DIR}/quality-speed-x{scale}{suffix}.svg"


def chart_panels(catalog: Catalog) -> list[tuple[int, list[str]]]:
    """Every chart the docs show: per scale (the global default's first), the protocols
    it is drawn under, the default first; a scale nothing is measured at keeps one
    bicubic chart, which says "not measured yet"."""
    return [(s, chart_protocols(catalog, s) or [BICUBIC]) for s in chart_scales(catalog)]


def image_path(crop: Crop, scale: int, name: str) -> str:
    """One sample image under docs/: ``lr``, ``bicubic``, ``hr`` or a model id."""
    return f"{GALLERY_DIR}/{crop.name}/x{scale}/{name}.png"


def compare_page_path(scale: int, domain: str) -> str:
    """The comparison page of one scale and domain, under docs/."""
    return f"models/compare-x{scale}-{domain}.md"


def relative(from_page: str, target: str) -> str:
    """A docs-relative link from one Markdown page to a file (both under docs/)."""
    up = from_page.count("/")
    here = from_page.rsplit("/", 1)[0] + "/" if "/" in from_page else ""
    if here and target.startswith(here):
        return target[len(here) :]
    return "../" * up + target


def compare_pairs(catalog: Catalog) -> list[tuple[int, str]]:
    """(scale, domain) pairs that get a comparison page: some trained model of that domain."""
    pairs = {(e.scale, e.domain) for e in catalog.entries}
    return sorted((s, d) for s, d in pairs if d != ANY_DOMAIN)


@dataclass
class Gallery:
    """The catalog's sample outputs, computed once per build and shared by every page."""

    catalog: Catalog
    runner: SampleRunner
    crops: tuple[Crop, ...] = field(default_factory=sample_crops)
    _outputs: dict[tuple[str, str], Array | None] = field(default_factory=dict)

    def output(self, entry: ModelEntry, crop: Crop) -> Array | None:
        """A model's output on a crop (cached per build), or None when not available."""
        key = (entry.id, crop.name)
        if key not in self._outputs:
            self._outputs[key] = self.runner.output(entry, crop)
        return self._outputs[key]

    def available(self, entry: ModelEntry) -> bool:
        """True when every crop has an output for this model."""
        return all(self.output(entry, c) is not None for c in self.crops)

    def reason(self, entry: ModelEntry) -> str:
        """Why a model has no samples (for the placeholder's tooltip)."""
        return self.runner.problems.get(entry.id, NOT_AVAILABLE)

    def compare_pages(self) -> list[tuple[int, str]]:
        """(scale, domain) pairs that get a comparison page (see :func:`compare_pairs`)."""
        return compare_pairs(self.catalog)

    def assets(self, *, charts: bool = True) -> dict[str, bytes]:
        """Every generated binary file by its path under docs/: charts and sample PNGs."""
        files: dict[str, bytes] = {}
        if charts:
            from upscaler.gallery.chart import render

            for scale, protocols in chart_panels(self.catalog):
                for protocol in protocols:
                    files[chart_path(scale, protocol)] = render(
                        self.catalog, scales=[scale], protocol=protocol, fmt="svg", width_in=7.5
                    )
        for scale in scales_of(self.catalog):
            for crop in self.crops:
                for name, pixels in reference_images(crop, scale).items():
                    files[image_path(crop, scale, name)] = png_bytes(pixels)
                for e in self.catalog.entries:
                    if e.scale == scale and self.output(e, crop) is not None:
                        # The cache holds exactly this PNG: copy it, do not re-encode.
                        files[image_path(crop, scale, e.id)] = self.runner.path(
                            e, crop
                        ).read_bytes()
        return files


# ------------------------------------------------------------------------ Markdown


def chart_caption(catalog: Catalog, scale: int, protocol: str) -> str:
    """The line under a chart: what it shows, what the input went through, how many
    of the scale's models have numbers under it."""
    entries = [e for e in catalog.entries if e.scale == scale]
    title = chart_title(scale, protocol, common_sets(entries, protocol))
    measured = measured_count(entries, protocol)
    what = PROTOCOLS[protocol].title
    if scale == DENOISE_ONLY_SCALE:  # nothing is downscaled at x1
        what = what.replace("bicubic downscale, then ", "")
    if scale == DENOISE_ONLY_SCALE and protocol == BICUBIC:
        what = (
            "clean input, which leaves a denoiser nothing to remove (changing nothing scores best)"
        )
    return f"**{title}**: {what}; {measured} of {len(entries)} x{scale} models measured under it."


def chart_tabs(catalog: Catalog, page: str) -> str:
    """One content tab per scale, the global default's first; in each, one nested tab per
    protocol its chart is drawn under, the default first (pymdownx.tabbed nests tabs by
    indentation)."""
    parts = []
    for scale, protocols in chart_panels(catalog):
        inner = []
        for protocol in protocols:
            link = relative(page, chart_path(scale, protocol))
            alt = f"Mean PSNR-Y against ms per output megapixel at x{scale}, {protocol} protocol"
            inner.append(
                f'    === "{protocol}"\n\n'
                f"        ![{alt}]({link}){{ .quality-chart }}\n\n"
                f"        {chart_caption(catalog, scale, protocol)}"
            )
        parts.append(f'=== "x{scale}"\n\n' + "\n\n".join(inner))
    return "\n\n".join(parts)


def _figure(page: str, path: str, caption: str, *, name: str, pixelated: bool) -> str:
    cls = " .pixelated" if pixelated else ""
    return (
        f'<figure class="sample" markdown="span">\n'
        f'![{caption}]({relative(page, path)}){{ loading=lazy data-name="{name}"{cls} }}\n'
        f"<figcaption>{caption}</figcaption>\n</figure>"
    )


def _missing(entry_id: str, reason: str) -> str:
    title = reason.replace('"', "'").replace("<", "(").replace(">", ")")
    return (
        f'<figure class="sample missing" title="{title}">\n'
        f'<div class="placeholder">{NOT_AVAILABLE}</div>\n'
        f"<figcaption>{entry_id}</figcaption>\n</figure>"
    )


def missing_note(gallery: Gallery, ids: Sequence[str]) -> str:
    """What the page says about its placeholders: how to fill the ones that were never
    made (a plain docs build runs no model), and which could not be made (empty if none)."""
    not_cached = [i for i in ids if gallery.runner.problems.get(i) == NOT_CACHED]
    failed = [i for i in ids if i not in not_cached]
    parts = []
    if not_cached:
        parts.append(
            f"*{NOT_AVAILABLE}* for {', '.join(f'`{i}`' for i in not_cached)}: sample outputs "
            f"are made by an explicit step, not by every docs build; {FILL_HINT}."
        )
    if failed:
        parts.append(
            f"*{NOT_AVAILABLE}* for {', '.join(f'`{i}`' for i in failed)}: their weights "
            "could not be fetched or converted when this site was built."
        )
    return "\n\n".join(parts)


def sample_grid(
    gallery: Gallery, crop: Crop, scale: int, entries: Sequence[ModelEntry], page: str
) -> str:
    """One crop at one scale: LR, bicubic, each model's output (or a placeholder), HR."""
    side = reference_images(crop, scale)["lr"].shape[0]
    figures = [
        _figure(
            page,
            image_path(crop, scale, "lr"),
            f"LR input ({side} px)",
            name="LR input",
            pixelated=True,
        ),
        _figure(
            page, image_path(crop, scale, "bicubic"), "bicubic", name="bicubic", pixelated=False
        ),
    ]
    for e in entries:
        if gallery.output(e, crop) is None:
            figures.append(_missing(e.id, gallery.reason(e)))
        else:
            path = image_path(crop, scale, e.id)
            figures.append(_figure(page, path, e.id, name=e.id, pixelated=False))
    figures.append(
        _figure(
            page, image_path(crop, scale, "hr"), "original (HR)", name="original", pixelated=False
        )
    )
    return (
        f'<div class="sample-grid" data-crop="{crop.name}" data-scale="{scale}" markdown>\n\n'
        + "\n\n".join(figures)
        + "\n\n</div>"
    )


def crops_credit() -> str:
    """Where each crop comes from (each licence allows showing it)."""
    lines = [f"- **{c.title}**: {c.source}." for c in sample_crops()]
    return (
        "Sample crops are 192×192 pixels, downscaled with MATLAB-compatible bicubic (as the "
        "evaluation sets are) to make each model's input, and never taken from an "
        "evaluation or training set:\n\n" + "\n".join(lines)
    )


def family_samples(gallery: Gallery, family: str, page: str) -> str:
    """The ``## Samples`` section of a family page: every variant on every crop."""
    entries = [e for e in gallery.catalog.entries if e.family == family]
    parts = ["## Samples"]
    note = missing_note(gallery, [e.id for e in entries if not gallery.available(e)])
    if note:
        parts.append(note)
    for scale in sorted({e.scale for e in entries}):
        group = [e for e in entries if e.scale == scale]
        domains = sorted({e.domain for e in group} - {ANY_DOMAIN})
        links = ", ".join(
            f"[x{scale} {d}]({relative(page, compare_page_path(scale, d))})" for d in domains
        )
        parts.append(f"### x{scale}")
        if links:
            parts.append(f"Against the other x{scale} models: {links}.")
        for crop in gallery.crops:
            parts.append(f"**{crop.title}**")
            parts.append(sample_grid(gallery, crop, scale, group, page))
    parts.append(crops_credit())
    return "\n\n".join(parts)


def compare_entries(gallery: Gallery, scale: int, domain: str) -> list[ModelEntry]:
    """The models a comparison page shows: that scale, that domain, plus baselines."""
    return [
        e for e in gallery.catalog.entries if e.scale == scale and e.domain in (domain, ANY_DOMAIN)
    ]


def _best(gallery: Gallery, entries: Sequence[ModelEntry]) -> str | None:
    """What the slider shows first against bicubic: the best measured fidelity model,
    else the first trained one, else any."""
    scored = {p.id: p.psnr for p in points(gallery.catalog, entries[0].scale)} if entries else {}
    fidelity = [e for e in entries if e.objective == FIDELITY and scored.get(e.id) is not None]
    if fidelity:
        return max(fidelity, key=lambda e: scored[e.id] or 0.0).id
    trained = [e for e in entries if not gallery.catalog.vocab.is_baseline(e.architecture)]
    pool = trained or list(entries)
    return pool[0].id if pool else None


def compare_page(gallery: Gallery, scale: int, domain: str) -> str:
    """One scale and domain: a before/after slider and the full grid for each crop."""
    page = compare_page_path(scale, domain)
    entries = compare_entries(gallery, scale, domain)
    ready = [e.id for e in entries if gallery.available(e)]
    missing = [e.id for e in entries if e.id not in ready]
    parts = [
        f"# Compare x{scale} models: {domain}",
        f"Every x{scale} model trained for {domain} images "
        + ("(and the untrained baselines) " if any(e.domain == ANY_DOMAIN for e in entries) else "")
        + "on the same four crops. Drag the slider to compare two of them; pick which in "
        "the menus above it. Images are shown at twice their size, pixel for pixel.",
    ]
    if missing:
        parts.append(missing_note(gallery, missing))
    default_right = _best(gallery, [e for e in entries if e.id in ready]) or "original"
    for crop in gallery.crops:
        parts.append(f"## {crop.title}")
        parts.append(
            f'<div class="before-after" data-crop="{crop.name}" data-scale="{scale}" '
            f'data-left="bicubic" data-right="{default_right}"></div>'
        )
        parts.append(sample_grid(gallery, crop, scale, entries, page))
    parts.append(crops_credit())
    return "\n\n".join(parts) + "\n"


def compare_index(gallery: Gallery, page: str) -> str:
    """Links to every comparison page, for the overview."""
    return "\n".join(
        f"- [x{s}, {d}]({relative(page, compare_page_path(s, d))}): "
        f"{len(compare_entries(gallery, s, d))} models"
        for s, d in gallery.compare_pages()
    )
