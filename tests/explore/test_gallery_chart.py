"""The quality-vs-speed chart: its points, its Pareto front, and `upscaler models plot`.

matplotlib is in the docs and dev extras; a missing one must be a one-line error naming
the extra, and neither `import upscaler` nor `upscaler --help` may import it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import explore_tiny_catalog as tiny
import pytest
from cli_helpers import Result
from protocol_catalog import catalog_with

from upscaler.catalog import default_catalog, load_catalog
from upscaler.errors import DependencyError, QueryError
from upscaler.gallery.measures import (
    Point,
    chart_protocols,
    chart_scales,
    common_sets,
    pareto_front,
    points,
)

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

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


# ------------------------------------------------------------------------ by protocol

SPAN, SLIM, MEDIUM = "span.ch48-x2", "esrgan-slim.x2", "esrgan-medium.x2"
GAN = "realesrgan.animevideov3-x2"
CUNET0, CUNET2 = "waifu2x-cunet.noise0-x1", "waifu2x-cunet.noise2-x1"


def test_charts_open_on_the_global_default_scale_then_ascend() -> None:
    shipped = default_catalog()
    order = chart_scales(shipped)
    assert order[0] == shipped.global_default.scale
    assert order[1:] == sorted(s for s in order[1:])
    assert sorted(order) == sorted({e.scale for e in shipped.entries})
    moved = catalog_with({}, global_default="esrgan-slim.x4")
    assert chart_scales(moved) == [4, 1, 2, 3, 8]


def test_a_protocol_is_offered_where_two_models_of_the_scale_are_measured() -> None:
    catalog = catalog_with(
        {
            SPAN: {"bicubic": 34.6, "jpeg-q50": 28.7},
            SLIM: {"bicubic": 31.1, "jpeg-q50": 28.1},
            MEDIUM: {"bicubic": 31.1, "jpeg-q30": 27.0},  # alone under q30: no chart
        }
    )
    assert chart_protocols(catalog, 2) == ["bicubic", "jpeg-q50"]
    assert chart_protocols(catalog, 4) == []  # nothing measured at x4


def test_without_bicubic_the_most_measured_protocol_comes_first() -> None:
    catalog = catalog_with(
        {
            SPAN: {"jpeg-q75": 30.0, "jpeg-q50": 28.7},
            SLIM: {"jpeg-q75": 29.0, "jpeg-q50": 28.1},
            MEDIUM: {"jpeg-q50": 28.0},
        }
    )
    assert chart_protocols(catalog, 2) == ["jpeg-q50", "jpeg-q75"]


def test_denoisers_at_x1_are_shown_by_the_jpeg_protocol_not_the_identity_task() -> None:
    jpeg = catalog_with(
        {
            CUNET0: {"bicubic": 51.0, "jpeg-q50": 33.0},
            CUNET2: {"bicubic": 50.0, "jpeg-q50": 35.0},
        }
    )
    assert chart_protocols(jpeg, 1) == ["jpeg-q50"]
    noise_only = catalog_with(
        {CUNET0: {"bicubic": 51.0, "noise-s15": 30.0}, CUNET2: {"bicubic": 50.0, "noise-s15": 31.0}}
    )
    assert chart_protocols(noise_only, 1) == ["bicubic", "noise-s15"]
    upscalers = catalog_with(
        {SPAN: {"bicubic": 34.6, "jpeg-q50": 28.7}, SLIM: {"bicubic": 31.0, "jpeg-q50": 28.1}}
    )
    assert chart_protocols(upscalers, 2)[0] == "bicubic"  # only x1 drops it


def test_points_and_common_sets_read_the_protocol_asked_for() -> None:
    catalog = catalog_with(
        {
            SPAN: {"bicubic": 34.6, "jpeg-q50": 28.7},
            SLIM: {"bicubic": 31.1},
            GAN: {"bicubic": 29.0, "jpeg-q50": (26.5, 0.21)},
        }
    )
    q50 = {p.id: p for p in points(catalog, 2, "jpeg-q50")}
    assert q50[SPAN].psnr == pytest.approx(28.7)
    assert not q50[SLIM].plotted  # measured, but not under this protocol
    assert q50[GAN].perceptual and q50[GAN].lpips == pytest.approx(0.21)
    assert {p.id: p.psnr for p in points(catalog, 2)}[SPAN] == pytest.approx(34.6)
    entries = [e for e in catalog.entries if e.scale == 2]
    assert common_sets(entries, "jpeg-q50") == {"set5", "set14", "bsd100"}
    assert common_sets(entries, "jpeg-q30") == frozenset()


PROTOCOL_NUMBERS = {
    SPAN: {"bicubic": 34.6, "jpeg-q50": 28.7},
    SLIM: {"bicubic": 31.1, "jpeg-q50": 28.1},
    GAN: {"bicubic": 29.0, "jpeg-q50": (26.5, 0.21)},
}


def test_chart_title_names_scale_protocol_and_sets(chart: Callable[..., bytes]) -> None:
    catalog = catalog_with(PROTOCOL_NUMBERS)
    svg = chart(catalog, scales=[2], protocol="jpeg-q50", fmt="svg").decode()
    assert "<!-- x2 · jpeg-q50 · Set5, Set14, BSD100 -->" in svg
    assert "JPEG quality 50" in svg
    assert f"<!-- {GAN} · LPIPS 0.210 -->" in svg  # perceptual: its own metric beside it
    bicubic = chart(catalog, scales=[2], fmt="svg").decode()
    assert "<!-- x2 · bicubic · Set5, Set14, BSD100 -->" in bicubic
    assert "LPIPS" not in bicubic  # none measured under bicubic


def test_without_scales_a_protocol_draws_only_where_it_is_measured(
    chart: Callable[..., bytes],
) -> None:
    catalog = catalog_with(PROTOCOL_NUMBERS)
    svg = chart(catalog, protocol="jpeg-q50", fmt="svg").decode()
    assert "<!-- x2 · jpeg-q50" in svg
    assert "<!-- x4 · jpeg-q50" not in svg  # no empty panels
    with pytest.raises(QueryError, match="noise-s25") as raised:
        chart(catalog, protocol="noise-s25")
    assert "bicubic, jpeg-q50" in (raised.value.hint or "")


def test_labels_never_overlap_and_crowded_ones_are_counted() -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is in the docs and dev extras")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from upscaler.gallery.labels import Label, place

    fig = Figure(figsize=(6, 4), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [100 + 3 * i for i in range(40)]  # forty models crowded into one spot
    ys = [30 + 0.01 * (i % 7) for i in range(40)]
    ax.scatter(xs, ys)
    ax.set_xlim(10, 1000)
    ax.set_ylim(29, 31)
    ax.set_xscale("log")
    fig.draw_without_rendering()
    renderer = canvas.get_renderer()
    labels = [
        Label(f"model-{i}", x, y, "#000") for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]
    left_out = place(ax, labels, renderer, [])
    # The text alone: an annotation's own extent also spans its leader line.
    for t in ax.texts:
        t.update_positions(renderer)  # type: ignore[attr-defined]
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]
    assert 0 < len(boxes) < 40 and len(boxes) + len(left_out) == 40
    for i, a in enumerate(boxes):
        assert ax.bbox.contains(a.x0, a.y0) and ax.bbox.contains(a.x1, a.y1)
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_models_plot_draws_the_protocol_asked_for(
    cli: Callable[..., Result],
    chart: Callable[..., bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = catalog_with(PROTOCOL_NUMBERS)
    monkeypatch.setattr("upscaler.catalog.default_catalog", lambda: catalog)
    out = tmp_path / "q50.svg"
    done = cli("models", "plot", "--protocol", "jpeg-q50", "-o", str(out))
    assert done.code == 0, done.err
    assert "<!-- x2 · jpeg-q50 · Set5, Set14, BSD100 -->" in out.read_text(encoding="utf-8")
    done = cli("models", "plot", "--protocol", "jpeg-q5", "-o", str(tmp_path / "typo.svg"))
    assert done.code == QueryError.exit_code
    assert "did you mean --protocol" in done.err
    done = cli("models", "plot", "--protocol", "real-world", "-o", str(tmp_path / "none.svg"))
    assert done.code == QueryError.exit_code
    assert "measured so far: bicubic, jpeg-q50" in done.err
    assert not (tmp_path / "typo.svg").exists() and not (tmp_path / "none.svg").exists()


def test_a_crowded_panel_keeps_the_ringed_label_and_counts_the_rest(
    chart: Callable[..., bytes],
) -> None:
    x2 = [e.id for e in default_catalog().entries if e.scale == 2]
    crowded = catalog_with({i: {"bicubic": 30.0 + (n % 5) * 0.02} for n, i in enumerate(x2)})
    ringed = x2[len(x2) // 2]
    svg = chart(crowded, scales=[2], fmt="svg", highlight=ringed).decode()
    assert f"<!-- {ringed} -->" in svg
    left_out = re.search(r"<!-- (\d+) crowded labels left out -->", svg)
    assert left_out is not None
    drawn = sum(f"<!-- {i} -->" in svg for i in x2)
    assert drawn + int(left_out[1]) == len(x2)
