"""Animations and videos through an :class:`~upscaler.Upscaler`: the facade's side of the
media layer (:mod:`upscaler.media`).

The media layer knows containers, timing and resumable segments and never sees a model;
this module hands it one callable per run that upscales a frame with the facade's own
runner, so a frame gets exactly what a still image gets (tiling, borders, adapters, alpha,
16-bit, ``outscale``) and a video frame equals the same frame upscaled as an image.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from upscaler.arguments import RunArguments
from upscaler.errors import ImageError

if TYPE_CHECKING:
    from upscaler.media.frames import FrameUpscaler, ProgressCallback
    from upscaler.media.video import VideoOptions


class Upscaler(Protocol):
    """What this module asks of the facade (named structurally: the facade imports this
    module, so importing it back would tie the two into a cycle)."""

    @property
    def scale(self) -> int: ...

    def plan(self) -> list[Any]: ...

    def load(self, *, progress: bool = True) -> Any: ...

    def upscale(
        self,
        image: Any,
        *,
        patch_size: int | None = ...,
        padding: int | None = ...,
        batch_size: int | None = ...,
        outscale: float | None = ...,
        alpha: str = ...,
        progress: bool = ...,
    ) -> Any: ...


MediaKind = Literal["image", "animation", "video"]


_ANIMATED_SIGNATURES = (b"GIF87a", b"GIF89a", b"\x89PNG\r\n\x1a\n")
"""File starts of the formats that may hold an animation (WebP is checked apart: its
signature has the size in the middle)."""


def _may_animate(head: bytes) -> bool:
    return head.startswith(_ANIMATED_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _head_of_regular_file(path: Path) -> bytes | None:
    """The first bytes of ``path`` when it is a regular file of any size (a video may be
    larger than any image), else None: the still path then names what it is. Opened
    without blocking and checked before reading, so a FIFO cannot hang the check."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, 16)
    except OSError:
        return None
    finally:
        os.close(fd)


def _pillow_reads(path: Path) -> bool:
    """True when Pillow recognises the file from its header (no pixel is decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False
    except Image.DecompressionBombError:
        return True  # an image, too large: the still path says so with its own message


def media_kind(path: Path) -> MediaKind:
    """What ``path`` holds, from its header: a still image (today's path), an animation
    (a GIF, APNG or WebP of several frames), or a video file.

    Cheapest test first, so a folder of stills pays a header read each: only GIF, PNG
    and WebP files are probed for frames, and only files Pillow does not know are
    asked of the video probe (which imports PyAV). A file neither recognises is called an
    image, so it fails with the image path's own message ("cannot decode ... as an
    image"); one that is not a regular file too.
    """
    head = _head_of_regular_file(path)
    if head is None:
        return "image"
    if _may_animate(head):
        from upscaler.media.animation import probe_animation

        return "animation" if probe_animation(path) is not None else "image"
    if _pillow_reads(path):
        return "image"
    from upscaler.media.video import is_video_file

    return "video" if is_video_file(path) else "image"


def first_frame(kind: MediaKind, path: Path) -> Any:
    """The first frame as the viewer sees it (RGB uint8), for ``degradation="auto"``:
    the model is chosen from what the picture is (noise, illustration or photo), as for a
    still image. A video's JPEG-like tables do not exist, so its blockiness is read from
    the pixels, as for an in-memory image."""
    import numpy as np

    if kind == "animation":
        from PIL import Image

        with Image.open(path) as image:
            image.seek(0)
            return np.asarray(image.convert("RGB"))
    from upscaler.media.video._av import require_av

    av = require_av()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise ImageError(f"{path} has no video frame", hint="pass a video with at least one frame")


def frame_upscaler(upscaler: Upscaler, run: RunArguments) -> FrameUpscaler:
    """One frame (numpy, uint8 or uint16) upscaled by ``upscaler`` with the run's options;
    the same call an image makes, so tiled output and adapters match the still path."""

    from upscaler.runtime.image_io import decode

    def upscale_frame(frame: Any) -> Any:
        # Handed over already decoded, so ``degradation="auto"`` does not read every
        # frame again: the model chosen from the first frame runs the whole file (and
        # a resumed video's segments all come from one model).
        return upscaler.upscale(
            decode(frame),
            patch_size=run.patch_size,
            padding=run.padding,
            batch_size=run.batch_size,
            outscale=run.outscale,
            alpha=run.alpha,
            progress=False,
        )

    return upscale_frame


@contextmanager
def frame_progress(show: bool, what: str) -> Iterator[ProgressCallback | None]:
    """A frame counter with a rate and an ETA on a terminal (tqdm), or no callback."""
    from tqdm.auto import tqdm

    from upscaler.progress import tqdm_disable

    if not show:
        yield None
        return
    with tqdm(
        unit="frame", desc=what, disable=tqdm_disable(show), file=sys.stderr, leave=False
    ) as bar:

        def report(done: int, total: int) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        yield report


def model_key(upscaler: Upscaler, run: RunArguments) -> str:
    """What makes a video's frames: the model and every run setting that changes pixels.
    A resumed video must be finished by the same key, or its segments would mix two
    models' output (the video layer refuses another key)."""
    ids = "+".join(entry.id for entry in upscaler.plan())
    return (
        f"{ids} outscale={run.outscale} alpha={run.alpha} patch={run.patch_size} "
        f"padding={run.padding}"
    )


def upscale_media_file(
    upscaler: Upscaler,
    kind: MediaKind,
    src: Path,
    dst: Path,
    run: RunArguments,
    *,
    quality: int | None,
    progress: bool,
    video: VideoOptions | None = None,
    max_pixels: int | None = None,
) -> dict[str, Any]:
    """Upscale an animation or a video file ``src`` into ``dst``; what was done, for
    describe() (frames, segments, codec, what was padded or dropped)."""
    upscale_frame = frame_upscaler(upscaler, run)
    if kind == "animation":
        from upscaler.media.animation import check_animation_output, probe_animation

        info = probe_animation(src, max_pixels=max_pixels)
        if info is None:  # pragma: no cover - the caller found frames a moment ago
            raise ImageError(f"{src} is a still image, not an animation")
        check_animation_output(info, src, dst, scale=run.outscale or float(upscaler.scale))
        upscaler.load(progress=progress)
        from upscaler.media.animation import upscale_animation

        with frame_progress(progress, f"upscaling {src.name}") as report:
            written = upscale_animation(
                src, dst, upscale_frame, quality=quality, progress=report, max_pixels=max_pixels
            )
        return {"kind": "animation", "src": str(src), "dst": str(dst), **written.to_dict()}
    from upscaler.media.video import plan_video, upscale_video

    plan_video(src, dst, video, max_pixels=max_pixels)  # refuse what can be refused first
    upscaler.load(progress=progress)
    with frame_progress(progress, f"upscaling {src.name}") as report:
        result = upscale_video(
            src,
            dst,
            upscale_frame,
            options=video,
            progress=report,
            model_key=model_key(upscaler, run),
            max_pixels=max_pixels,
        )
    return {"kind": "video", **result.to_dict()}


def plan_media_file(
    kind: MediaKind, src: Path, dst: Path | None, *, scale: float, video: VideoOptions | None
) -> dict[str, Any]:
    """What :func:`upscale_media_file` will do with ``src``, decided without a model:
    frames, durations and format for an animation; codec, segments and copied streams
    for a video (``dst`` picks the container; without one, the source's own suffix)."""
    if kind == "animation":
        from upscaler.media.animation import probe_animation

        info = probe_animation(src)
        if info is None:
            raise ImageError(f"{src} is a still image, not an animation")
        return {
            "kind": "animation",
            "src": str(src),
            **info.to_dict(),
            "output_size": [round(info.width * scale), round(info.height * scale)],
        }
    from upscaler.media.video import plan_video

    target = dst if dst is not None else src.with_name(f"{src.stem}.upscaled{src.suffix}")
    return {"kind": "video", **plan_video(src, target, video).to_dict()}
