"""Hostile image files (items 6, 9, 10 and the image part of the suite): every case is
an ImageError with exit code 10 through the real CLI, no output and no temp file, the
input untouched."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from hostile_support import Tiny, assert_cli_error, noise, snapshot, write_png
from PIL import Image

from upscaler import ImageError, Upscaler

Cli = Callable[..., Result]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, depth: int = 8) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def encoded(fmt: str, pixels: np.ndarray | None = None, **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(noise(8, 8) if pixels is None else pixels).save(buffer, format=fmt, **params)
    return buffer.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    data = bytearray(encoded("JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def frames(fmt: str, count: int = 3) -> bytes:
    images = [Image.fromarray(noise(8, 8, seed=i)) for i in range(count)]
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def tiff16_pages(count: int = 2) -> bytes:
    import tifffile

    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for i in range(count):
            tif.write(np.full((8, 8, 3), 1000 * (i + 1), dtype=np.uint16), photometric="rgb")
    return buffer.getvalue()


# -- items 6 and 9, directly ------------------------------------------------------------------


def test_above_pillows_own_limit_is_our_max_pixels_error(tiny: Tiny, tmp_path: Path) -> None:
    """A 200 MP header is over Pillow's hard limit (179 MP): our error, not Pillow's."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(20_000, 10_000))
    with pytest.raises(ImageError, match=r"limit") as err:
        Upscaler("tiny.x2").upscale(path, progress=False)
    assert err.value.hint is not None and "UPSCALER_MAX_PIXELS" in err.value.hint


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PNG"])
def test_multi_frame_images_are_refused_clearly(tiny: Tiny, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"anim.{fmt.lower()}"
    path.write_bytes(frames(fmt))
    with pytest.raises(ImageError, match="3 frames") as err:
        Upscaler("tiny.x2").upscale(path, progress=False)
    assert err.value.hint is not None and "frame" in err.value.hint


def test_multi_page_16_bit_tiff_is_refused(tiny: Tiny, tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    path.write_bytes(tiff16_pages())
    with pytest.raises(ImageError, match="2 frames"):
        Upscaler("tiny.x2").upscale(path, progress=False)


def test_single_frame_gif_still_works(tf_tiny: Tiny, tmp_path: Path) -> None:
    path = tmp_path / "one.gif"
    path.write_bytes(frames("GIF", count=1))
    out = Upscaler("tiny.x2").upscale(path, progress=False)
    assert out.size == (16, 16)


# -- item 10: output formats that would lose the image ---------------------------------------

LOSSY_OUTPUTS = [".ico", ".gif", ".tga", ".pcx", ".ppm", ".xbm", ".eps", ".pdf", ".im", ""]


@pytest.mark.parametrize("suffix", LOSSY_OUTPUTS, ids=[s or "no suffix" for s in LOSSY_OUTPUTS])
def test_output_formats_that_lose_the_image_are_refused(
    cli: Cli, tiny: Tiny, tmp_path: Path, suffix: str
) -> None:
    src = write_png(tmp_path / "in.png", 64, 128)
    before = snapshot(tmp_path)
    result = cli("upscale", str(src), "-o", str(tmp_path / f"out{suffix}"), "--model", "tiny.x2")
    assert_cli_error(result, 10, "allowed")
    assert "png" in result.err and "webp" in result.err
    assert snapshot(tmp_path) == before


def test_webp_output_larger_than_webp_allows_is_refused_before_work(
    tiny: Tiny, tmp_path: Path
) -> None:
    src = write_png(tmp_path / "in.png", 4, 9000)
    with pytest.raises(ImageError, match="16383"):
        Upscaler("tiny.x2").upscale_file(src, tmp_path / "out.webp", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_sixteen_bit_gray_to_jpeg_is_refused(tf_tiny: Tiny, tmp_path: Path) -> None:
    src = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(src)
    with pytest.raises(ImageError, match="uint16"):
        Upscaler("tiny.x2").upscale_file(src, tmp_path / "out.jpg", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.png"]


# -- the suite: hostile inputs through the CLI ------------------------------------------------

PNG = encoded("PNG")
JPEG = encoded("JPEG")
WEBP = encoded("WEBP")
TIFF = encoded("TIFF")

HOSTILE_INPUTS: dict[str, tuple[str, bytes, str]] = {
    "empty file": ("a.png", b"", "decode"),
    "png signature only": ("a.png", PNG[:8], "decode"),
    "png truncated in IHDR": ("a.png", PNG[:20], "decode"),
    "png truncated in IDAT": ("a.png", PNG[: len(PNG) // 2], "decode"),
    "png bad crc": ("a.png", PNG[:29] + b"\x00\x00\x00\x00" + PNG[33:], "decode"),
    "png zero width": ("a.png", png_declaring(0, 10), "decode"),
    "png bomb header": ("a.png", png_declaring(30_000, 30_000), "limit"),
    "png over pillow limit": ("a.png", png_declaring(20_000, 10_000), "limit"),
    "png16 bomb header": ("a.png", png_declaring(30_000, 30_000, 16), "limit"),
    "png16 truncated": ("a.png", png_declaring(40, 40, 16), "decode"),
    "jpeg truncated": ("a.jpg", JPEG[: len(JPEG) // 3], "decode"),
    "jpeg header only": ("a.jpg", JPEG[:2], "decode"),
    "jpeg bomb header": ("a.jpg", jpeg_declaring(65_000, 65_000), "limit"),
    "webp truncated": ("a.webp", WEBP[: len(WEBP) // 2], "decode"),
    "webp riff only": ("a.webp", WEBP[:12], "decode"),
    "tiff truncated": ("a.tif", TIFF[:16], "decode"),
    "tiff garbage ifd": ("a.tif", b"II*\x00" + b"\xff" * 60, "decode"),
    "text named png": ("a.png", b"hello, I am not an image\n", "decode"),
    "html named jpg": ("a.jpg", b"<html><body>404</body></html>", "decode"),
    "zip named webp": ("a.webp", b"PK\x03\x04" + b"\x00" * 40, "decode"),
    "nul bytes": ("a.bmp", b"\x00" * 4096, "decode"),
    # An animation is upscaled whole into an animated output (tests/media); into a
    # format that holds one still it is refused before any work.
    "animated gif into a jpg": ("a.gif", frames("GIF"), "holds one still image"),
    "animated webp into a jpg": ("a.webp", frames("WEBP"), "holds one still image"),
    "multi-page tiff": ("a.tif", frames("TIFF"), "frames"),
    "multi-page 16-bit tiff": ("a.tif", tiff16_pages(), "frames"),
}


@pytest.mark.parametrize(
    "name, data, words", HOSTILE_INPUTS.values(), ids=list(HOSTILE_INPUTS.keys())
)
def test_hostile_image_files(
    cli: Cli, tiny: Tiny, tmp_path: Path, name: str, data: bytes, words: str
) -> None:
    src = tmp_path / name
    src.write_bytes(data)
    before = snapshot(tmp_path)
    out = tmp_path / ("out.jpg" if words == "holds one still image" else "out.png")
    result = cli("upscale", str(src), "-o", str(out), "--model", "tiny.x2")
    assert_cli_error(result, 10, words)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["folder", "fifo", "dev-zero", "missing", "dangling link"])
def test_inputs_that_are_no_regular_file(cli: Cli, tiny: Tiny, tmp_path: Path, kind: str) -> None:
    src = tmp_path / "in.png"
    if kind == "folder":
        src.mkdir()
    elif kind == "fifo":
        os.mkfifo(src)
    elif kind == "dev-zero":
        src.symlink_to("/dev/zero")
    elif kind == "dangling link":
        src.symlink_to(tmp_path / "nowhere.png")
    before = snapshot(tmp_path)
    result = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "tiny.x2")
    assert_cli_error(result, 10)
    assert snapshot(tmp_path) == before


def test_fifo_through_the_api_does_not_hang(tiny: Tiny, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="regular file"):
        Upscaler("tiny.x2").upscale(fifo, progress=False)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 1, 4), (1, 1), (1, 7, 3), (7, 1, 1)], ids=str)
def test_one_pixel_wide_images_upscale(tf_tiny: Tiny, shape: tuple[int, ...]) -> None:
    pixels = np.full(shape, 200, dtype=np.uint8)
    out = Upscaler("tiny.x2").upscale(pixels, progress=False)
    assert out.shape[:2] == (shape[0] * 2, shape[1] * 2)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((5, 0, 3), np.uint8),
        np.zeros((2, 2, 5), np.uint8),
        np.zeros((2, 2, 3), np.int64),
        np.full((2, 2, 3), np.nan, np.float32),
        np.full((2, 2, 3), 2.0, np.float32),
        np.zeros((1, 2, 2, 3), np.uint8),
    ],
    ids=["zero height", "zero width", "5 channels", "int64", "nan", "float 2.0", "batch"],
)
def test_hostile_arrays(tiny: Tiny, array: np.ndarray) -> None:
    with pytest.raises(ImageError):
        Upscaler("tiny.x2").upscale(array, progress=False)


@pytest.mark.parametrize(
    "name",
    ["ünïcödé.png", "spaces in name.png", "emoji-😀.png", "-starts-with-dash.png", "a'b\"c.png"],
)
def test_odd_file_names_round_trip(cli: Cli, tf_tiny: Tiny, tmp_path: Path, name: str) -> None:
    src = write_png(tmp_path / name)
    out = tmp_path / "out" / ("x" + name)
    out.parent.mkdir()
    result = cli("upscale", str(src), "-o", str(out), "--model", "tiny.x2")
    assert result.code == 0, result
    with Image.open(out) as image:
        assert image.size == (10, 12)
    assert [p.name for p in out.parent.iterdir()] == [out.name]


def test_wrong_extension_that_decodes_is_read_by_content(tf_tiny: Tiny, tmp_path: Path) -> None:
    src = tmp_path / "really-a-png.jpg"
    src.write_bytes(PNG)
    out = Upscaler("tiny.x2").upscale(src, progress=False)
    assert out.size == (16, 16)


@pytest.mark.parametrize(
    ("name", "mode"),
    [("one.png", "RGB"), ("one.jpg", "RGB"), ("gray.png", "L"), ("alpha.png", "RGBA")],
)
def test_one_pixel_files_through_the_cli(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path, name: str, mode: str
) -> None:
    src = tmp_path / name
    Image.new(mode, (1, 1), 128 if mode == "L" else (10, 20, 30, 255)[: len(mode)]).save(src)
    before = src.read_bytes()
    out = tmp_path / "out" / name
    out.parent.mkdir()
    result = cli("upscale", str(src), "-o", str(out), "--model", "tiny.x2")
    assert result.code == 0, result
    with Image.open(out) as image:
        assert (image.size, image.mode) == ((2, 2), mode)
    assert src.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == [name]


def test_file_larger_than_any_allowed_image_is_not_read(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sparse 200 MB file named .png: refused by its size, before a byte is read."""
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "1000")
    path = tmp_path / "huge.png"
    with path.open("wb") as handle:
        handle.write(PNG[:33])
        handle.truncate(200_000_000)
    with pytest.raises(ImageError, match="MB") as err:
        Upscaler("tiny.x2").upscale(path, progress=False)
    assert err.value.hint is not None and "UPSCALER_MAX_PIXELS" in err.value.hint


@pytest.mark.parametrize(("mode", "suffix"), [("RGBA", ".bmp"), ("LA", ".bmp")])
def test_alpha_into_bmp_is_refused(tf_tiny: Tiny, tmp_path: Path, mode: str, suffix: str) -> None:
    """Pillow writes RGBA BMPs that read back as RGB: the alpha would be lost silently."""
    src = tmp_path / "in.png"
    Image.new(mode, (3, 3), (1, 2, 3, 4)[: len(mode)]).save(src)
    with pytest.raises(ImageError, match="alpha"):
        Upscaler("tiny.x2").upscale_file(src, tmp_path / f"out{suffix}", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
