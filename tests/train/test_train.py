"""Real (tiny) trainings in this process: a run trains, validates, checkpoints and
exports a SavedModel that computes exactly what was trained; a run stopped and
continued ends with the same bits; a run folder refuses another configuration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from train_support import checkpoint_arrays, same_bits, tiny_config, write_images

from upscaler.errors import TrainingError
from upscaler.train import train
from upscaler.train.checkpoint import list_checkpoints, read_log


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_images(tmp_path / "Data", 4)


def test_a_run_trains_validates_checkpoints_and_exports(data: Path, tmp_path: Path) -> None:
    from upscaler.runtime.savedmodel import load_savedmodel

    run = tmp_path / "run"
    result = train(tiny_config(data), run, progress=False, deterministic=False)
    assert result.finished and result.step == 6
    assert result.val_psnr is not None and result.val_psnr > 10
    assert [s for s, _ in list_checkpoints(run)] == [2, 4, 6]  # keep=3
    log = read_log(run)
    assert [line["step"] for line in log] == [3, 6]
    assert all(line["val_psnr"] and line["loss"] > 0 for line in log)
    record = json.loads((run / "run.json").read_text())
    assert record["params"] == {"features": 4, "convs": 1}
    assert record["data"][0]["name"] == "Data" and len(record["data"][0]["sha256"]) == 64

    assert result.savedmodel == run / "savedmodel"
    model = load_savedmodel(run / "savedmodel")
    assert model.metadata["source_format"] == "upscaler-train"
    assert model.metadata["scale"] == 2 and model.metadata["value_range"] == [0.0, 1.0]
    assert model.metadata["training"]["steps"] == 6
    # The SavedModel computes the trained network: compare with the checkpoint's weights
    # run through the same graph by hand.
    from upscaler.convert.builder import graph_forward, graph_variables
    from upscaler.runtime.savedmodel import require_tensorflow
    from upscaler.train.export import trained_graph

    tf = require_tensorflow()
    graph, step = trained_graph(run)
    assert step == 6
    x = np.random.default_rng(0).random((1, 9, 11, 3), dtype=np.float32)
    expected = np.asarray(graph_forward(tf, graph, graph_variables(tf, graph))(tf.constant(x)))
    assert np.allclose(model.predict(x), expected, atol=1e-6)


def test_stopping_and_continuing_gives_the_same_bits(data: Path, tmp_path: Path) -> None:
    config = tiny_config(data, checkpoint_every=3)
    train(config, tmp_path / "whole", progress=False, deterministic=False, export=False)
    first = train(
        config, tmp_path / "parts", progress=False, deterministic=False, stop_at=4, export=False
    )
    assert first.step == 4 and not first.finished
    assert [s for s, _ in list_checkpoints(tmp_path / "parts")] == [3, 4]
    rest = train(config, tmp_path / "parts", progress=False, deterministic=False, export=False)
    assert rest.finished
    a = checkpoint_arrays(list_checkpoints(tmp_path / "whole")[-1][1])
    b = checkpoint_arrays(list_checkpoints(tmp_path / "parts")[-1][1])
    assert same_bits(a, b)


def test_a_run_folder_holds_one_configuration(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(data), run, progress=False, deterministic=False, stop_at=2, export=False)
    with pytest.raises(TrainingError, match=r"another configuration \(lr: 0.0005 -> 0.001\)"):
        train(tiny_config(data, lr=1e-3), run, progress=False, deterministic=False)
    # What does not change a weight may change.
    again = train(
        tiny_config(data, val_every=100, keep=1),
        run,
        progress=False,
        deterministic=False,
        stop_at=4,
        export=False,
    )
    assert again.step == 4 and [s for s, _ in list_checkpoints(run)] == [4]
    # A moved data folder resumes: folders are known by name and manifest hash.
    moved = data.parent / "elsewhere" / data.name
    moved.parent.mkdir()
    data.rename(moved)
    data = moved
    again = train(
        tiny_config(data), run, progress=False, deterministic=False, stop_at=5, export=False
    )
    assert again.step == 5
    assert json.loads((run / "run.json").read_text())["config"]["data"] == [str(moved)]
    write_images(data, 5, seed=9)  # the folder's pixels changed under the run
    with pytest.raises(TrainingError, match=r"data folders of .* changed"):
        train(tiny_config(data), run, progress=False, deterministic=False)


def test_a_folder_that_is_not_a_run_is_left_alone(data: Path, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not empty and holds no training run"):
        train(tiny_config(data), busy, progress=False, deterministic=False)
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_rgba_models_train_and_export(data: Path, tmp_path: Path, channels: int) -> None:
    result = train(
        tiny_config(data, channels=channels, steps=2, val_every=2),
        tmp_path / "run",
        progress=False,
        deterministic=False,
    )
    meta = json.loads((tmp_path / "run" / "savedmodel" / "upscaler.json").read_text())
    assert meta["input_channels"] == channels and meta["channels"] == channels
    assert result.val_psnr is not None


def test_resuming_on_another_thread_count_warns(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The thread count splits sums, so it decides the last bits: a resume on another one
    goes on, and says that it will not match an uninterrupted run bit for bit."""
    import logging

    run = tmp_path / "run"
    train(tiny_config(data), run, progress=False, deterministic=False, stop_at=2, export=False)
    record = json.loads((run / "run.json").read_text())
    assert isinstance(record["threads"], int) and record["threads"] >= 1
    record["threads"] += 7
    (run / "run.json").write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="upscaler.train"):
        train(tiny_config(data), run, progress=False, deterministic=False, stop_at=3, export=False)
    assert f"started on {record['threads']} threads" in caplog.text
    assert "last bits" in caplog.text


def test_an_evaluation_set_is_never_trained_on(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose manifest hash is one the catalog's metrics were measured on (Set5,
    Set14, BSD100 ...) is refused, whatever its name."""
    import shutil

    from upscaler.catalog import shipped_catalog_dir
    from upscaler.evaluate.datasets import load_set

    catalog = tmp_path / "catalog"
    shutil.copytree(shipped_catalog_dir(), catalog)
    span = catalog / "models" / "span.yaml"
    text = span.read_text()
    set5 = text.split("set5: ", 1)[1].split(",", 1)[0]  # the first provenance hash of Set5
    span.write_text(text.replace(set5, load_set(data).fingerprint))
    monkeypatch.setenv("UPSCALER_CATALOG", str(catalog))
    with pytest.raises(TrainingError, match="Data is the evaluation set 'set5'"):
        train(tiny_config(data), tmp_path / "run", progress=False, deterministic=False)
    assert not (tmp_path / "run").exists()
