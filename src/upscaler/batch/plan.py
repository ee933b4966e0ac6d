"""Which files a job reads and writes: discovery, the mirrored output tree, and resumption.

Everything here is pure file-system work (no model): it runs in the driver before any
worker starts, so that a wrong SRC or DST fails in a second, not after loading a model.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from upscaler.atomic import clean_stale_temps
from upscaler.errors import BatchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ANIMATION_SUFFIXES = (".gif", ".apng")
"""Names that only animations and GIF stills carry (PNG and WebP files may animate too)."""
VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts",
    ".flv", ".wmv", ".y4m",
)  # fmt: skip
"""Video files a job reads. Those whose container we do not write (AVI, MPEG-TS, ...)
are written as Matroska (``.mkv``), which holds every codec and stream they hold."""
INPUT_SUFFIXES = IMAGE_SUFFIXES + ANIMATION_SUFFIXES + VIDEO_SUFFIXES
REPORT_NAME = "upscaler-failures.jsonl"
LOCK_NAME = ".upscaler-batch.lock"
# Before issue 14, Upscaler.upscale_file wrote `.<stem>.<8 random chars><suffix>` beside
# the target (tempfile.mkstemp's name pattern); such leftovers of old versions are still
# cleaned. Today's temp names are upscaler.atomic's, cleaned by its own rule.
_TEMP_NAME = re.compile(r"^\.(?P<stem>.+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]+)\Z")


@dataclass(frozen=True)
class Job:
    """One image: where it is read, and where its result goes."""

    src: str
    dst: str

    def to_row(self) -> dict[str, str]:
        """The row a Ray dataset carries (plain strings travel between processes)."""
        return {"src": self.src, "dst": self.dst}


def is_image_name(name: str) -> bool:
    """An input by its suffix (case-insensitive): an image, an animation or a video;
    hidden files (``._x.jpg``) are not."""
    return not name.startswith(".") and name.lower().endswith(INPUT_SUFFIXES)


def is_video_name(name: str) -> bool:
    """A video file by its suffix (case-insensitive)."""
    return name.lower().endswith(VIDEO_SUFFIXES)


@dataclass(frozen=True)
class Scan:
    """What a walk over SRC found: the image files to read, and what it will not read.

    ``ignored`` maps a kind ("FIFO", "character device", "broken or looping symlink",
    "folder symlink (not followed)", "unreadable folder", ...) to the paths, relative to
    SRC, of every entry of that kind: a folder filled by someone else may hold anything,
    and a job that silently drops part of it would look complete when it is not.
    """

    files: list[Path]
    ignored: dict[str, list[str]]

    @property
    def ignored_count(self) -> int:
        """How many entries were not read."""
        return sum(len(paths) for paths in self.ignored.values())


def scan(src: Path) -> Scan:
    """Every regular image file under ``src`` (sorted by relative path), and the rest.

    Only regular files are read (a symlink to one counts as one): a FIFO would block the
    job forever, a device such as ``/dev/zero`` never ends, a looping symlink cannot be
    opened. Those, when they carry an image name, are ignored and reported by kind, as
    are folder symlinks (never followed, so a link loop cannot hang the walk) and folders
    that cannot be listed. Hidden files and folders (``._x.jpg`` forks, ``.git``, temp
    files) and names without an image suffix are skipped without a report.
    """
    from upscaler.runtime.image_io import file_kind

    found: list[Path] = []
    ignored: dict[str, list[str]] = {}

    def note(kind: str, path: Path | str) -> None:
        rel = Path(path).relative_to(src).as_posix() if Path(path) != src else "."
        ignored.setdefault(kind, []).append(rel)

    def unreadable(exc: OSError) -> None:
        note("unreadable folder", exc.filename or src)

    for root, dirs, files in os.walk(src, onerror=unreadable):
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            if Path(root, name).is_symlink():
                note("folder symlink (not followed)", Path(root, name))
                continue
            kept.append(name)
        dirs[:] = kept
        for name in files:
            if not is_image_name(name):
                continue
            path = Path(root, name)
            try:
                mode = path.stat().st_mode  # follows a symlink to what it names
            except OSError:
                note("broken or looping symlink" if path.is_symlink() else "unreadable entry", path)
                continue
            if stat.S_ISREG(mode):
                found.append(path)
            else:
                note(file_kind(mode), path)
    return Scan(
        files=sorted(found, key=lambda p: p.relative_to(src).as_posix()),
        ignored={kind: sorted(paths) for kind, paths in sorted(ignored.items())},
    )


def discover(src: Path) -> list[Path]:
    """Every regular image file under ``src``, recursively, sorted by relative path
    (:func:`scan` without the report of what was ignored)."""
    return scan(src).files


def output_name(source: Path, suffix: str | None) -> str:
    """The output's file name: the input's, with the suffix replaced when converting.

    A video keeps its container whatever ``suffix`` (an image format) says, except one we
    do not write (AVI, MPEG-TS, ...), which becomes Matroska; an animation converted to
    ``.png``/``.webp`` stays animated (APNG, animated WebP)."""
    if is_video_name(source.name):
        from upscaler.media.video.containers import CONTAINERS

        return source.name if source.suffix.lower() in CONTAINERS else source.stem + ".mkv"
    return source.name if suffix is None else source.stem + suffix


def check_folders(src: Path, dst: Path) -> tuple[Path, Path]:
    """Absolute SRC and DST, or a BatchError saying why the pair cannot work."""
    if not src.exists():
        raise BatchError(f"no such folder: {src}", hint="check the SRC path")
    if not src.is_dir():
        raise BatchError(
            f"{src} is a file, not a folder",
            hint=f"upscale one file with: upscaler upscale {src} -o OUT",
        )
    if dst.exists() and not dst.is_dir():
        raise BatchError(f"{dst} exists and is not a folder", hint="pass a folder as DST")
    try:
        src_abs, dst_abs = src.resolve(), dst.resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before 3.13)
        raise BatchError(
            f"cannot follow SRC {src} or DST {dst}: {exc}",
            hint="pass real folders (a symlink that points at itself leads nowhere)",
        ) from None
    if dst_abs == src_abs or dst_abs.is_relative_to(src_abs):
        raise BatchError(
            f"DST {dst} is inside SRC {src}; its outputs would become inputs",
            hint="write to a folder outside SRC, e.g. a sibling folder",
        )
    return src_abs, dst_abs


def plan_jobs(src: Path, dst: Path, sources: Sequence[Path], suffix: str | None) -> list[Job]:
    """One job per source, mirroring its place under ``src`` into ``dst``.

    Two inputs that would write the same output (``a.jpg`` and ``a.png`` with
    ``--format png``), or an output that would overwrite an input, fail the whole plan:
    silently keeping one of them would lose work.
    """
    jobs: list[Job] = []
    seen: dict[str, Path] = {}
    inputs = {str(p.resolve()) for p in sources}
    for source in sources:
        rel = source.relative_to(src)
        target = dst / rel.parent / output_name(source, suffix)
        key = os.path.normcase(str(target))
        if key in seen:
            raise BatchError(
                f"{seen[key]} and {source} would both be written to {target}",
                hint="drop --format, or rename one of the inputs",
            )
        if _resolved(target) in inputs:
            raise BatchError(
                f"the output {target} would overwrite an input",
                hint="write to a folder that holds no inputs",
            )
        seen[key] = source
        jobs.append(Job(str(source), str(target)))
    return jobs


def _resolved(path: Path) -> str:
    """``path`` with symlinks resolved; a looping symlink resolves to itself (it is no
    input, and writing the output replaces the link)."""
    try:
        return str(path.resolve())
    except (RuntimeError, OSError):
        return str(path)


def clean_temp_files(jobs: Iterable[Job]) -> list[Path]:
    """Remove the temp files a killed run left beside the outputs it was writing.

    Only names of the exact temp pattern *for a planned output* are removed, so a user's
    own hidden files in DST are never touched. Callers hold the DST lock, so no other
    job's temp file can be mid-write.
    """
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for job in jobs:
        target = Path(job.dst)
        wanted.setdefault(target.parent, set()).add((target.stem, target.suffix))
    removed: list[Path] = []
    for folder, names in wanted.items():
        removed.extend(clean_stale_temps(folder))
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            match = _TEMP_NAME.match(entry.name)
            if match and (match["stem"], match["suffix"]) in names and entry.is_file():
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed


def is_complete(path: Path) -> bool:
    """True when ``path`` is an image that decodes completely (a finished output).

    Outputs are written by rename, so a file at a final name is whole unless something
    other than this job wrote it; decoding it is the check that costs least and trusts
    nothing. Outputs are larger than inputs, so the decompression-bomb limit is lifted.
    """
    from upscaler.errors import ImageError
    from upscaler.runtime.image_io import decode

    try:
        if is_video_name(path.name):
            from upscaler.media.video import probe_video

            probe_video(path, max_pixels=2**62)
            return True
        if path.suffix.lower() in (".gif", ".png", ".apng", ".webp"):
            from upscaler.media.animation import probe_animation

            if probe_animation(path, max_pixels=2**62, max_animation_pixels=2**62) is not None:
                return True
        decode(path, max_pixels=2**62)
    except (ImageError, OSError, ValueError, MemoryError):
        return False
    return True
