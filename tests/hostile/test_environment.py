"""Garbage in the environment: a numeric setting that is no number is ignored with a
warning naming it (the default applies), and a setting that cannot work is one error
line with its exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from hostile_support import Tiny, assert_cli_error, snapshot, write_png

from upscaler import Upscaler, settings

Cli = Callable[..., Result]

GARBAGE = ["abc", "nan", "inf", "-5", "1e999", "0x10", "１０"]


@pytest.mark.parametrize("value", GARBAGE)
@pytest.mark.parametrize(
    ("name", "read", "default"),
    [
        ("UPSCALER_MAX_PIXELS", settings.max_pixels, settings.DEFAULT_MAX_PIXELS),
        ("UPSCALER_RETRIES", settings.retries, 3),
        ("UPSCALER_TIMEOUT", settings.timeout_seconds, 60.0),
    ],
)
def test_numeric_settings_ignore_garbage_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    read: Callable[[], float],
    default: float,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    if value == "１０":  # full-width digits are digits to Python: a real 10
        assert read() == 10
        return
    assert read() == default
    assert name in caplog.text


def test_max_pixels_in_scientific_notation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "2.5e8")
    assert settings.max_pixels() == 250_000_000


def test_garbage_max_pixels_still_upscales_and_says_so(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "abc")
    src = write_png(tmp_path / "in.png")
    result = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "tiny.x2")
    assert result.code == 0, result
    assert "UPSCALER_MAX_PIXELS" in result.err and "Traceback" not in result.err
    assert (tmp_path / "out.png").is_file()


def test_tiny_max_pixels_refuses_the_image(
    cli: Cli, tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "10")
    src = write_png(tmp_path / "in.png")
    before = snapshot(tmp_path)
    result = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "tiny.x2")
    assert_cli_error(result, 10, "limit")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["abc", "1e999", "-1e999", "nan"])
def test_memmap_threshold_garbage_is_ignored(
    tf_tiny: Tiny, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("UPSCALER_MEMMAP_THRESHOLD", value)
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    out = Upscaler("tiny.x2").upscale(rgb, progress=False)
    assert out.shape == (8, 10, 3)


def test_precision_garbage_is_a_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read before TensorFlow starts (in a fresh process: exit 2 from the CLI)."""
    from upscaler import DeviceError
    from upscaler.runtime.precision import check_precision

    monkeypatch.setenv("UPSCALER_PRECISION", "float7")
    with pytest.raises(DeviceError, match="float7") as err:
        check_precision(None)
    assert "UPSCALER_PRECISION" in str(err.value)


def test_catalog_folder_that_does_not_exist(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_CATALOG", str(tmp_path / "nowhere"))
    from upscaler.catalog.loader import _cached

    _cached.cache_clear()
    result = cli("describe", "--model", "tiny.x2")
    _cached.cache_clear()
    assert result.code == 3, result
    assert "Traceback" not in result.err
    assert "nowhere" in result.err


def test_home_that_is_a_file(
    cli: Cli, tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home-file"
    home.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    src = write_png(tmp_path / "in.png")
    result = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "tiny.x2")
    assert result.code != 0
    assert "Traceback" not in result.err
    assert result.err.startswith("error: ") and "hint: " in result.err
    assert not (tmp_path / "out.png").exists()
    assert home.read_text(encoding="utf-8") == "not a folder"
