"""`Upscaler(degradation="auto")` and `upscaler upscale --auto`: the input decides whose
numbers rank, and describe() says what was read and why.

A tiny catalog on disk with two real (tiny) models: `tiny.x2`, better on clean input, and
`tinyjpeg.x2`, a denoiser better under the jpeg-q50 protocol. Their numbers are written
into the YAML the way `upscaler eval --write` writes them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import Result
from PIL import Image
from tiny_models import write_tfjs_upsampler, write_tiny_catalog, write_x2_family

from upscaler import Upscaler
from upscaler.catalog import load_catalog
from upscaler.catalog.protocols import PROTOCOLS
from upscaler.catalog.yaml_edit import set_variant_values
from upscaler.errors import QueryError

pytestmark = pytest.mark.timeout(300)


def _block(psnr: float, protocol: str) -> dict[str, Any]:
    return {
        "provenance": {
            "command": f"upscaler eval X --protocol {protocol} --write",
            "version": "0",
            "date": "2030-01-01",
            "protocol": PROTOCOLS[protocol].id,
        },
        "sets": {"set5": {"psnr_y": psnr, "ssim_y": 0.9}},
    }


@pytest.fixture
def auto_catalog(tmp_path: Path, tf: Any) -> Path:
    root = write_tiny_catalog(tmp_path / "c")
    weights = tmp_path / "c" / "jpeg-weights"
    write_tfjs_upsampler(weights / "models" / "x2", 3)
    write_x2_family(
        root,
        weights,
        ["models/x2/model.json", "models/x2/up.bin"],
        family="tinyjpeg",
        architecture="nearest",
        defaults='dataset: none, channels: 3, denoise: "2"',
        global_default=False,
    )
    speed = {
        "provenance": {"command": "bench", "version": "0", "date": "2030-01-01"},
        "ms_per_output_megapixel": 100.0,
    }
    for family, clean, jpeg in (("tiny", 33.0, 27.5), ("tinyjpeg", 32.0, 28.5)):
        set_variant_values(
            root / "models" / f"{family}.yaml",
            {
                "x2": {
                    "metrics": _block(clean, "bicubic"),
                    "protocol_metrics": {"jpeg-q50": _block(jpeg, "jpeg-q50")},
                    "speed": speed,
                }
            },
        )
    return root


def _photo() -> Image.Image:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:64, 0:80]
    pixels = np.stack([x * 3, y * 3, (x + y) * 2], axis=-1) + rng.normal(0, 8, (64, 80, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _jpeg(path: Path, quality: int) -> Path:
    _photo().save(path, "JPEG", quality=quality)
    return path


def test_auto_reads_each_input_and_runs_the_model_measured_for_it(
    auto_catalog: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(auto_catalog)
    up = Upscaler(scale=2, degradation="auto", catalog=catalog)
    assert up.model.id == "tiny.x2"
    assert "chosen per input" in (up.describe().ranking or "")

    out = up.upscale_file(_jpeg(tmp_path / "web.jpg", 45), tmp_path / "web-x2.png")
    assert Image.open(out).size == (160, 128)
    assert up.model.id == "tinyjpeg.x2"
    described = up.describe()
    assert described.input_condition is not None
    assert abs(described.input_condition["jpeg_quality"] - 45) <= 5
    assert described.ranking is not None and "jpeg-q50" in described.ranking
    assert "jpeg-q50" in str(described)

    clean = tmp_path / "clean.png"
    _photo().save(clean)
    up.upscale_file(clean, tmp_path / "clean-x2.png")
    assert up.model.id == "tiny.x2", "a clean PNG goes back to the clean-input best"


def test_auto_works_on_arrays_and_in_a_query_string(auto_catalog: Path) -> None:
    catalog = load_catalog(auto_catalog)
    up = Upscaler(query="scale=2 degradation=auto", catalog=catalog)
    buffer = io.BytesIO()
    _photo().save(buffer, "JPEG", quality=50)
    out = up.upscale(buffer.getvalue(), progress=False)
    assert out.size == (160, 128)
    assert up.describe().input_condition is not None


def test_auto_with_a_pinned_model_is_refused(auto_catalog: Path) -> None:
    catalog = load_catalog(auto_catalog)
    with pytest.raises(QueryError, match='degradation="auto" chooses the model'):
        Upscaler(model="tiny.x2", degradation="auto", catalog=catalog)


def test_cli_auto_says_what_it_read(
    auto_catalog: Path,
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSCALER_CATALOG", str(auto_catalog))
    src = _jpeg(tmp_path / "in.jpg", 40)
    ran = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--auto", "--describe")
    assert ran.code == 0, ran.err
    assert (tmp_path / "out.png").exists()
    assert "tinyjpeg.x2" in ran.out and "jpeg-q50" in ran.out


def test_resolve_without_an_image_says_where_auto_applies(cli: Callable[..., Result]) -> None:
    ran = cli("resolve", "degradation=auto", "scale=2")
    assert ran.code != 0 and "Traceback" not in ran.err
    assert "degradation=auto reads the image being upscaled" in ran.err
    assert "upscaler inspect IMAGE" in ran.err
    ranked = cli("resolve", "denoise=2", "scale=2")
    assert ranked.code == 0 and "ranked by: denoise=2 asks for noisy input" in ranked.out


def test_auto_reads_a_videos_first_frame(auto_catalog: Path, tmp_path: Path) -> None:
    """A video has no JPEG tables: its first frame's pixels are read (here a JPEG-q30
    picture stored losslessly, so its 8x8 blocks are all the evidence there is), and the
    model chosen from it runs every frame: the clean frames after it do not switch it."""
    av = pytest.importorskip("av")
    buffer = io.BytesIO()
    _photo().resize((320, 256)).save(buffer, "JPEG", quality=30)
    blocky = np.asarray(Image.open(buffer).convert("RGB"))
    clip = tmp_path / "blocky.mkv"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 256, "bgr0"
        clean = np.asarray(_photo().resize((320, 256)))
        for number in range(3):
            pixels = blocky if number == 0 else clean
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = number
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    up = Upscaler(scale=2, degradation="auto", catalog=load_catalog(auto_catalog))
    up.upscale_file(clip, tmp_path / "blocky-x2.mkv", progress=False)
    described = up.describe()
    assert described.input_condition is not None
    assert up.model.id == "tinyjpeg.x2", described.input_condition
    assert described.runtime.media is not None and described.runtime.media["frames"] == 3
