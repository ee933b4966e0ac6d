"""Degradation protocols: each recipe is what its name says, seeded per image, and the
evaluator, the CLI and `--write` carry the protocol through to the catalog."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from PIL import Image

from upscaler.catalog import default_catalog, load_catalog
from upscaler.catalog.protocols import PROTOCOLS, protocol_named
from upscaler.errors import CatalogError, QueryError
from upscaler.evaluate.degradations import degraded_lr, gaussian_kernel, image_seed, sinc_kernel
from upscaler.evaluate.protocol import make_lr, modcrop
from upscaler.evaluate.runner import EvalResult, ImageResult, SetResult
from upscaler.evaluate.write import write_metrics

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

Cli = Callable[..., Result]


def _photo(height: int = 96, width: int = 120, seed: int = 3) -> np.ndarray:
    """A smooth image with edges and texture: what JPEG and noise visibly change."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 2, y * 2 + 10, (x + y) % 200], axis=-1).astype(np.float64)
    base[20:60, 30:80] = [220, 40, 40]
    texture = rng.normal(0, 6, size=base.shape)
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def test_every_protocol_gives_an_lr_of_exactly_hr_over_scale() -> None:
    for scale in (1, 2, 3, 4):
        hr = modcrop(_photo(), scale)
        for spec in PROTOCOLS.values():
            lr, record = degraded_lr(hr, scale, spec)
            assert lr.dtype == np.uint8
            assert lr.shape == (hr.shape[0] // scale, hr.shape[1] // scale, 3), spec.name
            assert isinstance(record, dict)


def test_jpeg_protocol_is_pillow_at_its_quality_after_the_bicubic_step() -> None:
    hr = modcrop(_photo(), 2)
    lr, record = degraded_lr(hr, 2, PROTOCOLS["jpeg-q30"])
    buffer = io.BytesIO()
    Image.fromarray(make_lr(hr, 2)).save(buffer, "JPEG", quality=30, subsampling=2)
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert np.array_equal(lr, expected)
    assert record == {"jpeg_quality": 30}
    # lower quality moves further from the clean LR
    clean = make_lr(hr, 2).astype(float)
    errors = [
        np.abs(degraded_lr(hr, 2, PROTOCOLS[n])[0] - clean).mean()
        for n in ("jpeg-q75", "jpeg-q50", "jpeg-q30")
    ]
    assert errors == sorted(errors) and errors[0] > 0


def test_noise_protocol_has_its_sigma_and_is_seeded_by_the_pixels() -> None:
    hr = np.full((200, 200, 3), 128, dtype=np.uint8)
    lr, _ = degraded_lr(hr, 1, PROTOCOLS["noise-s25"])
    assert np.std(lr.astype(float) - 128) == pytest.approx(25, rel=0.05)
    again, _ = degraded_lr(hr.copy(), 1, PROTOCOLS["noise-s25"])
    assert np.array_equal(lr, again), "same pixels, same noise"
    other = hr.copy()
    other[0, 0] = 129
    assert not np.array_equal(degraded_lr(other, 1, PROTOCOLS["noise-s25"])[0][1:], lr[1:])
    s15, _ = degraded_lr(hr, 1, PROTOCOLS["noise-s15"])
    assert not np.array_equal((s15.astype(int) - 128) * 25 // 15, lr.astype(int) - 128), (
        "each protocol draws its own noise"
    )


def test_real_world_mix_is_reproducible_and_records_every_draw() -> None:
    hr = modcrop(_photo(160, 200), 4)
    spec = PROTOCOLS["real-world"]
    lr, record = degraded_lr(hr, 4, spec)
    again, record_again = degraded_lr(hr, 4, spec)
    assert np.array_equal(lr, again) and record == record_again
    assert set(record) == {"first", "second", "final"}
    assert {"blur", "resize", "noise", "jpeg_quality"} <= set(record["first"])
    assert 30 <= record["final"]["jpeg_quality"] <= 95
    json.dumps(record)  # JSON-ready, as --json prints it
    other = degraded_lr(modcrop(_photo(160, 200, seed=4), 4), 4, spec)[1]
    assert other != record, "another image draws another recipe"
    assert image_seed(spec.id, 4, hr) != image_seed(spec.id, 2, hr)


def test_kernels_are_normalised_low_pass_filters() -> None:
    gauss = gaussian_kernel(11, 2.0, 1.0, 0.5)
    assert gauss.sum() == pytest.approx(1.0) and gauss.argmax() == gauss.size // 2
    sinc = sinc_kernel(13, np.pi / 2)
    assert sinc.sum() == pytest.approx(1.0) and sinc.argmax() == sinc.size // 2
    assert np.allclose(sinc, sinc.T) and sinc.min() < 0, "a jinc rings"


def test_unknown_protocol_names_the_nearest() -> None:
    with pytest.raises(QueryError, match="did you mean --protocol jpeg-q50"):
        protocol_named("jpeg-50")
    assert protocol_named("JPEG-Q30").jpeg_quality == 30


def test_eval_cli_measures_each_protocol_and_degraded_input_scores_lower(
    cli: Cli, tiny_set: Path
) -> None:
    ran = cli(
        "eval",
        "bicubic",
        "--data",
        str(tiny_set),
        "--scale",
        "2",
        "--protocol",
        "jpeg-q30",
        "--protocol",
        "real-world",
        "--protocol",
        "bicubic",
        "--json",
    )
    assert ran.code == 0, ran.err
    results = {r["protocol_name"]: r for r in json.loads(ran.out)["results"]}
    assert list(results) == ["jpeg-q30", "real-world", "bicubic"]
    assert results["jpeg-q30"]["protocol"] == PROTOCOLS["jpeg-q30"].id
    clean = results["bicubic"]["sets"]["tiny"]["psnr_y"]
    assert results["jpeg-q30"]["sets"]["tiny"]["psnr_y"] < clean
    assert results["real-world"]["sets"]["tiny"]["psnr_y"] < clean
    image = results["real-world"]["sets"]["tiny"]["images"][0]
    assert set(image["degradation"]) == {"first", "second", "final"}


def test_eval_cli_refuses_an_unknown_protocol_in_one_line(cli: Cli, tiny_set: Path) -> None:
    ran = cli("eval", "bicubic", "--data", str(tiny_set), "--scale", "2", "--protocol", "jpg")
    assert ran.code != 0 and "unknown protocol 'jpg'" in ran.err
    assert "Traceback" not in ran.err
    ran = cli(
        "eval", "bicubic-y", "--data", str(tiny_set), "--scale", "2", "--protocol", "jpeg-q50"
    )
    assert ran.code != 0 and "takes no --protocol" in ran.err


def _result(model: str, protocol: str, psnr: float) -> EvalResult:
    images = (ImageResult("a.png", psnr, 0.8), ImageResult("b.png", psnr, 0.8))
    return EvalResult(
        target=model,
        kind="model",
        scale=2,
        protocol=PROTOCOLS[protocol].id,
        model_id=model,
        model_scale=2,
        sets={"set5": SetResult("Set5", "set5", "a" * 64, images, 1.0)},
        protocol_name=protocol,
    )


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(default_catalog().root, root)
    return root


def test_write_files_each_protocol_beside_the_others(catalog_copy: Path) -> None:
    model = "esrgan-slim.x2"
    catalog = load_catalog(catalog_copy)
    clean_before = catalog.by_id[model].metrics
    write_metrics([_result(model, "jpeg-q50", 28.5)], catalog, command="c50", version="1")
    write_metrics([_result(model, "jpeg-q30", 27.25)], catalog, command="c30", version="1")
    entry = load_catalog(catalog_copy).by_id[model]
    assert entry.metrics == clean_before, "the clean numbers stay where they were"
    assert set(entry.protocol_metrics) == {"jpeg-q50", "jpeg-q30"}
    assert entry.protocol_metrics["jpeg-q50"].sets["set5"].psnr_y == 28.5
    assert entry.protocol_metrics["jpeg-q30"].provenance.protocol == PROTOCOLS["jpeg-q30"].id
    # measuring again replaces that protocol's block only
    write_metrics([_result(model, "jpeg-q50", 28.75)], catalog, command="again", version="1")
    entry = load_catalog(catalog_copy).by_id[model]
    assert entry.protocol_metrics["jpeg-q50"].sets["set5"].psnr_y == 28.75
    assert entry.protocol_metrics["jpeg-q30"].provenance.command == "c30"


def test_numbers_filed_under_the_wrong_protocol_are_refused(catalog_copy: Path) -> None:
    catalog = load_catalog(catalog_copy)
    write_metrics([_result("esrgan-slim.x2", "jpeg-q50", 28.5)], catalog, command="c", version="1")
    path = catalog_copy / "models" / "esrgan-slim.yaml"
    text = path.read_text()
    path.write_text(text.replace("      jpeg-q50:", "      jpeg-q30:", 1))
    with pytest.raises(CatalogError, match=r"esrgan-slim.yaml:\d+: protocol_metrics.jpeg-q30"):
        load_catalog(catalog_copy)
    path.write_text(text.replace("      jpeg-q50:", "      jpeg-q99:", 1))
    with pytest.raises(CatalogError, match="'jpeg-q99' is not a degradation protocol"):
        load_catalog(catalog_copy)
    path.write_text(text.replace("      jpeg-q50:", "      bicubic:", 1))
    with pytest.raises(CatalogError, match="belong in `metrics`"):
        load_catalog(catalog_copy)
