"""Which animation format an output name asks for, and the writer for it.

The suffix decides, as for still images: ``.gif`` a GIF, ``.png`` or ``.apng`` an APNG,
``.webp`` an animated WebP. A still-only suffix is refused rather than keeping one frame
of the animation without a word.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from upscaler.errors import MediaError
from upscaler.media import animation_apng, animation_gif, animation_webp
from upscaler.media.animation_info import AnimationFormat

OUTPUT_SUFFIXES: dict[str, AnimationFormat] = {
    ".gif": "gif",
    ".png": "apng",
    ".apng": "apng",
    ".webp": "webp",
}
"""Output suffixes that keep an animation, and the format each writes."""

MAX_SIDE: dict[AnimationFormat, int] = {
    "gif": animation_gif.MAX_SIDE,
    "apng": animation_apng.MAX_SIDE,
    "webp": animation_webp.MAX_SIDE,
}
MAX_PLAYS: dict[AnimationFormat, int] = {
    "gif": animation_gif.MAX_LOOPS + 1,
    "apng": 2**31 - 1,
    "webp": animation_webp.MAX_LOOPS,
}
_SUFFIX_LIST = ".gif, .png (or .apng) and .webp"


def output_format(dst: Path) -> AnimationFormat:
    """The animation format ``dst``'s suffix asks for; a MediaError naming the suffixes
    that keep an animation for any other."""
    suffix = dst.suffix.lower()
    fmt = OUTPUT_SUFFIXES.get(suffix)
    if fmt is None:
        what = f"{suffix} holds one still image" if suffix else "a name without a suffix"
        raise MediaError(
            f"cannot write the animation to {dst.name!r}: {what}; the suffixes that keep "
            f"an animation are {_SUFFIX_LIST}",
            hint=f"name the output {dst.stem}.gif, {dst.stem}.png or {dst.stem}.webp "
            "(or extract the frames yourself to upscale them as stills)",
        )
    return fmt


def check_size(fmt: AnimationFormat, width: int, height: int, dst: Path) -> None:
    """Refuse an output larger than its format can store."""
    limit = MAX_SIDE[fmt]
    if max(width, height) > limit:
        raise MediaError(
            f"a {width}x{height} animation is too large for {dst.suffix} (at most {limit} "
            "pixels a side)",
            hint="write .png (APNG), or use a smaller scale",
        )


def written_delay(fmt: AnimationFormat, delay: Fraction) -> int:
    """The delay in milliseconds that ``fmt`` stores for ``delay`` seconds (GIF keeps
    hundredths, rounded half up)."""
    if fmt == "gif":
        return 10 * animation_gif.centiseconds(delay)
    return round(delay * 1000)


class FrameWriter(Protocol):
    """Takes upscaled frames in order; :meth:`finish` completes the file."""

    def add(self, frame: npt.NDArray[np.uint8], delay: Fraction) -> None: ...

    def finish(self) -> None: ...


@contextlib.contextmanager
def frame_writer(
    fmt: AnimationFormat,
    out: BinaryIO,
    folder: Path,
    *,
    width: int,
    height: int,
    frame_count: int,
    plays: int,
    alpha: bool,
    quality: int | None,
) -> Iterator[FrameWriter]:
    """The writer for ``fmt`` on ``out``; a GIF's spill file in ``folder`` is removed on
    the way out, finished or not."""
    plays = min(plays, MAX_PLAYS[fmt])
    if fmt == "gif":
        gif = animation_gif.GifWriter(
            out,
            folder,
            width=width,
            height=height,
            frame_count=frame_count,
            plays=plays,
            alpha=alpha,
        )
        try:
            yield gif
        finally:
            gif.close()
    elif fmt == "apng":
        yield animation_apng.ApngWriter(
            out, width=width, height=height, frame_count=frame_count, plays=plays, alpha=alpha
        )
    else:
        yield animation_webp.WebpWriter(
            out, width=width, height=height, plays=plays, alpha=alpha, quality=quality
        )
