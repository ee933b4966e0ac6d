"""The CLI's memory bound and the PNG writer that keeps it (issue 29).

A 6000x4000 RGB image upscaled x2 by ``upscaler upscale in.png -o out.png`` peaked at
1,848 MiB of resident memory against a bound of twice the output plus 1.2 GB (1,694 MiB;
the output is 12000x8000x3 bytes = 288 MB), while the numpy API kept within it: the CLI
held the result array *and* a PIL copy of it (four bytes a pixel) while it encoded. The
PNG is now written from the array a band of rows at a time. Peaks are measured in a
fresh interpreter from the kernel's own high-water mark (VmHWM), as in
tests/runtime/test_memory.py.
"""

from __future__ import annotations

import io
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import Result
from hostile_support import Tiny
from PIL import Image
from runtime.fresh_process import run_fresh
from tiny_models import nearest_x2

from upscaler.runtime.image_io import decode

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")

PEAK = """
from pathlib import Path

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""

CLI_RUN = (
    PEAK
    + """
import json, sys
from upscaler.cli.main import main
code = main(["upscale", sys.argv[1], "-o", sys.argv[2], "--no-progress"])
print(json.dumps({"code": code, "peak": peak()}))
"""
)


def textured(height: int, width: int) -> np.ndarray:
    """RGB pixels with structure in every channel (stripes, ramps, a sparse pattern):
    quick to encode, yet no filter and no colour is trivial."""
    y = np.arange(height, dtype=np.uint16)[:, None]
    x = np.arange(width, dtype=np.uint16)[None, :]
    planes = np.broadcast_arrays((x // 24) % 256, (y // 16) % 256, ((x + y) // 40) % 256)
    rgb = np.stack(planes, axis=-1).astype(np.uint8)
    rgb[::7, ::5] ^= 0x55
    return rgb


@linux_only
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cli_upscale_of_6000x4000_keeps_within_twice_the_output_plus_1_2_gb(
    tf_tiny: Tiny, tmp_path: Path
) -> None:
    source = textured(4000, 6000)
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(source).save(src)
    # Convert the model outside the measurement (a first run converts it, once).
    Image.fromarray(source[:8, :8]).save(tmp_path / "warm.png")
    assert (
        run_fresh(CLI_RUN, str(tmp_path / "warm.png"), str(tmp_path / "warm-x2.png"))["code"] == 0
    )

    report = run_fresh(CLI_RUN, str(src), str(dst))

    out_bytes = 12_000 * 8_000 * 3
    bound = 2 * out_bytes + 1_200_000_000  # 1,694 MiB
    assert report["code"] == 0
    assert report["peak"] <= bound, f"peak {report['peak'] / 2**20:,.0f} MiB > 1,694 MiB"
    written = decode(dst, max_pixels=out_bytes)
    assert written.pixels.shape == (8000, 12000, 3)
    assert np.array_equal(written.pixels, nearest_x2(source))


WRITE = (
    PEAK
    + """
import json, sys
import numpy as np
from upscaler.runtime.image_io import save_pixels
y = np.arange(3000, dtype=np.uint16)[:, None]
x = np.arange(4000, dtype=np.uint16)[None, :]
pixels = np.stack(np.broadcast_arrays(x % 256, y % 256, (x ^ y) % 256), -1).astype(np.uint8)
before = peak()
save_pixels(pixels, Path(sys.argv[1]), {})
print(json.dumps({"grew": peak() - before, "pixels": pixels.nbytes}))
"""
)


@linux_only
def test_writing_a_png_costs_a_sliver_of_the_image(tmp_path: Path) -> None:
    """Saving a 4000x3000 RGB array as PNG adds a few MiB of scratch to the peak, where a
    PIL copy alone would add 4/3 of the array (48 MB)."""
    report = run_fresh(WRITE, str(tmp_path / "out.png"))
    assert report["grew"] < 0.4 * report["pixels"], report
    with Image.open(tmp_path / "out.png") as written:
        assert written.size == (4000, 3000) and written.mode == "RGB"


ICC = b"\x00\x00\x02\x30" + b"not a real profile, but bytes to carry" * 8


def _exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "upscaler test camera"  # Make
    return exif.tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_from_an_array_is_lossless_and_keeps_icc_and_exif(
    tmp_path: Path, channels: int, dtype: type
) -> None:
    """Every channel count and depth the pipeline hands back, read back by Pillow and by
    the project's own decoder, pixel for pixel, with the ICC profile and EXIF."""
    from upscaler.runtime.image_io import save_pixels

    top = np.iinfo(dtype).max
    pixels = np.random.default_rng(channels).integers(0, top + 1, (37, 23, channels), dtype)
    target = tmp_path / "out.png"
    save_pixels(pixels, target, {"icc_profile": ICC, "exif": _exif()})
    back = decode(target).pixels
    assert back.dtype == dtype
    assert np.array_equal(back, pixels)
    with Image.open(target) as image:
        assert image.info["icc_profile"] == ICC
        assert image.getexif()[0x010F] == "upscaler test camera"


@pytest.mark.parametrize("suffix", [".jpg", ".tif", ".webp", ".bmp"])
def test_other_formats_still_go_through_pillow(tmp_path: Path, suffix: str) -> None:
    from upscaler.runtime.image_io import save_pixels

    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:, 15:] = (200, 40, 90)
    target = tmp_path / f"out{suffix}"
    save_pixels(pixels, target, {"exif": _exif()})
    back = decode(target).pixels
    assert back.shape == (20, 30, 3)
    assert np.abs(back.astype(int) - pixels).mean() < 4  # JPEG and WebP are lossy


def _scanline_filters(data: bytes, stride: int) -> list[int]:
    """The filter byte of each scanline of a PNG (all IDAT chunks inflated)."""
    position, idat = 8, b""
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(idat)
    return [raw[i] for i in range(0, len(raw), stride + 1)]


def test_each_row_gets_the_filter_that_fits_it() -> None:
    """Rows built so that exactly one filter turns them to zeros: the writer picks that
    filter for each (the specification's heuristic) and the image decodes exactly."""
    from upscaler.runtime.png_write import write_png

    width, bpp = 40, 3
    rng = np.random.default_rng(1)
    rows = [np.zeros(width * bpp, np.int64)]  # None: all filters tie, the first wins
    rows.append(rng.integers(0, 256, width * bpp))
    rows.append((np.arange(width * bpp) * 7) % 256)  # Sub: a constant step
    rows.append(rows[-1].copy())  # Up: the row above again
    rows.append(rng.integers(0, 256, width * bpp))
    up = rows[-1]
    average = np.zeros(width * bpp, np.int64)
    for i in range(width * bpp):
        average[i] = ((average[i - bpp] if i >= bpp else 0) + up[i]) // 2
    rows.append(average)  # Average: the mean of left and up
    half = width * bpp // 2
    up = np.concatenate([rng.integers(0, 256, half), np.full(half, 10)])
    rows.append(up)
    # Paeth: the row above where that is noise, a flat run where the row above is flat
    # too (but another value): Up and Sub each fit one half, Paeth's predictor both.
    rows.append(np.concatenate([up[:half], np.full(half, 200)]))
    pixels = np.stack(rows).astype(np.uint8).reshape(len(rows), width, bpp)
    buffer = io.BytesIO()
    write_png(pixels, buffer)
    filters = _scanline_filters(buffer.getvalue(), width * bpp)
    assert [filters[i] for i in (0, 2, 3, 5, 7)] == [0, 1, 2, 3, 4], filters
    buffer.seek(0)
    assert np.array_equal(np.asarray(Image.open(buffer)), pixels)


def test_png_writer_refuses_what_png_cannot_hold() -> None:
    from upscaler.runtime.png_write import write_png

    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_png(np.zeros((2, 2, 3), np.float32), io.BytesIO())
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_png(np.zeros((2, 2, 5), np.uint8), io.BytesIO())


# ----------------------------------------------------------- the CLI's own files


def test_cli_keeps_16_bit_colour_icc_and_exif_in_png(
    cli: Any, tf_tiny: Tiny, tmp_path: Path
) -> None:
    """What the PIL path wrote (16-bit colour exactly; ICC and EXIF carried, orientation
    reset) the streamed PNG writes too."""
    import png

    deep = np.random.default_rng(8).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    src16 = tmp_path / "deep.png"
    with src16.open("wb") as handle:
        png.from_array(deep.reshape(5, 21), "RGB;16").write(handle)
    result: Result = cli("upscale", str(src16), "-o", str(tmp_path / "deep-x2.png"))
    assert result.code == 0, result.err
    assert np.array_equal(decode(tmp_path / "deep-x2.png").pixels, nearest_x2(deep))

    photo = np.random.default_rng(9).integers(0, 256, (6, 4, 3), dtype=np.uint8)
    src8 = tmp_path / "photo.png"
    Image.fromarray(photo).save(src8, icc_profile=ICC, exif=_exif(orientation=6))
    result = cli("upscale", str(src8), "-o", str(tmp_path / "photo-x2.png"))
    assert result.code == 0, result.err
    with Image.open(tmp_path / "photo-x2.png") as out:
        assert out.size == (12, 8)  # turned upright (orientation 6), then x2
        assert out.info["icc_profile"] == ICC
        exif = out.getexif()
        assert exif[0x0112] == 1 and exif[0x010F] == "upscaler test camera"
        upright = np.rot90(photo, k=-1)
        assert np.array_equal(np.asarray(out), nearest_x2(upright))
