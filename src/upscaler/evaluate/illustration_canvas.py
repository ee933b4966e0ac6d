"""A tiny supersampling rasteriser whose output is the same on every machine.

The illustration set is pinned by the sha256 of its pixels, so the drawing code may only
use arithmetic that IEEE 754 defines exactly: ``+ - * /``, ``sqrt``, ``floor`` and
comparisons, element by element (numpy's ufuncs for these are correctly rounded whatever
SIMD path they take). No Pillow drawing (its ellipse and polygon algorithms have changed
between releases), no ``np.sin``/``np.exp`` on pixels (their vectorised versions differ
by an ulp between CPUs), and the few angles a scene needs become direction vectors
rounded to a 2^-20 grid (:func:`unit`), so an ulp of difference in the C library's
``cos`` cannot move them.

Shapes are drawn in painter's order on an 8-bit canvas of 4x4 samples per pixel; the
picture is their box-filtered mean (integer sums, rounded half up), which is how drawing
programs anti-alias an export. Coordinates are in output pixels, (0, 0) the top-left
corner of the top-left pixel; a sample sits at the centre of its quarter-pixel cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from upscaler.evaluate.illustration_font import GLYPH_HEIGHT, text_bitmap

SUPERSAMPLE = 4
"""Samples per pixel along each axis (16 per pixel)."""

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Colour = tuple[int, int, int]
Point = tuple[float, float]
Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in output pixels."""
Inside = Callable[[Floats, Floats], Mask]
"""Sample x (shape ``(1, w)``) and y (``(h, 1)``) → which samples the shape covers."""
Shader = Callable[[Floats, Floats], Floats]
"""Sample x and y → float RGB (``(h, w, 3)``, 0..255), for gradients."""
Paint = Colour | Shader

_GRID = float(2**20)


def unit(degrees: float) -> Point:
    """The direction at ``degrees`` (clockwise from +x, y pointing down), rounded to 2^-20.

    Rounding makes the vector independent of the last bits of the platform's ``cos``.
    """
    radians = math.radians(degrees)
    return (round(math.cos(radians) * _GRID) / _GRID, round(math.sin(radians) * _GRID) / _GRID)


@dataclass(frozen=True)
class Shape:
    """A region: a bounding box (None for an endless pattern) and a coverage test."""

    box: Box | None
    inside: Inside

    def __and__(self, other: Shape) -> Shape:
        box = _intersect(self.box, other.box)
        first, second = self.inside, other.inside
        return Shape(box, lambda x, y: first(x, y) & second(x, y))

    def __or__(self, other: Shape) -> Shape:
        if self.box is None or other.box is None:
            box = None
        else:
            box = (
                min(self.box[0], other.box[0]),
                min(self.box[1], other.box[1]),
                max(self.box[2], other.box[2]),
                max(self.box[3], other.box[3]),
            )
        first, second = self.inside, other.inside
        return Shape(box, lambda x, y: first(x, y) | second(x, y))

    def __sub__(self, other: Shape) -> Shape:
        first, second = self.inside, other.inside
        return Shape(self.box, lambda x, y: first(x, y) & ~second(x, y))


def _intersect(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def rect(x0: float, y0: float, x1: float, y1: float) -> Shape:
    """An axis-aligned rectangle."""
    return Shape((x0, y0, x1, y1), lambda x, y: (x >= x0) & (x < x1) & (y >= y0) & (y < y1))


def ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> Shape:
    """An ellipse with radii ``rx`` along ``angle`` and ``ry`` across it."""
    c, s = unit(angle)
    reach = max(rx, ry)
    rx2, ry2 = rx * rx, ry * ry

    def inside(x: Floats, y: Floats) -> Mask:
        dx, dy = x - cx, y - cy
        u = dx * c + dy * s
        v = dy * c - dx * s
        return (u * u) / rx2 + (v * v) / ry2 <= 1.0

    return Shape((cx - reach, cy - reach, cx + reach, cy + reach), inside)


def circle(cx: float, cy: float, r: float) -> Shape:
    """A disc."""
    return ellipse(cx, cy, r, r)


def polygon(points: Sequence[Point]) -> Shape:
    """A polygon filled by the even-odd rule (a ray's crossings), any shape or winding."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    edges = [
        (points[i], points[(i + 1) % len(points)])
        for i in range(len(points))
        if points[i][1] != points[(i + 1) % len(points)][1]
    ]

    def inside(x: Floats, y: Floats) -> Mask:
        shape: tuple[int, ...] = np.broadcast_shapes(x.shape, y.shape)
        result = np.zeros(shape, dtype=np.bool_)
        column = y.ndim == 2 and y.shape[-1] == 1 and shape[0] == y.shape[0]
        rows = y.reshape(-1) if column else None
        for (xa, ya), (xb, yb) in edges:
            slope = (xb - xa) / (yb - ya)
            if rows is not None:
                # Sample rows are sorted: only those between the edge's ends can cross it.
                first = int(np.searchsorted(rows, min(ya, yb), side="left"))
                last = int(np.searchsorted(rows, max(ya, yb), side="left"))
                if first < last:
                    band = y[first:last]
                    result[first:last] ^= x < xa + (band - ya) * slope
                continue
            spans = (y < ya) != (y < yb)
            result ^= spans & (x < xa + (y - ya) * slope)
        return result

    return Shape((min(xs), min(ys), max(xs), max(ys)), inside)


def segment(a: Point, b: Point, r0: float, r1: float | None = None) -> Shape:
    """A stroke from ``a`` to ``b``, half-width ``r0`` at ``a`` tapering to ``r1`` at ``b``,
    with round ends (an inking pen's line)."""
    end = r0 if r1 is None else r1
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    reach = max(r0, end)

    def inside(x: Floats, y: Floats) -> Mask:
        px, py = x - ax, y - ay
        if length2 == 0.0:
            return px * px + py * py <= r0 * r0
        t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
        ex, ey = px - t * dx, py - t * dy
        radius = r0 + (end - r0) * t
        return ex * ex + ey * ey <= radius * radius

    box = (min(ax, bx) - reach, min(ay, by) - reach, max(ax, bx) + reach, max(ay, by) + reach)
    return Shape(box, inside)


def dots(period: float, angle: float, radius: float | Shader) -> Shape:
    """Screentone: a grid of dots at ``angle``; ``radius`` may vary (a halftone ramp)
    through a shader whose first channel is read as the radius."""
    c, s = unit(angle)
    half = period / 2.0

    def inside(x: Floats, y: Floats) -> Mask:
        u = x * c + y * s
        v = y * c - x * s
        fu = u - period * np.floor(u / period) - half
        fv = v - period * np.floor(v / period) - half
        r = radius(x, y)[..., 0] if callable(radius) else radius
        return fu * fu + fv * fv <= r * r

    return Shape(None, inside)


def stripes(period: float, angle: float, width: float) -> Shape:
    """Hatching: parallel lines ``width`` wide every ``period`` pixels, across ``angle``."""
    c, s = unit(angle)

    def inside(x: Floats, y: Floats) -> Mask:
        u = x * c + y * s
        return u - period * np.floor(u / period) < width

    return Shape(None, inside)


def text(line: str, x0: float, y0: float, cell: float, shear: float = 0.0) -> Shape:
    """A line of the bitmap font, top-left at ``(x0, y0)``, each font dot ``cell`` pixels;
    ``shear`` leans it (pixels right per pixel of height) like italic lettering."""
    bitmap = text_bitmap(line)
    rows, cols = bitmap.shape
    bottom = y0 + GLYPH_HEIGHT * cell

    def inside(x: Floats, y: Floats) -> Mask:
        col = np.floor((x - x0 - shear * (bottom - y)) / cell)
        row = np.floor((y - y0) / cell)
        row, col = np.broadcast_arrays(row, col)
        valid = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        hit: Mask = bitmap[
            np.clip(row, 0, rows - 1).astype(np.intp), np.clip(col, 0, cols - 1).astype(np.intp)
        ]
        found: Mask = hit & valid
        return found

    return Shape((x0, y0, x0 + cols * cell + shear * rows * cell, bottom), inside)


def text_width(line: str, cell: float) -> float:
    """How wide :func:`text` draws ``line`` (unsheared)."""
    return float(text_bitmap(line).shape[1]) * cell


def linear(a: Point, b: Point, start: Colour, end: Colour) -> Shader:
    """``start`` at ``a`` blending to ``end`` at ``b`` (constant beyond both)."""
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    c0 = np.array(start, dtype=np.float64)
    delta = np.array(end, dtype=np.float64) - c0

    def shade(x: Floats, y: Floats) -> Floats:
        # An axis-aligned gradient stays one row or column wide (numpy broadcasts it);
        # adding the zero term would give the same numbers over the whole window.
        if dx == 0.0:
            along = (y - ay) * dy
        elif dy == 0.0:
            along = (x - ax) * dx
        else:
            along = (x - ax) * dx + (y - ay) * dy
        t = np.clip(along / length2, 0.0, 1.0)
        return c0 + t[..., np.newaxis] * delta

    return shade


def radial(centre: Point, radius: float, inner: Colour, outer: Colour) -> Shader:
    """``inner`` at ``centre`` blending to ``outer`` at ``radius`` and beyond."""
    cx, cy = centre
    c0 = np.array(inner, dtype=np.float64)
    delta = np.array(outer, dtype=np.float64) - c0

    def shade(x: Floats, y: Floats) -> Floats:
        dx, dy = x - cx, y - cy
        t = np.clip(np.sqrt(dx * dx + dy * dy) / radius, 0.0, 1.0)
        return c0 + t[..., np.newaxis] * delta

    return shade


def bezier(p0: Point, p1: Point, p2: Point, p3: Point, steps: int = 24) -> list[Point]:
    """Points along a cubic Bézier curve (the curve tool of every drawing program)."""
    points: list[Point] = []
    for i in range(steps + 1):
        t = i / steps
        m = 1.0 - t
        a, b, c, d = m * m * m, 3.0 * m * m * t, 3.0 * m * t * t, t * t * t
        points.append(
            (
                a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
            )
        )
    return points


class Canvas:
    """An RGB picture of ``width`` x ``height`` pixels, drawn at 4x4 samples per pixel."""

    def __init__(self, width: int, height: int, background: Paint) -> None:
        self.width = width
        self.height = height
        self.clip: Shape | None = None
        """When set, every fill is limited to it (a comic panel's inside)."""
        self.samples = np.zeros((height * SUPERSAMPLE, width * SUPERSAMPLE, 3), dtype=np.uint8)
        self.fill(rect(0.0, 0.0, float(width), float(height)), background)

    def fill(self, shape: Shape, paint: Paint) -> None:
        """Paint the samples inside ``shape`` (which must be bounded) with ``paint``."""
        if self.clip is not None:
            shape = shape & self.clip
        if shape.box is None:
            raise ValueError("an endless pattern must be intersected with a bounded shape")
        x0, y0, x1, y1 = shape.box
        rows, cols = self.samples.shape[:2]
        i0 = max(0, math.floor(y0 * SUPERSAMPLE))
        i1 = min(rows, math.ceil(y1 * SUPERSAMPLE))
        j0 = max(0, math.floor(x0 * SUPERSAMPLE))
        j1 = min(cols, math.ceil(x1 * SUPERSAMPLE))
        if i0 >= i1 or j0 >= j1:
            return
        y = ((np.arange(i0, i1, dtype=np.float64) + 0.5) / SUPERSAMPLE)[:, np.newaxis]
        x = ((np.arange(j0, j1, dtype=np.float64) + 0.5) / SUPERSAMPLE)[np.newaxis, :]
        mask = np.broadcast_to(shape.inside(x, y), (i1 - i0, j1 - j0))
        if not mask.any():
            return
        if callable(paint):
            # Rounded before broadcasting: a vertical gradient is computed once per row.
            colours = np.clip(np.floor(paint(x, y) + 0.5), 0, 255).astype(np.uint8)
        else:
            colours = np.array(paint, dtype=np.uint8)
        np.copyto(self.samples[i0:i1, j0:j1], colours, where=mask[..., np.newaxis])

    def stroke(
        self,
        points: Sequence[Point],
        width: float | Sequence[float],
        paint: Paint,
        *,
        closed: bool = False,
    ) -> None:
        """Ink a polyline; ``width`` is one width or one per point (a tapering line)."""
        path = list(points) + ([points[0]] if closed else [])
        widths = [float(width)] * len(path) if isinstance(width, (int, float)) else list(width)
        if closed and len(widths) == len(points):
            widths.append(widths[0])
        for i in range(len(path) - 1):
            self.fill(segment(path[i], path[i + 1], widths[i] / 2, widths[i + 1] / 2), paint)

    def outlined(self, shape: Shape, paint: Paint, ink: Colour, line: float) -> None:
        """Fill ``shape`` with an ink outline ``line`` pixels wide just inside its edge (the
        whole shape is inked, then a copy shrunk by ``line`` is filled over it)."""
        self.fill(shape, ink)
        self.fill(inset(shape, line), paint)

    def picture(self) -> npt.NDArray[np.uint8]:
        """The box-filtered picture: each pixel the rounded mean of its 16 samples."""
        blocks = self.samples.reshape(self.height, SUPERSAMPLE, self.width, SUPERSAMPLE, 3)
        total = blocks.sum(axis=(1, 3), dtype=np.uint32)
        half = SUPERSAMPLE * SUPERSAMPLE // 2
        picture: npt.NDArray[np.uint8] = ((total + half) // (SUPERSAMPLE * SUPERSAMPLE)).astype(
            np.uint8
        )
        return picture


def inset(shape: Shape, line: float) -> Shape:
    """``shape`` less a band ``line`` wide along its edge: what lies inside an outline, so
    shading painted on it leaves the ink alone. The band is found by testing 8 offsets,
    enough for the smooth shapes and lines of a few pixels the scenes outline."""
    inside = shape.inside
    d = line / math.sqrt(2.0)
    offsets = [(line, 0.0), (-line, 0.0), (0.0, line), (0.0, -line), (d, d), (d, -d), (-d, d)]
    offsets.append((-d, -d))

    def shrunk(x: Floats, y: Floats) -> Mask:
        result = inside(x, y)
        for ox, oy in offsets:
            result = result & inside(x + ox, y + oy)
        return result

    return Shape(shape.box, shrunk)
