"""`upscaler export MODEL --format onnx -o FILE`: output, exit codes and refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from tiny_models import nearest_x2, write_tfjs_upsampler

Cli = Callable[..., Result]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_tfjs_upsampler(tmp_path / "up")


def test_exports_a_local_model_that_onnxruntime_runs(cli: Cli, model: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    out = tmp_path / "up.onnx"
    result = cli("export", str(model), "--scale", "2", "-o", str(out))
    assert result.code == 0, result
    assert result.out.startswith(f"wrote {out} (onnx, opset 17")
    assert "x2, 3 -> 3 channels, NCHW float32 in [0, 1]" in result.out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 4, 5), dtype=np.float32)
    (y,) = session.run(None, {"input": x})
    want = nearest_x2(x[0].transpose(1, 2, 0)).transpose(2, 0, 1)
    np.testing.assert_allclose(y[0], want, atol=1e-6)


def test_json_report(cli: Cli, model: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    out = tmp_path / "up.onnx"
    result = cli("export", str(model), "--scale", "x2", "-o", str(out), "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["path"] == str(out) and report["format"] == "onnx"
    assert report["scale"] == 2 and report["opset"] == 17
    assert report["metadata"]["upscaler.layout"] == "NCHW"
    assert report["size_bytes"] == out.stat().st_size


def test_quiet_prints_nothing(cli: Cli, model: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    result = cli("export", str(model), "--scale", "2", "-o", str(tmp_path / "q.onnx"), "-q")
    assert result.code == 0 and result.out == "" and result.err == ""


def test_a_savedmodel_cannot_be_exported(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "sm"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    result = cli("export", str(folder), "--scale", "2", "-o", str(tmp_path / "x.onnx"))
    assert result.code == 8
    assert result.err.startswith("error: ") and "cannot be exported" in result.err
    assert "hint: export a model whose weights are tfjs-layers, ncnn, npz" in result.err
    assert not (tmp_path / "x.onnx").exists()


def test_an_output_in_a_missing_folder(cli: Cli, model: Path, tmp_path: Path) -> None:
    result = cli("export", str(model), "--scale", "2", "-o", str(tmp_path / "no" / "x.onnx"))
    assert result.code == 8
    assert f"error: output folder {tmp_path / 'no'} does not exist" in result.err
    assert "hint: create it first" in result.err


def test_the_output_may_not_be_the_input(cli: Cli, model: Path) -> None:
    before = model.read_bytes()
    result = cli("export", str(model), "--scale", "2", "-o", str(model))
    assert result.code == 8
    assert "one of the model's own files" in result.err
    assert model.read_bytes() == before


def test_an_unknown_model_and_a_missing_scale(cli: Cli, model: Path, tmp_path: Path) -> None:
    unknown = cli("export", "esrgan-slimm.x2", "-o", str(tmp_path / "x.onnx"))
    assert unknown.code == 4 and "esrgan-slim" in unknown.err
    no_scale = cli("export", str(model), "-o", str(tmp_path / "x.onnx"))
    assert no_scale.code == 2 and "scale" in no_scale.err


def test_only_known_formats(cli: Cli, model: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("export", str(model), "--format", "tfjs", "-o", str(tmp_path / "x"))
    assert exit_info.value.code == 2


def test_help_describes_the_convention(capsys: pytest.CaptureFixture[str]) -> None:
    from upscaler.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    out = capsys.readouterr().out
    assert "{onnx}" in out and "NCHW" in out and "[0, 1]" in out
