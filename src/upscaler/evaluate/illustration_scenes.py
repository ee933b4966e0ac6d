"""Scene recipes for the illustration set: what a cel-style drawing is made of.

Each recipe draws one kind of picture from a seeded generator: a portrait, an eye
close-up, a manga page, a landscape, mascots, a hard-edge test card, a poster with
lettering, a still life. Between them they hold what anime and illustration models are
built for and photo sets lack: flat colour regions, dark anti-aliased outlines of varying
width, smooth gradients, screentone dots and hatching, hairlines, lettering, eyes with
highlights, and high-contrast edges at every angle. Every number comes from the
generator or from a constant here, so a recipe plus a seed is a picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from upscaler.evaluate.illustration_canvas import (
    Canvas,
    Colour,
    Floats,
    Mask,
    Point,
    Shape,
    bezier,
    circle,
    dots,
    ellipse,
    inset,
    linear,
    polygon,
    radial,
    rect,
    segment,
    stripes,
    text,
    text_width,
    unit,
)

T = TypeVar("T")
Scene = Callable[[np.random.Generator, int, int], Canvas]

INK: Colour = (28, 22, 30)
BLACK: Colour = (0, 0, 0)
WHITE: Colour = (255, 255, 255)
SKIN: tuple[Colour, ...] = ((255, 226, 204), (252, 214, 188), (238, 194, 160), (196, 146, 112))
HAIR: tuple[Colour, ...] = (
    (70, 46, 44),
    (236, 128, 168),
    (84, 118, 214),
    (246, 212, 118),
    (150, 92, 54),
    (44, 44, 62),
    (206, 206, 222),
    (104, 186, 142),
)
IRIS: tuple[Colour, ...] = (
    (56, 118, 218),
    (196, 58, 88),
    (66, 156, 88),
    (146, 78, 198),
    (214, 146, 40),
)
CLOTH: tuple[Colour, ...] = (
    (226, 58, 70),
    (44, 62, 124),
    (248, 248, 244),
    (248, 186, 60),
    (88, 168, 200),
    (120, 80, 160),
)
SKIES: tuple[tuple[Colour, Colour], ...] = (
    ((112, 168, 236), (176, 214, 250)),
    ((246, 164, 128), (255, 214, 170)),
    ((92, 82, 150), (176, 132, 176)),
    ((140, 200, 236), (214, 238, 250)),
)
PASTELS: tuple[Colour, ...] = (
    (255, 226, 236),
    (222, 240, 255),
    (232, 250, 222),
    (255, 246, 210),
    (236, 226, 255),
)
PHRASES: tuple[str, ...] = (
    "HELLO!",
    "WAIT...",
    "NO WAY!",
    "LEVEL 3",
    "THE END?",
    "OPEN 10:00",
    "CHAPTER 7",
    "SALE -50",
    "GOOD NIGHT",
    "WHY?!",
    "LET'S GO",
    "TO BE CONTINUED",
    "CAFE MOON",
    "STAGE 12",
    "SEE YOU!",
)
SFX: tuple[str, ...] = ("BOOM", "DOKI", "ZAP!", "WHAM", "SNAP", "GO GO")


def _int(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer in ``[low, high]``."""
    return int(rng.integers(low, high + 1))


def _real(rng: np.random.Generator, low: float, high: float) -> float:
    """A float in ``[low, high)``. Only ``random()`` and ``integers()`` are drawn: the
    plainest draws, least likely to change between numpy releases (the pinned hash would
    catch it)."""
    return low + (high - low) * float(rng.random())


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _scaled(colour: Colour, percent: int) -> Colour:
    """``colour`` darkened (or lightened, above 100) in integer arithmetic."""
    r, g, b = (min(255, c * percent // 100) for c in colour)
    return (r, g, b)


def _towards(colour: Colour, target: Colour, percent: int) -> Colour:
    """``colour`` moved ``percent`` of the way to ``target``."""
    r, g, b = (c + (t - c) * percent // 100 for c, t in zip(colour, target, strict=True))
    return (r, g, b)


def _arc(cx: float, cy: float, rx: float, ry: float, *, degrees: range) -> list[Point]:
    """Points on an ellipse at ``degrees`` (clockwise from +x, y down)."""
    points = []
    for angle in degrees:
        c, s = unit(angle)
        points.append((cx + rx * c, cy + ry * s))
    return points


def _taper(count: int, thin: float, thick: float) -> list[float]:
    """Widths along a pen stroke: thin at both ends, ``thick`` in the middle."""
    widths = []
    for i in range(count):
        t = i / max(1, count - 1)
        widths.append(thin + (thick - thin) * 4.0 * t * (1.0 - t))
    return widths


def _speech_bubble(
    canvas: Canvas, rng: np.random.Generator, box: tuple[float, float, float, float], ink: Colour
) -> None:
    """An oval balloon with a tail and a line of lettering inside."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    line = max(1.0, rx / 40)
    side = _pick(rng, (-1.0, 1.0))
    tail = polygon(
        [
            (cx + side * 0.2 * rx, cy + 0.6 * ry),
            (cx + side * 0.55 * rx, cy + 0.5 * ry),
            (cx + side * 0.95 * rx, cy + 1.6 * ry),
        ]
    )
    canvas.outlined(ellipse(cx, cy, rx, ry) | tail, WHITE, ink, line)
    words = _pick(rng, PHRASES)
    cell = max(0.9, min(2.6, 1.3 * rx / max(1.0, text_width(words, 1.0))))
    width = text_width(words, cell)
    canvas.fill(text(words, cx - width / 2, cy - 3.5 * cell, cell), ink)


def _eye(
    canvas: Canvas,
    cx: float,
    cy: float,
    w: float,
    h: float,
    *,
    iris: Colour,
    ink: Colour,
    mirror: float,
) -> None:
    """An anime eye: white, a tall iris with a gradient, pupil, two highlights, a heavy
    upper lid tapering to a flick, a thin lower lid."""
    region = ellipse(cx, cy, w, h)
    canvas.fill(region, WHITE)
    ball = ellipse(cx + 0.08 * w * mirror, cy + 0.08 * h, 0.62 * w, 0.95 * h) & region
    canvas.outlined(
        ball,
        linear((cx, cy - h), (cx, cy + h), _scaled(iris, 45), _towards(iris, WHITE, 45)),
        _scaled(iris, 35),
        max(0.6, 0.06 * w),
    )
    canvas.fill(
        ellipse(cx + 0.08 * w * mirror, cy + 0.1 * h, 0.26 * w, 0.42 * h) & region,
        _scaled(iris, 25),
    )
    canvas.fill(circle(cx - 0.22 * w * mirror, cy - 0.28 * h, 0.2 * w), WHITE)
    canvas.fill(circle(cx + 0.26 * w * mirror, cy + 0.4 * h, 0.09 * w), WHITE)
    lid = bezier(
        (cx - 1.15 * w * mirror, cy - 0.05 * h),
        (cx - 0.55 * w * mirror, cy - 1.25 * h),
        (cx + 0.6 * w * mirror, cy - 1.3 * h),
        (cx + 1.2 * w * mirror, cy - 0.25 * h),
        18,
    )
    widths = [0.12 * w + 0.22 * w * (i / 18) for i in range(19)]
    widths[-1] = 0.05 * w
    canvas.stroke(lid, widths, ink)
    flick = bezier(
        lid[-2],
        (cx + 1.35 * w * mirror, cy - 0.4 * h),
        (cx + 1.45 * w * mirror, cy - 0.5 * h),
        (cx + 1.5 * w * mirror, cy - 0.7 * h),
        6,
    )
    canvas.stroke(flick, [0.16 * w - 0.02 * w * i for i in range(7)], ink)
    lower = bezier(
        (cx - 0.5 * w * mirror, cy + 0.98 * h),
        (cx, cy + 1.08 * h),
        (cx + 0.4 * w * mirror, cy + 1.02 * h),
        (cx + 0.8 * w * mirror, cy + 0.8 * h),
        8,
    )
    canvas.stroke(lower, _taper(9, 0.02 * w, 0.09 * w), ink)


def _character(
    canvas: Canvas,
    rng: np.random.Generator,
    cx: float,
    cy: float,
    r: float,
    *,
    ink: Colour,
    skin: Colour,
    hair: Colour,
    iris: Colour,
    cloth: Colour,
    tone: bool,
) -> None:
    """A head-and-shoulders character centred on the face at ``(cx, cy)``, radius ``r``."""
    line = max(1.0, r / 28)
    long_hair = bool(rng.integers(2))
    back = ellipse(cx, cy - 0.1 * r, 1.28 * r, 1.3 * r)
    if long_hair:
        back = back | polygon(
            [
                (cx - 1.28 * r, cy - 0.1 * r),
                (cx - 1.45 * r, cy + 2.1 * r),
                (cx + 1.45 * r, cy + 2.1 * r),
                (cx + 1.28 * r, cy - 0.1 * r),
            ]
        )
    canvas.outlined(back, _scaled(hair, 80), ink, line)
    # Body and neck.
    bottom = canvas.height + 4.0
    body = polygon(
        [
            (cx - 0.34 * r, cy + 1.3 * r),
            (cx - 1.7 * r, cy + 1.85 * r),
            (cx - 2.1 * r, bottom),
            (cx + 2.1 * r, bottom),
            (cx + 1.7 * r, cy + 1.85 * r),
            (cx + 0.34 * r, cy + 1.3 * r),
        ]
    )
    canvas.outlined(body, cloth, ink, line)
    shadow = inset(body, line) & polygon(
        [(cx + 0.7 * r, cy), (cx + 3 * r, cy), (cx + 3 * r, bottom), (cx + 1.1 * r, bottom)]
    )
    canvas.fill(shadow, _scaled(cloth, 78))
    if tone:
        canvas.fill(shadow & dots(max(2.5, r / 14), 45.0, max(0.6, r / 60)), _scaled(cloth, 55))
    collar = polygon(
        [(cx - 0.6 * r, cy + 1.45 * r), (cx, cy + 2.1 * r), (cx + 0.6 * r, cy + 1.45 * r)]
    )
    canvas.outlined(collar, WHITE, ink, line)
    neck = rect(cx - 0.3 * r, cy + 0.7 * r, cx + 0.3 * r, cy + 1.55 * r)
    canvas.outlined(neck, skin, ink, line)
    canvas.fill(
        rect(cx - 0.3 * r + line, cy + 0.7 * r, cx + 0.3 * r - line, cy + 1.1 * r),
        _scaled(skin, 86),
    )
    # Face.
    face = polygon(
        [
            *_arc(cx, cy, r, r, degrees=range(180, 361, 10)),
            (cx + 0.95 * r, cy + 0.45 * r),
            (cx + 0.55 * r, cy + 0.92 * r),
            (cx, cy + 1.12 * r),
            (cx - 0.55 * r, cy + 0.92 * r),
            (cx - 0.95 * r, cy + 0.45 * r),
        ]
    )
    canvas.outlined(face, skin, ink, line)
    canvas.fill(
        inset(face, line) & ellipse(cx, cy - 0.75 * r, 1.2 * r, 0.75 * r), _scaled(skin, 88)
    )
    # Eyes, brows, nose, mouth, blush.
    iris_w, iris_h = 0.3 * r, 0.36 * r
    for mirror in (-1.0, 1.0):
        ex = cx + mirror * 0.44 * r
        _eye(canvas, ex, cy + 0.22 * r, iris_w, iris_h, iris=iris, ink=ink, mirror=mirror)
        brow = bezier(
            (ex - 0.3 * r * mirror, cy - 0.3 * r),
            (ex - 0.1 * r * mirror, cy - 0.38 * r),
            (ex + 0.15 * r * mirror, cy - 0.38 * r),
            (ex + 0.32 * r * mirror, cy - 0.32 * r),
            8,
        )
        canvas.stroke(brow, _taper(9, 0.01 * r, 0.06 * r), _scaled(hair, 50))
        for k in range(3):
            bx = ex + mirror * (0.05 * r + k * 0.09 * r)
            canvas.stroke(
                [(bx, cy + 0.72 * r), (bx - 0.07 * r, cy + 0.82 * r)],
                [0.035 * r, 0.01 * r],
                (236, 120, 130),
            )
    canvas.stroke(
        [(cx + 0.02 * r, cy + 0.58 * r), (cx - 0.03 * r, cy + 0.64 * r)], [0.02 * r, 0.035 * r], ink
    )
    if rng.integers(2):
        mouth = polygon(_arc(cx, cy + 0.8 * r, 0.16 * r, 0.13 * r, degrees=range(0, 181, 15)))
        canvas.outlined(mouth, (150, 40, 56), ink, line)
        canvas.fill(mouth & circle(cx, cy + 0.98 * r, 0.1 * r), (236, 120, 130))
    else:
        smile = bezier(
            (cx - 0.14 * r, cy + 0.82 * r),
            (cx - 0.05 * r, cy + 0.88 * r),
            (cx + 0.06 * r, cy + 0.88 * r),
            (cx + 0.15 * r, cy + 0.8 * r),
            8,
        )
        canvas.stroke(smile, _taper(9, 0.015 * r, 0.04 * r), ink)
    # Fringe: spikes over the forehead, a shine band across it.
    spikes = _int(rng, 5, 8)
    edge = [(cx + 1.12 * r, cy + 0.3 * r)]
    for i in range(spikes * 2 + 1):
        t = i / (spikes * 2)
        x = cx + 1.05 * r - 2.1 * r * t
        y = cy + (_real(rng, -0.05, 0.2) * r if i % 2 == 0 else -_real(rng, 0.35, 0.55) * r)
        edge.append((x, y))
    edge.append((cx - 1.12 * r, cy + 0.3 * r))
    fringe = polygon(
        _arc(cx, cy - 0.08 * r, 1.13 * r, 1.12 * r, degrees=range(180, 361, 10)) + edge
    )
    canvas.outlined(fringe, hair, ink, line)
    shine = _towards(hair, WHITE, 55)
    for degrees in range(218, 330, 16):
        c, s = unit(degrees)
        c2, s2 = unit(degrees + 9)
        canvas.stroke(
            [
                (cx + 0.78 * r * c, cy - 0.1 * r + 0.78 * r * s),
                (cx + 0.8 * r * c2, cy - 0.1 * r + 0.8 * r * s2),
            ],
            [0.02 * r, 0.07 * r],
            shine,
        )


def portrait(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """A character against a sky gradient, with clouds or sparkles."""
    top, bottom = _pick(rng, SKIES)
    canvas = Canvas(width, height, linear((0.0, 0.0), (0.0, float(height)), top, bottom))
    if rng.integers(2):
        for _ in range(_int(rng, 2, 4)):
            _cloud(
                canvas, rng, _real(rng, 0, width), _real(rng, 0, height * 0.4), _real(rng, 14, 34)
            )
    else:
        for _ in range(_int(rng, 4, 9)):
            _sparkle(canvas, _real(rng, 0, width), _real(rng, 0, height), _real(rng, 4, 12), WHITE)
    r = min(width, height) * _real(rng, 0.17, 0.23)
    _character(
        canvas,
        rng,
        width * _real(rng, 0.4, 0.6),
        height * _real(rng, 0.38, 0.48),
        r,
        ink=INK,
        skin=_pick(rng, SKIN),
        hair=_pick(rng, HAIR),
        iris=_pick(rng, IRIS),
        cloth=_pick(rng, CLOTH),
        tone=True,
    )
    return canvas


def eyes(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """A close-up of a pair of eyes, brows and strands of hair across them."""
    skin = _pick(rng, SKIN)
    canvas = Canvas(width, height, skin)
    iris, hair = _pick(rng, IRIS), _pick(rng, HAIR)
    w = width * _real(rng, 0.11, 0.14)
    h = min(height * 0.28, w * _real(rng, 1.1, 1.35))
    cy = height * _real(rng, 0.45, 0.55)
    canvas.fill(rect(0, 0, width, cy - 1.9 * h), _scaled(skin, 88))
    for mirror in (-1.0, 1.0):
        ex = width / 2 + mirror * width * 0.25
        _eye(canvas, ex, cy, w, h, iris=iris, ink=INK, mirror=mirror)
        brow = bezier(
            (ex - 0.9 * w * mirror, cy - 1.6 * h),
            (ex - 0.3 * w * mirror, cy - 1.9 * h),
            (ex + 0.4 * w * mirror, cy - 1.9 * h),
            (ex + 1.0 * w * mirror, cy - 1.65 * h),
            10,
        )
        canvas.stroke(brow, _taper(11, 0.5, 0.12 * w), _scaled(hair, 50))
        canvas.stroke(
            [(ex + mirror * (0.2 * w + 0.25 * w * k), cy + 1.5 * h) for k in range(2)],
            [0.06 * w, 0.02 * w],
            (236, 120, 130),
        )
    for _ in range(_int(rng, 5, 9)):
        x = _real(rng, 0, width)
        strand = bezier(
            (x, -2.0),
            (x + _real(rng, -30, 30), height * 0.2),
            (x + _real(rng, -40, 40), height * 0.3),
            (x + _real(rng, -50, 50), cy - _real(rng, 0, h)),
            16,
        )
        colour = hair if rng.integers(3) else _scaled(hair, 70)
        thick = _real(rng, 0.08, 0.2) * w
        canvas.stroke(strand, [thick + 1.5 - thick * i / 16 for i in range(17)], INK)
        canvas.stroke(strand, [max(0.0, thick - thick * i / 16) for i in range(17)], colour)
    return canvas


def manga(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """A black-and-white page: panel borders, focus lines, screentone, hatching, a
    balloon with lettering and a sound effect."""
    canvas = Canvas(width, height, WHITE)
    gutter = 6.0
    split_y = height * _real(rng, 0.42, 0.58)
    split_x = width * _real(rng, 0.38, 0.62)
    panels = [
        (gutter, gutter, width - gutter, split_y - gutter / 2),
        (gutter, split_y + gutter / 2, split_x - gutter / 2, height - gutter),
        (split_x + gutter / 2, split_y + gutter / 2, width - gutter, height - gutter),
    ]
    border = _real(rng, 1.5, 3.0)
    for x0, y0, x1, y1 in panels:
        canvas.fill(rect(x0, y0, x1, y1), BLACK)
        canvas.fill(rect(x0 + border, y0 + border, x1 - border, y1 - border), WHITE)
    # Panel 1: a halftone ramp behind a character and a balloon.
    x0, y0, x1, y1 = panels[0]
    inner = rect(x0 + border, y0 + border, x1 - border, y1 - border)
    ramp = linear((0.0, y0), (0.0, y1), (0, 0, 0), (160, 160, 160))
    period = _real(rng, 3.0, 5.0)
    canvas.fill(
        inner & dots(period, 45.0, lambda x, y: ramp(x, y) / 160.0 * period * 0.55 - 0.15 * period),
        (40, 40, 40),
    )
    r = min(y1 - y0, x1 - x0) * 0.24
    face_x = x0 + (x1 - x0) * _real(rng, 0.25, 0.4)
    gray_hair = _pick(rng, ((40, 40, 40), (120, 120, 120), (210, 210, 210)))
    canvas.clip = inner
    _character(
        canvas,
        rng,
        face_x,
        y0 + (y1 - y0) * 0.42,
        r,
        ink=BLACK,
        skin=WHITE,
        hair=gray_hair,
        iris=(90, 90, 90),
        cloth=(150, 150, 150),
        tone=True,
    )
    canvas.clip = None
    bw = (x1 - x0) * 0.22
    bx = x0 + (x1 - x0) * _real(rng, 0.62, 0.72)
    _speech_bubble(canvas, rng, (bx - bw, y0 + 14, bx + bw, y0 + 14 + bw * 0.9), BLACK)
    # Panel 2: focus lines around a sound effect.
    x0, y0, x1, y1 = panels[1]
    inner = rect(x0 + border, y0 + border, x1 - border, y1 - border)
    fx, fy = (x0 + x1) / 2, (y0 + y1) / 2
    reach = max(x1 - x0, y1 - y0)
    for degrees in range(0, 360, 4):
        c, s = unit(degrees + _real(rng, -1.5, 1.5))
        start = _real(rng, 0.35, 0.55) * reach
        line_shape = segment(
            (fx + c * reach, fy + s * reach),
            (fx + c * start, fy + s * start),
            _real(rng, 0.8, 2.2),
            0.15,
        )
        canvas.fill(line_shape & inner, BLACK)
    word = _pick(rng, SFX)
    cell = min((x1 - x0) * 0.8 / text_width(word, 1.0), (y1 - y0) * 0.25 / 7)
    tx, ty = fx - text_width(word, cell) / 2, fy - 3.5 * cell
    for ox, oy in ((-1, -1), (1, -1), (-1, 1), (1, 1), (0, 1.5), (0, -1.5), (1.5, 0), (-1.5, 0)):
        canvas.fill(
            text(word, tx + ox * cell * 0.5, ty + oy * cell * 0.5, cell, 0.25) & inner, BLACK
        )
    canvas.fill(text(word, tx, ty, cell, 0.25) & inner, WHITE)
    # Panel 3: cross-hatching and an object in flat gray.
    x0, y0, x1, y1 = panels[2]
    inner = rect(x0 + border, y0 + border, x1 - border, y1 - border)
    horizon = y0 + (y1 - y0) * _real(rng, 0.5, 0.7)
    canvas.fill(inner & rect(x0, horizon, x1, y1) & stripes(_real(rng, 2.5, 4.0), 45.0, 0.7), BLACK)
    canvas.fill(
        inner & rect(x0, horizon + (y1 - horizon) * 0.5, x1, y1) & stripes(3.0, 135.0, 0.7), BLACK
    )
    canvas.fill(rect(x0 + border, horizon - 0.6, x1 - border, horizon + 0.6), BLACK)
    ox, oy = (x0 + x1) / 2, horizon
    canvas.outlined(
        ellipse(ox, oy - 0.22 * (y1 - y0), 0.2 * (x1 - x0), 0.2 * (x1 - x0)) & inner,
        (200, 200, 200),
        BLACK,
        1.4,
    )
    canvas.fill(
        ellipse(ox - 0.06 * (x1 - x0), oy - 0.29 * (y1 - y0), 0.05 * (x1 - x0), 0.04 * (x1 - x0)),
        WHITE,
    )
    return canvas


def _cloud(canvas: Canvas, rng: np.random.Generator, cx: float, cy: float, r: float) -> None:
    """A cartoon cloud: four puffs and a flat base, outlined, its underside shaded."""
    puffs = [
        circle(cx + dx * r, cy + dy * r, k * r)
        for dx, dy, k in (
            (-1.1, 0.25, 0.7),
            (-0.35, -0.2, 0.95),
            (0.5, -0.05, 0.85),
            (1.2, 0.3, 0.6),
        )
    ]
    shape = (
        puffs[0]
        | puffs[1]
        | puffs[2]
        | puffs[3]
        | rect(cx - 1.1 * r, cy + 0.1 * r, cx + 1.2 * r, cy + 0.85 * r)
    )
    line = max(0.8, r / 16)
    canvas.outlined(shape, WHITE, _pick(rng, ((150, 170, 210), (120, 120, 170), INK)), line)
    canvas.fill(
        inset(shape, line) & rect(cx - 2 * r, cy + 0.45 * r, cx + 2 * r, cy + r), (226, 232, 246)
    )


def _sparkle(canvas: Canvas, cx: float, cy: float, r: float, colour: Colour) -> None:
    """A four-pointed twinkle (the sparkle drawn around cute characters)."""
    arms = [
        (cx + r * c, cy + r * s) if i % 2 == 0 else (cx + 0.25 * r * c, cy + 0.25 * r * s)
        for i, (c, s) in enumerate(unit(d) for d in range(0, 360, 45))
    ]
    canvas.fill(polygon(arms), colour)


def _star(cx: float, cy: float, r: float, turn: float) -> Shape:
    """A five-pointed star turned by ``turn`` degrees."""
    points = []
    for i in range(10):
        c, s = unit(turn + 36.0 * i - 90.0)
        k = r if i % 2 == 0 else 0.45 * r
        points.append((cx + k * c, cy + k * s))
    return polygon(points)


def landscape(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """Sky, sun, clouds, mountains with snow and shadow, hills, trees, wires and birds."""
    top, bottom = _pick(rng, SKIES)
    canvas = Canvas(width, height, linear((0.0, 0.0), (0.0, height * 0.7), top, bottom))
    sx, sy = width * _real(rng, 0.15, 0.85), height * _real(rng, 0.12, 0.3)
    sr = min(width, height) * _real(rng, 0.06, 0.1)
    canvas.fill(
        circle(sx, sy, sr * 1.6), radial((sx, sy), sr * 1.6, _towards(bottom, WHITE, 60), bottom)
    )
    canvas.fill(circle(sx, sy, sr), (255, 244, 200))
    for _ in range(_int(rng, 1, 3)):
        _cloud(canvas, rng, _real(rng, 0, width), _real(rng, 10, height * 0.35), _real(rng, 12, 30))
    base = height * _real(rng, 0.55, 0.65)
    for _ in range(_int(rng, 2, 3)):
        px, ph, pw = (
            _real(rng, 0, width),
            height * _real(rng, 0.3, 0.45),
            width * _real(rng, 0.2, 0.35),
        )
        peak = (px, base - ph)
        mountain = polygon([(px - pw, base + 2), peak, (px + pw, base + 2)])
        tone = _pick(rng, ((112, 120, 170), (96, 132, 150), (140, 118, 160)))
        canvas.outlined(mountain, tone, INK, 1.2)
        canvas.fill(
            inset(mountain, 1.2) & polygon([peak, (px + pw, base + 2), (px + 0.1 * pw, base + 2)]),
            _scaled(tone, 80),
        )
        snow = inset(mountain, 1.2) & polygon(
            [
                (px - pw, base - 0.72 * ph),
                (px + pw, base - 0.72 * ph),
                (px + pw, base - 2 * ph),
                (px - pw, base - 2 * ph),
            ]
        )
        canvas.fill(snow, WHITE)
    for layer, colour in enumerate(((120, 190, 100), (88, 160, 84))):
        y = base + layer * height * 0.12
        hill = bezier(
            (-4.0, y + _real(rng, -10, 10)),
            (width * 0.3, y - _real(rng, 10, 40)),
            (width * 0.7, y + _real(rng, -20, 30)),
            (width + 4.0, y - _real(rng, 0, 20)),
            28,
        )
        canvas.fill(polygon([*hill, (width + 4.0, height + 4.0), (-4.0, height + 4.0)]), colour)
        canvas.stroke(hill, 1.4, INK)
    for _ in range(_int(rng, 3, 7)):
        tx, ty, th = _real(rng, 0, width), _real(rng, base + 10, height), _real(rng, 18, 40)
        canvas.fill(rect(tx - th * 0.06, ty - th * 0.3, tx + th * 0.06, ty), (110, 70, 50))
        canvas.outlined(
            polygon(
                [(tx - th * 0.3, ty - th * 0.25), (tx, ty - th), (tx + th * 0.3, ty - th * 0.25)]
            ),
            (48, 120, 70),
            INK,
            1.0,
        )
    pole = width * _real(rng, 0.1, 0.3)
    canvas.fill(rect(pole - 1.5, height * 0.25, pole + 1.5, height), (80, 64, 60))
    for k in range(3):
        y = height * 0.27 + k * 5
        wire = bezier(
            (pole, y), (width * 0.5, y + 30), (width * 0.7, y + 30), (width + 5.0, y + 5), 30
        )
        canvas.stroke(wire, _real(rng, 0.4, 1.0), (50, 46, 56))
    for _ in range(_int(rng, 2, 5)):
        bx, by, bs = _real(rng, 0, width), _real(rng, 10, height * 0.4), _real(rng, 3, 7)
        canvas.stroke(
            [(bx - bs, by - bs * 0.5), (bx, by), (bx + bs, by - bs * 0.6)], [0.4, 1.1, 0.4], INK
        )
    return canvas


def mascots(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """Round mascot blobs with thick outlines on a polka-dot ground, stars and hearts."""
    ground = _pick(rng, PASTELS)
    canvas = Canvas(width, height, ground)
    canvas.fill(
        rect(0, 0, width, height) & dots(_real(rng, 18, 30), _real(rng, 0, 45), _real(rng, 3, 6)),
        _scaled(ground, 94),
    )
    for _ in range(_int(rng, 3, 5)):
        r = min(width, height) * _real(rng, 0.1, 0.2)
        bx, by = _real(rng, r, width - r), _real(rng, r, height - r)
        colour = _pick(rng, CLOTH + HAIR)
        body = ellipse(bx, by, r * _real(rng, 1.0, 1.3), r, _real(rng, -20, 20))
        line = _real(rng, 1.5, 3.5)
        canvas.outlined(body, colour, INK, line)
        canvas.fill(
            inset(body, line) - ellipse(bx - 0.2 * r, by - 0.2 * r, r, r), _scaled(colour, 82)
        )
        canvas.fill(
            ellipse(bx - 0.45 * r, by - 0.5 * r, 0.22 * r, 0.12 * r, -30.0),
            _towards(colour, WHITE, 70),
        )
        for mirror in (-1.0, 1.0):
            ex, ey = bx + mirror * 0.32 * r, by - 0.05 * r
            canvas.fill(ellipse(ex, ey, 0.1 * r, 0.16 * r), INK)
            canvas.fill(circle(ex - 0.03 * r, ey - 0.07 * r, 0.045 * r), WHITE)
            canvas.fill(
                ellipse(ex + mirror * 0.12 * r, ey + 0.25 * r, 0.12 * r, 0.06 * r), (246, 140, 150)
            )
        smile = _arc(bx, by + 0.12 * r, 0.14 * r, 0.1 * r, degrees=range(20, 161, 20))
        canvas.stroke(smile, max(0.8, r / 30), INK)
    for _ in range(_int(rng, 3, 6)):
        cx, cy, r = _real(rng, 0, width), _real(rng, 0, height), _real(rng, 6, 16)
        if rng.integers(2):
            canvas.outlined(_star(cx, cy, r, _real(rng, 0, 72)), (252, 214, 70), INK, 1.2)
        else:
            heart = (
                circle(cx - 0.5 * r, cy, 0.55 * r)
                | circle(cx + 0.5 * r, cy, 0.55 * r)
                | polygon(
                    [
                        (cx - 1.03 * r, cy + 0.15 * r),
                        (cx, cy + 1.2 * r),
                        (cx + 1.03 * r, cy + 0.15 * r),
                        (cx, cy),
                    ]
                )
            )
            canvas.outlined(heart, (240, 90, 120), INK, 1.2)
    return canvas


def hard_edges(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """A test card of high-contrast edges at every angle: a Siemens star, rotated bars,
    a fan of hairlines, rings and a rotated checkerboard."""
    light, dark = _pick(
        rng, ((WHITE, BLACK), (WHITE, (200, 20, 30)), ((250, 246, 230), (20, 30, 120)))
    )
    canvas = Canvas(width, height, light)
    cx, cy = width * _real(rng, 0.3, 0.45), height * _real(rng, 0.3, 0.45)
    r = min(width, height) * _real(rng, 0.2, 0.28)
    wedges = _int(rng, 10, 18)
    directions = [unit(180.0 * k / wedges + 3.0) for k in range(wedges)]

    def star(x: Floats, y: Floats) -> Mask:
        parity = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.bool_)
        for c, s in directions:
            parity ^= (x - cx) * s - (y - cy) * c > 0
        return parity

    canvas.fill(circle(cx, cy, r) & Shape(None, star), dark)
    canvas.stroke(_arc(cx, cy, r + 1.5, r + 1.5, degrees=range(0, 361, 6)), 1.0, dark)
    fx, fy = width * _real(rng, 0.65, 0.8), height * _real(rng, 0.25, 0.4)
    for k in range(12):
        c, s = unit(7.5 * k + _real(rng, 0, 7))
        length = min(width, height) * 0.22
        canvas.fill(
            segment(
                (fx - c * length, fy - s * length),
                (fx + c * length, fy + s * length),
                0.25 + 0.1 * (k % 4),
            ),
            dark,
        )
    for _ in range(_int(rng, 4, 7)):
        bx, by = _real(rng, 0, width), _real(rng, height * 0.55, height)
        c, s = unit(_real(rng, 0, 180))
        half_l, half_w = _real(rng, 10, 40), _real(rng, 2, 8)
        corners = [
            (bx + c * a * half_l - s * b * half_w, by + s * a * half_l + c * b * half_w)
            for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))
        ]
        canvas.fill(polygon(corners), dark)
    rx, ry = width * _real(rng, 0.7, 0.85), height * _real(rng, 0.65, 0.8)
    for k in range(6, 0, -1):
        canvas.fill(circle(rx, ry, 4.0 * k), dark if k % 2 else light)
    box = rect(width * 0.05, height * 0.75, width * 0.35, height * 0.95)
    period = _real(rng, 8, 14)
    angle = _real(rng, 10, 35)
    a, b = stripes(period, angle, period / 2), stripes(period, angle + 90.0, period / 2)
    canvas.fill(box & Shape(None, lambda x, y: a.inside(x, y) ^ b.inside(x, y)), dark)
    return canvas


def poster(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """A poster: flat colour bands, an outlined title, badges and small print."""
    base = _pick(rng, PASTELS)
    accent, second = _pick(rng, CLOTH[:2] + CLOTH[3:]), _pick(rng, HAIR)
    canvas = Canvas(width, height, base)
    band = height * _real(rng, 0.22, 0.32)
    canvas.fill(rect(0, 0, width, band), accent)
    canvas.fill(rect(0, band, width, band + 4) & stripes(6.0, 0.0, 3.0), _scaled(accent, 70))
    diagonal = polygon([(0, height * 0.7), (width, height * 0.55), (width, height), (0, height)])
    canvas.fill(diagonal, second)
    canvas.fill(diagonal & stripes(_real(rng, 6, 10), 60.0, 2.0), _scaled(second, 88))
    title = _pick(rng, PHRASES)
    cell = min(width * 0.85 / text_width(title, 1.0), band * 0.5 / 7)
    tx, ty = (width - text_width(title, cell)) / 2, band / 2 - 3.5 * cell
    shear = _pick(rng, (0.0, 0.2))
    for ox, oy in (
        (-1, 0),
        (1, 0),
        (0, -1),
        (0, 1),
        (-0.7, -0.7),
        (0.7, -0.7),
        (-0.7, 0.7),
        (0.7, 0.7),
    ):
        canvas.fill(text(title, tx + ox * cell * 0.45, ty + oy * cell * 0.45, cell, shear), INK)
    canvas.fill(text(title, tx, ty, cell, shear), WHITE)
    y = band + 14.0
    for _ in range(_int(rng, 3, 6)):
        words = _pick(rng, PHRASES)
        cell = _real(rng, 0.9, 2.0)
        if y + 7 * cell > height * 0.55:
            break
        canvas.fill(text(words, 12.0, y, cell), INK)
        y += 7 * cell + _real(rng, 4, 9)
    for _ in range(_int(rng, 1, 3)):
        r = _real(rng, 18, 34)
        bx, by = _real(rng, width * 0.55, width - r - 4), _real(rng, band + r + 4, height - r - 4)
        canvas.outlined(circle(bx, by, r), _pick(rng, ((252, 214, 70), WHITE)), INK, 2.0)
        label = _pick(rng, ("NEW", "50", "OK", "1ST", "GO"))
        lc = r * 1.2 / text_width(label, 1.0)
        canvas.fill(text(label, bx - text_width(label, lc) / 2, by - 3.5 * lc, lc), INK)
    ax, ay = _real(rng, 20, width * 0.4), height * _real(rng, 0.8, 0.9)
    arrow = polygon(
        [
            (ax, ay - 4),
            (ax + 40, ay - 4),
            (ax + 40, ay - 10),
            (ax + 58, ay),
            (ax + 40, ay + 10),
            (ax + 40, ay + 4),
            (ax, ay + 4),
        ]
    )
    canvas.outlined(arrow, WHITE, INK, 1.5)
    return canvas


def still_life(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """A table by a window: striped wallpaper, cel-shaded cups and fruit, a hatched shadow."""
    wall = _pick(rng, PASTELS)
    canvas = Canvas(width, height, wall)
    canvas.fill(
        rect(0, 0, width, height) & stripes(_real(rng, 28, 40), 0.0, _real(rng, 8, 14)),
        _scaled(wall, 95),
    )
    wx0, wy0 = width * _real(rng, 0.05, 0.45), height * 0.08
    wx1, wy1 = wx0 + width * 0.45, height * 0.45
    top, bottom = _pick(rng, SKIES)
    canvas.fill(rect(wx0 - 6, wy0 - 6, wx1 + 6, wy1 + 6), INK)
    canvas.fill(rect(wx0 - 5, wy0 - 5, wx1 + 5, wy1 + 5), (236, 228, 214))
    canvas.fill(rect(wx0, wy0, wx1, wy1), linear((0.0, wy0), (0.0, wy1), top, bottom))
    canvas.fill(rect((wx0 + wx1) / 2 - 2.5, wy0, (wx0 + wx1) / 2 + 2.5, wy1), (236, 228, 214))
    table_y = height * _real(rng, 0.58, 0.68)
    wood = _pick(rng, ((176, 116, 76), (140, 100, 80), (210, 170, 120)))
    top_shape = polygon(
        [(-4, table_y), (width + 4, table_y), (width + 4, table_y + 20), (-4, table_y + 20)]
    )
    canvas.outlined(top_shape, wood, INK, 1.5)
    canvas.fill(rect(-4, table_y + 20, width + 4, height + 4), _scaled(wood, 70))
    depth = (height - table_y - 20) * _real(rng, 0.3, 0.45)
    shadow = rect(-4, table_y + 20, width + 4, table_y + 20 + depth)
    canvas.fill(shadow & stripes(4.0, 45.0, 1.0), _scaled(wood, 50))
    canvas.fill(
        shadow
        & rect(-4, table_y + 20, width + 4, table_y + 20 + depth / 2)
        & stripes(4.0, 135.0, 1.0),
        _scaled(wood, 50),
    )
    x = width * 0.08
    while x < width * 0.85:
        kind = _int(rng, 0, 2)
        size = width * _real(rng, 0.08, 0.14)
        if kind == 0:  # a cup
            cup = rect(x, table_y - size * 1.1, x + size, table_y + 2)
            colour = _pick(rng, CLOTH)
            canvas.stroke(
                _arc(
                    x + size,
                    table_y - size * 0.6,
                    size * 0.3,
                    size * 0.28,
                    degrees=range(270, 451, 15),
                ),
                3.0,
                INK,
            )
            canvas.outlined(cup, colour, INK, 1.5)
            canvas.fill(
                rect(x + size * 0.65, table_y - size * 1.1 + 1.5, x + size - 1.5, table_y + 0.5),
                _scaled(colour, 78),
            )
            canvas.outlined(
                ellipse(x + size / 2, table_y - size * 1.1, size / 2, size * 0.14),
                (90, 56, 40),
                INK,
                1.2,
            )
        elif kind == 1:  # an apple or orange
            r = size / 2
            cx, cy = x + r, table_y - r + 2
            colour = _pick(rng, ((220, 40, 50), (250, 150, 40), (140, 200, 60)))
            fruit = circle(cx, cy, r)
            canvas.outlined(fruit, colour, INK, 1.3)
            canvas.fill(
                inset(fruit, 1.3) - circle(cx - 0.25 * r, cy - 0.25 * r, r), _scaled(colour, 75)
            )
            canvas.fill(ellipse(cx - 0.4 * r, cy - 0.4 * r, 0.22 * r, 0.13 * r, -40.0), WHITE)
            canvas.stroke([(cx, cy - r), (cx + 2, cy - r - 6)], [2.2, 1.4], (90, 60, 40))
        else:  # a book lying flat
            book = rect(x, table_y - size * 0.4, x + size * 1.6, table_y + 1)
            colour = _pick(rng, CLOTH)
            canvas.outlined(book, colour, INK, 1.3)
            canvas.fill(
                rect(x + 3, table_y - size * 0.22, x + size * 1.6 - 1.3, table_y - size * 0.1),
                WHITE,
            )
            size *= 1.6
        x += size + _real(rng, 8, 20)
    return canvas


SCENES: tuple[tuple[str, Scene], ...] = (
    ("portrait", portrait),
    ("eyes", eyes),
    ("manga", manga),
    ("landscape", landscape),
    ("mascots", mascots),
    ("edges", hard_edges),
    ("poster", poster),
    ("still-life", still_life),
)
"""The scene kinds, in the order the set cycles through them."""
