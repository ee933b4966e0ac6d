"""The resumable state of one video upscale: a hidden work folder beside the output.

``.<output name>.upscaler-video/`` holds the finished segment files and ``state.json``,
which records whose segments they are: the source's identity (size, modification time
and a hash of its first MiB — enough to tell another file or an edited one apart without
reading gigabytes), the resolved options and what produced the frames (the facade's
model identity), the segment plan, and each finished segment with its frame count, first
and last timestamps, size and sha256. A rerun continues from it only when all of that
matches; anything else is refused, never mixed.

The state file is rewritten atomically after each segment, so a kill at any moment
leaves either the old or the new record; a segment file that the record does not list
(killed between the two writes) is simply encoded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upscaler.atomic import write_atomically
from upscaler.errors import MediaError
from upscaler.media.video.encode import SegmentResult, file_sha256
from upscaler.media.video.segments import Segment

logger = logging.getLogger("upscaler.media.video")

STATE_NAME = "state.json"
STATE_FORMAT = "upscaler-video-state"
STATE_VERSION = 1
HEAD_BYTES = 1 << 20


def work_folder(dst: Path) -> Path:
    """The hidden folder beside ``dst`` that holds its unfinished run."""
    return dst.parent / f".{dst.name}.upscaler-video"


@dataclass(frozen=True)
class SourceIdentity:
    """Enough to tell a source file from another or from an edited copy of itself."""

    size: int
    mtime_ns: int
    head_sha256: str

    @classmethod
    def of(cls, path: Path) -> SourceIdentity:
        info = path.stat()
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            digest.update(handle.read(HEAD_BYTES))
        return cls(size=info.st_size, mtime_ns=info.st_mtime_ns, head_sha256=digest.hexdigest())

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "head_sha256": self.head_sha256}


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key} {a!r} → {b!r}")
    return out


class RunState:
    """The record in one work folder; see the module docstring."""

    def __init__(self, folder: Path, header: dict[str, Any], done: dict[int, SegmentResult]):
        self.folder = folder
        self.header = header
        self.done = done

    @property
    def path(self) -> Path:
        return self.folder / STATE_NAME

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        source: SourceIdentity,
        settings: dict[str, Any],
        segments: list[Segment],
    ) -> RunState:
        """The state in ``folder``, created when there is none; a MediaError when the
        folder holds another run (another source, other options or model, another plan)."""
        header: dict[str, Any] = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "source": source.to_dict(),
            "settings": settings,
            "segments": [s.to_dict() for s in segments],
        }
        path = folder / STATE_NAME
        if not path.exists():
            return cls._fresh(folder, header)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("format") != STATE_FORMAT or stored.get("version") != STATE_VERSION:
                raise ValueError("not a state file of this version")
        except (OSError, ValueError) as exc:
            raise MediaError(
                f"{path} cannot be read ({exc})",
                hint=f"delete {folder} to start the video over",
            ) from None
        for part, what in (
            ("source", "another source file (or the source changed since)"),
            ("settings", "other options or another model"),
            ("segments", "another segment plan"),
        ):
            if stored.get(part) != header[part]:
                if not stored.get("done"):
                    logger.info("%s held a run with no finished segment; starting over", folder)
                    return cls._fresh(folder, header)
                changed = (
                    _differences(stored.get(part) or {}, header[part]) if part != "segments" else []
                )
                detail = f": {'; '.join(changed[:4])}" if changed else ""
                raise MediaError(
                    f"{folder} holds an unfinished run of {what}{detail}",
                    hint=(
                        f"rerun with the interrupted run's source and options to resume it, "
                        f"or delete {folder} to start over"
                    ),
                )
        done: dict[int, SegmentResult] = {}
        for item in stored.get("done", []):
            result = SegmentResult.from_dict(item, folder)
            if _intact(result):
                done[result.index] = result
            else:
                logger.warning(
                    "segment %d in %s is damaged; encoding it again", result.index, folder
                )
        return cls(folder, header, done)

    @classmethod
    def _fresh(cls, folder: Path, header: dict[str, Any]) -> RunState:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("segment-*"):
            stale.unlink(missing_ok=True)
        state = cls(folder, header, {})
        state.save()
        return state

    def record(self, result: SegmentResult) -> None:
        """Add a finished segment and rewrite the state file atomically."""
        self.done[result.index] = result
        self.save()

    def save(self) -> None:
        data = dict(self.header)
        data["done"] = [self.done[i].to_dict() for i in sorted(self.done)]
        text = json.dumps(data, indent=1, sort_keys=True)
        write_atomically(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def remove(self) -> None:
        """Delete the work folder (after the output is complete)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _intact(result: SegmentResult) -> bool:
    """The segment file is there with the size and hash recorded for it."""
    try:
        if result.path.stat().st_size != result.size:
            return False
    except OSError:
        return False
    return file_sha256(result.path) == result.sha256
