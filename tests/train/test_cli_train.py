"""`upscaler train` turns bad input into one error line, a hint and exit code 13."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Result
from train_support import write_images

Cli = Callable[..., Result]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--param", "features"], "--param 'features' is not NAME=INTEGER"),
        (["--param", "width=3"], "has no size parameter 'width'"),
        (["--architecture", "edsr"], "unknown architecture 'edsr'"),
        (["--patch", "2"], "training option patch: Input should be greater than or equal to 4"),
        (["--scale", "5"], "training option scale"),
        (["--loss", "l2"], "training option loss: Input should be 'l1' or 'l1-alpha-edges'"),
        (
            ["--loss", "l1-alpha-edges"],
            "training options: loss l1-alpha-edges weights alpha edges, and a 3-channel "
            "model has no alpha; use it with --channels 4, or --loss l1",
        ),
    ],
)
def test_bad_options(cli: Cli, tmp_path: Path, extra: list[str], message: str) -> None:
    data = write_images(tmp_path / "d", 1)
    result = cli("train", str(data), "--run", str(tmp_path / "run"), *extra)
    assert result.code == 13, result.err
    assert message in result.err and "hint:" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "run").exists()


def test_bad_folders(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("train", str(tmp_path / "empty"), "--run", str(tmp_path / "run"))
    assert result.code == 13 and "error: no images in" in result.err
    result = cli("train", "--run", str(tmp_path / "nothing"))
    assert result.code == 13 and "holds no run to resume" in result.err
    result = cli(
        "catalog", "add", str(tmp_path), "--family", "a", "--variant", "x2", "--dataset", "291"
    )
    assert result.code == 13 and "is not a training run" in result.err
