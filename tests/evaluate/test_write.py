"""`eval --write`: metrics blocks match the schema, land in the right variant, keep comments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from upscaler.catalog import default_catalog, load_catalog
from upscaler.errors import QueryError
from upscaler.evaluate.protocol import PROTOCOL_ID
from upscaler.evaluate.runner import EvalResult, ImageResult, SetResult
from upscaler.evaluate.write import metrics_block, write_metrics


def _result(model: str | None, scale: int, model_scale: int | None = None) -> EvalResult:
    sets = {
        key: SetResult(
            name=name,
            key=key,
            fingerprint=fp * 64,
            images=(ImageResult("a.png", 30.123456, 0.876543), ImageResult("b.png", 32.0, 0.9)),
            seconds=1.0,
        )
        for key, name, fp in (("set5", "Set5", "a"), ("bsd100", "BSD100", "b"))
    }
    return EvalResult(
        target=model or "bicubic",
        kind="model" if model else "baseline",
        scale=scale,
        protocol=PROTOCOL_ID,
        model_id=model,
        model_scale=model_scale if model_scale is not None else (scale if model else None),
        sets=sets,
    )


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(default_catalog().root, root)
    return root


def test_metrics_block_is_rounded_and_valid() -> None:
    block = metrics_block(
        _result("esrgan-slim.x2", 2), command="upscaler eval", version="9", date="2030-01-02"
    )
    assert block["sets"]["set5"] == {"psnr_y": 31.06, "ssim_y": 0.8883}
    assert block["provenance"] == {
        "command": "upscaler eval",
        "version": "9",
        "date": "2030-01-02",
        "protocol": PROTOCOL_ID,
        "data": {"set5": "a" * 64, "bsd100": "b" * 64},
    }


@pytest.mark.slow
def test_write_lands_in_the_variant_and_keeps_comments(catalog_copy: Path) -> None:
    catalog = load_catalog(catalog_copy)
    path = Path(catalog.by_id["esrgan-slim.x3"].source_file)
    comments_before = [
        line for line in path.read_text().splitlines() if line.lstrip().startswith("#")
    ]
    written = write_metrics(
        [_result("esrgan-slim.x3", 3)],
        catalog,
        command="upscaler eval --all --write",
        version="1.2.3",
        date="2030-01-02",
    )
    assert written == [path]
    comments_after = [
        line for line in path.read_text().splitlines() if line.lstrip().startswith("#")
    ]
    assert comments_after == comments_before
    reloaded = load_catalog(catalog_copy).by_id["esrgan-slim.x3"]
    assert reloaded.metrics is not None
    assert reloaded.metrics.sets["set5"].psnr_y == 31.06
    assert reloaded.metrics.provenance.protocol == PROTOCOL_ID
    assert reloaded.metrics.provenance.data["bsd100"] == "b" * 64
    # Writing again replaces the block rather than adding a second one.
    blocks = path.read_text().count("metrics:")
    write_metrics([_result("esrgan-slim.x3", 3)], catalog, command="again", version="1.2.3")
    assert path.read_text().count("metrics:") == blocks
    assert load_catalog(catalog_copy).by_id["esrgan-slim.x3"].metrics.provenance.command == "again"  # type: ignore[union-attr]


@pytest.mark.slow
def test_only_catalog_models_at_their_own_scale_are_written(catalog_copy: Path) -> None:
    catalog = load_catalog(catalog_copy)
    with pytest.raises(QueryError, match="not a catalog model"):
        write_metrics([_result(None, 2)], catalog, command="c", version="v")
    with pytest.raises(QueryError, match="measured at x4"):
        write_metrics(
            [_result("esrgan-slim.x2", 4, model_scale=2)], catalog, command="c", version="v"
        )
