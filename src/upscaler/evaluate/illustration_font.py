"""A 5x7 bitmap font of our own for the generated illustration set's lettering.

Why not Pillow's bundled font (``ImageFont.load_default(size=...)``, Aileron Regular,
released by its author Sora Sagano with "No Rights Reserved", i.e. CC0)? Its glyphs are
rasterised by the FreeType library inside each Pillow wheel, and FreeType's hinting and
anti-aliasing change between releases (and ``size=`` needs Pillow 10.1, while the project
allows 10.0). The set's pixels are pinned by a hash, so its lettering must not depend on
a library version: these glyphs are plain data, drawn by the same supersampled
rasteriser as every other shape. The letter forms are the usual 5x7 dot-matrix shapes
(as on character LCDs), typed here by hand.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

GLYPH_WIDTH = 5
GLYPH_HEIGHT = 7
ADVANCE = GLYPH_WIDTH + 1
"""Columns per character: the glyph and one blank column."""

_ROWS: dict[str, str] = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "'": "..#.. ..#.. .#... ..... ..... ..... .....",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    " ": "..... ..... ..... ..... ..... ..... .....",
}

GLYPHS: dict[str, npt.NDArray[np.bool_]] = {
    char: np.array([[c == "#" for c in row] for row in rows.split()], dtype=np.bool_)
    for char, rows in _ROWS.items()
}
"""Each character as a 7x5 boolean array (True = ink)."""


def text_bitmap(text: str) -> npt.NDArray[np.bool_]:
    """One line of text as a boolean array, 7 rows by ``6 * len(text) - 1`` columns.

    Lower case is drawn as upper case (the font has one case, like much comic
    lettering); a character the font lacks is a programming error in a scene recipe.
    """
    upper = text.upper()
    missing = sorted({c for c in upper if c not in GLYPHS})
    if missing:
        raise ValueError(f"the illustration font has no glyph for {missing!r}")
    if not upper:
        return np.zeros((GLYPH_HEIGHT, 0), dtype=np.bool_)
    bitmap = np.zeros((GLYPH_HEIGHT, ADVANCE * len(upper) - 1), dtype=np.bool_)
    for index, char in enumerate(upper):
        bitmap[:, ADVANCE * index : ADVANCE * index + GLYPH_WIDTH] = GLYPHS[char]
    return bitmap
