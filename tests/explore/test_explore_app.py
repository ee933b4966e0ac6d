"""`upscaler explore` options, the missing-extra error, no telemetry, and a real run.

The run uses the tiny local catalog (real conversion and TensorFlow, no network); the
page itself is exercised in test_explore_browser.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import explore_tiny_catalog as tiny
import numpy as np
import pytest
from PIL import Image

from upscaler.catalog import Catalog, load_catalog
from upscaler.cli.main import main
from upscaler.errors import DependencyError
from upscaler.explore.codegen import Choice

INSTALL = "pip install 'upscaler[explore]'"


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record what `upscaler explore` asks the app to serve, instead of serving it."""
    pytest.importorskip("gradio")
    from upscaler.explore import app

    calls: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> None:
        assert callable(kwargs.pop("announce"))  # the CLI says where it serves
        calls.append(kwargs)

    monkeypatch.setattr(app, "launch", record)
    return calls


def test_missing_gradio_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio → ImportError
    code = main(["explore", "--no-browser"])
    out, err = capsys.readouterr()
    assert code == DependencyError.exit_code == 9
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert INSTALL in lines[0]


def test_import_gradio_raises_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from upscaler.explore.app import import_gradio

    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(DependencyError, match=r"upscaler\[explore\]") as info:
        import_gradio()
    assert isinstance(info.value, ImportError)


def test_defaults_bind_to_loopback(launched: list[dict[str, Any]]) -> None:
    assert main(["explore"]) == 0
    assert launched == [{"host": "127.0.0.1", "port": None, "open_browser": True}]


def test_options_reach_the_app(
    launched: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", "--host", "::1", "--port", "8123", "--no-browser"]) == 0
    assert launched == [{"host": "::1", "port": 8123, "open_browser": False}]
    assert "anyone" not in capsys.readouterr().err


def test_binding_beyond_loopback_warns(
    launched: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", "--host", "0.0.0.0", "--no-browser"]) == 0
    assert launched[0]["host"] == "0.0.0.0"
    assert "anyone who can reach this machine" in capsys.readouterr().err


def test_port_in_use_is_an_error_line_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("gradio")
    from upscaler.explore import app

    def busy(**kwargs: Any) -> None:
        raise OSError("Cannot find empty port in range: 7860-7860.")

    monkeypatch.setattr(app, "launch", busy)
    assert main(["explore", "--port", "7860", "--no-browser"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "error: cannot serve the explorer on 127.0.0.1: Cannot find empty port in range: 7860-7860."
    )
    assert err[1].startswith("hint: pick another --port")


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_bad_port_is_a_usage_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["explore", "--port", port])
    assert info.value.code == 2
    assert "port must" in capsys.readouterr().err


def test_launch_makes_no_share_link_and_turns_analytics_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gr = pytest.importorskip("gradio")
    from upscaler.explore import app

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "0")
    seen: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.append((self, kw)))
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    catalog = load_catalog(tiny.write_catalog(tmp_path))
    announced: list[str] = []
    app.launch(
        host="127.0.0.1", port=7999, open_browser=False, catalog=catalog, announce=announced.append
    )
    assert announced == ["http://127.0.0.1:7999/"]
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] in ("1", "True")
    (blocks, kwargs), *_ = seen
    assert blocks.analytics_enabled is False
    assert kwargs["share"] is False
    assert kwargs["server_name"] == "127.0.0.1"
    assert kwargs["server_port"] == 7999
    assert kwargs["inbrowser"] is False
    assert kwargs["quiet"] is True  # no "set share=True" advice, no Gradio banner


def test_the_bundled_sample_is_found() -> None:
    from upscaler.explore.app import sample_images

    samples = sample_images()
    assert samples, "examples/sample.png of this checkout"
    assert samples[0].name == "sample.png"
    with Image.open(samples[0]) as image:
        assert image.size == (96, 96)


# ------------------------------------------------------------------------ a real run


def _random_png(tmp_path: Path, *, seed: int, height: int, width: int) -> tuple[Any, Path]:
    """Random RGB pixels and the PNG file holding them (the explorer takes a path)."""
    rgb = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    path = tmp_path / "in.png"
    Image.fromarray(rgb, "RGB").save(path)
    return rgb, path


@pytest.mark.slow
def test_run_upscales_and_reports(tiny_catalog: Catalog, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from upscaler.explore.app import Explorer

    rgb, path = _random_png(tmp_path, seed=3, height=10, width=14)
    explorer = Explorer(tiny_catalog)
    choice = Choice(scale=4).normalised(tiny_catalog)
    steps: list[tuple[float, str]] = []

    before, after, timing, facts = explorer.run(
        str(path), choice, lambda f, desc: steps.append((f, desc))
    )

    assert np.array_equal(np.asarray(after), tiny.reference(rgb, 4))
    assert np.array_equal(np.asarray(before), np.repeat(np.repeat(rgb, 4, 0), 4, 1))
    assert "**tiny-swap.x4** upscaled 14×10 → 56×40" in timing
    assert "loading the model took" in timing
    assert "| set5 | 31.25 | 0.8765 |" in facts
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "tiny-swap.x4" in steps[0][1]

    # The same choice again reuses the loaded model: no load time to report.
    assert explorer.upscaler(choice) is explorer.upscaler(choice)
    _, again, timing2, _ = explorer.run(str(path), choice)
    assert np.array_equal(np.asarray(again), np.asarray(after))
    assert "loading the model" not in timing2


@pytest.mark.slow
def test_run_keeps_alpha_and_shows_gray_as_rgb(tiny_catalog: Catalog, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from upscaler.explore.app import Explorer

    explorer = Explorer(tiny_catalog)
    choice = Choice().normalised(tiny_catalog)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (6, 5), (10, 20, 30, 128)).save(rgba)
    before, after, _, _ = explorer.run(str(rgba), choice)
    assert after.mode == before.mode == "RGBA"
    assert after.size == before.size == (12, 10)
    gray16 = tmp_path / "gray16.png"
    Image.fromarray(np.full((5, 6), 40000, dtype=np.uint16)).save(gray16)
    before, after, _, _ = explorer.run(str(gray16), choice)
    assert before.mode in ("RGB", "RGBA") and after.mode in ("RGB", "RGBA")
    assert after.size == (12, 10)


@pytest.mark.slow
def test_compare_runs_each_model_and_times_it(tiny_catalog: Catalog, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from upscaler.explore.app import Explorer

    rgb, path = _random_png(tmp_path, seed=5, height=8, width=12)
    explorer = Explorer(tiny_catalog)
    steps: list[float] = []
    shown, table = explorer.compare(
        str(path), ["tiny-swap.x2", "tiny-swap.x4"], lambda f, desc: steps.append(f)
    )
    assert [caption.split(":")[0] for _, caption in shown] == ["tiny-swap.x2", "tiny-swap.x4"]
    assert all(caption.endswith(" s") for _, caption in shown)
    assert np.array_equal(np.asarray(shown[0][0]), tiny.reference(rgb, 2))
    assert np.array_equal(np.asarray(shown[1][0]), tiny.reference(rgb, 4))
    assert "| tiny-swap.x4 | 48×32 |" in table
    assert "31.25 dB" in table and "123 ms/MP" in table  # the catalog's numbers beside
    assert "not measured yet" in table  # x2 has none
    assert "Fastest here:" in table
    assert steps[-1] == 1.0


@pytest.mark.parametrize("ids", [[], ["tiny-swap.x2"], ["a.b", "c.d", "e.f", "g.h"]])
def test_compare_needs_two_or_three_models(
    tiny_catalog: Catalog, tmp_path: Path, ids: list[str]
) -> None:
    from upscaler.errors import QueryError
    from upscaler.explore.app import Explorer

    with pytest.raises(QueryError, match="choose 2 or 3 models"):
        Explorer(tiny_catalog).compare(str(tmp_path / "unused.png"), ids)


def test_chart_rings_the_choice_and_is_kept(tiny_catalog: Catalog) -> None:
    pytest.importorskip("matplotlib")
    from upscaler.explore.app import Explorer, chart_note_text
    from upscaler.explore.present import evaluate

    explorer = Explorer(tiny_catalog)
    outcome = evaluate(Choice(scale=4).normalised(tiny_catalog), tiny_catalog)
    picture = explorer.chart(outcome.model, outcome.scale)
    assert picture is not None and picture.width > 500
    assert explorer.chart(outcome.model, outcome.scale) is picture
    assert "Ringed: `tiny-swap.x4`" in chart_note_text(picture, outcome)
    assert explorer.chart(None, 5) is None  # no model has that scale


def test_chart_without_matplotlib_says_how_to_get_it(
    tiny_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upscaler.explore.app import NO_CHART, Explorer, chart_note_text
    from upscaler.explore.present import evaluate

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    explorer = Explorer(tiny_catalog)
    outcome = evaluate(Choice().normalised(tiny_catalog), tiny_catalog)
    assert explorer.chart(outcome.model, outcome.scale) is None
    assert chart_note_text(None, outcome) == NO_CHART
    assert "upscaler[docs]" in NO_CHART
