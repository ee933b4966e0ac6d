"""The quality-vs-speed chart: mean PSNR-Y against ms per output megapixel, per scale.

Drawn with matplotlib, which is optional (the ``docs`` extra) and imported only here,
inside :func:`render`, so ``import upscaler`` and ``upscaler --help`` stay fast. The
object-oriented API (:class:`matplotlib.figure.Figure`) is used rather than pyplot: no
GUI backend, no global state, safe in the docs build and in the explorer's threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from upscaler.catalog.loader import Catalog
from upscaler.errors import DependencyError, QueryError
from upscaler.gallery.measures import (
    Point,
    common_sets,
    pareto_front,
    points,
    scales_of,
    sets_label,
)

INSTALL = "pip install 'upscaler[docs]'"
FORMATS = ("png", "svg")
FIDELITY_COLOUR = "#3949ab"  # the docs' indigo
PERCEPTUAL_COLOUR = "#d81b60"
BASELINE_COLOUR = "#757575"
FRONT_COLOUR = "#43a047"
HIGHLIGHT_COLOUR = "#ff6f00"


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


def _label_below(p: Point, shown: Sequence[Point], y_span: float) -> bool:
    """Put a label under its point when a higher neighbour's label would collide with it."""
    assert p.ms is not None and p.psnr is not None
    for q in shown:
        if q is p or q.ms is None or q.psnr is None:
            continue
        near_x = abs(math.log10(q.ms) - math.log10(p.ms)) < 0.45
        gap = q.psnr - p.psnr
        if near_x and 0 <= gap < 0.08 * y_span and (gap > 0 or q.id < p.id):
            return True
    return False


PERCEPTUAL = "perceptual (not trained for PSNR)"
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


def _draw(ax: Any, catalog: Catalog, scale: int, highlight: str | None) -> None:
    """One scale's panel: fidelity, perceptual and baseline models, the front, a highlight."""
    group = points(catalog, scale)
    shown = [p for p in group if p.plotted]
    for name, colour, marker in KINDS:
        chosen = [p for p in shown if _kind(p) == name]
        if not chosen:
            continue
        ax.scatter(
            [p.ms for p in chosen],
            [p.psnr for p in chosen],
            s=36,
            marker=marker,
            label=name,
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
    front_ids = {p.id for p in front}
    ys = [p.psnr for p in shown if p.psnr is not None]
    y_span = (max(ys) - min(ys)) if ys else 1.0
    for p in shown:
        ax.annotate(
            p.id,
            (p.ms, p.psnr),
            xytext=(5, -10) if _label_below(p, shown, y_span) else (5, 3),
            textcoords="offset points",
            fontsize=7,
            color="#212121" if p.id in front_ids else "#616161",
            fontweight="bold" if p.id in front_ids else "normal",
        )
    marked = next((p for p in shown if p.id == highlight), None)
    if marked is not None:
        ax.scatter(
            [marked.ms],
            [marked.psnr],
            s=260,
            facecolors="none",
            edgecolors=HIGHLIGHT_COLOUR,
            linewidths=2.5,
            zorder=4,
            label=f"your choice: {marked.id}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("ms per output megapixel (log scale; left is faster)")
    sets = common_sets(e for e in catalog.entries if e.scale == scale)
    ax.set_ylabel(f"mean PSNR-Y, dB ({sets_label(sets)})" if sets else "mean PSNR-Y, dB")
    ax.set_title(f"x{scale}", loc="left", fontweight="bold")
    ax.grid(True, which="both", alpha=0.25)
    missing = [p.id for p in group if not p.plotted]
    if not shown:
        ax.text(0.5, 0.5, "not measured yet", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlim(1, 10_000)
    else:
        _pad_limits(ax, shown)
        ax.legend(loc="best", fontsize=7, framealpha=0.9)
    if missing:
        ax.text(
            0.01,
            0.99,
            f"not measured yet (not shown): {len(missing)} model" + "s" * (len(missing) != 1),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=7,
            color="#616161",
        )


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


def render(
    catalog: Catalog,
    *,
    scales: Sequence[int] | None = None,
    fmt: str = "png",
    highlight: str | None = None,
    width_in: float = 8.0,
) -> bytes:
    """The chart as PNG or SVG bytes: one panel per scale (every scale by default).

    ``highlight`` rings one model (the explorer's current choice). Output is
    deterministic for a given catalog (no dates in the metadata, a fixed SVG id salt),
    so docs builds do not churn.
    """
    if fmt not in FORMATS:
        raise QueryError(f"chart format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    available = scales_of(catalog)
    wanted = list(scales) if scales else available
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise QueryError(
            f"no model has scale {unknown[0]}; scales in the catalog: "
            + ", ".join(str(s) for s in available)
        )
    import_matplotlib()
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context({"svg.hashsalt": "upscaler", "font.size": 9}):
        fig = Figure(figsize=(width_in, 4.6 * len(wanted)), layout="constrained")
        axes = fig.subplots(len(wanted), 1, squeeze=False)
        for ax, scale in zip(axes[:, 0], wanted, strict=True):
            _draw(ax, catalog, scale, highlight)
        buffer = io.BytesIO()
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
    return buffer.getvalue()
