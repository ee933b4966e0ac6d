"""The JPEG quality setting a file was saved with, read back from its quantization tables.

Nearly every encoder people meet (libjpeg, libjpeg-turbo and so Pillow, browsers, most
phones' software paths) builds its tables the way the Independent JPEG Group's libjpeg
does: the example tables of ITU-T T.81 Annex K (K.1 luminance, K.2 chrominance) scaled
by ``jpeg_quality_scaling`` (quality q < 50: 5000 / q percent, else 200 - 2q percent),
each entry ``(base * scale + 50) // 100`` clamped to 1..255 for baseline files. So
the tables in a file's DQT segments name the quality exactly; the 100 qualities give
100 distinct table pairs. Cameras and Photoshop use tables of their own: those get
the quality whose IJG tables are nearest (in log ratio, so a step of 4 against 2
weighs as much as 40 against 20) with a lower confidence, and are flagged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError

logger = logging.getLogger("upscaler.analyze")

TableKind = Literal["ijg-standard", "non-standard", "none", "not-jpeg"]

LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
"""ITU-T T.81 Table K.1, row by row (natural order, as Pillow's ``quantization`` gives it)."""

CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)  # fmt: skip
"""ITU-T T.81 Table K.2, row by row."""

QUALITIES = range(1, 101)

CONFIDENT_MISMATCH = 0.5
"""Mean absolute log ratio at which a non-standard table's confidence reaches 0: each
entry about 1.65x off the nearest IJG table, which no longer says much about a quality."""

NON_STANDARD_CEILING = 0.9
"""The most confidence a non-standard table gets, however close: its encoder's scale is
not the IJG one, so "quality 80" is a comparison, not the setting that was used."""

_JPEG_SIGNATURE = b"\xff\xd8\xff"


@dataclass(frozen=True)
class JpegQuality:
    """What a file's quantization tables say.

    ``quality`` is None unless ``tables`` is ijg-standard or non-standard. ``mismatch``
    is the mean absolute natural-log ratio between the file's tables and those of
    ``quality`` (0 for an exact IJG match); ``confidence`` is 1.0 for an exact match and
    lower the further a non-standard table is from every IJG one.
    """

    format: str
    tables: TableKind
    quality: int | None = None
    confidence: float = 0.0
    mismatch: float | None = None


def ijg_table(base: Sequence[int], quality: int, *, baseline: bool = True) -> npt.NDArray[np.int64]:
    """libjpeg's ``jpeg_set_quality`` table for one base table (64 entries, any order)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = (np.asarray(base, dtype=np.int64) * scale + 50) // 100
    return np.clip(table, 1, 255 if baseline else 32767)


def _ijg_tables(base: Sequence[int], baseline: bool) -> npt.NDArray[np.float64]:
    return np.stack([ijg_table(base, q, baseline=baseline) for q in QUALITIES]).astype(np.float64)


_IJG = {
    (kind, baseline): _ijg_tables(base, baseline)
    for kind, base in (("luma", LUMINANCE), ("chroma", CHROMINANCE))
    for baseline in (True, False)
}
"""Every quality's tables, both baseline-clamped (255) and extended (16-bit entries)."""


def quality_from_tables(
    tables: Mapping[int, Sequence[int]],
    *,
    luma_slot: int | None = None,
    chroma_slot: int | None = None,
    file_format: str = "JPEG",
) -> JpegQuality:
    """Match quantization tables (slot -> 64 entries in natural order) against IJG's.

    ``luma_slot`` / ``chroma_slot`` name the tables the first and second colour
    components use (the frame header says; default: the lowest slot is luma, the next
    one chroma). Gray JPEGs have only the luma table and are matched on it alone.
    """
    usable = {
        slot: np.asarray(values, dtype=np.float64)
        for slot, values in tables.items()
        if len(values) == 64 and min(values) >= 1
    }
    if not usable:
        return JpegQuality(file_format, "none")
    slots = sorted(usable)
    luma = usable.get(luma_slot if luma_slot is not None else slots[0], usable[slots[0]])
    if chroma_slot is None:
        chroma_slot = next((s for s in slots if usable[s] is not luma), None)
    chroma = usable.get(chroma_slot) if chroma_slot is not None else None
    if chroma is not None and chroma is luma:
        chroma = None  # one table shared by every component: nothing more to match
    baseline = max(luma.max(), chroma.max() if chroma is not None else 0) <= 255
    candidates = [(luma, _IJG["luma", baseline])]
    if chroma is not None:
        candidates.append((chroma, _IJG["chroma", baseline]))
    exact = [
        q
        for i, q in enumerate(QUALITIES)
        if all(np.array_equal(table, ijg[i]) for table, ijg in candidates)
    ]
    if exact:
        return JpegQuality(file_format, "ijg-standard", exact[0], 1.0, 0.0)
    # Mean |log ratio| per quality, over every matched table's 64 entries.
    errors = np.mean(
        [
            np.abs(np.log(ijg) - np.log(table)[np.newaxis, :]).mean(axis=1)
            for table, ijg in candidates
        ],
        axis=0,
    )
    best = int(np.argmin(errors))
    mismatch = float(errors[best])
    confidence = max(0.0, min(NON_STANDARD_CEILING, 1.0 - mismatch / CONFIDENT_MISMATCH))
    return JpegQuality(file_format, "non-standard", QUALITIES[best], round(confidence, 3), mismatch)


def read_jpeg_quality(path: Path) -> JpegQuality:
    """The quality a file's own tables record, from its header alone (no pixel decoded).

    A file that is not a JPEG is a result (``tables="not-jpeg"``), not an error; a path
    that is not a readable image file is an ImageError naming it, as everywhere else.
    """
    from PIL import Image

    from upscaler.runtime.image_io import _PIL_ERRORS, _pil_unlimited, open_regular_file

    with open_regular_file(path) as handle:
        signature = handle.read(4)
        handle.seek(0)
        try:
            with _pil_unlimited():
                image: Any = Image.open(handle)
                fmt = str(image.format or "unknown")
                tables = getattr(image, "quantization", None)
                layer = getattr(image, "layer", None)
                image.close()
        except _PIL_ERRORS as exc:
            if signature.startswith(_JPEG_SIGNATURE):
                raise ImageError(
                    f"cannot read the JPEG header of {path} ({exc})",
                    hint="the file is damaged; re-save it or pass another copy",
                ) from None
            # Not a JPEG and not for Pillow (a deep TIFF, say): the pixel decoder decides.
            return JpegQuality("TIFF" if signature[:2] in (b"II", b"MM") else "unknown", "not-jpeg")
    if fmt not in ("JPEG", "MPO"):
        return JpegQuality(fmt, "not-jpeg")
    if not tables:
        logger.debug("%s: a JPEG without quantization tables", path)
        return JpegQuality(fmt, "none")
    luma_slot, chroma_slot = _component_slots(layer)
    return quality_from_tables(
        tables, luma_slot=luma_slot, chroma_slot=chroma_slot, file_format=fmt
    )


def _component_slots(layer: Any) -> tuple[int | None, int | None]:
    """The table slots of the first two components from Pillow's ``layer`` list of
    (component id, h sampling, v sampling, table slot); None where it does not say."""
    try:
        slots = [int(entry[3]) for entry in layer]
    except (TypeError, ValueError, IndexError):
        return None, None
    return (slots[0] if slots else None), (slots[1] if len(slots) > 1 else None)
