"""The Ray Data engine: the same per-file work as the local engine, on a pool of actors.

The dataset holds only paths (``ray.data.from_items``); images are read inside the
workers, so nothing large passes through the driver. ``map_batches`` runs
:class:`UpscaleActor` on an actor pool: each actor builds its Upscaler once and runs the
same :class:`~upscaler.batch.worker.Worker` as the local engine, hence bit-identical
outputs. Rows of per-file status stream back to the driver, which writes the report.

Ray is an optional extra (``pip install 'upscaler[ray]'``), imported only here.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from upscaler.batch.options import ModelSpec, RunOptions, forwarded_environment
from upscaler.batch.plan import Job
from upscaler.batch.worker import FileResult, Worker
from upscaler.errors import BatchError, BatchIncomplete, DependencyError, UpscalerError

if TYPE_CHECKING:
    from upscaler.upscaler import Upscaler

logger = logging.getLogger("upscaler.batch")

_COLUMNS = ("src", "dst", "status", "seconds", "error", "message", "hint", "time")


@dataclass(frozen=True)
class RayOptions:
    """How the job uses Ray: actors, their resources, and which cluster."""

    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    address: str | None = None
    paths_per_batch: int = 4

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise BatchError(f"--workers must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker <= 0:
            raise BatchError(
                "--gpus-per-worker must be 0 or more and CPUs per worker more than 0",
                hint="e.g. --gpus-per-worker 1, or 0.5 to put two workers on one GPU",
            )
        if self.paths_per_batch < 1:
            raise BatchError(f"paths per batch must be at least 1, got {self.paths_per_batch}")


def import_ray() -> Any:
    """``ray`` with ``ray.data`` loaded, or a DependencyError naming the extra."""
    try:
        ray = importlib.import_module("ray")
        importlib.import_module("ray.data")
    except ImportError:
        raise DependencyError(
            "--engine ray needs Ray Data, which is not installed",
            hint="pip install 'upscaler[ray]'",
        ) from None
    return ray


class UpscaleActor:
    """A Ray Data actor: one Upscaler per actor, built once, then batches of paths.

    A model that cannot load is not raised from here (Ray would bury it in its own
    traceback): it is sent back as a ``setup-error`` row that the driver raises as the
    original error class, so the CLI prints its usual one line and exit code.
    """

    def __init__(self, spec: dict[str, Any], options: dict[str, Any], overwrite: bool) -> None:
        self._worker = Worker(ModelSpec(**spec), RunOptions(**options), overwrite=overwrite)
        self._setup_error: UpscalerError | None = None
        try:
            self._worker.upscaler  # noqa: B018  build (resolve) once, here
        except UpscalerError as exc:
            self._setup_error = exc

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Process a batch of ``{src, dst}`` rows into status rows (same order)."""
        rows: list[dict[str, Any]] = []
        for src, dst in zip(batch["src"], batch["dst"], strict=True):
            job = Job(str(src), str(dst))
            if self._setup_error is None:
                try:
                    rows.append(self._worker.process(job).to_row())
                    continue
                except UpscalerError as exc:  # the model failed to load (not a file)
                    self._setup_error = exc
            error = self._setup_error
            rows.append(
                FileResult(
                    job.src,
                    job.dst,
                    "setup-error",
                    error=type(error).__name__,
                    message=error.message,
                    hint=error.hint or "",
                ).to_row()
            )
        return {name: [row[name] for row in rows] for name in _COLUMNS}


def _rebuild_error(result: FileResult) -> UpscalerError:
    """The worker's error as its own class (so the CLI exit code is the documented one)."""
    from upscaler import errors

    cls = getattr(errors, result.error, None)
    if isinstance(cls, type) and issubclass(cls, UpscalerError):
        error: UpscalerError = cls.__new__(cls)
        UpscalerError.__init__(error, result.message, hint=result.hint or None)
        return error
    return BatchError(
        f"a Ray worker could not load the model: {result.error}: {result.message}",
        hint=result.hint or "--debug shows details",
    )


@contextlib.contextmanager
def _quiet_ray(ray: Any) -> Iterator[None]:
    """Our own bar and messages instead of Ray Data's bars, INFO logs and notices about its
    own deprecated settings; everything is restored afterwards."""
    names = ("ray", "ray.data")
    levels = {name: logging.getLogger(name).level for name in names}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.")
        context = ray.data.DataContext.get_current()
        bars = context.enable_progress_bars
        for name in names:
            logging.getLogger(name).setLevel(logging.ERROR)
        context.enable_progress_bars = False
        try:
            yield
        finally:
            context.enable_progress_bars = bars
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _cluster(ray: Any, options: RayOptions) -> Iterator[None]:
    """Connect to ``options.address``, or start a local cluster just for this job.

    A Ray already initialised by the caller is used as it is and left running.
    """
    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
        "runtime_env": {"env_vars": forwarded_environment()},
    }
    if options.address:
        ray.init(address=options.address, **kwargs)
    else:
        cpus = max(1, math.ceil(options.workers * options.cpus_per_worker))
        ray.init(num_cpus=cpus, **kwargs)
    try:
        if not options.address:
            _check_gpus(ray, options)
        yield
    finally:
        ray.shutdown()


def _check_gpus(ray: Any, options: RayOptions) -> None:
    """Actors asking for GPUs a local cluster lacks would wait forever: fail instead."""
    wanted = options.workers * options.gpus_per_worker
    have = float(ray.cluster_resources().get("GPU", 0))
    if wanted > have:
        raise BatchError(
            f"{options.workers} workers x {options.gpus_per_worker:g} GPUs need "
            f"{wanted:g} GPUs; this machine has {have:g}",
            hint="lower --workers or --gpus-per-worker, or pass --address of a GPU cluster",
        )


def _from_items(ray: Any, rows: list[dict[str, Any]], blocks: int) -> Any:
    """``from_items`` with small blocks, so that actors share the work evenly."""
    parameters = inspect.signature(ray.data.from_items).parameters
    name = "override_num_blocks" if "override_num_blocks" in parameters else "parallelism"
    return ray.data.from_items(rows, **{name: blocks})


def _map(
    dataset: Any,
    ray: Any,
    spec: ModelSpec,
    options: RunOptions,
    *,
    overwrite: bool,
    ray_options: RayOptions,
    actors: int,
) -> Any:
    """``map_batches`` on a pool of ``actors`` actors (no more than there are blocks: an
    actor without a block would load a model for nothing).

    ``max_restarts=0``: a worker that dies (say, out of memory on one huge image) would be
    restarted and handed the same batch again, forever; instead the job stops, and a rerun
    resumes with every finished file skipped.
    """
    arguments: dict[str, Any] = {
        "batch_size": ray_options.paths_per_batch,
        "batch_format": "numpy",
        "compute": ray.data.ActorPoolStrategy(size=actors),
        "fn_constructor_kwargs": {
            "spec": asdict(spec),
            "options": asdict(options),
            "overwrite": overwrite,
        },
        "num_cpus": ray_options.cpus_per_worker,
    }
    if ray_options.gpus_per_worker:
        arguments["num_gpus"] = ray_options.gpus_per_worker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        try:
            return dataset.map_batches(UpscaleActor, max_restarts=0, **arguments)
        except TypeError:  # a Ray without the remote-args pass-through
            return dataset.map_batches(UpscaleActor, **arguments)


def run_ray(
    jobs: list[Job],
    upscaler: Upscaler,
    spec: ModelSpec,
    options: RunOptions,
    *,
    overwrite: bool,
    ray: RayOptions,
    progress: bool = False,
) -> Iterator[FileResult]:
    """Yield one result per job as the actors finish them (in completion order)."""
    module = import_ray()
    if not jobs:
        return
    # Fetch and convert once here, not once per actor: errors (offline, integrity) come
    # out as the driver's own one-line errors, and a local cluster shares the cache.
    upscaler.prepare(progress=progress)
    with _quiet_ray(module), _cluster(module, ray):
        blocks = max(1, math.ceil(len(jobs) / ray.paths_per_batch))
        dataset = _from_items(module, [job.to_row() for job in jobs], blocks)
        mapped = _map(
            dataset,
            module,
            spec,
            options,
            overwrite=overwrite,
            ray_options=ray,
            actors=min(ray.workers, blocks),
        )
        try:
            for row in mapped.iter_rows():
                result = FileResult.from_row(row)
                if result.status == "setup-error":
                    raise _rebuild_error(result)
                yield result
        except UpscalerError:
            raise
        except Exception as exc:  # Ray's own failures: a dead actor, a lost node, ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise BatchIncomplete(
                f"the Ray job stopped: {type(exc).__name__}: {first}",
                hint="outputs written so far are kept; rerun the same command to resume",
            ) from exc
