"""Point labels that never overlap: each tries a few spots beside its point, or is left out.

The x2 panel holds fifty models, thirty of them within a factor of two in speed and a dB
in quality; labels always drawn up and to the right pile into an unreadable block.
This is the simple greedy placement cartographers use for point features (try the
positions around the point in a fixed order of preference, keep the first that hits
nothing already placed, most important points first), measured on the real text extents
of the laid-out figure. A label with no free spot is dropped and counted, since a
label over another is worse than none: the page's table lists every model.

matplotlib objects are passed in (this module imports none), so importing it costs
nothing; :mod:`upscaler.gallery.chart` calls it once the figure's layout is final.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

Spot = tuple[float, float, str, str]
Box = tuple[float, float, float, float]

#: Where a label may sit, in order of preference: (dx, dy) in points from the point, and
#: the text's alignment there. Right of the point first, as readers scan left to right.
SPOTS: tuple[Spot, ...] = (
    (5, 2, "left", "bottom"),
    (5, -2, "left", "top"),
    (-5, 2, "right", "bottom"),
    (-5, -2, "right", "top"),
    (0, 6, "center", "bottom"),
    (0, -6, "center", "top"),
)

#: Farther spots, tried only when every near one is taken; a thin leader line then ties
#: the label to its point.
FAR_SPOTS: tuple[Spot, ...] = (
    (16, 12, "left", "bottom"),
    (16, -12, "left", "top"),
    (-16, 12, "right", "bottom"),
    (-16, -12, "right", "top"),
    (0, 22, "center", "bottom"),
    (0, -22, "center", "top"),
    (28, 0, "left", "center"),
    (-28, 0, "right", "center"),
)

#: Clearance around every label, in display pixels, so neighbours do not touch.
PAD_PX = 1.5


@dataclass(frozen=True)
class Label:
    """One point's label: where the point is (data coordinates) and how to write it."""

    text: str
    x: float
    y: float
    colour: str
    bold: bool = False
    #: Extra distance (points) its spots keep from the point: a ringed point is wider.
    clearance: float = 0.0
    #: Never left out: when every spot is taken it goes to the first one inside the axes
    #: anyway (the model a reader picked must be named, even over another label).
    must: bool = False


def _padded(box: Any, pad: float) -> Box:
    return (box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad)


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def marker_box(ax: Any, x: float, y: float, radius_pt: float) -> Box:
    """The display-space square a marker of ``radius_pt`` points covers at (x, y)."""
    px, py = ax.transData.transform((x, y))
    r = radius_pt * ax.figure.dpi / 72
    return (px - r, py - r, px + r, py + r)


def _annotate(ax: Any, label: Label, spot: Spot, fontsize: float, *, leader: bool) -> Any:
    dx, dy, ha, va = spot
    line = {"arrowstyle": "-", "color": label.colour, "lw": 0.5, "shrinkA": 1, "shrinkB": 4}
    return ax.annotate(
        label.text,
        (label.x, label.y),
        xytext=(dx, dy),
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=fontsize,
        color=label.colour,
        fontweight="bold" if label.bold else "normal",
        zorder=5,
        arrowprops=line if leader else None,
    )


def step_boxes(ax: Any, corners: Sequence[tuple[float, float]], every_px: float = 3) -> list[Box]:
    """Small boxes along a step line through ``corners`` (data coordinates, drawn as
    matplotlib's ``where="post"``: across, then up), so labels keep off the line."""
    boxes: list[Box] = []
    path = [ax.transData.transform(c) for c in corners]
    for (x0, y0), (x1, y1) in pairwise(path):
        for (ax0, ay0), (ax1, ay1) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1))):
            steps = max(1, int(max(abs(ax1 - ax0), abs(ay1 - ay0)) / every_px))
            for i in range(steps + 1):
                x = ax0 + (ax1 - ax0) * i / steps
                y = ay0 + (ay1 - ay0) * i / steps
                boxes.append((x - 0.5, y - 0.5, x + 0.5, y + 0.5))
    return boxes


def _leader(ax: Any, label: Label, spot: Spot) -> list[Box]:
    """Small boxes along a leader line's middle, so no label is drawn across it and it
    crosses no label (its ends touch its own point and text, which are allowed)."""
    x, y = ax.transData.transform((label.x, label.y))
    scale = ax.figure.dpi / 72
    dx, dy = spot[0] * scale, spot[1] * scale
    steps = (0.3, 0.45, 0.6, 0.75)
    return [(x + t * dx - 1, y + t * dy - 1, x + t * dx + 1, y + t * dy + 1) for t in steps]


def _spots(label: Label) -> list[tuple[bool, Spot]]:
    """The label's spots, near ones first, each pushed out by its clearance; True marks a
    far spot (drawn with a leader line)."""

    def away(v: float) -> float:
        return v + math.copysign(label.clearance, v) if v else v

    near = [(False, (away(dx), away(dy), ha, va)) for dx, dy, ha, va in SPOTS]
    far = [(True, (away(dx), away(dy), ha, va)) for dx, dy, ha, va in FAR_SPOTS]
    return near + far


def place(
    ax: Any,
    labels: Sequence[Label],
    renderer: Any,
    obstacles: Sequence[Box],
    *,
    fontsize: float = 7,
) -> list[Label]:
    """Annotate ``labels`` in order (most important first); return those left out.

    ``obstacles`` are display-space boxes no label may cover (markers, lines, notes).
    A label must also stay inside the axes, where it cannot collide with tick labels.
    """
    inside = _padded(ax.get_window_extent(renderer), -PAD_PX)
    taken = list(obstacles)
    left_out: list[Label] = []
    for label in labels:
        fallback: tuple[bool, Spot] | None = None
        for far, spot in _spots(label):
            # Measured without its leader line, which starts at the point (an obstacle).
            text = _annotate(ax, label, spot, fontsize, leader=False)
            box = _padded(text.get_window_extent(renderer), PAD_PX)
            text.remove()
            within = (
                box[0] >= inside[0]
                and box[1] >= inside[1]
                and box[2] <= inside[2]
                and box[3] <= inside[3]
            )
            if within and fallback is None:
                fallback = (far, spot)
            line = _leader(ax, label, spot) if far else []
            if within and not any(overlap(b, other) for b in [box, *line] for other in taken):
                taken += [box, *line]
                _annotate(ax, label, spot, fontsize, leader=far)
                break
        else:
            if label.must and fallback is not None:
                _annotate(ax, label, fallback[1], fontsize, leader=fallback[0])
            else:
                left_out.append(label)
    return left_out
