"""`upscaler inspect IMAGE ... [--json]`."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from PIL import Image

Cli = Callable[..., Result]


def _photo(height: int = 96, width: int = 128) -> np.ndarray:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:height, 0:width]
    base = (100 + 50 * np.sin(x / 9.0) + 30 * np.cos(y / 7.0))[..., np.newaxis]
    return np.clip(base + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    photo = _photo()
    jpeg = tmp_path / "web photo.jpg"
    Image.fromarray(photo).save(jpeg, quality=45)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=25)
    once = tmp_path / "once.png"
    Image.open(io.BytesIO(buffer.getvalue())).save(once)
    noisy = tmp_path / "noisy.png"
    rng = np.random.default_rng(1)
    flat = np.full((96, 128, 3), 120.0) + rng.normal(0, 22, (96, 128, 3))
    Image.fromarray(np.clip(np.rint(flat), 0, 255).astype(np.uint8)).save(noisy)
    return {"jpeg": jpeg, "once": once, "noisy": noisy}


def test_a_table_per_image(cli: Cli, images: dict[str, Path]) -> None:
    result = cli("inspect", str(images["jpeg"]), str(images["once"]), str(images["noisy"]))
    assert result.code == 0, result
    assert result.err == ""
    blocks = result.out.rstrip("\n").split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [str(p) for p in images.values()]
    first = dict(line.strip().split(None, 1) for line in blocks[0].splitlines()[1:])
    assert first["format"] == "JPEG, 128x96"
    quality_line = next(line for line in blocks[0].splitlines() if "jpeg quality" in line)
    assert quality_line.split("jpeg quality")[1].strip() == "45 (IJG standard tables)"
    assert first["protocol"] == "jpeg-q50"
    assert "JPEG quality ≈ 45 found in the file's quantization tables" in blocks[0]
    # the value column is aligned within each block
    columns = {_value_column(line) for line in blocks[0].splitlines()[1:]}
    assert len(columns) == 1, blocks[0]
    assert "from the pixels' 8x8 block quantization" in blocks[1]
    assert "jpeg-q30" in blocks[1]
    assert "noise-s25" in blocks[2] and "not a JPEG" in blocks[2]


def _value_column(line: str) -> int:
    """Where the value starts: after the key and the run of spaces that pads it."""
    key_end = line.index("  ", 2)
    return key_end + len(line[key_end:]) - len(line[key_end:].lstrip())


def test_json_is_one_object_per_image(cli: Cli, images: dict[str, Path]) -> None:
    result = cli("inspect", str(images["jpeg"]), str(images["noisy"]), "--json")
    assert result.code == 0, result
    rows = json.loads(result.out)
    assert [r["source"] for r in rows] == [str(images["jpeg"]), str(images["noisy"])]
    assert rows[0]["jpeg_quality"] == 45 and rows[0]["jpeg_tables"] == "ijg-standard"
    assert rows[0]["size"] == [128, 96]
    assert rows[1]["jpeg_quality"] is None and rows[1]["jpeg_tables"] == "not-jpeg"
    assert rows[1]["protocol"] == "noise-s25"
    assert rows[1]["noise_sigma"] == pytest.approx(22, rel=0.3)
    assert set(rows[0]) >= {"format", "noise_sigma", "domain", "domain_score", "reason"}


def _one_line_error(result: Result, code: int) -> None:
    assert result.code == code, result
    assert result.out == ""
    assert [line.split(":")[0] for line in result.err.splitlines()] == ["error", "hint"]
    assert "Traceback" not in result.err


def test_a_missing_image_is_refused_before_any_is_read(
    cli: Cli, images: dict[str, Path], tmp_path: Path
) -> None:
    result = cli("inspect", str(images["jpeg"]), str(tmp_path / "nope.png"))
    _one_line_error(result, 10)
    assert "nope.png" in result.err


def test_a_file_that_is_not_an_image(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    _one_line_error(cli("inspect", str(path)), 10)


def test_too_many_pixels(
    cli: Cli, images: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "100")
    result = cli("inspect", str(images["jpeg"]))
    _one_line_error(result, 10)
    assert "UPSCALER_MAX_PIXELS" in result.err


def test_inspect_needs_an_image(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("inspect")
    assert info.value.code == 2


def test_help_lists_inspect(cli: Cli) -> None:
    result = cli()
    assert result.code == 0
    assert "    inspect " in result.out
