"""A finished run becomes a catalog model: weights in the catalog folder (source kind
``package``), an entry `catalog validate` accepts as written, hashes `catalog hash`
agrees with, and a model the facade runs like any other."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from train_support import tiny_config, write_images

from upscaler.catalog import load_catalog, shipped_catalog_dir
from upscaler.errors import CatalogError, TrainingError
from upscaler.train import add_to_catalog, train

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

Cli = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("trained")
    data = write_images(base / "T91", 4)
    train(tiny_config(data), base / "run", progress=False, deterministic=False)
    return base / "run"


def test_add_writes_weights_and_a_valid_entry(
    finished_run: Path, catalog_copy: Path, cli: Cli
) -> None:
    added = add_to_catalog(
        finished_run, family="ours", variant="x2", dataset="291", catalog_root=catalog_copy
    )
    assert added.model_id == "ours.x2"
    assert added.weights_folder == catalog_copy / "weights" / "ours" / "x2"
    assert added.files[0]["path"] == "saved_model.pb"
    assert all(f["size"] <= 2 * 1024 * 1024 for f in added.files)
    entry = load_catalog(catalog_copy).get("ours.x2")
    assert entry.architecture == "srvgg" and entry.implementation == "upscaler"
    assert entry.dataset == "t91-bsd200" and entry.scale == 2 and entry.channels == 3
    assert entry.default and entry.params == {"features": 4, "convs": 1}
    assert entry.tiling is not None and entry.tiling.context == 3
    assert entry.weights is not None and entry.weights.format == "savedmodel"
    assert entry.weights.source.model_dump() == {"package": "weights/ours/x2"}
    training = entry.training
    assert training is not None
    assert (training.steps, training.batch_size, training.patch_size) == (6, 2, 8)
    assert (training.loss, training.seed, training.teacher) == ("l1", 0, None)
    assert list(training.data) == ["t91"] and len(training.data["t91"]) == 64
    assert training.command is not None and training.command.startswith("upscaler train T91")
    assert "adam" in str(training.optimizer)

    assert cli("catalog", "validate", str(catalog_copy)).code == 0
    hashed = cli("catalog", "hash", str(added.family_file), "--check")
    assert hashed.code == 0 and "hashes are current" in hashed.out


def test_the_added_model_runs_through_the_facade(
    finished_run: Path, catalog_copy: Path, tmp_path: Path
) -> None:
    from upscaler import Upscaler
    from upscaler.runtime.savedmodel import load_savedmodel

    add_to_catalog(
        finished_run, family="ours", variant="x2", dataset="t91-bsd200", catalog_root=catalog_copy
    )
    # Zero borders: what the network's own SAME padding does on a whole image.
    up = Upscaler(
        model="ours.x2",
        catalog=load_catalog(catalog_copy),
        cache_dir=tmp_path / "c",
        border="zero",
    )
    image = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    out = up.upscale(image, progress=False)
    assert out.shape == (40, 48, 3) and out.dtype == np.uint8
    direct = load_savedmodel(finished_run / "savedmodel").predict(
        image[None].astype(np.float32) / 255
    )[0]
    expected = np.clip(np.rint(direct * 255), 0, 255)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_tampered_package_weights_are_refused(
    finished_run: Path, catalog_copy: Path, tmp_path: Path
) -> None:
    from upscaler.errors import IntegrityError
    from upscaler.fetch import fetch_model_files

    add_to_catalog(
        finished_run, family="ours", variant="x2", dataset="291", catalog_root=catalog_copy
    )
    entry = load_catalog(catalog_copy).get("ours.x2")
    assert entry.weights is not None
    files = fetch_model_files(entry.id, entry.weights, catalog_root=catalog_copy)
    assert files["saved_model.pb"] == catalog_copy / "weights/ours/x2/saved_model.pb"
    index = catalog_copy / "weights/ours/x2/variables/variables.index"
    index.write_bytes(index.read_bytes() + b"x")
    with pytest.raises(IntegrityError, match=r"does not match the catalog entry of ours\.x2"):
        fetch_model_files(entry.id, entry.weights, catalog_root=catalog_copy)
    # A folder that leads out of the catalog (a symlink) is refused before any read.
    shutil.rmtree(catalog_copy / "weights/ours/x2")
    (catalog_copy / "weights/ours/x2").symlink_to(finished_run / "savedmodel")
    with pytest.raises(IntegrityError, match="outside the catalog folder"):
        fetch_model_files(entry.id, entry.weights, catalog_root=catalog_copy)


def test_add_refuses_what_would_not_make_a_valid_entry(
    finished_run: Path, catalog_copy: Path, tmp_path: Path
) -> None:
    with pytest.raises(TrainingError, match="dataset 'mydata' is not in"):
        add_to_catalog(
            finished_run, family="ours", variant="x2", dataset="mydata", catalog_root=catalog_copy
        )
    with pytest.raises(CatalogError, match=r"Ours\.yaml"):
        add_to_catalog(
            finished_run, family="Ours", variant="x2", dataset="291", catalog_root=catalog_copy
        )
    assert not (catalog_copy / "models" / "Ours.yaml").exists()
    assert not (catalog_copy / "weights").exists()  # nothing half-written
    add_to_catalog(
        finished_run, family="ours", variant="x2", dataset="291", catalog_root=catalog_copy
    )
    with pytest.raises(TrainingError, match="already has a variant 'x2'"):
        add_to_catalog(
            finished_run, family="ours", variant="x2", dataset="291", catalog_root=catalog_copy
        )
    add_to_catalog(
        finished_run,
        family="ours",
        variant="x2",
        dataset="291",
        catalog_root=catalog_copy,
        replace=True,
    )
    unfinished = tmp_path / "unfinished"
    data = write_images(tmp_path / "D", 3)
    train(tiny_config(data), unfinished, progress=False, deterministic=False, stop_at=2)
    with pytest.raises(TrainingError, match="no exported model yet"):
        add_to_catalog(
            unfinished, family="ours", variant="x3", dataset="291", catalog_root=catalog_copy
        )


def test_package_sources_are_checked_by_the_schema() -> None:
    from pydantic import ValidationError

    from upscaler.catalog.schema import Weights

    def weights(package: str, size: int) -> dict[str, object]:
        return {
            "format": "savedmodel",
            "source": {"package": package},
            "files": [{"path": "saved_model.pb", "sha256": "0" * 64, "size": size}],
        }

    assert Weights.model_validate(weights("weights/a/x2", 2 * 1024 * 1024))
    with pytest.raises(ValidationError, match="at most 2097152"):
        Weights.model_validate(weights("weights/a/x2", 2 * 1024 * 1024 + 1))
    for bad in ("../outside", "/abs/path", "weights/../../x", "weights//x", "w\\x"):
        with pytest.raises(ValidationError, match="must be relative and normalised"):
            Weights.model_validate(weights(bad, 1))


def test_cli_train_then_add(tmp_path: Path, cli: Cli, catalog_copy: Path) -> None:
    data = write_images(tmp_path / "T91", 3)
    run = tmp_path / "run"
    args = ["train", str(data), "--run", str(run), "--steps", "3", "--patch", "8"]
    args += ["--batch", "2", "--param", "features=4", "--param", "convs=1", "--no-xla"]
    args += ["--threads", "1", "--no-progress", "--val-holdout", "1"]
    stopped = cli(*args, "--stop-at", "2")
    assert stopped.code == 0 and "step 2/3" in stopped.out
    done = cli("train", "--run", str(run), "--no-progress")  # resumes with the run's options
    assert done.code == 0, done.err
    assert "step 3/3" in done.out and "catalog add" in done.out
    evalset = write_images(tmp_path / "Val" / "HR", 2, size=(40, 40))
    added = cli(
        "catalog",
        "add",
        str(run),
        "--family",
        "mine",
        "--variant",
        "x2",
        "--dataset",
        "291",
        "--catalog",
        str(catalog_copy),
        "--eval-data",
        str(evalset.parent),
    )
    assert added.code == 0, added.err
    assert "added mine.x2" in added.out and "val: PSNR-Y" in added.out
    entry = load_catalog(catalog_copy).get("mine.x2")
    assert entry.metrics is not None and "val" in entry.metrics.sets
    assert entry.metrics.provenance.command == "upscaler eval mine.x2 --data Val --write"


@pytest.mark.parametrize("channels", [1, 4])
def test_native_gray_and_rgba_models_enter_the_catalog(
    tmp_path: Path, catalog_copy: Path, channels: int
) -> None:
    """Native gray (luma) and RGBA runs are added like RGB ones, and the facade runs them
    on their own kind of image: gray natively, RGBA with the model's own alpha."""
    from upscaler import Upscaler
    from upscaler.runtime.savedmodel import load_savedmodel

    data = write_images(tmp_path / "D", 3)
    run = tmp_path / "run"
    train(tiny_config(data, channels=channels, steps=2), run, progress=False, deterministic=False)
    added = add_to_catalog(run, family="m", variant="x2", dataset="291", catalog_root=catalog_copy)
    catalog = load_catalog(catalog_copy)
    entry = catalog.get(added.model_id)
    assert entry.channels == channels
    rng = np.random.default_rng(0)
    shape = (16, 20) if channels == 1 else (16, 20, 4)
    image = rng.integers(1, 256, shape, dtype=np.uint8)  # no fully transparent pixel
    # Zero borders: what the network's own SAME padding does on a whole image.
    up = Upscaler(model=added.model_id, catalog=catalog, cache_dir=tmp_path / "c", border="zero")
    query = Upscaler(channels=channels, scale=2, strict=True, catalog=catalog)
    assert query.describe().exact and added.model_id in query.resolution.matches
    out = up.upscale(image, progress=False)
    assert out.shape == (32, 40, *shape[2:])
    planes = image.reshape(1, 16, 20, channels).astype(np.float32) / 255
    direct = load_savedmodel(run / "savedmodel").predict(planes)[0]
    expected = np.clip(np.rint(np.clip(direct, 0, 1) * 255), 0, 255).reshape(out.shape)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_distillation_from_a_catalog_model(
    finished_run: Path, catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--teacher: a catalog model's outputs are the targets; the record names it."""
    import json

    add_to_catalog(
        finished_run, family="ours", variant="x2", dataset="291", catalog_root=catalog_copy
    )
    monkeypatch.setenv("UPSCALER_CATALOG", str(catalog_copy))
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "cache"))
    data = write_images(tmp_path / "D", 3)
    student = tmp_path / "student"
    result = train(
        tiny_config(data, teacher="ours.x2", steps=2),
        student,
        progress=False,
        deterministic=False,
    )
    assert result.finished
    meta = json.loads((student / "savedmodel" / "upscaler.json").read_text())
    assert meta["training"]["teacher"] == "ours.x2"
    with pytest.raises(TrainingError, match=r"teacher ours\.x2 is an x2 model"):
        train(
            tiny_config(data, teacher="ours.x2", scale=3),
            tmp_path / "s3",
            progress=False,
            deterministic=False,
        )


@pytest.mark.slow
def test_speed_is_written_by_the_benchmark(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--speed runs benchmarks/run.py --write-speed for the new entry (a checkout's layout:
    the benchmark beside the catalog)."""
    from upscaler.train.measure import benchmark_speed

    repo = tmp_path / "checkout"
    shutil.copytree(
        shipped_catalog_dir(), repo / "catalog", ignore=shutil.ignore_patterns("weights")
    )
    (repo / "benchmarks").symlink_to(REPO / "benchmarks")
    add_to_catalog(
        finished_run, family="ours", variant="x2", dataset="291", catalog_root=repo / "catalog"
    )
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "cache"))
    speed = benchmark_speed("ours.x2", repo / "catalog")
    entry = load_catalog(repo / "catalog").get("ours.x2")
    assert entry.speed is not None and entry.speed.ms_per_output_megapixel == speed > 0
    assert "--write-speed --models ours.x2" in entry.speed.provenance.command
    with pytest.raises(TrainingError, match="no benchmark script"):
        benchmark_speed("ours.x2", tmp_path / "nowhere" / "catalog")

    # --compare times more models in the same pass and prints them, but writes only
    # --models: a rival's catalog speed stays what its own measurement wrote.
    add_to_catalog(
        finished_run, family="ours", variant="y2", dataset="291", catalog_root=repo / "catalog"
    )
    env = {**os.environ, "UPSCALER_CATALOG": str(repo / "catalog")}
    args = ["--sections", "none", "--write-speed", "--speed-size", "32"]
    done = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "run.py"), *args,
         "--models", "ours.y2", "--compare", "ours.x2"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ours.")]
    assert [row.split("|")[1].strip() for row in rows] == ["ours.y2", "ours.x2"]
    assert [row.split("|")[4].strip() for row in rows] == ["yes", "no"]
    after = load_catalog(repo / "catalog")
    assert after.get("ours.y2").speed is not None
    assert after.get("ours.x2").speed == entry.speed  # untouched by the comparison


def test_a_variant_added_to_another_family_says_what_it_is(
    finished_run: Path, catalog_copy: Path
) -> None:
    """A run added to a family of other models (another architecture, implementation,
    dataset and value range) overrides those at the variant: the merged entry is ours."""
    add_to_catalog(
        finished_run, family="esrgan-slim", variant="ours-x2", dataset="291",
        catalog_root=catalog_copy,
    )  # fmt: skip
    catalog = load_catalog(catalog_copy)
    ours = catalog.get("esrgan-slim.ours-x2")
    assert (ours.architecture, ours.implementation) == ("srvgg", "upscaler")
    assert ours.dataset == "t91-bsd200" and ours.value_range == (0.0, 1.0)
    assert not ours.default  # the family keeps its default
    slim = catalog.get("esrgan-slim.x2")
    assert (slim.architecture, slim.value_range) == ("rdn", (0.0, 255.0))
