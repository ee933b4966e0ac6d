"""Every image kind round-trips through Upscaler.upscale: mode, size, dtype, alpha, depth,
EXIF and ICC; and every bad input gets a clear ImageError.

The tiny catalog's model is an exact nearest-neighbour x2, so expected pixels are known.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from tiny_models import nearest_x2

from upscaler import ImageError, QueryError, Upscaler
from upscaler.catalog import load_catalog
from upscaler.runtime.pipeline import bleed_colour, upscale_pixels

RNG = np.random.default_rng(7)
RGB8 = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.fixture
def up(tiny_catalog: Path, tmp_path: Path) -> Upscaler:
    return Upscaler(model="tiny.x2", catalog=load_catalog(tiny_catalog), cache_dir=tmp_path / "c")


@pytest.mark.parametrize(
    "array",
    [
        RGB8,
        RGB8[:, :, 0],  # HW gray
        RGB8[:, :, :1],  # HxWx1 gray
        np.dstack([RGB8, RNG.integers(1, 256, (5, 7, 1), dtype=np.uint8)]),  # RGBA, no hidden px
        np.dstack([RGB8[:, :, :1], RNG.integers(1, 256, (5, 7, 1), dtype=np.uint8)]),  # LA
        (RGB8.astype(np.uint16) * 257),  # 16-bit RGB
        RNG.integers(0, 65536, (5, 7), dtype=np.uint16),  # 16-bit gray
        RGB8.astype(np.float32) / 255.0,  # float in [0, 1]
    ],
    ids=["rgb8", "gray-hw", "gray-hw1", "rgba8", "la8", "rgb16", "gray16", "float32"],
)
@pytest.mark.slow
def test_numpy_round_trip_keeps_layout_dtype_and_values(up: Upscaler, array: np.ndarray) -> None:
    out = up.upscale(array, progress=False)
    assert out.dtype == array.dtype
    assert out.shape == (array.shape[0] * 2, array.shape[1] * 2, *array.shape[2:])
    expected = nearest_x2(array)
    if array.dtype == np.float32:
        np.testing.assert_allclose(out, expected, atol=1e-6)
    else:
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16"])
def test_pil_modes(up: Upscaler, mode: str) -> None:
    if mode == "I;16":
        source = Image.fromarray(RNG.integers(0, 65536, (5, 7), dtype=np.uint16))
    else:
        source = Image.fromarray(RGB8).convert(mode)
    out = up.upscale(source, progress=False)
    assert isinstance(out, Image.Image)
    assert out.size == (14, 10)
    expected_mode = {"P": "RGB", "CMYK": "RGB"}.get(mode, mode)
    assert out.mode == expected_mode
    if mode in ("RGB", "L", "I;16"):
        np.testing.assert_array_equal(np.asarray(out), nearest_x2(np.asarray(source)))
    assert any("converted" in a for a in up.describe().runtime.last_run["adapters"]) == (
        mode in ("P", "CMYK")
    )


def test_palette_with_transparency_keeps_alpha(up: Upscaler) -> None:
    source = Image.fromarray(RGB8).convert("P")
    source.info["transparency"] = 0
    assert up.upscale(source, progress=False).mode == "RGBA"


def test_16bit_png_file_round_trip(up: Upscaler, tmp_path: Path) -> None:
    import png

    deep = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    src = tmp_path / "deep.png"
    png.from_array(deep.reshape(5, 21), "RGB;16").save(str(src))
    result = up.upscale(src, progress=False)
    assert isinstance(result, np.ndarray) and result.dtype == np.uint16  # PIL cannot hold it
    np.testing.assert_array_equal(result, nearest_x2(deep))
    dst = tmp_path / "deep-x2.png"
    up.upscale_file(src, dst, progress=False)
    width, height, rows, meta = png.Reader(filename=str(dst)).asDirect()
    assert (width, height, meta["bitdepth"]) == (14, 10, 16)
    np.testing.assert_array_equal(
        np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(10, 14, 3),
        nearest_x2(deep),
    )


def test_16bit_tiff_file_round_trip(up: Upscaler, tmp_path: Path) -> None:
    import tifffile

    deep = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    src = tmp_path / "deep.tif"
    tifffile.imwrite(src, deep, photometric="rgb")
    dst = tmp_path / "deep-x2.tif"
    up.upscale_file(src, dst, progress=False)
    np.testing.assert_array_equal(tifffile.imread(dst), nearest_x2(deep))


def test_exif_orientation_applied_and_icc_exif_carried(up: Upscaler, tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "upscaler-test-camera"  # Make
    src = tmp_path / "photo.png"
    Image.fromarray(RGB8).save(src, icc_profile=icc, exif=exif.tobytes())
    dst = tmp_path / "photo-x2.png"
    up.upscale_file(src, dst, progress=False)
    with Image.open(dst) as out:
        assert out.size == (10, 14)  # 7x5 rotated to 5x7, then x2
        assert out.info.get("icc_profile") == icc
        carried = out.getexif()
        assert carried.get(0x010F) == "upscaler-test-camera"
        assert carried.get(0x0112, 1) == 1
        rotated = np.rot90(RGB8, k=-1)
        np.testing.assert_array_equal(np.asarray(out), nearest_x2(rotated))
    assert any("EXIF orientation 6" in a for a in up.describe().runtime.last_run["adapters"])


def test_alpha_bicubic_option_and_outscale(up: Upscaler) -> None:
    rgba = np.dstack([RGB8, np.full((5, 7, 1), 128, np.uint8)])
    out = up.upscale(rgba, alpha="bicubic", outscale=3, progress=False)
    assert out.shape == (15, 21, 4)
    assert np.all(out[:, :, 3] == 128)  # a flat alpha stays flat under bicubic
    adapters = up.describe().runtime.last_run["adapters"]
    assert "alpha: upscaled bicubically" in adapters
    assert any(a.startswith("resize: x2 model output resized to x3") for a in adapters)
    with pytest.raises(QueryError, match="alpha"):
        up.upscale(rgba, alpha="magic", progress=False)


def test_opaque_alpha_is_recreated_not_upscaled(up: Upscaler) -> None:
    rgba = np.dstack([RGB8, np.full((5, 7, 1), 255, np.uint8)])
    out = up.upscale(rgba, progress=False)
    assert np.all(out[:, :, 3] == 255)
    assert "alpha: fully opaque, recreated" in up.describe().runtime.last_run["adapters"]


def test_bleed_fills_hidden_pixels_only() -> None:
    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[:, :3] = (200, 10, 10)  # visible red left half; hidden right half is black
    alpha = np.zeros((6, 6, 1), np.uint8)
    alpha[:, :3] = 255
    filled = bleed_colour(rgb, alpha)
    np.testing.assert_array_equal(filled[:, :3], rgb[:, :3])
    assert np.all(filled[:, 3:] == (200, 10, 10))


def test_no_dark_fringe_at_transparent_edges() -> None:
    """A smoothing model must not pull black from transparent pixels into the visible edge."""
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :4] = 240
    alpha = np.zeros((8, 8, 1), np.uint8)
    alpha[:, :4] = 255

    def blur_x2(pixels: np.ndarray) -> np.ndarray:  # a 3x3 box blur, then nearest x2
        padded = np.pad(pixels.astype(np.float32), ((1, 1), (1, 1), (0, 0)), mode="edge")
        box = sum(padded[i : i + 8, j : j + 8] for i in range(3) for j in range(3)) / 9
        return nearest_x2(np.rint(box).astype(np.uint8))

    out = upscale_pixels([blur_x2], np.dstack([rgb, alpha]), model_scale=2, outscale=2)
    visible = out[:, :, 3] > 0
    assert out[visible][:, :3].min() >= 235  # no darkening where alpha shows colour


def test_decompression_bomb_guard(up: Upscaler, tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(src)
    with pytest.raises(ImageError, match="above the limit") as err:
        up.upscale(src, max_pixels=10_000, progress=False)
    assert "UPSCALER_MAX_PIXELS" in (err.value.hint or "")
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="60,000 pixels"):
        up.upscale(src, progress=False)
    assert up.upscale(src, max_pixels=60_000, progress=False).size == (600, 400)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 5), np.uint8), "at most 4 channels"),
        (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
        (np.full((4, 4, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.zeros((4, 4, 3), np.int32), "dtype int32"),
        (np.zeros((2, 4, 4, 3), np.uint8), "dimensions"),
        (b"definitely not an image", "cannot decode"),
        (Path("/nonexistent/image.png"), "no such image file"),
        (12345, "cannot upscale a int"),
    ],
    ids=["empty", "5-channels", "nan", "float-range", "int32", "batch", "bytes", "path", "int"],
)
def test_bad_input_is_a_clear_image_error(up: Upscaler, image, message: str) -> None:
    with pytest.raises(ImageError, match=message) as err:
        up.upscale(image, progress=False)
    assert isinstance(err.value, ValueError)


def test_folder_as_input_and_missing_output_folder(up: Upscaler, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="folder"):
        up.upscale(tmp_path, progress=False)
    src = tmp_path / "in.png"
    Image.fromarray(RGB8).save(src)
    with pytest.raises(ImageError, match="does not exist"):
        up.upscale_file(src, tmp_path / "missing" / "out.png", progress=False)
    assert not (tmp_path / "missing").exists()


def test_bytes_in_pil_out(up: Upscaler) -> None:
    buffer = io.BytesIO()
    Image.fromarray(RGB8).save(buffer, format="WEBP", lossless=True)
    out = up.upscale(buffer.getvalue(), progress=False)
    assert isinstance(out, Image.Image) and out.size == (14, 10)
