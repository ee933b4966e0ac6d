"""The quality-vs-speed chart: its points, its Pareto front, and `upscaler models plot`.

matplotlib is in the docs and dev extras; a missing one must be a one-line error naming
the extra, and neither `import upscaler` nor `upscaler --help` may import it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import explore_tiny_catalog as tiny
import pytest
from cli_helpers import Result

from upscaler.catalog import default_catalog, load_catalog
from upscaler.errors import DependencyError, QueryError
from upscaler.gallery.measures import (
    Point,
    common_sets,
    pareto_front,
    points,
)

PNG = b"\x89PNG\r\n\x1a\n"


def point(name: str, psnr: float | None, ms: float | None, perceptual: bool = False) -> Point:
    return Point(id=name, scale=2, psnr=psnr, ms=ms, perceptual=perceptual, baseline=False)


def test_pareto_front_keeps_models_nothing_beats_on_both_fastest_first() -> None:
    candidates = [
        point("fast-poor", 29.0, 10),
        point("slow-poor", 28.0, 1000),  # slower and worse than fast-poor
        point("mid", 31.0, 600),
        point("tie-slower", 31.0, 700),  # as good as mid, slower
        point("best", 32.0, 9000),
        point("gan", 33.0, 500, perceptual=True),  # never on the front
        point("unmeasured", None, None),
    ]
    assert [p.id for p in pareto_front(candidates)] == ["fast-poor", "mid", "best"]


def test_points_mean_over_the_sets_every_model_of_the_scale_has() -> None:
    catalog = default_catalog()
    x2 = {p.id: p for p in points(catalog, 2)}
    slim = catalog.by_id["esrgan-slim.x2"]
    assert slim.metrics is not None
    sets = common_sets(e for e in catalog.entries if e.scale == 2)
    expected = sum(slim.metrics.sets[s].psnr_y for s in sets) / len(sets)
    assert x2["esrgan-slim.x2"].psnr == pytest.approx(expected)
    assert x2["esrgan-slim.x2"].ms == slim.speed.ms_per_output_megapixel  # type: ignore[union-attr]
    assert x2["pixel-upsampler.x2"].baseline
    for entry in catalog.entries:
        if entry.scale == 2 and entry.metrics is None:
            assert not x2[entry.id].plotted  # "not measured yet": counted, not drawn


def test_perceptual_models_are_marked_apart() -> None:
    catalog = default_catalog()
    x4 = {p.id: p for p in points(catalog, 4)}
    assert x4["esrgan-legacy.gans-x4"].perceptual
    assert not x4["esrgan-slim.x4"].perceptual
    assert "esrgan-legacy.gans-x4" not in {p.id for p in pareto_front(list(x4.values()))}


@pytest.fixture
def chart() -> Callable[..., bytes]:
    pytest.importorskip("matplotlib", reason="matplotlib is in the docs and dev extras")
    from upscaler.gallery.chart import render

    return render


def test_render_png_and_svg_deterministically(chart: Callable[..., bytes]) -> None:
    catalog = default_catalog()
    png = chart(catalog, scales=[2], fmt="png")
    assert png.startswith(PNG)
    svg = chart(catalog, scales=[4], fmt="svg", highlight="esrgan-slim.x4")
    assert b"<svg" in svg
    assert svg == chart(catalog, scales=[4], fmt="svg", highlight="esrgan-slim.x4")


def test_render_copes_with_a_scale_nothing_measured(
    chart: Callable[..., bytes], tmp_path: Path
) -> None:
    catalog = load_catalog(tiny.write_catalog(tmp_path))  # x2 carries no numbers
    assert chart(catalog, scales=[2], fmt="png").startswith(PNG)


def test_render_rejects_a_scale_no_model_has(chart: Callable[..., bytes]) -> None:
    with pytest.raises(QueryError, match="scales in the catalog: 1, 2, 3, 4, 8"):
        chart(default_catalog(), scales=[5])


def test_missing_matplotlib_names_the_docs_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from upscaler.gallery.chart import import_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(DependencyError, match=r"pip install 'upscaler\[docs\]'"):
        import_matplotlib()


# ------------------------------------------------------------------------ the command


def test_models_plot_writes_png_and_svg(
    cli: Callable[..., Result], chart: Callable[..., bytes], tmp_path: Path
) -> None:
    done = cli("models", "plot", "-o", str(tmp_path / "chart.png"))
    assert done.code == 0, done.err
    assert (tmp_path / "chart.png").read_bytes().startswith(PNG)
    done = cli("models", "plot", "--scale", "4", "-o", str(tmp_path / "x4.svg"))
    assert done.code == 0, done.err
    assert b"<svg" in (tmp_path / "x4.svg").read_bytes()
    assert "wrote" in done.out


def test_models_plot_refuses_an_unknown_format_or_model(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    done = cli("models", "plot", "-o", str(tmp_path / "chart.jpg"))
    assert done.code == 2
    assert "chart.png or chart.svg" in done.err
    done = cli("models", "plot", "--highlight", "esrgan-slim.x5", "-o", str(tmp_path / "c.png"))
    assert done.code != 0
    assert not (tmp_path / "c.png").exists()


def test_models_plot_without_matplotlib_is_one_line(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    done = cli("models", "plot", "-o", str(tmp_path / "chart.png"))
    assert done.code == DependencyError.exit_code
    assert len(done.err.strip().splitlines()) == 1
    assert "pip install 'upscaler[docs]'" in done.err


def test_help_and_import_load_neither_matplotlib_nor_tensorflow() -> None:
    code = (
        "import sys, contextlib, io, upscaler\n"
        "from upscaler.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        main(['models', 'plot', '--help'])\n"
        "print(sorted(m for m in ('matplotlib', 'tensorflow', 'skimage') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
