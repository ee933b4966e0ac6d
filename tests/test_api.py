"""The public API: `import upscaler`, Upscaler(...).describe(), the error tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

import upscaler
from upscaler import Description, Upscaler
from upscaler.catalog import default_catalog


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env["UPSCALER_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )


@pytest.fixture
def rgba() -> Description:
    return Upscaler(dataset="DIV2K", scale=2, channels=4).describe()


def test_describe_returns_a_pydantic_description(rgba: Description) -> None:
    assert isinstance(rgba, pydantic.BaseModel)
    assert isinstance(rgba, Description)
    assert rgba.model.id == "esrgan-slim.x2"
    assert rgba.exact is False
    assert rgba.strict is False
    assert rgba.prefer == "balanced"


def test_describe_to_dict_is_json_with_the_whole_story(rgba: Description) -> None:
    data = rgba.to_dict()
    assert json.loads(json.dumps(data)) == data

    assert data["query"] == {"dataset": "div2k", "scale": 2, "channels": 4}
    assert data["exact"] is False

    model = data["model"]
    entry = default_catalog().by_id["esrgan-slim.x2"]
    assert model["id"] == "esrgan-slim.x2"
    assert model["channels"] == 3
    assert model["value_range"] == [0, 255]
    assert entry.weights is not None
    assert model["weights"]["format"] == "tfjs-layers"
    assert model["weights"]["source"]["npm"] == "@upscalerjs/esrgan-slim"
    assert model["weights"]["files"] == [
        {"path": f.path, "sha256": f.sha256, "size": f.size} for f in entry.weights.files
    ]

    assert "channels: 3 ≠ 4 → alpha adapter" in data["reason"]
    assert [a["kind"] for a in data["adapters"]] == ["alpha"]
    assert data["alternatives"]
    first = data["alternatives"][0]
    assert first["id"] == "esrgan-slim.x2"
    assert first["differences"] == ["channels: 3 ≠ 4 → alpha adapter"]
    assert first["call"] == 'Upscaler(model="esrgan-slim.x2")'
    assert first["difference_details"][0]["adapter"]["kind"] == "alpha"


def test_describe_str_is_readable(rgba: Description) -> None:
    text = str(rgba)
    assert "esrgan-slim.x2" in text
    assert rgba.reason in text
    assert "alpha" in text
    assert "models/x2/model.json" in text
    (adapters,) = [line for line in text.splitlines() if line.startswith("adapters ")]
    assert "alpha: colour through the RGB model" in adapters
    # The measured numbers the choice was made by, with where they were measured.
    (speed,) = [line for line in text.splitlines() if line.startswith("speed ")]
    entry = rgba.model
    assert entry.speed is not None
    assert f"{entry.speed.ms_per_output_megapixel:,.1f} ms per output megapixel" in speed
    assert str(entry.speed.provenance.machine) in speed
    assert any(line.startswith("metrics ") and "set5" in line for line in text.splitlines())


def test_describe_exact_default_has_no_adapters() -> None:
    d = Upscaler().describe()
    assert d.exact is True
    assert d.adapters == []
    assert d.query == {}
    assert "global default" in str(d)
    assert "adapters" not in str(d)


def test_describe_reports_the_cache_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "models"))
    d = Upscaler(scale=4).describe()
    assert d.cache_dir == str(tmp_path / "models")
    assert d.to_dict()["cache_dir"] == str(tmp_path / "models")
    assert not (tmp_path / "models").exists(), "describe() must not create or download anything"


def test_module_level_describe_matches_upscaler_describe() -> None:
    assert upscaler.describe(scale=3).model.id == "upscaler-compact.x3"
    assert upscaler.describe("esrgan-thick").model.id == "esrgan-thick.x2"
    assert upscaler.describe(scale=3).to_dict() == Upscaler(scale=3).describe().to_dict()


def test_describe_is_a_snapshot() -> None:
    up = Upscaler(scale=2)
    first = up.describe()
    first.runtime.device = "gpu:7"
    assert up.describe().runtime.device is None


def test_error_tree() -> None:
    assert issubclass(upscaler.NoMatchingModel, LookupError)
    assert issubclass(upscaler.NoMatchingModel, upscaler.UpscalerError)
    assert issubclass(upscaler.QueryError, ValueError)
    assert issubclass(upscaler.CatalogError, ValueError)
    assert issubclass(upscaler.ImageError, ValueError)
    assert issubclass(upscaler.DeviceError, ValueError)
    assert issubclass(upscaler.DeviceError, upscaler.UpscalerError)
    assert upscaler.DeviceError.exit_code == 2
    err = upscaler.CatalogError(["a.yaml:3: one", "a.yaml:9: two"], hint="fix it")
    assert err.problems == ["a.yaml:3: one", "a.yaml:9: two"]
    assert str(err) == "a.yaml:3: one (and 1 more) (hint: fix it)"


def test_every_error_is_exported() -> None:
    """The one exception tree is public in full: each class is importable from upscaler."""
    import upscaler.errors
    from upscaler.runtime.device import DeviceError

    tree = {
        name
        for name, value in vars(upscaler.errors).items()
        if isinstance(value, type) and issubclass(value, upscaler.UpscalerError)
    }
    assert "DeviceError" in tree
    assert tree <= set(upscaler.__all__)
    assert all(getattr(upscaler, name) is getattr(upscaler.errors, name) for name in tree)
    assert DeviceError is upscaler.DeviceError  # the old import path still works


def test_unknown_public_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Upscalr'"):
        _ = upscaler.Upscalr  # type: ignore[attr-defined]


def test_import_upscaler_loads_neither_tensorflow_nor_pydantic(tmp_path: Path) -> None:
    proc = run_python(
        "import sys, upscaler\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('tensorflow', 'keras', 'pydantic', 'numpy'))\n"
        "assert not heavy, heavy\n"
        "print(upscaler.__version__)\n",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == upscaler.__version__


@pytest.mark.slow
def test_upscaler_and_describe_do_not_import_tensorflow(tmp_path: Path) -> None:
    proc = run_python(
        "import sys, upscaler\n"
        "u = upscaler.Upscaler(dataset='DIV2K', scale=2, channels=4)\n"
        "d = u.describe()\n"
        "str(d); d.to_dict()\n"
        "assert 'tensorflow' not in sys.modules\n"
        "assert 'keras' not in sys.modules\n"
        "assert 'pydantic' in sys.modules  # the check above can see imports\n"
        "print(d.model.id)\n",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "esrgan-slim.x2"
    assert not (tmp_path / "home").exists()
