"""Warm starts (`--init-from`): a run begins from another run's weights where the arrays
fit, records which checkpoint it started from, and refuses sources that cannot fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from train_support import TINY_PARAMS, checkpoint_arrays, run_weights, tiny_config, write_images

from upscaler.errors import TrainingError
from upscaler.train import train
from upscaler.train.checkpoint import list_checkpoints
from upscaler.train.export import training_record


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_images(tmp_path / "Data", 4, size=(48, 48))


@pytest.fixture
def x2_run(data: Path, tmp_path: Path) -> Path:
    run = tmp_path / "x2"
    train(tiny_config(data), run, progress=False, deterministic=False, export=False)
    return run


def test_an_x3_run_starts_from_an_x2_body(data: Path, tmp_path: Path, x2_run: Path) -> None:
    run = tmp_path / "x3"
    config = tiny_config(data, scale=3, steps=1, checkpoint_every=1, init=str(x2_run), lr=1e-12)
    train(config, run, progress=False, deterministic=False, export=False)
    source, started = run_weights(x2_run), run_weights(run, 1)
    # Every array but the tail (it maps to 3 * 3² maps, not 3 * 2²) is the source's;
    # with a learning rate of 1e-12 one step leaves them equal to float precision.
    same = [
        a.shape == b.shape and np.allclose(a, b, atol=1e-6)
        for a, b in zip(source, started, strict=True)
    ]
    tail = [i for i, a in enumerate(started) if a.shape[-1] == 27]
    assert tail and not any(same[i] for i in tail)
    assert all(same[i] for i in range(len(same)) if i not in tail)
    # A run from scratch starts elsewhere, so the copy is what made them equal.
    scratch = tmp_path / "scratch"
    fresh = tiny_config(data, scale=3, steps=1, checkpoint_every=1, lr=1e-12)
    train(fresh, scratch, progress=False, deterministic=False, export=False)
    assert not np.allclose(run_weights(scratch, 1)[0], source[0], atol=1e-3)

    record = json.loads((run / "run.json").read_text())
    assert record["init"]["run"] == "x2" and record["init"]["step"] == 6
    assert len(record["init"]["sha256"]) == 64
    entry = training_record(record, 1)
    assert entry["init"].startswith("step 6 of: upscaler train Data")
    assert "--init-from x2" in entry["command"]


def test_a_restart_before_the_first_checkpoint_uses_the_pinned_source(
    data: Path, tmp_path: Path, x2_run: Path
) -> None:
    run = tmp_path / "x3"
    config = tiny_config(data, scale=3, steps=4, checkpoint_every=4, init=str(x2_run))
    # Start, then lose the checkpoint as a kill before the first one would.
    train(config, run, progress=False, deterministic=False, export=False, stop_at=4)
    for _, path in list_checkpoints(run):
        path.unlink()
    # The source moves on (a newer checkpoint): the restart must not pick it up.
    newest = list_checkpoints(x2_run)[-1][1]
    arrays = checkpoint_arrays(newest)
    arrays["step"] = np.array(8, dtype=np.int64)
    np.savez(newest.with_name("step-00000008.npz"), **arrays)
    train(config, run, progress=False, deterministic=False, export=False)
    assert json.loads((run / "run.json").read_text())["init"]["step"] == 6
    # The pinned checkpoint changed on disk: refused, not silently replaced.
    for _, path in list_checkpoints(run):
        path.unlink()
    pinned = dict(list_checkpoints(x2_run))[6]
    arrays = checkpoint_arrays(pinned)
    arrays["w0000"] = arrays["w0000"] + 1
    np.savez(pinned, **arrays)
    with pytest.raises(TrainingError, match="has changed"):
        train(config, run, progress=False, deterministic=False, export=False)


def test_sources_that_cannot_fit_are_refused(data: Path, tmp_path: Path, x2_run: Path) -> None:
    deeper = tiny_config(data, params={**TINY_PARAMS, "convs": 2}, init=str(x2_run))
    with pytest.raises(TrainingError, match="same architecture and size parameters"):
        train(deeper, tmp_path / "a", progress=False, deterministic=False, export=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainingError, match="not a training run folder"):
        train(
            tiny_config(data, init=str(empty)),
            tmp_path / "b",
            progress=False,
            deterministic=False,
            export=False,
        )
    # A refused start leaves no run folder behind to trip over the next try.
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_damaged_source_checkpoint_is_a_clear_error(
    data: Path, tmp_path: Path, x2_run: Path
) -> None:
    newest = list_checkpoints(x2_run)[-1][1]
    newest.write_bytes(newest.read_bytes()[:100])  # cut off, as a full disk would leave it
    config = tiny_config(data, scale=3, init=str(x2_run))
    with pytest.raises(TrainingError, match=f"checkpoint {newest} cannot be read") as caught:
        train(config, tmp_path / "x3", progress=False, deterministic=False, export=False)
    assert "delete it" in (caught.value.hint or "")
    assert not (tmp_path / "x3").exists()
