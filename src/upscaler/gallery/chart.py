"""The quality-vs-speed chart: mean PSNR-Y against ms per output megapixel, per scale,
under one measurement protocol.

Drawn with matplotlib, which is optional (the ``docs`` extra) and imported only here,
inside :func:`render`, so ``import upscaler`` and ``upscaler --help`` stay fast. The
object-oriented API (:class:`matplotlib.figure.Figure`) is used rather than pyplot: no
GUI backend, no global state, safe in the docs build and in the explorer's threads.

A panel is laid out first and labelled after: labels go only where they hit no marker,
legend, note or other label (:mod:`upscaler.gallery.labels`), so the layout is frozen
once the axes have their final size.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from upscaler.catalog.loader import Catalog
from upscaler.catalog.protocols import BICUBIC, PROTOCOLS, ProtocolSpec, protocol_named
from upscaler.errors import DependencyError, QueryError
from upscaler.gallery.labels import Label, marker_box, place, step_boxes
from upscaler.gallery.measures import (
    DENOISE_ONLY_SCALE,
    Point,
    chart_scales,
    chart_title,
    common_sets,
    measured_count,
    pareto_front,
    points,
)

INSTALL = "pip install 'upscaler[docs]'"
FORMATS = ("png", "svg")
FIDELITY_COLOUR = "#3949ab"  # the docs' indigo
PERCEPTUAL_COLOUR = "#d81b60"
BASELINE_COLOUR = "#757575"
FRONT_COLOUR = "#43a047"
HIGHLIGHT_COLOUR = "#ff6f00"
NOTE_COLOUR = "#616161"
DPI = 110
#: Marker size (points², matplotlib's ``s``) and the ring around a highlighted model.
MARKER_S = 36
RING_S = 260
#: How much farther (points) a ringed model's label sits than a plain marker's.
RING_CLEARANCE = (math.sqrt(RING_S) - math.sqrt(MARKER_S)) / 2 + 1
#: A panel with more models drawn than this gets taller, so its labels find room.
CROWDED = 20


def import_matplotlib() -> ModuleType:
    """matplotlib, or a one-line DependencyError naming the extra that installs it."""
    try:
        import matplotlib
        import matplotlib.figure
    except ImportError as exc:
        raise DependencyError(
            f"the quality-vs-speed chart needs matplotlib, which is not installed "
            f"({exc.name or exc}): run {INSTALL}"
        ) from exc
    return matplotlib


PERCEPTUAL = "perceptual (not trained for PSNR)"
PERCEPTUAL_LPIPS = "perceptual, LPIPS beside it (lower is better)"
#: The three kinds of point, each with its colour and marker; perceptual ones are hollow.
KINDS = (
    ("fidelity", FIDELITY_COLOUR, "o"),
    (PERCEPTUAL, PERCEPTUAL_COLOUR, "D"),
    ("baseline", BASELINE_COLOUR, "s"),
)


def _kind(p: Point) -> str:
    if p.perceptual:
        return PERCEPTUAL
    return "baseline" if p.baseline else "fidelity"


def condition(spec: ProtocolSpec, scale: int) -> str:
    """What the model's input went through, short enough for a panel's corner. At x1
    there is no downscale, and clean input leaves a denoiser nothing to remove."""
    resized = "" if scale == DENOISE_ONLY_SCALE else "bicubic downscale, "
    if spec.kind == "jpeg":
        return f"input: {resized}JPEG quality {spec.jpeg_quality}"
    if spec.kind == "noise":
        return f"input: {resized}Gaussian noise σ {spec.noise_sigma:g}"
    if spec.kind == "real-world":
        return "input: blind real-world degradation mix"
    if scale == DENOISE_ONLY_SCALE:
        return "input: clean (nothing to denoise: changing nothing scores best)"
    return "input: clean bicubic downscale"


def label_text(p: Point) -> str:
    """A point's label; a perceptual model's carries its LPIPS, the number it is ranked by."""
    if p.perceptual and p.lpips is not None:
        return f"{p.id} · LPIPS {p.lpips:.3f}"
    return p.id


def _priority(p: Point, front_ids: set[str], highlight: str | None) -> tuple[int, float]:
    """Which labels win a crowded spot: the ringed model, the front, baselines, family
    defaults, then the rest from the top of the chart down."""
    flags = (p.id == highlight, p.id in front_ids, p.baseline, p.default)
    rank = next((i for i, flag in enumerate(flags) if flag), len(flags))
    return (rank, -(p.psnr or 0.0))


@dataclass
class Panel:
    """One scale's axes, drawn, with what is left to place once the layout is final."""

    ax: Any
    labels: list[Label]
    markers: list[tuple[float, float, float]]  # x, y, radius in points
    note: Any | None
    unshown: str
    front: list[tuple[float, float]]


def _draw(ax: Any, catalog: Catalog, scale: int, protocol: str, highlight: str | None) -> Panel:
    """One scale's panel under one protocol: fidelity, perceptual and baseline models, the
    front, a highlight. Labels wait for :func:`_label` (the layout must be final first)."""
    group = points(catalog, scale, protocol)
    shown = [p for p in group if p.plotted]
    for name, colour, marker in KINDS:
        chosen = [p for p in shown if _kind(p) == name]
        if not chosen:
            continue
        lpips = name == PERCEPTUAL and any(p.lpips is not None for p in chosen)
        ax.scatter(
            [p.ms for p in chosen],
            [p.psnr for p in chosen],
            s=MARKER_S,
            marker=marker,
            label=PERCEPTUAL_LPIPS if lpips else name,
            zorder=3,
            facecolors="none" if name == PERCEPTUAL else colour,
            edgecolors=colour,
            linewidths=1.5,
        )
    front = pareto_front(group)
    if len(front) > 1:
        ax.step(
            [p.ms for p in front],
            [p.psnr for p in front],
            where="post",
            color=FRONT_COLOUR,
            linewidth=1.2,
            linestyle="--",
            label="Pareto front (fidelity)",
            zorder=2,
        )
    front_ids = {p.id for p in front} if len(front) > 1 else set()
    markers = [(p.ms or 0.0, p.psnr or 0.0, math.sqrt(MARKER_S) / 2 + 1) for p in shown]
    marked = next((p for p in shown if p.id == highlight), None)
    if marked is not None:
        ax.scatter(
            [marked.ms],
            [marked.psnr],
            s=RING_S,
            facecolors="none",
            edgecolors=HIGHLIGHT_COLOUR,
            linewidths=2.5,
            zorder=4,
            label=f"your choice: {marked.id}",
        )
        markers.append((marked.ms or 0.0, marked.psnr or 0.0, math.sqrt(RING_S) / 2 + 1))
    ordered = sorted(shown, key=lambda p: _priority(p, front_ids, highlight))
    labels = [
        Label(
            label_text(p),
            p.ms or 0.0,
            p.psnr or 0.0,
            colour="#212121" if p.id in front_ids or p.id == highlight else NOTE_COLOUR,
            bold=p.id in front_ids,
            clearance=RING_CLEARANCE if p.id == highlight else 0.0,
            must=p.id == highlight,
        )
        for p in ordered
    ]
    ax.set_xscale("log")
    ax.set_xlabel("ms per output megapixel (log scale; left is faster)")
    entries = [e for e in catalog.entries if e.scale == scale]
    sets = common_sets(entries, protocol)
    ax.set_ylabel("mean PSNR-Y, dB (higher is better)")
    ax.set_title(chart_title(scale, protocol, sets), loc="left", fontweight="bold")
    ax.set_title(condition(PROTOCOLS[protocol], scale), loc="right", fontsize=7, color=NOTE_COLOUR)
    ax.grid(True, which="both", alpha=0.25)
    if not shown:
        where = "" if protocol == BICUBIC else f" under {protocol}"
        ax.text(
            0.5,
            0.5,
            f"not measured{where} yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
        ax.set_xlim(1, 10_000)
    else:
        _pad_limits(ax, shown)
    missing = len(group) - len(shown)
    why = "not measured yet" if protocol == BICUBIC else f"not measured under {protocol} yet"
    unshown = f"{why} (not shown): {missing} model" + "s" * (missing != 1) if missing else ""
    labels = labels if shown else []
    worst = _note(unshown, len(labels))
    note = None
    if worst:
        # Drawn with the longest text it can get (every label left out), so labels keep
        # clear of it; the real count is written once they are placed.
        note = ax.text(
            0.01,
            0.99,
            worst,
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=7,
            color=NOTE_COLOUR,
            zorder=6,
        )
    front_line = [(p.ms or 0.0, p.psnr or 0.0) for p in front] if len(front) > 1 else []
    return Panel(ax, labels, markers, note, unshown, front_line)


def _note(unshown: str, left_out: int) -> str:
    """The corner note: models not drawn (no numbers under this protocol, or no speed),
    and labels left out where the panel is crowded."""
    crowded = f"{left_out} crowded label" + "s" * (left_out != 1) + " left out" if left_out else ""
    return "; ".join(part for part in (unshown, crowded) if part)


def _legend(fig: Any, axes: Sequence[Any]) -> None:
    """One legend under the panels, outside them: inside, it would hide points (a
    crowded panel has no empty corner) or the note."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside lower center",
            # Three columns fit a 7-inch figure only with short entries.
            ncol=min(3 if max(map(len, handles)) <= 34 else 2, len(handles)),
            fontsize=7,
            frameon=False,
        )


def _label(panel: Panel, renderer: Any) -> None:
    """Place the labels around the markers and the corner note; then fix the note."""
    ax = panel.ax
    obstacles = [marker_box(ax, x, y, r) for x, y, r in panel.markers]
    obstacles += step_boxes(ax, panel.front)
    if panel.note is not None:
        box = panel.note.get_window_extent(renderer)
        obstacles.append((box.x0, box.y0, box.x1, box.y1))
    left_out = place(ax, panel.labels, renderer, obstacles)
    if panel.note is not None:
        panel.note.set_text(_note(panel.unshown, len(left_out)))


def _pad_limits(ax: Any, shown: Sequence[Point]) -> None:
    """Room for the labels: half a decade left, a decade and a half right, 1 dB above."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    xs = [math.log10(p.ms) for p in shown if p.ms is not None]
    ys = [p.psnr for p in shown if p.psnr is not None]
    low, high = min(xs) - 0.3, max(xs) + 0.6
    if high - low < 2:  # at least two decades, so there are labelled ticks
        middle = (low + high) / 2
        low, high = middle - 1, middle + 1
    ax.set_xlim(10**low, 10**high)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def default_scales(catalog: Catalog, protocol: str) -> list[int]:
    """The scales a chart under ``protocol`` shows when none is asked for: those where
    some model has numbers under it, the global default's scale first. Every scale for an
    unmeasured catalog under bicubic (the panels say so); a QueryError for a protocol
    nothing is measured under, naming those that are."""
    entries_at = {s: [e for e in catalog.entries if e.scale == s] for s in chart_scales(catalog)}
    measured = [s for s, group in entries_at.items() if measured_count(group, protocol)]
    if measured or protocol == BICUBIC:
        return measured or list(entries_at)
    available = [
        name
        for name in PROTOCOLS
        if any(measured_count(group, name) for group in entries_at.values())
    ]
    raise QueryError(
        f"no model in the catalog has numbers under protocol {protocol!r} yet",
        hint="measured so far: " + ", ".join(available)
        if available
        else "run `upscaler eval --write` first",
    )


def render(
    catalog: Catalog,
    *,
    scales: Sequence[int] | None = None,
    protocol: str = BICUBIC,
    fmt: str = "png",
    highlight: str | None = None,
    width_in: float = 8.0,
) -> bytes:
    """The chart as PNG or SVG bytes: one panel per scale, every number under ``protocol``.

    Without ``scales``, every scale with numbers under the protocol, the global
    default's first. ``highlight`` rings one model (the explorer's current choice).
    Output is deterministic for a given catalog (no dates in the metadata, a fixed SVG
    id salt), so docs builds do not churn.
    """
    if fmt not in FORMATS:
        raise QueryError(f"chart format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    protocol = protocol_named(protocol).name
    available = chart_scales(catalog)
    wanted = list(scales) if scales else default_scales(catalog, protocol)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise QueryError(
            f"no model has scale {unknown[0]}; scales in the catalog: "
            + ", ".join(str(s) for s in sorted(available))
        )
    import_matplotlib()
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heights = [
        5.8 if sum(p.plotted for p in points(catalog, s, protocol)) > CROWDED else 4.6
        for s in wanted
    ]
    with rc_context({"svg.hashsalt": "upscaler", "font.size": 9}):
        fig = Figure(figsize=(width_in, sum(heights)), dpi=DPI, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        axes = fig.subplots(len(wanted), 1, squeeze=False, height_ratios=heights)
        panels = [
            _draw(ax, catalog, scale, protocol, highlight)
            for ax, scale in zip(axes[:, 0], wanted, strict=True)
        ]
        _legend(fig, [panel.ax for panel in panels])
        fig.draw_without_rendering()  # the final layout, then freeze it for the labels
        fig.set_layout_engine("none")
        renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
        for panel in panels:
            _label(panel, renderer)
        buffer = io.BytesIO()
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()
