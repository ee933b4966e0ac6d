"""One process's share of a job: the model loaded once, then one file after another.

The local engine and every Ray actor run this same code, which is why their outputs are
bit-identical: the same Upscaler, the same options, the same atomic ``upscale_file``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from upscaler.batch.options import ModelSpec, RunOptions
from upscaler.batch.plan import Job, is_complete
from upscaler.errors import Cancelled, UpscalerError

if TYPE_CHECKING:
    from upscaler.upscaler import Upscaler

logger = logging.getLogger("upscaler.batch")

# "setup-error" never leaves an engine: it carries a worker's model-load error to the
# driver, which raises it (see ray_engine).
Status = Literal["done", "skipped", "failed", "setup-error"]


@dataclass(frozen=True)
class FileResult:
    """What happened to one file; also the row a Ray actor sends back to the driver."""

    src: str
    dst: str
    status: Status
    seconds: float = 0.0
    error: str = ""
    message: str = ""
    hint: str = ""
    time: str = ""

    def to_row(self) -> dict[str, Any]:
        """Plain values only, so the row crosses process boundaries as data."""
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FileResult:
        """Rebuild a result from a row (Ray may hand back numpy scalars: cast them)."""
        return cls(
            src=str(row["src"]),
            dst=str(row["dst"]),
            status=str(row["status"]),  # type: ignore[arg-type]
            seconds=float(row["seconds"]),
            error=str(row.get("error") or ""),
            message=str(row.get("message") or ""),
            hint=str(row.get("hint") or ""),
            time=str(row.get("time") or ""),
        )

    def failure_record(self) -> dict[str, str]:
        """The failure report's JSON line: what, why, when."""
        record = {"path": self.src, "output": self.dst, "error": self.error}
        record["message"] = self.message
        if self.hint:
            record["hint"] = self.hint
        record["time"] = self.time
        return record


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Worker:
    """Processes jobs one by one with one Upscaler, loaded on first need.

    Loading is lazy so a rerun whose outputs all exist never imports TensorFlow; it
    happens outside the per-file ``try`` so a model that cannot load stops the job with
    its own error instead of being recorded once per file.
    """

    def __init__(
        self,
        spec: ModelSpec,
        options: RunOptions,
        *,
        overwrite: bool = False,
        upscaler: Upscaler | None = None,
        progress: bool = False,
    ) -> None:
        self._spec = spec
        self._options = options
        self._overwrite = overwrite
        self._progress = progress
        self._upscaler = upscaler
        self._loaded = False

    @property
    def upscaler(self) -> Upscaler:
        """The Upscaler, built (not yet loaded) on first access."""
        if self._upscaler is None:
            self._upscaler = self._spec.build()
        return self._upscaler

    def load(self) -> Upscaler:
        """Fetch, convert and load the model once per process; errors propagate."""
        if not self._loaded:
            self.upscaler.load(progress=self._progress)
            self._loaded = True
        return self.upscaler

    def process(self, job: Job) -> FileResult:
        """Skip a finished output, else upscale atomically; a bad file becomes a result."""
        started = time.perf_counter()
        target = Path(job.dst)
        if not self._overwrite and target.exists():
            if is_complete(target):
                return FileResult(job.src, job.dst, "skipped")
            logger.info("%s exists but does not decode; writing it again", target)
        upscaler = self.load()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            upscaler.upscale_file(
                job.src,
                target,
                quality=self._options.quality,
                progress=False,
                **self._options.upscale_kwargs(),
            )
        except Cancelled:
            raise
        except Exception as exc:  # one bad file must not stop the job: record it, go on
            logger.debug("failed on %s", job.src, exc_info=True)
            message, hint = str(exc), ""
            if isinstance(exc, UpscalerError):
                message, hint = exc.message, exc.hint or ""
            return FileResult(
                job.src,
                job.dst,
                "failed",
                seconds=time.perf_counter() - started,
                error=type(exc).__name__,
                message=message or repr(exc),
                hint=hint,
                time=_now(),
            )
        return FileResult(job.src, job.dst, "done", seconds=time.perf_counter() - started)
