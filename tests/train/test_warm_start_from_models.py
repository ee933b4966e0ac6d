"""Warm starts from trained models rather than run folders: a SavedModel that `upscaler
train` exported, and a shipped catalog model by id (the shipped models carry no run
folder). The oracle is the model itself: the run's start must compute what it does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from train_support import run_forward, run_weights, tiny_config

from upscaler.errors import TrainingError
from upscaler.runtime.savedmodel import require_tensorflow
from upscaler.train import train
from upscaler.train.warm_start import describe

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

SHIPPED = "upscaler-compact.x3"
SHIPPED_PARAMS = {"features": 32, "convs": 8}


@pytest.fixture(scope="module")
def exported_run(small_t91: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("exported") / "source"
    train(tiny_config(small_t91), run, progress=False, deterministic=False, export=True)
    assert (run / "savedmodel" / "saved_model.pb").is_file()
    return run


def serve(folder: Path, lr: np.ndarray) -> np.ndarray:
    """The SavedModel's own serving signature on one HxWxC float image."""
    tf = require_tensorflow()
    model = tf.saved_model.load(str(folder))
    out = model.signatures["serving_default"](input=tf.constant(lr[None]))["output"]
    return np.asarray(out)[0]


def test_an_exported_savedmodel_starts_a_run_with_its_exact_weights(
    small_t91: Path, tmp_path: Path, exported_run: Path
) -> None:
    exported = exported_run / "savedmodel"
    run = tmp_path / "from-export"
    config = tiny_config(small_t91, steps=1, checkpoint_every=1, init=str(exported), lr=1e-12)
    train(config, run, progress=False, deterministic=False, export=False)
    for got, source in zip(run_weights(run, 1), run_weights(exported_run), strict=True):
        np.testing.assert_allclose(got, source, atol=1e-9)
    lr = np.random.default_rng(2).random((7, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(run_forward(run, 1, lr), serve(exported, lr), atol=1e-5)
    init = json.loads((run / "run.json").read_text())["init"]
    assert init["run"] == "savedmodel" and init["step"] == 6 and len(init["sha256"]) == 64
    assert describe(init).startswith("step 6 of: upscaler train")


def test_a_shipped_model_id_starts_a_wider_run_with_the_same_function(
    small_t91: Path, tmp_path: Path
) -> None:
    from upscaler.catalog.loader import load_catalog, shipped_catalog_dir

    entry = load_catalog().get(SHIPPED)
    assert entry.weights is not None and entry.weights.source.package  # type: ignore[union-attr]
    folder = shipped_catalog_dir() / entry.weights.source.package  # type: ignore[union-attr]
    run = tmp_path / "widened"
    wide = {**SHIPPED_PARAMS, "features": 36}
    config = tiny_config(
        small_t91, scale=3, params=wide, steps=1, checkpoint_every=1, init=SHIPPED, lr=1e-12
    )
    train(config, run, progress=False, deterministic=False, export=False)
    lr = np.random.default_rng(3).random((9, 8, 3)).astype(np.float32)
    shipped_out = serve(folder, lr)
    assert not np.allclose(shipped_out, lr.repeat(3, 0).repeat(3, 1), atol=1e-2)  # trained
    np.testing.assert_allclose(run_forward(run, 1, lr), shipped_out, atol=1e-4)
    init = json.loads((run / "run.json").read_text())["init"]
    assert init["model"] == SHIPPED and init["widened"] == {"features": [32, 36]}
    assert init["command"].startswith("upscaler train T91 BSD200")


def test_models_that_cannot_start_a_run_are_refused(
    small_t91: Path, tmp_path: Path, exported_run: Path
) -> None:
    def start(init: str, run: str, **extra: object) -> None:
        config = tiny_config(small_t91, init=init, **extra)
        train(config, tmp_path / run, progress=False, deterministic=False, export=False)

    with pytest.raises(TrainingError, match="neither a folder nor a catalog model id"):
        start("no-such-model.x9", "a")
    with pytest.raises(TrainingError, match="tfjs-layers, converted"):
        start("esrgan-slim.x2", "b", scale=2)
    # A graph the writer rewrote no longer holds the network's arrays one for one.
    rewritten = tmp_path / "rewritten"
    shutil.copytree(exported_run / "savedmodel", rewritten)
    meta = json.loads((rewritten / "upscaler.json").read_text())
    (rewritten / "upscaler.json").write_text(json.dumps({**meta, "normalized_prelu": 2}))
    with pytest.raises(TrainingError, match="rewrote its graph"):
        start(str(rewritten), "c")
    # Not trained here at all: a converted model's metadata says where it came from.
    (rewritten / "upscaler.json").write_text(json.dumps({**meta, "source_format": "tfjs"}))
    with pytest.raises(TrainingError, match="converted from tfjs"):
        start(str(rewritten), "d")
    assert not any((tmp_path / r).exists() for r in "abcd")


def test_a_restart_refuses_an_export_that_changed_under_it(
    small_t91: Path, tmp_path: Path, exported_run: Path
) -> None:
    from upscaler.train.checkpoint import list_checkpoints

    exported = tmp_path / "export"
    shutil.copytree(exported_run / "savedmodel", exported)
    run = tmp_path / "run"
    config = tiny_config(small_t91, steps=4, checkpoint_every=4, init=str(exported))
    train(config, run, progress=False, deterministic=False, export=False, stop_at=4)
    for _, path in list_checkpoints(run):
        path.unlink()  # as a kill before the first checkpoint would leave it
    # Another training's export in its place: valid, same step, different weights.
    other = tmp_path / "other"
    train(tiny_config(small_t91, seed=1), other, progress=False, deterministic=False)
    shutil.rmtree(exported)
    shutil.copytree(other / "savedmodel", exported)
    with pytest.raises(TrainingError, match="has changed"):
        train(config, run, progress=False, deterministic=False, export=False)
