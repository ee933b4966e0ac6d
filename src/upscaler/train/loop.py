"""The training loop: resume, step, validate, checkpoint, export.

Resuming is exact by construction. The state of a run after step N is its weights,
Adam's moments and N (:mod:`upscaler.train.checkpoint`); the batch of step N is a pure
function of the seed and N (:class:`~upscaler.train.data.PatchSampler`); the learning
rate is a pure function of N (:func:`~upscaler.train.optim.cosine_lr`); and TensorFlow
runs with op determinism on. So a run killed at any moment and started again with the
same command continues from its last checkpoint and ends with the same bits as a run
that was never interrupted (``tests/train/test_resume_kill.py`` kills one to check).

A stop asked for politely (Ctrl-C, SIGTERM) is honoured between two steps: the state is
checkpointed first, so not even the steps since the last checkpoint are lost.

One process at a time trains in a run folder: it holds ``RUN/.upscaler-train.lock``
(:mod:`upscaler.locks`, the lock `upscaler batch` holds on its output folder) from before
it reads ``run.json`` until the export is written. A second ``upscaler train`` on the same
folder fails at once, naming the holder's pid; a lock left by a killed process is no lock
(the kernel drops it with the process), so the next run simply takes it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from upscaler.errors import TrainingError
from upscaler.locks import FolderLock
from upscaler.train import checkpoint as ckpt
from upscaler.train.architectures import get_architecture
from upscaler.train.config import TrainConfig, differences, recorded_config
from upscaler.train.data import (
    Folder,
    Pair,
    PatchSampler,
    evaluation_fingerprints,
    holdout,
    load_folders,
    refuse_evaluation_sets,
    refuse_overlap,
    warn_duplicates,
)
from upscaler.train.evaluation_images import EvaluationImages
from upscaler.train.network import Network, start_tensorflow, teacher_targets, validate
from upscaler.train.optim import cosine_lr
from upscaler.train.warm_start import load_warm_start

log = logging.getLogger("upscaler.train")

LOCK_NAME = ".upscaler-train.lock"
"""The lock file a training holds in its run folder while it runs (removed at the end)."""


@dataclass(frozen=True)
class TrainResult:
    """Where a run stands when :func:`train` returns."""

    run: Path
    step: int
    steps: int
    val_psnr: float | None
    savedmodel: Path | None
    steps_per_hour: float | None

    @property
    def finished(self) -> bool:
        return self.step >= self.steps


@dataclass(frozen=True)
class _Data:
    train: list[Pair]
    val: list[Pair]
    folders: list[Folder]
    val_folders: list[Folder]


def _load_data(config: TrainConfig) -> _Data:
    """The training pairs (no evaluation image among them, by manifest or by content) and
    the validation pairs: held out of them, and from ``--val``, which must not repeat a
    training image. ``--val`` may be an evaluation set: validating changes no weight, and
    its PSNR is then the number ``upscaler eval`` reports."""
    pairs, folders = load_folders(
        config.data,
        scale=config.scale,
        channels=config.channels,
        hr_patch=config.hr_patch,
        seed=config.seed,
    )
    refuse_evaluation_sets(folders, evaluation_fingerprints())
    train, val = holdout(pairs, config.val_holdout, config.seed)
    warn_duplicates(train, val)
    val_folders: list[Folder] = []
    if config.val:
        extra, val_folders = load_folders(
            [config.val],
            scale=config.scale,
            channels=config.channels,
            hr_patch=4 * config.scale,
            seed=config.seed,
            evaluation=EvaluationImages({}),
        )
        refuse_overlap(train, extra)
        val = val + extra
    return _Data(train, val, folders, val_folders)


def _run_record(config: TrainConfig, params: dict[str, int], data: _Data) -> dict[str, Any]:
    from upscaler import __version__

    return {
        "config": config.model_dump(),
        "params": params,
        "data": [f.record() for f in data.folders],
        "val": [f.record() for f in data.val_folders],
        "version": __version__,
    }


def _check_resumable(run: Path, config: TrainConfig, record: dict[str, Any]) -> None:
    """A run folder continues only the training it holds (see :mod:`.config`)."""
    previous = recorded_config(record, run / ckpt.RUN_FILE)
    changed = differences(previous, config)
    if changed:
        raise TrainingError(
            f"{run} holds a run with another configuration ({'; '.join(changed)})",
            hint="rerun with the run's own options to resume it, or pass a new run folder",
        )


def _check_same_data(run: Path, record: dict[str, Any], fresh: dict[str, Any]) -> None:
    for key in ("data", "val"):
        if record.get(key) != fresh[key]:
            raise TrainingError(
                f"the {key} folders of {run} changed since the run started "
                f"({record.get(key)} -> {fresh[key]})",
                hint="restore the folders' images, or start a new run folder",
            )


@contextlib.contextmanager
def _polite_stop() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set an event the loop checks between steps (main thread only)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: stop now, lose the steps since the checkpoint
            raise KeyboardInterrupt
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_threads(run: Path, record: dict[str, Any], threads: int) -> None:
    """Another thread count splits sums differently: the run continues correctly, but its
    last bits will differ from an uninterrupted run's, so say so."""
    started = record.get("threads")
    if isinstance(started, int) and started != threads:
        log.warning(
            "%s started on %d threads and resumes on %d: training continues, but the "
            "weights will differ in their last bits from an uninterrupted run "
            "(pass --threads %d to keep them identical)",
            run,
            started,
            threads,
            started,
        )


def train(
    config: TrainConfig,
    run: str | Path,
    *,
    progress: bool = True,
    deterministic: bool = True,
    stop_at: int | None = None,
    export: bool = True,
) -> TrainResult:
    """Train (or resume) the run in folder ``run`` and export it when the last step is done.

    ``stop_at`` ends this call after that step (checkpointed), as a kill would but
    cleanly; the same call without it continues. ``deterministic`` turns on TensorFlow's
    op determinism for the whole process (needed for bit-exact resumes; it cannot be
    turned off again). ``export=False`` leaves ``savedmodel/`` unwritten. Another
    training running in ``run`` is a :class:`TrainingError` at once (see the module
    docstring); a run folder this call created stays only if the run started.
    """
    if stop_at is not None and stop_at < 1:
        raise TrainingError(
            f"--stop-at {stop_at} is not a step: steps are counted from 1",
            hint="pass --stop-at N with N >= 1, or leave it out to train to the end",
        )
    run = Path(run).expanduser()
    created = _make_run_folder(run)
    try:
        with _run_lock(run):
            return _train_locked(
                config,
                run,
                progress=progress,
                deterministic=deterministic,
                stop_at=stop_at,
                export=export,
            )
    finally:
        for folder in created:  # deepest first, and only while empty: a run that never
            try:  # started leaves nothing behind
                folder.rmdir()
            except OSError:
                break


def _make_run_folder(run: Path) -> list[Path]:
    """Create ``run`` (for the lock file in it); the folders this created, deepest first."""
    if run.exists() and not run.is_dir():
        raise TrainingError(
            f"the run folder {run} is a file", hint="pass a new (or empty) folder to --run"
        )
    missing: list[Path] = []
    folder = run
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(
            f"cannot create the run folder {run} ({exc.strerror or exc})",
            hint="pass a --run folder in a place you can write",
        ) from None
    return missing


def _run_lock(run: Path) -> FolderLock:
    def busy(pid: int | None) -> TrainingError:
        holder = f" (pid {pid})" if pid is not None else ""
        return TrainingError(
            f"another upscaler train is running in the run folder {run}{holder}",
            hint="wait for it to finish (or stop it), or pass another --run folder",
        )

    return FolderLock(run / LOCK_NAME, busy)


def _train_locked(
    config: TrainConfig,
    run: Path,
    *,
    progress: bool,
    deterministic: bool,
    stop_at: int | None,
    export: bool,
) -> TrainResult:
    """:func:`train`, with the run folder created and locked."""
    arch = get_architecture(config.architecture)
    params = arch.resolve_params(config.params)
    record = ckpt.read_run_record(run)
    if record is not None:
        _check_resumable(run, config, record)
    if record is None and any(p.name != LOCK_NAME for p in run.iterdir()):
        raise TrainingError(
            f"{run} is not empty and holds no training run",
            hint="pass a new (or empty) run folder",
        )
    data = _load_data(config)
    sampler = PatchSampler(data.train, config.scale, config.patch, config.seed, config.degradation)
    teacher = teacher_targets(config)
    tf, threads = start_tensorflow(config, deterministic)
    fresh = {**_run_record(config, params, data), "threads": threads}
    net = Network(tf, arch, config, params)
    latest = ckpt.latest_checkpoint(run)
    if latest is None and config.init is not None:
        warm = load_warm_start(
            config.init,
            architecture=arch.id,
            params=params,
            fresh=net.weights(),
            pinned=None if record is None else record.get("init"),
        )
        net.warm_start(warm.weights)
        fresh["init"] = warm.record
    if record is None:
        ckpt.write_run_record(run, fresh)
    else:
        _check_same_data(run, record, fresh)
        _check_threads(run, record, threads)
        if record["config"] != fresh["config"]:  # operational changes: keep run.json current
            ckpt.write_run_record(run, {**record, "config": fresh["config"]})
    step = 0
    if latest is not None:
        state = ckpt.load_checkpoint(latest, net.shapes)
        net.restore(state)
        step = state.step
        log.info("resuming %s at step %d", run, step)
    end = config.steps if stop_at is None else min(config.steps, stop_at)
    val_psnr: float | None = None
    rate_per_hour: float | None = None
    with _polite_stop() as stop, _bar(progress, config.steps, step) as bar:
        loss_ema: float | None = None
        timed_steps, timed_seconds, compiled = 0, 0.0, False
        while step < end and not stop.is_set():
            started = time.perf_counter()
            lr_batch, hr_batch = sampler.batch(step, config.batch)
            if teacher is not None:
                hr_batch = teacher(lr_batch)
            rate = cosine_lr(
                step, steps=config.steps, lr=config.lr, lr_min=config.lr_min, warmup=config.warmup
            )
            loss = float(
                net.step(
                    tf.constant(lr_batch),
                    tf.constant(hr_batch),
                    tf.constant(rate, tf.float32),
                    tf.constant(float(step + 1), tf.float32),
                )
            )
            if not np.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss} at step {step + 1}",
                    hint="lower --lr; the last checkpoint is kept",
                )
            step += 1
            if compiled:  # the first step of a process compiles: not a step's time
                timed_steps += 1
                timed_seconds += time.perf_counter() - started
            compiled = True
            loss_ema = loss if loss_ema is None else 0.98 * loss_ema + 0.02 * loss
            rate_per_hour = 3600 * timed_steps / timed_seconds if timed_seconds else None
            if step % config.val_every == 0 or step == config.steps:
                val_psnr = validate(net.predict, data.val, config.scale)
                ckpt.append_log(
                    run,
                    {
                        "step": step,
                        "loss": round(loss_ema, 6),
                        "val_psnr": None if val_psnr is None else round(val_psnr, 4),
                        "lr": rate,
                        "steps_per_hour": None if rate_per_hour is None else round(rate_per_hour),
                    },
                )
                log.info("step %d: loss %.5f, val PSNR %s", step, loss_ema, val_psnr)
            if step % config.checkpoint_every == 0 or step == end:
                ckpt.save_checkpoint(run, net.state(step), keep=config.keep)
            bar.update(1)
            bar.set_postfix_str(_postfix(loss_ema, val_psnr), refresh=False)
        if stop.is_set() and step % config.checkpoint_every and step != end:
            ckpt.save_checkpoint(run, net.state(step), keep=config.keep)
            log.warning("stopped at step %d (checkpointed); rerun to resume", step)
    savedmodel = None
    if step >= config.steps and export:
        from upscaler.train.export import export_savedmodel

        savedmodel = export_savedmodel(run)
    return TrainResult(run, step, config.steps, val_psnr, savedmodel, rate_per_hour)


def _postfix(loss: float | None, val_psnr: float | None) -> str:
    text = f"loss {loss:.4f}" if loss is not None else ""
    if val_psnr is not None:
        text += f", val {val_psnr:.2f} dB"
    return text


@contextlib.contextmanager
def _bar(progress: bool, total: int, initial: int) -> Iterator[Any]:
    from tqdm import tqdm

    from upscaler.progress import tqdm_disable

    bar = tqdm(
        total=total,
        initial=initial,
        desc="train",
        unit="step",
        file=sys.stderr,
        disable=tqdm_disable(progress),
        dynamic_ncols=True,
    )
    try:
        yield bar
    finally:
        bar.close()
