"""Hostile `upscaler catalog add` (issue 29, items 4 and 5, and their siblings): ids that
would become paths outside the catalog, an export swapped in from another run, texts
that would break the YAML's tables, and run or catalog folders that are not what they
claim. Every case ends in one of our errors with its exit code and a line naming the
bad value, and writes nothing anywhere: the temp folder of the command lies inside the
snapshotted tree, so a file written next to it (``--family ../x``) is seen too."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Result
from hostile_support import assert_cli_error, snapshot, write_png

from upscaler.catalog import load_catalog, shipped_catalog_dir
from upscaler.errors import CatalogError, TrainingError

Cli = Callable[..., Result]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Workspace:
    """One case's folders: everything the command may touch lies under ``root``."""

    root: Path
    catalog: Path
    run: Path
    other: Path
    """A finished run of the same network with another seed."""


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real tiny runs (4 features, 8-pixel patches, 4 steps, checkpoints at 2 and 4)
    that differ only in their seed, both exported."""
    pytest.importorskip("tensorflow")
    from upscaler.train import TrainConfig, train

    base = tmp_path_factory.mktemp("hostile-add")
    data = base / "T91"
    for index in range(4):
        write_png(data / f"im{index}.png", 48, 48)
    runs = []
    for seed in (0, 1):
        config = TrainConfig(
            data=[str(data)],
            params={"features": 4, "convs": 1},
            patch=8,
            batch=2,
            steps=4,
            seed=seed,
            val_holdout=1,
            val_every=2,
            checkpoint_every=2,
            xla=False,
            threads=1,
        )
        run = base / f"seed{seed}"
        assert train(config, run, progress=False, deterministic=False).finished
        runs.append(run)
    return runs[0], runs[1]


@pytest.fixture
def ws(
    tmp_path: Path, finished_runs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    """A catalog copy, a copy of the seed-0 run, and the process's temp folder, all a
    few levels down in ``tmp_path`` so that an escape by ``..`` still lands in it."""
    deep = tmp_path / "a" / "b"
    temp = deep / "c" / "tmp"
    temp.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    catalog = deep / "cat" / "catalog"
    shutil.copytree(shipped_catalog_dir(), catalog, ignore=shutil.ignore_patterns("weights"))
    run = shutil.copytree(finished_runs[0], deep / "run")
    other = shutil.copytree(finished_runs[1], tmp_path / "other")
    (tmp_path / "abs").mkdir()  # an absolute --family below here would have been written
    return Workspace(tmp_path, catalog, run, other)


def add(cli: Cli, ws: Workspace, *extra: str, run: Path | None = None, **ids: str) -> Result:
    family, variant = ids.get("family", "ours"), ids.get("variant", "x2")
    return cli(
        "catalog", "add", str(run or ws.run), "--family", family, "--variant", variant,
        "--dataset", "291", "--catalog", str(ws.catalog), *extra,
    )  # fmt: skip


def refused(cli: Cli, ws: Workspace, code: int, words: list[str], *extra: str, **kw: Any) -> None:
    """The add fails with one error line naming ``words``, and changes nothing."""
    before = snapshot(ws.root)
    result = add(cli, ws, *extra, **kw)
    assert_cli_error(result, code, *words)
    assert snapshot(ws.root) == before


# -- item 4: ids that would become paths --------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "variant"),
    [
        ("../escfam", "x2"),
        ("../../../escfam", "x2"),
        ("ours/../../../../escfam", "x2"),
        ("ABS/escfam", "x2"),
        ("ours\n", "x2"),
        ("Ours", "x2"),
        ("", "x2"),
        ("_ours", "x2"),
        ("ours.x", "x2"),
        ("ours", "../x2"),
        ("ours", "x2/../../../../escvar"),
        ("ours", "x2\n"),
        ("ours", "ABS/escvar"),
    ],
    ids=repr,
)
def test_ids_that_are_not_catalog_ids_are_refused_before_any_path(
    cli: Cli, ws: Workspace, family: str, variant: str
) -> None:
    """`--family ../escfam` said "nothing was written" but left escfam.yaml beside the
    temp folder; an absolute one wrote wherever it pointed."""
    family = family.replace("ABS", str(ws.root / "abs"))
    variant = variant.replace("ABS", str(ws.root / "abs"))
    flag, bad = ("--family", family) if family != "ours" else ("--variant", variant)
    refused(cli, ws, 3, [flag, repr(bad), "lowercase letters"], family=family, variant=variant)


def test_the_python_api_refuses_a_path_as_family(ws: Workspace) -> None:
    from upscaler.train import add_to_catalog

    before = snapshot(ws.root)
    with pytest.raises(CatalogError, match=r"--family '\.\./escfam' is not a family id"):
        add_to_catalog(
            ws.run, family="../escfam", variant="x2", dataset="291", catalog_root=ws.catalog
        )
    with pytest.raises(ValueError, match="is not a variant id"):  # a ValueError too
        add_to_catalog(
            ws.run, family="ours", variant="../x", dataset="291", catalog_root=ws.catalog
        )
    assert snapshot(ws.root) == before


# -- item 5: an export that is not the run's own ------------------------------------------------


def _swap_whole_export(ws: Workspace) -> None:
    shutil.rmtree(ws.run / "savedmodel")
    shutil.copytree(ws.other / "savedmodel", ws.run / "savedmodel")


def _swap_variables(ws: Workspace) -> None:
    """Only the weights: upscaler.json still says it is this run's export."""
    shutil.rmtree(ws.run / "savedmodel" / "variables")
    shutil.copytree(ws.other / "savedmodel" / "variables", ws.run / "savedmodel" / "variables")


def _export_an_earlier_step(ws: Workspace) -> None:
    from upscaler.train.export import export_savedmodel

    export_savedmodel(ws.run, ws.run / "savedmodel", step=2)


def _claim_another_network(ws: Workspace) -> None:
    meta = ws.run / "savedmodel" / "upscaler.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["source"]["params"] = {"features": 8, "convs": 1}
    meta.write_text(json.dumps(data), encoding="utf-8")


def _not_a_trained_export(ws: Workspace) -> None:
    meta = ws.run / "savedmodel" / "upscaler.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["source_format"] = "tfjs-layers"
    meta.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_swap_whole_export, "not those of the run's checkpoint of step 4"),
        (_swap_variables, "not those of the run's checkpoint of step 4"),
        (_export_an_earlier_step, "exported at step 2, the run's last step is 4"),
        (_claim_another_network, "'features': 8"),
        (_not_a_trained_export, "not trained by `upscaler train`"),
    ],
    ids=["whole export of another seed", "variables of another seed", "earlier step",
         "another network", "converted model"],
)  # fmt: skip
def test_an_export_that_is_not_the_runs_own_is_refused(
    cli: Cli, ws: Workspace, damage: Callable[[Workspace], None], says: str
) -> None:
    """The entry's provenance comes from run.json, its weights from the export: a swapped
    export shipped another run's weights under this run's seed and command."""
    damage(ws)
    before = snapshot(ws.root)
    result = add(cli, ws)
    assert_cli_error(result, 13, str(ws.run / "savedmodel"), says)
    assert f"upscaler train --run {ws.run}" in result.err
    assert snapshot(ws.root) == before


def test_the_hint_of_a_swapped_export_fixes_it(cli: Cli, ws: Workspace) -> None:
    """`upscaler train --run RUN` on a finished run exports it again from its own last
    checkpoint; then the add goes through, with the run's own weights."""
    import numpy as np

    from upscaler.train.checkpoint import list_checkpoints, model_weights, read_arrays
    from upscaler.train.exported_weights import read_exported_weights

    _swap_whole_export(ws)
    assert add(cli, ws).code == 13
    again = cli("train", "--run", str(ws.run), "--no-progress")
    assert again.code == 0, again.err
    assert "step 4/4" in again.out
    assert add(cli, ws).code == 0
    shipped = read_exported_weights(ws.catalog / "weights" / "ours" / "x2")
    _digest, arrays = read_arrays(list_checkpoints(ws.run)[-1][1])
    assert all(
        np.array_equal(a, b) for a, b in zip(shipped.weights, model_weights(arrays), strict=True)
    )
    assert load_catalog(ws.catalog).get("ours.x2").training is not None


# -- siblings: the run folder -------------------------------------------------------------------


def _link_export_elsewhere(ws: Workspace) -> str:
    shutil.rmtree(ws.run / "savedmodel")
    (ws.run / "savedmodel").symlink_to(ws.other / "savedmodel")
    return str(ws.run / "savedmodel")


def _link_a_file_out(ws: Workspace) -> str:
    secret = ws.root / "secret.txt"
    secret.write_text("not for the package\n", encoding="utf-8")
    (ws.run / "savedmodel" / "notes.txt").symlink_to(secret)
    return str(ws.run / "savedmodel" / "notes.txt")


def _no_run_json(ws: Workspace) -> str:
    (ws.run / "run.json").unlink()
    return "is not a training run"


def _garbage_run_json(ws: Workspace) -> str:
    (ws.run / "run.json").write_text("{garbage", encoding="utf-8")
    return "run.json is not readable"


def _edit_record(ws: Workspace, change: Callable[[dict[str, Any]], None]) -> None:
    path = ws.run / "run.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    change(record)
    path.write_text(json.dumps(record), encoding="utf-8")


def _record_without_params(ws: Workspace) -> str:
    _edit_record(ws, lambda r: r.pop("params"))
    return "`params` is not a mapping"


def _data_without_names(ws: Workspace) -> str:
    _edit_record(ws, lambda r: r.update(data=[{"images": 4}]))
    return "`data` is not a list of data folders"


def _init_not_a_mapping(ws: Workspace) -> str:
    _edit_record(ws, lambda r: r.update(init="elsewhere"))
    return "`init` does not say"


def _last_checkpoint_gone(ws: Workspace) -> str:
    """An export, but the run's newest checkpoint is before its last step."""
    (ws.run / "checkpoints" / "step-00000004.npz").unlink()
    return "still in progress (step 2 of 4)"


def _no_checkpoints(ws: Workspace) -> str:
    shutil.rmtree(ws.run / "checkpoints")
    return "no checkpoint left"


def _not_exported(ws: Workspace) -> str:
    shutil.rmtree(ws.run / "savedmodel")
    return "no exported model yet"


@pytest.mark.parametrize(
    "damage",
    [_link_export_elsewhere, _link_a_file_out, _no_run_json, _garbage_run_json,
     _record_without_params, _data_without_names, _init_not_a_mapping,
     _last_checkpoint_gone, _no_checkpoints, _not_exported],
    ids=lambda f: f.__name__.strip("_"),
)  # fmt: skip
def test_a_run_folder_that_is_not_a_finished_run_is_refused(
    cli: Cli, ws: Workspace, damage: Callable[[Workspace], str]
) -> None:
    says = damage(ws)
    refused(cli, ws, 13, [says])


# -- siblings: texts that go into the YAML ------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--title", "Ours\nvariants: {}"),
        ("--title", "a\x00b"),
        ("--title", "   "),
        ("--license", ""),
        ("--license", "MIT\n- evil: 1"),
        ("--license", "MIT\u2028Apache"),
        ("--description", "a\x1b[31mred"),
        ("--description", ""),
    ],
    ids=repr,
)
def test_texts_with_line_breaks_or_control_characters_are_refused(
    cli: Cli, ws: Workspace, flag: str, value: str
) -> None:
    refused(cli, ws, 3, [flag, repr(value)], flag, value)


def test_yaml_specials_in_texts_are_written_as_text(cli: Cli, ws: Workspace) -> None:
    """Colons, hashes, quotes, brackets and a description's line breaks are data: the
    entry reads back exactly what was typed."""
    title = "Ours: a 'tiny' #1 [test] {model} & *more*"
    description = "First line: not a key\n- not a list item\n  # not a comment"
    licence = "CC-BY-4.0 # with attribution: yes"
    result = add(cli, ws, "--title", title, "--description", description, "--license", licence)
    assert result.code == 0, result.err
    family = load_catalog(ws.catalog).families["ours"]
    assert (family.title, family.description, family.license) == (title, description, licence)
    assert cli("catalog", "validate", str(ws.catalog)).code == 0


# -- siblings: the catalog folder ---------------------------------------------------------------


def _catalog_is_a_file(ws: Workspace) -> tuple[Path, list[str]]:
    path = ws.root / "catalog.yaml"
    path.write_text("schema_version: 1\n", encoding="utf-8")
    return path, ["--catalog", "is not a folder (it is a file)"]


def _catalog_is_missing(ws: Workspace) -> tuple[Path, list[str]]:
    return ws.root / "nowhere", ["--catalog", "is not a folder (it is missing)"]


def _catalog_without_vocabulary(ws: Workspace) -> tuple[Path, list[str]]:
    path = ws.root / "empty"
    path.mkdir()
    return path, ["vocab.yaml"]


def _weights_link_out_of_catalog(ws: Workspace) -> tuple[Path, list[str]]:
    outside = ws.root / "outside"
    outside.mkdir()
    (ws.catalog / "weights").symlink_to(outside)
    return ws.catalog, [str(ws.catalog / "weights"), "symbolic link"]


def _family_file_is_a_folder(ws: Workspace) -> tuple[Path, list[str]]:
    (ws.catalog / "models" / "ours.yaml").mkdir()
    return ws.catalog, ["ours.yaml", "not a regular file"]


@pytest.mark.parametrize(
    "make",
    [_catalog_is_a_file, _catalog_is_missing, _catalog_without_vocabulary,
     _weights_link_out_of_catalog, _family_file_is_a_folder],
    ids=lambda f: f.__name__.strip("_"),
)  # fmt: skip
def test_a_catalog_that_is_not_a_catalog_folder_is_refused(
    cli: Cli, ws: Workspace, make: Callable[[Workspace], tuple[Path, list[str]]]
) -> None:
    catalog, words = make(ws)
    before = snapshot(ws.root)
    result = cli(
        "catalog", "add", str(ws.run), "--family", "ours", "--variant", "x2",
        "--dataset", "291", "--catalog", str(catalog),
    )  # fmt: skip
    assert_cli_error(result, 3, *words)
    assert snapshot(ws.root) == before


def test_adding_the_same_id_twice_changes_nothing(cli: Cli, ws: Workspace) -> None:
    first = add(cli, ws)
    assert first.code == 0, first.err
    before = snapshot(ws.root)
    again = add(cli, ws, run=ws.other)
    assert_cli_error(again, 13, "already has a variant 'x2'")
    assert snapshot(ws.root) == before
    with pytest.raises(TrainingError, match="--replace"):
        from upscaler.train import add_to_catalog

        add_to_catalog(ws.run, family="ours", variant="x2", dataset="291", catalog_root=ws.catalog)
    assert snapshot(ws.root) == before
    replaced = add(cli, ws, "--replace", run=ws.other)
    assert replaced.code == 0, replaced.err
    entry = load_catalog(ws.catalog).get("ours.x2")
    assert entry.training is not None and entry.training.seed == 1
