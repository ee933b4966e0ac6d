"""A folder job from start to end: check, plan, lock, run on an engine, report.

The driver does everything except the upscaling itself: it discovers the files, holds a
lock on DST (so cleaning a killed run's temp files cannot hit a live job's), writes the
failure report as results arrive (a killed job keeps what it learnt) and counts.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from upscaler.batch.options import ModelSpec, RunOptions, format_suffix
from upscaler.batch.plan import (
    LOCK_NAME,
    REPORT_NAME,
    Job,
    check_folders,
    clean_temp_files,
    plan_jobs,
    scan,
)
from upscaler.batch.worker import FileResult, Worker
from upscaler.errors import BatchError
from upscaler.locks import FolderLock

if TYPE_CHECKING:
    from upscaler.batch.ray_engine import RayOptions

logger = logging.getLogger("upscaler.batch")

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")


@dataclass
class BatchSummary:
    """What a job did: counts, time, the failures, and where they are reported."""

    src: str
    dst: str
    engine: str
    model: str
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    report: str | None = None
    failures: list[FileResult] = field(default_factory=list)
    describe: dict[str, Any] | None = None
    ignored: dict[str, list[str]] = field(default_factory=dict)

    def add(self, result: FileResult) -> None:
        """Count one file's result."""
        if result.status == "done":
            self.done += 1
        elif result.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(result)

    @property
    def ok(self) -> bool:
        """True when every file is now finished (done now or before)."""
        return self.failed == 0 and self.done + self.skipped == self.total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what `upscaler batch --json` prints)."""
        return {
            "src": self.src,
            "dst": self.dst,
            "engine": self.engine,
            "model": self.model,
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "report": self.report,
            "failures": [f.failure_record() for f in self.failures],
            "ignored": self.ignored,
            "describe": self.describe,
        }

    def line(self) -> str:
        """One line for people."""
        text = (
            f"{self.total} files: done {self.done}, skipped {self.skipped}, "
            f"failed {self.failed} in {self.seconds:.1f} s"
        )
        if self.ignored:
            count = sum(len(paths) for paths in self.ignored.values())
            kinds = ", ".join(f"{len(paths)} {kind}" for kind, paths in self.ignored.items())
            text += f"; ignored {count} entries: {kinds}"
        return f"{text}; failures in {self.report}" if self.report else text


class FailureReport:
    """``DST/upscaler-failures.jsonl``: one JSON line per failed file, of the latest run.

    The previous run's report is removed when a run starts (its failures are retried, so
    they are reported again if they fail again); lines are flushed one by one so a killed
    job's report holds every failure seen before the kill.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        path.unlink(missing_ok=True)

    def add(self, result: FileResult) -> None:
        """Append one failure."""
        if self._handle is None:
            # A file name that is no valid UTF-8 reaches Python surrogate-escaped; written
            # as a \udcXX escape it stays valid JSON and reads back as the same str.
            self._handle = self.path.open("a", encoding="utf-8", errors="backslashreplace")
        self._handle.write(json.dumps(result.failure_record(), ensure_ascii=False) + "\n")
        self._handle.flush()

    @property
    def written(self) -> bool:
        """True when at least one failure was recorded."""
        return self._handle is not None

    def close(self) -> None:
        """Close the file (if any failure opened it)."""
        if self._handle is not None:
            self._handle.close()


def run_local(jobs: list[Job], worker: Worker) -> Iterator[FileResult]:
    """The in-process engine: one model, one file after another."""
    for job in jobs:
        yield worker.process(job)


def run_batch(
    src: str | Path,
    dst: str | Path,
    *,
    model: ModelSpec | None = None,
    options: RunOptions | None = None,
    output_format: str | None = None,
    overwrite: bool = False,
    engine: Engine = "local",
    ray_options: RayOptions | None = None,
    progress: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
) -> BatchSummary:
    """Upscale every image under ``src`` into the same tree under ``dst``.

    Resumable: an output that exists and decodes is skipped (``overwrite=True`` redoes
    it). Every output is written atomically. A file that fails is recorded in
    ``dst/upscaler-failures.jsonl`` and the job goes on; the summary says what happened.
    Errors that stop the job before it starts (bad folders, model choice, a model that
    cannot load, a missing Ray) are raised.
    """
    if engine not in ENGINES:
        from upscaler.errors import QueryError, nearest

        close = nearest(engine, ENGINES)
        raise QueryError(
            f"unknown engine {engine!r}; valid engines: local, ray",
            hint=f"did you mean {close[0]}?" if close else "use local or ray",
        )
    suffix = format_suffix(output_format)
    if engine == "ray":
        from upscaler.batch.ray_engine import import_ray

        import_ray()  # a missing extra fails before anything is touched
    spec = model or ModelSpec()
    options = options or RunOptions()
    src_abs, dst_abs = check_folders(Path(src), Path(dst))
    upscaler = spec.build()  # resolve now: a bad model choice fails before any work
    found = scan(src_abs)
    jobs = plan_jobs(src_abs, dst_abs, found.files, suffix)
    for kind, paths in found.ignored.items():
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        logger.warning("not read (%s): %s", kind, shown)
    if not jobs:
        logger.warning("no image files under %s (png, jpg, jpeg, webp, bmp, tif, tiff)", src)
    summary = BatchSummary(
        str(src_abs),
        str(dst_abs),
        engine,
        upscaler.model.id,
        total=len(jobs),
        ignored=found.ignored,
    )
    dst_abs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with _dst_lock(dst_abs):
        removed = clean_temp_files(jobs)
        if removed:
            logger.info("removed %d temp files left by an interrupted run", len(removed))
        report = FailureReport(dst_abs / REPORT_NAME)
        if engine == "ray":
            from upscaler.batch.ray_engine import RayOptions
            from upscaler.batch.ray_video import run_ray_jobs  # videos: segments on workers

            results = run_ray_jobs(
                jobs,
                upscaler,
                spec,
                options,
                overwrite=overwrite,
                ray=ray_options or RayOptions(),
                progress=progress,
            )
        else:
            worker = Worker(
                spec, options, overwrite=overwrite, upscaler=upscaler, progress=progress
            )
            results = run_local(jobs, worker)
        try:
            _consume(results, summary, report, progress=progress, on_result=on_result)
        finally:
            report.close()
    summary.seconds = time.perf_counter() - started
    summary.report = str(report.path) if report.written else None
    summary.describe = upscaler.describe().to_dict()
    return summary


def _consume(
    results: Iterator[FileResult],
    summary: BatchSummary,
    report: FailureReport,
    *,
    progress: bool,
    on_result: Callable[[FileResult], None] | None,
) -> None:
    """Count results as they arrive, with a bar of files on stderr (on a terminal)."""
    from tqdm import tqdm

    from upscaler.progress import tqdm_disable

    with tqdm(
        total=summary.total,
        unit="file",
        desc="upscaling",
        disable=tqdm_disable(progress),
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        try:
            for result in results:
                summary.add(result)
                if result.status == "failed":
                    report.add(result)
                if on_result is not None:
                    on_result(result)
                bar.set_postfix(
                    done=summary.done, skipped=summary.skipped, failed=summary.failed, refresh=False
                )
                bar.update(1)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # an engine's cleanup (Ray shutdown) runs even when we stop early


def _dst_lock(dst: Path) -> FolderLock:
    """Hold ``DST/.upscaler-batch.lock`` for the job, or fail at once if another job does
    (:mod:`upscaler.locks`); the file is removed when the job ends, so a finished job
    leaves only its outputs."""

    def busy(pid: int | None) -> BatchError:
        holder = f" (pid {pid})" if pid is not None else ""
        return BatchError(
            f"another upscaler batch job is writing into {dst}{holder}",
            hint="wait for it to finish, or write to another folder",
        )

    return FolderLock(dst / LOCK_NAME, busy)
