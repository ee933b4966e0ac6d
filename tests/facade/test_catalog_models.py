"""Catalog models through the facade, offline, on a tiny catalog whose weights are local.

Covers the cache contract end to end: converted once, reused, a tampered conversion is
rebuilt (never run), and an offline cache miss names the model and says "offline".
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import nearest_x2

from upscaler import ImageError, OfflineError, Upscaler
from upscaler.catalog import load_catalog
from upscaler.cli.main import main
from upscaler.prepare.materialize import MANIFEST, savedmodel_intact

RGB = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)


@pytest.fixture
def catalog(tiny_catalog: Path):
    return load_catalog(tiny_catalog)


def test_converted_once_then_reused(catalog, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Upscaler(model="tiny.x2", catalog=catalog, cache_dir=cache)
    np.testing.assert_array_equal(first.upscale(RGB, progress=False), nearest_x2(RGB))
    folder = Path(first.describe().runtime.savedmodel or "")
    assert first.describe().runtime.conversion is not None
    assert savedmodel_intact(folder) and (folder / MANIFEST).is_file()
    again = Upscaler(model="tiny.x2", catalog=catalog, cache_dir=cache)
    again.load(progress=False)
    assert again.describe().runtime.conversion is None
    assert again.describe().runtime.savedmodel == str(folder)


def test_tampered_conversion_is_rebuilt_not_run(catalog, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Upscaler(model="tiny.x2", catalog=catalog, cache_dir=cache)
    first.load(progress=False)
    folder = Path(first.describe().runtime.savedmodel or "")
    pb = folder / "saved_model.pb"
    pb.write_bytes(pb.read_bytes() + b"\0")  # tamper
    assert not savedmodel_intact(folder)
    second = Upscaler(model="tiny.x2", catalog=catalog, cache_dir=cache)
    np.testing.assert_array_equal(second.upscale(RGB, progress=False), nearest_x2(RGB))
    assert second.describe().runtime.conversion is not None  # rebuilt
    assert savedmodel_intact(folder)


def test_offline_empty_cache_names_model_and_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "empty-cache"))
    up = Upscaler(model="esrgan-slim.x2")
    with pytest.raises(OfflineError) as err:
        up.upscale(RGB, progress=False)
    assert "esrgan-slim.x2" in str(err.value) and "offline" in str(err.value).lower()
    # the CLI: one line, exit code of OfflineError, no traceback
    sample = tmp_path / "in.png"
    Image.fromarray(RGB).save(sample)
    code = main(["upscale", str(sample), "-o", str(tmp_path / "out.png")])
    captured = capsys.readouterr()
    assert code == OfflineError.exit_code
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert not (tmp_path / "out.png").exists()


def test_kinds_round_trip(catalog, tmp_path: Path) -> None:
    up = Upscaler(model="tiny.x2", catalog=catalog, cache_dir=tmp_path / "cache")
    pil = Image.fromarray(RGB)
    out = up.upscale(pil, progress=False)
    assert isinstance(out, Image.Image) and out.size == (12, 8) and out.mode == "RGB"
    path = tmp_path / "in.png"
    pil.save(path)
    assert isinstance(up.upscale(path, progress=False), Image.Image)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    from_bytes = up.upscale(buffer.getvalue(), progress=False)
    np.testing.assert_array_equal(np.asarray(from_bytes), nearest_x2(RGB))
    gray = up.upscale(RGB[:, :, 0], progress=False)
    assert gray.shape == (8, 12) and gray.dtype == np.uint8


@pytest.mark.slow
def test_upscale_file_is_atomic(catalog, tmp_path: Path) -> None:
    up = Upscaler(model="tiny.x2", catalog=catalog, cache_dir=tmp_path / "cache")
    src = tmp_path / "in.png"
    Image.fromarray(RGB).save(src)
    dst = tmp_path / "out" / "result.png"
    dst.parent.mkdir()
    up.upscale_file(src, dst, progress=False)
    with Image.open(dst) as image:
        np.testing.assert_array_equal(np.asarray(image), nearest_x2(RGB))
    with pytest.raises(ImageError, match="format"):
        up.upscale_file(src, dst.with_suffix(".nope"), progress=False)
    assert sorted(os.listdir(dst.parent)) == ["result.png"]  # no temp files left behind
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ImageError, match="decode"):
        up.upscale_file(broken, tmp_path / "out" / "b.png", progress=False)
    assert sorted(os.listdir(dst.parent)) == ["result.png"]


def test_cli_fetch_and_cache_commands(
    tiny_catalog: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UPSCALER_CATALOG", str(tiny_catalog))
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home"))
    assert main(["fetch", "tiny.x2"]) == 0
    fetched = capsys.readouterr().out
    assert fetched.startswith("tiny.x2: /") and "PosixPath" not in fetched
    assert main(["cache", "list", "--json"]) == 0
    listing = capsys.readouterr().out
    assert "savedmodel" in listing
    assert main(["cache", "verify"]) == 0
    assert "cache ok" in capsys.readouterr().out
    # after fetch, offline works
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    src = tmp_path / "in.png"
    Image.fromarray(RGB).save(src)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--no-progress"]) == 0
    assert main(["cache", "prune"]) == 0
    assert "freed" in capsys.readouterr().out


def test_cache_list_is_one_row_per_model_with_a_total(
    tiny_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    """Issue 14, item 16: no hex keys, no byte counts, no Python lists; --json keeps them."""
    import re

    home = tmp_path / "home"
    monkeypatch.setenv("UPSCALER_CATALOG", str(tiny_catalog))
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    assert cli("fetch", "tiny.x2").code == 0
    (home / "tmp").mkdir(exist_ok=True)
    (home / "tmp" / "blob-abc~123.part").write_bytes(b"x" * 3000)  # an interrupted download
    result = cli("cache", "list")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["MODEL", "FILES", "CONVERTED", "VERIFIED", "SIZE"]
    # the tiny catalog's weights are read in place (a local source): no cached files
    assert lines[1].split()[:4] == ["tiny.x2", "-", "yes", "-"]
    assert re.search(r"\d (B|KiB|MiB|GiB)$", lines[1])
    assert any(line.startswith("not used by any model") and "2.9 KiB" in line for line in lines)
    assert lines[-1].startswith("total: 1 model, ") and str(home) in lines[-1]
    assert not re.search(r"[0-9a-f]{32}", result.out)
    assert "[" not in result.out and max(map(len, lines)) < 120
    detail = json.loads(cli("cache", "list", "--json").out)
    assert {"kind", "key", "size", "path", "models"} <= set(detail[0])
