"""Item 1: a catalog id always means the catalog model, whatever lies in the working
folder; a local model is named by a path form (a separator in it, or a Path object)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Result
from hostile_support import Tiny, assert_cli_error, snapshot, write_png

from upscaler import ModelLoadError, NoMatchingModel, Upscaler

Cli = Callable[..., Result]


def test_catalog_id_wins_over_a_folder_of_that_name(tiny: Tiny, in_tmp: Path) -> None:
    """A folder named like a catalog id must not replace the hash-checked model."""
    (in_tmp / "tiny.x2").mkdir()
    (in_tmp / "tiny.x2" / "saved_model.pb").write_bytes(b"not a model")
    up = Upscaler("tiny.x2")
    assert up.model.id == "tiny.x2"
    assert up.describe().model.source_file.endswith("tiny.yaml")


def test_catalog_family_wins_over_a_file_of_that_name(tiny: Tiny, in_tmp: Path) -> None:
    (in_tmp / "tiny").write_bytes(b"x")
    assert Upscaler("tiny").model.id == "tiny.x2"


def test_a_local_model_needs_a_path_form(tiny: Tiny, in_tmp: Path) -> None:
    """A bare name that is no catalog id but exists on disk is not silently run."""
    (in_tmp / "mine").mkdir()
    with pytest.raises(NoMatchingModel, match="mine") as err:
        Upscaler("mine", scale=2)
    assert err.value.hint is not None and "./mine" in err.value.hint


@pytest.mark.parametrize("form", ["./mine", "{tmp}/mine", "path-object"])
def test_path_forms_name_a_local_model(tiny: Tiny, in_tmp: Path, form: str) -> None:
    (in_tmp / "mine").mkdir()
    model: str | Path = in_tmp / "mine" if form == "path-object" else form.format(tmp=in_tmp)
    with pytest.raises(ModelLoadError, match=r"saved_model\.pb"):
        Upscaler(model, scale=2)


def test_cli_bare_local_name_gets_a_path_hint(cli: Cli, tiny: Tiny, in_tmp: Path) -> None:
    (in_tmp / "mine").mkdir()
    src = write_png(in_tmp / "in.png")
    result = cli("upscale", str(src), "-o", "out.png", "--model", "mine", "--scale", "2")
    assert_cli_error(result, 4, "mine")
    assert "./mine" in result.err
    assert not (in_tmp / "out.png").exists()


def test_batch_into_a_folder_named_like_the_model_resumes(
    cli: Cli, tf_tiny: Tiny, in_tmp: Path
) -> None:
    """`upscaler batch SRC tiny.x2 --model tiny.x2`: the rerun finds DST in the cwd and
    must still mean the catalog model, skipping every finished file."""
    write_png(in_tmp / "src" / "a.png")
    write_png(in_tmp / "src" / "b.png")
    first = cli("batch", "src", "tiny.x2", "--model", "tiny.x2", "--no-progress")
    assert first.code == 0, first
    done = snapshot(in_tmp / "tiny.x2")
    again = cli("batch", "src", "tiny.x2", "--model", "tiny.x2", "--no-progress")
    assert again.code == 0, again
    assert "skipped 2" in again.out
    assert snapshot(in_tmp / "tiny.x2") == done
