"""Long videos on Ray: a video's segments shared out over Ray Data actors, joined by the
driver.

The split is the single-process path's own plan (:func:`~upscaler.media.video.plan_video`):
the same segments, the same resolved options, the same work folder and the same resume
state (:class:`~upscaler.media.video.state.RunState`, keyed by the facade's
:func:`~upscaler.media_files.model_key`). A video started by ``upscaler upscale`` can
therefore be finished on Ray and the other way round, and every route gives the same
file. Only the driver touches the state: it records each segment as a worker reports it
done, so a killed job loses at most the segments that were in flight.

Why the cuts need not fall on source keyframes: a worker seeks to the source keyframe at
or before its segment's first timestamp and decodes forward, dropping the frames before
the segment (:func:`~upscaler.media.video.encode_segment`). Decoding from a keyframe
reproduces every later frame exactly, which is what a keyframe is for (H.264's IDR
picture: no picture after it refers to one before it; the pictures an open-GOP keyframe
leaves undecodable are shown before it, so they are among the dropped ones), so a cut
between two keyframes costs at most one group of pictures of extra decoding per
segment, never a changed, duplicated or dropped frame. On
the output side each segment is encoded by a fresh encoder, so it starts with a keyframe
of its own and the join copies packets: no re-encode, no seam.

The work folder lives beside DST: on one machine that is a local path; on a cluster,
DST must be on storage every node sees (as for the image path), since workers write the
segment files there and the driver reads them back to join.

Ray is an optional extra (``pip install 'upscaler[ray]'``), imported only when a job runs.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.arguments import RunArguments, check_run_arguments
from upscaler.batch.options import ModelSpec, RunOptions
from upscaler.batch.plan import Job, is_complete, is_video_name
from upscaler.batch.ray_engine import (
    RayOptions,
    _cluster,
    _from_items,
    _quiet_ray,
    import_ray,
    run_ray,
)
from upscaler.batch.worker import FileResult
from upscaler.errors import (
    BatchIncomplete,
    Cancelled,
    MediaError,
    QueryError,
    UpscalerError,
)
from upscaler.locks import FolderLock
from upscaler.media.video import (
    Segment,
    SegmentResult,
    VideoInfo,
    VideoOptions,
    VideoPlan,
    VideoReport,
    encode_segment,
    join_segments,
    plan_video,
)
from upscaler.media.video.state import RunState, SourceIdentity
from upscaler.media.video.upscale import busy_refusal, video_report

if TYPE_CHECKING:
    from upscaler.media.frames import FrameUpscaler
    from upscaler.upscaler import Upscaler

logger = logging.getLogger("upscaler.batch")

_COLUMNS = ("video", "segment", "status", "result", "error", "message", "hint")


@dataclass(frozen=True)
class VideoWork:
    """What a worker needs of one video: plain, picklable data (no PyAV object), sent
    once to every actor rather than once per segment."""

    src: Path
    folder: Path
    options: VideoOptions
    info: VideoInfo
    segments: dict[int, Segment]


def run_arguments(options: RunOptions) -> RunArguments:
    """The frame options of ``options``: what the facade checks for one video, so that
    the frames and the resume key are the facade's own."""
    if options.extra:
        raise QueryError(
            f"video frames take no extra options, got {sorted(options.extra)}",
            hint="drop them; patch_size, padding, batch_size, outscale and alpha apply",
        )
    return check_run_arguments(
        patch_size=options.patch_size,
        padding=options.padding,
        batch_size=options.batch_size,
        outscale=options.outscale,
        alpha=options.alpha,
    )


class SegmentActor:
    """A Ray Data actor: one loaded Upscaler, then one segment per row.

    Errors come back as rows, never as raised exceptions (Ray would wrap them in its own
    traceback and stop the whole dataset): a model that cannot load is a ``setup-error``
    row, which the driver raises as the original error class; a segment that cannot be
    encoded is a ``failed`` row, which fails that video only.
    """

    def __init__(
        self, spec: dict[str, Any], options: dict[str, Any], videos: list[VideoWork]
    ) -> None:
        self._videos = videos
        self._setup_error: UpscalerError | None = None
        self._upscale: FrameUpscaler | None = None
        try:
            from upscaler.media_files import frame_upscaler

            upscaler = ModelSpec(**spec).build()
            upscaler.load(progress=False)
            self._upscale = frame_upscaler(upscaler, run_arguments(RunOptions(**options)))
        except UpscalerError as exc:
            self._setup_error = exc

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Encode each ``{video, segment}`` row's segment into a status row."""
        rows = [
            self._encode(int(video), int(segment))
            for video, segment in zip(batch["video"], batch["segment"], strict=True)
        ]
        return {name: [row[name] for row in rows] for name in _COLUMNS}

    def _encode(self, video: int, index: int) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(_COLUMNS, "")
        row.update(video=video, segment=index)
        if self._setup_error is not None or self._upscale is None:
            error = self._setup_error or MediaError("the worker has no model")
            row.update(status="setup-error", error=type(error).__name__)
            row.update(message=error.message, hint=error.hint or "")
            return row
        work = self._videos[video]
        try:
            result = encode_segment(
                work.src,
                work.segments[index],
                self._upscale,
                work.folder,
                work.options,
                info=work.info,
            )
        except Exception as exc:  # one bad segment fails its video, not the job
            logger.debug("segment %d of %s failed", index, work.src, exc_info=True)
            message, hint = str(exc) or repr(exc), ""
            if isinstance(exc, UpscalerError):
                message, hint = exc.message, exc.hint or ""
            row.update(status="failed", error=type(exc).__name__, message=message, hint=hint)
            return row
        row.update(status="done", result=json.dumps(result.to_dict()))
        return row


def error_from_row(row: dict[str, Any], src: Path) -> UpscalerError:
    """A worker's error as its own class, so the CLI's exit code is the documented one."""
    from upscaler import errors

    name, message = str(row.get("error") or ""), str(row.get("message") or "")
    hint = str(row.get("hint") or "") or None
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, UpscalerError):
        error: UpscalerError = cls.__new__(cls)
        UpscalerError.__init__(error, message, hint=hint)
        return error
    return MediaError(
        f"segment {row.get('segment')} of {src.name} failed on a Ray worker: {name}: {message}",
        hint=hint or "--debug shows details; finished segments are kept for a rerun",
    )


@dataclass
class _VideoRun:
    """The driver's side of one video: its plan, the lock on its work folder, its resume
    state and the segments finished so far."""

    plan: VideoPlan
    state: RunState
    lock: FolderLock
    results: dict[int, SegmentResult]
    resumed: int
    started: float = field(default_factory=time.perf_counter)
    error: UpscalerError | None = None
    outstanding: set[int] = field(default_factory=set)

    @classmethod
    def open(cls, plan: VideoPlan, key: str) -> _VideoRun:
        """Lock the work folder and read its state, exactly as the single-process path
        does (same settings record), so either path resumes the other's work."""
        folder = plan.work_folder
        created = not folder.exists()
        folder.mkdir(exist_ok=True)
        lock = FolderLock(folder / ".lock", busy_refusal(folder))
        try:
            lock.__enter__()
        except BaseException:
            if created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        try:
            state = RunState.open(
                folder,
                source=SourceIdentity.of(plan.src),
                settings={"options": plan.options.to_dict(), "model": key},
                segments=list(plan.segments),
            )
        except BaseException:
            lock.__exit__(None, None, None)
            if created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        done = dict(state.done)
        if done:
            logger.info(
                "%s: resuming, %d of %d segments already done",
                plan.src.name,
                len(done),
                len(plan.segments),
            )
        return cls(plan, state, lock, done, len(done))

    @property
    def pending(self) -> list[Segment]:
        return [s for s in self.plan.segments if s.index not in self.results]

    @property
    def frames_done(self) -> int:
        return sum(r.frames for r in self.results.values())

    def work(self) -> VideoWork:
        plan = self.plan
        segments = {s.index: s for s in plan.segments}
        return VideoWork(plan.src, plan.work_folder, plan.options, plan.info, segments)

    def record(self, result: SegmentResult) -> None:
        """Keep a finished segment: in the state file first, so a kill now loses nothing."""
        self.state.record(result)
        self.results[result.index] = result
        self.outstanding.discard(result.index)

    def join(self) -> VideoReport:
        """Join every segment into DST (atomically), remove the work folder, report."""
        plan = self.plan
        notes = join_segments(
            plan.src, list(self.results.values()), plan.dst, plan.options, info=plan.info
        )
        self.state.remove()
        return video_report(plan, self.results, self.resumed, notes)

    def close(self, error: BaseException | None) -> None:
        """Release the work folder: without a finished segment there is nothing to
        resume, so the folder goes too; else it stays for a rerun."""
        if error is not None:
            if not self.results:
                self.state.remove()
            elif self.plan.work_folder.exists():
                logger.info(
                    "%s: stopped; %d of %d segments are kept in %s, run again to resume",
                    self.plan.src.name,
                    len(self.results),
                    len(self.plan.segments),
                    self.plan.work_folder,
                )
        self.lock.__exit__(None, None, None)


def _map_segments(
    module: Any,
    rows: list[dict[str, int]],
    videos: list[VideoWork],
    *,
    spec: ModelSpec,
    options: RunOptions,
    ray: RayOptions,
) -> Any:
    """``map_batches`` of :class:`SegmentActor` over one row per segment.

    One row per block and per batch, and one task in flight per actor: a segment is
    minutes of work, so an actor must not hold a queue of them while another idles.
    ``max_restarts=0`` as for images: a worker that dies would get the same segment
    again, forever; the job stops instead, and a rerun resumes.
    """
    strategy: dict[str, Any] = {"size": max(1, min(ray.workers, len(rows)))}
    accepted = inspect.signature(module.data.ActorPoolStrategy).parameters
    if "max_tasks_in_flight_per_actor" in accepted:
        strategy["max_tasks_in_flight_per_actor"] = 1
    arguments: dict[str, Any] = {
        "batch_size": 1,
        "batch_format": "numpy",
        "compute": module.data.ActorPoolStrategy(**strategy),
        "fn_constructor_kwargs": {
            "spec": asdict(spec),
            "options": asdict(options),
            "videos": videos,
        },
        "num_cpus": ray.cpus_per_worker,
    }
    if ray.gpus_per_worker:
        arguments["num_gpus"] = ray.gpus_per_worker
    dataset = _from_items(module, rows, len(rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        try:
            return dataset.map_batches(SegmentActor, max_restarts=0, **arguments)
        except TypeError:  # a Ray without the remote-args pass-through
            return dataset.map_batches(SegmentActor, **arguments)


def _encode_on_ray(
    module: Any,
    runs: Sequence[_VideoRun],
    spec: ModelSpec,
    options: RunOptions,
    ray: RayOptions,
) -> Iterator[tuple[_VideoRun, SegmentResult | UpscalerError]]:
    """Every pending segment of ``runs`` through the actors; yields each outcome as it
    arrives (completion order). A model that cannot load is raised at once; Ray's own
    failures (a dead actor, a lost node) become a BatchIncomplete."""
    rows = []
    for number, run in enumerate(runs):
        for segment in run.pending:
            rows.append({"video": number, "segment": segment.index})
            run.outstanding.add(segment.index)
    if not rows:
        return
    mapped = _map_segments(
        module, rows, [run.work() for run in runs], spec=spec, options=options, ray=ray
    )
    try:
        for row in mapped.iter_rows():
            run = runs[int(row["video"])]
            if row["status"] == "setup-error":
                raise error_from_row(row, run.plan.src)
            if row["status"] != "done":
                run.outstanding.discard(int(row["segment"]))
                yield run, error_from_row(row, run.plan.src)
                continue
            data = json.loads(str(row["result"]))
            yield run, SegmentResult.from_dict(data, run.plan.work_folder)
    except UpscalerError:
        raise
    except Exception as exc:  # Ray's own failures
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise BatchIncomplete(
            f"the Ray job stopped: {type(exc).__name__}: {first}",
            hint="finished segments are kept; rerun the same command to resume",
        ) from exc


def upscale_video_on_ray(
    spec: ModelSpec,
    options: RunOptions,
    src: Path | str,
    dst: Path | str,
    ray: RayOptions,
    *,
    progress: bool = False,
) -> VideoReport:
    """Upscale the video ``src`` into ``dst`` with its segments spread over ``ray.workers``
    Ray actors (each holding one model), joined here into ``dst`` atomically.

    The result is the file :meth:`Upscaler.upscale_file` writes for the same model and
    options (``options.video``), and the work folder is the same: segments a killed or
    cancelled run of either path finished are not encoded again. Everything that can be
    refused is refused before any worker starts (:func:`plan_video`). Without
    ``ray.address`` a local cluster is started for the call and shut down after; a Ray
    already initialised by the caller is used as it is. ``progress`` shows a frame bar
    that moves as segments finish.
    """
    from upscaler.media_files import frame_progress, model_key

    module = import_ray()
    upscaler = spec.build()
    arguments = run_arguments(options)
    video_options = options.video if isinstance(options.video, VideoOptions) else None
    plan = plan_video(src, dst, video_options, max_pixels=options.max_pixels)
    run = _VideoRun.open(plan, model_key(upscaler, arguments))
    failure: BaseException | None = None
    try:
        if run.pending:
            upscaler.prepare(progress=progress)  # fetch and convert once, here
            total = plan.frame_count
            with (
                frame_progress(progress, f"upscaling {plan.src.name}") as report,
                _quiet_ray(module),
                _cluster(module, ray),
            ):
                first_error: UpscalerError | None = None
                for _, outcome in _encode_on_ray(module, [run], spec, options, ray):
                    if isinstance(outcome, UpscalerError):
                        first_error = first_error or outcome  # keep the others' work
                        continue
                    run.record(outcome)
                    if report is not None:
                        done = run.frames_done
                        report(done, max(total, done))
                if first_error is not None:
                    raise first_error
        return run.join()
    except BaseException as exc:
        failure = exc
        raise
    finally:
        run.close(failure)


# -- folder jobs -----------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _failed(job: Job, exc: BaseException, started: float) -> FileResult:
    message, hint = str(exc) or repr(exc), ""
    if isinstance(exc, UpscalerError):
        message, hint = exc.message, exc.hint or ""
    return FileResult(
        job.src,
        job.dst,
        "failed",
        seconds=time.perf_counter() - started,
        error=type(exc).__name__,
        message=message,
        hint=hint,
        time=_now(),
    )


def _open_videos(
    jobs: Sequence[Job],
    upscaler: Upscaler,
    options: RunOptions,
    *,
    overwrite: bool,
    runs: dict[int, tuple[Job, _VideoRun]],
) -> Iterator[FileResult]:
    """Plan each video job and lock its work folder (into ``runs``, by job number);
    yields the jobs that end here: finished outputs (skipped) and videos that cannot be
    planned (failed), as the local engine would."""
    from upscaler.media_files import model_key

    key = model_key(upscaler, run_arguments(options))
    video_options = options.video if isinstance(options.video, VideoOptions) else None
    for number, job in enumerate(jobs):
        started = time.perf_counter()
        target = Path(job.dst)
        if not overwrite and target.exists():
            if is_complete(target):
                yield FileResult(job.src, job.dst, "skipped")
                continue
            logger.info("%s exists but does not decode; writing it again", target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            plan = plan_video(job.src, target, video_options, max_pixels=options.max_pixels)
            runs[number] = (job, _VideoRun.open(plan, key))
        except Cancelled:
            raise
        except Exception as exc:  # one bad file must not stop the job
            logger.debug("failed on %s", job.src, exc_info=True)
            yield _failed(job, exc, started)


def _finish(job: Job, run: _VideoRun) -> FileResult:
    """Join a video whose segments are all in, or report why it failed."""
    if run.error is not None:
        return _failed(job, run.error, run.started)
    try:
        run.join()
    except Cancelled:
        raise
    except Exception as exc:
        logger.debug("joining %s failed", job.src, exc_info=True)
        return _failed(job, exc, run.started)
    return FileResult(job.src, job.dst, "done", seconds=time.perf_counter() - run.started)


def _video_jobs(
    module: Any,
    runs: dict[int, tuple[Job, _VideoRun]],
    spec: ModelSpec,
    options: RunOptions,
    ray: RayOptions,
) -> Iterator[FileResult]:
    """Every opened video's pending segments on one actor pool (the model loads once per
    actor for all of them); each video is joined as soon as its last segment is in."""
    ordered = list(runs.values())
    for job, run in ordered:
        if not run.pending:  # every segment was done before: only the join is left
            yield _finish(job, run)
    working = [(job, run) for job, run in ordered if run.pending]
    by_run = {id(run): job for job, run in working}
    for run, outcome in _encode_on_ray(module, [r for _, r in working], spec, options, ray):
        if isinstance(outcome, UpscalerError):
            run.error = run.error or outcome
        else:
            run.record(outcome)
        if not run.outstanding:
            yield _finish(by_run[id(run)], run)


VIDEOS_PER_POOL = 32
"""Videos planned, locked and encoded by one actor pool at a time. One pool for every
video of a folder would load the model once per actor, but would read every video's
packet index before the first segment starts and hold one lock file open per video (a
process may open only so many files); groups of 32 keep model loads rare and both
bounded."""


def _video_group(
    module: Any,
    jobs: Sequence[Job],
    upscaler: Upscaler,
    spec: ModelSpec,
    options: RunOptions,
    *,
    overwrite: bool,
    ray: RayOptions,
    start: Callable[[], None],
) -> Iterator[FileResult]:
    """One group of video jobs: planned and locked, their pending segments on one actor
    pool (``start`` brings the cluster up the first time workers are needed), joined,
    and their work folders released, kept only where a rerun has segments to resume."""
    runs: dict[int, tuple[Job, _VideoRun]] = {}
    failure: BaseException | None = None
    try:
        yield from _open_videos(jobs, upscaler, options, overwrite=overwrite, runs=runs)
        if any(run.pending for _, run in runs.values()):
            start()
        yield from _video_jobs(module, runs, spec, options, ray)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        for _, run in runs.values():
            finished = not run.plan.work_folder.exists()
            run.close(None if finished else failure or run.error)


def run_ray_jobs(
    jobs: list[Job],
    upscaler: Upscaler,
    spec: ModelSpec,
    options: RunOptions,
    *,
    overwrite: bool,
    ray: RayOptions,
    progress: bool = False,
) -> Iterator[FileResult]:
    """A folder job's files on Ray: images as :func:`~upscaler.batch.ray_engine.run_ray`
    maps them (one file per row), then each video split into its segments across the
    actors (as :func:`upscale_video_on_ray` does), all on one cluster. Yields one result
    per job. A video that cannot be planned or whose output is already finished ends
    before any worker starts; a job with nothing for workers starts no cluster."""
    images = [job for job in jobs if not is_video_name(Path(job.src).name)]
    videos = [job for job in jobs if is_video_name(Path(job.src).name)]
    if not videos:
        yield from run_ray(
            images, upscaler, spec, options, overwrite=overwrite, ray=ray, progress=progress
        )
        return
    module = import_ray()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_ray(module))
        started: list[bool] = []

        def start() -> None:
            if not started:
                upscaler.prepare(progress=progress)  # fetch and convert once, here
                stack.enter_context(_cluster(module, ray))
                started.append(True)

        if images:
            start()
            yield from run_ray(
                images, upscaler, spec, options, overwrite=overwrite, ray=ray, progress=progress
            )
        for first in range(0, len(videos), VIDEOS_PER_POOL):
            group = videos[first : first + VIDEOS_PER_POOL]
            yield from _video_group(
                module, group, upscaler, spec, options, overwrite=overwrite, ray=ray, start=start
            )
