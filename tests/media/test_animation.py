"""Animated GIF, APNG and WebP through the tiny nearest-x2 model, read back with Pillow.

Every expected frame is ``nearest_x2`` of the frame a viewer sees in the source (its
composited canvas), so each test states that canvas by hand for the case it covers:
GIF disposal 2 and 3, frames at offsets, transparent indices, APNG OVER blending of
partial frames, WebP blending. Sources are tiny (32x24, a handful of frames).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from animation_files import (
    ApngFrameSpec,
    GifFrameSpec,
    apng_bytes,
    gif_bytes,
    gif_image_blocks,
    pillow_animation,
    read_back,
)
from PIL import Image
from tiny_models import nearest_x2

from upscaler.errors import Cancelled, ImageError, MediaError
from upscaler.media.animation import probe_animation, upscale_animation
from upscaler.media.frames import FrameUpscaler

pytestmark = pytest.mark.timeout(300)

W, H = 32, 24
PALETTE = [(0, 0, 0), (255, 255, 255), (200, 30, 40), (20, 160, 60), (30, 60, 220), (250, 200, 20)]
WHITE, RED, GREEN, BLUE = 1, 2, 3, 4


def rgba(indices: np.ndarray, transparent: int | None = None) -> np.ndarray:
    """What a viewer shows for palette indices (alpha 0 at the transparent index)."""
    table = np.array([(*c, 255) for c in PALETTE] + [(0, 0, 0, 255)] * 250, dtype=np.uint8)
    if transparent is not None:
        table[transparent, 3] = 0
    return table[indices]


def filled(index: int, h: int = H, w: int = W) -> np.ndarray:
    return np.full((h, w), index, dtype=np.uint8)


def random_indices(seed: int, h: int = H, w: int = W, colours: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, colours, (h, w)).astype(np.uint8)


def assert_shows(got: np.ndarray, want: np.ndarray) -> None:
    """Same alpha everywhere, same colour wherever a pixel is visible (the colour under
    a fully transparent pixel is not kept by design)."""
    assert got.shape == want.shape
    np.testing.assert_array_equal(got[..., 3], want[..., 3])
    visible = want[..., 3] > 0
    np.testing.assert_array_equal(got[visible][:, :3], want[visible][:, :3])


def assert_frames(path: Path, canvases: list[np.ndarray]) -> None:
    back = read_back(path)
    assert len(back.frames) == len(canvases)
    for got, canvas in zip(back.frames, canvases, strict=True):
        assert_shows(got, nearest_x2(canvas))


class Counting:
    """The real frame upscaler, counting its calls; raises ``fail_on`` at that call."""

    def __init__(self, inner: FrameUpscaler, fail_on: int | None = None) -> None:
        self.inner = inner
        self.calls = 0
        self.fail_on = fail_on
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, frame: np.ndarray) -> Any:
        self.calls += 1
        self.shapes.append(frame.shape)
        if self.calls == self.fail_on:
            raise Cancelled("cancelled by the test")
        return self.inner(frame)


@pytest.fixture
def counting(frame_upscaler: FrameUpscaler) -> Callable[..., Counting]:
    return lambda fail_on=None: Counting(frame_upscaler, fail_on)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- GIF -----------------------------------------------------------------------------------------


def test_gif_every_frame_timing_and_loop(tmp_path: Path, counting: Any) -> None:
    frames = [random_indices(seed) for seed in range(5)]
    delays = [5, 10, 20, 7, 3]
    src = write(
        tmp_path / "in.gif",
        gif_bytes(
            W,
            H,
            PALETTE,
            [GifFrameSpec(f, delay_cs=d) for f, d in zip(frames, delays, strict=True)],
        ),
    )
    info = probe_animation(src)
    assert info is not None
    assert (info.format, info.width, info.height, info.frame_count) == ("gif", W, H, 5)
    assert info.durations_ms == (50, 100, 200, 70, 30) and info.duration_ms == 450
    assert info.plays == 0 and info.loops_forever
    up = counting()
    out = upscale_animation(src, tmp_path / "out.gif", up)
    assert up.calls == 5 and all(shape == (H, W, 3) for shape in up.shapes)  # opaque: RGB
    assert (out.width, out.height, out.frame_count, out.plays) == (2 * W, 2 * H, 5, 0)
    assert out.palette_error == 0.0 and out.lossless and not out.has_transparency
    back = read_back(tmp_path / "out.gif")
    assert back.durations == [50, 100, 200, 70, 30] and back.loop == 0
    assert_frames(tmp_path / "out.gif", [rgba(f) for f in frames])


def test_gif_disposal_2_clears_to_transparent(tmp_path: Path, frame_upscaler: Any) -> None:
    """Frame 2's red box is cleared after it is shown: frame 3 shows a hole there."""
    src = write(
        tmp_path / "in.gif",
        gif_bytes(
            W,
            H,
            PALETTE,
            [
                GifFrameSpec(filled(WHITE)),
                GifFrameSpec(filled(RED, 6, 8), left=4, top=3, disposal=2),
                GifFrameSpec(filled(GREEN, 4, 4), left=20, top=10),
            ],
        ),
    )
    first = rgba(filled(WHITE))
    second = first.copy()
    second[3:9, 4:12] = rgba(filled(RED, 6, 8))
    third = first.copy()
    third[3:9, 4:12] = 0
    third[10:14, 20:24] = rgba(filled(GREEN, 4, 4))
    out = upscale_animation(src, tmp_path / "out.gif", frame_upscaler)
    assert out.has_transparency
    assert_frames(tmp_path / "out.gif", [first, second, third])


def test_gif_disposal_3_restores_the_previous_canvas(tmp_path: Path, frame_upscaler: Any) -> None:
    src = write(
        tmp_path / "in.gif",
        gif_bytes(
            W,
            H,
            PALETTE,
            [
                GifFrameSpec(random_indices(1)),
                GifFrameSpec(filled(RED, 6, 8), left=4, top=3, disposal=3),
                GifFrameSpec(filled(GREEN, 4, 4), left=20, top=10),
            ],
        ),
    )
    first = rgba(random_indices(1))
    second = first.copy()
    second[3:9, 4:12] = rgba(filled(RED, 6, 8))
    third = first.copy()
    third[10:14, 20:24] = rgba(filled(GREEN, 4, 4))
    out = upscale_animation(src, tmp_path / "out.gif", frame_upscaler)
    assert not out.has_transparency
    assert_frames(tmp_path / "out.gif", [first, second, third])


def test_gif_frame_smaller_than_the_canvas_with_a_transparent_index(
    tmp_path: Path, frame_upscaler: Any
) -> None:
    """A 10x8 frame at (15, 9) whose index 0 is transparent: the frame under shows."""
    patch = random_indices(7, 8, 10)  # indices 0-5; 0 is see-through
    src = write(
        tmp_path / "in.gif",
        gif_bytes(
            W,
            H,
            PALETTE,
            [
                GifFrameSpec(random_indices(3)),
                GifFrameSpec(patch, left=15, top=9, transparent=0),
            ],
        ),
    )
    first = rgba(random_indices(3))
    second = first.copy()
    shown = patch != 0
    second[9:17, 15:25][shown] = rgba(patch)[shown]
    upscale_animation(src, tmp_path / "out.gif", frame_upscaler)
    assert_frames(tmp_path / "out.gif", [first, second])


def test_gif_transparent_areas_do_not_show_the_previous_frame(
    tmp_path: Path, frame_upscaler: Any
) -> None:
    """Frame 1 is opaque everywhere; frame 2 is transparent on its left half. Drawing
    frame 2 over frame 1 would leave frame 1 showing there: the writer must clear it."""
    left_clear = random_indices(5, colours=5) + 1  # 1-5, opaque
    left_clear[:, : W // 2] = 0
    src = write(
        tmp_path / "in.gif",
        gif_bytes(
            W,
            H,
            PALETTE,
            [
                GifFrameSpec(filled(WHITE), disposal=2),
                GifFrameSpec(left_clear, transparent=0, disposal=2),
                GifFrameSpec(filled(BLUE)),
            ],
        ),
    )
    canvases = [rgba(filled(WHITE)), rgba(left_clear, transparent=0), rgba(filled(BLUE))]
    upscale_animation(src, tmp_path / "out.gif", frame_upscaler)
    back = read_back(tmp_path / "out.gif")
    assert (back.frames[1][:, :W][..., 3] == 0).all()  # fully transparent half: still so
    assert (back.frames[1][:, W:][..., 3] == 255).all()  # the opaque half: still opaque
    assert_frames(tmp_path / "out.gif", canvases)


@pytest.mark.parametrize(("loop", "plays"), [(None, 1), (0, 0), (3, 4)])
def test_gif_play_once_repeat_or_forever(
    tmp_path: Path, frame_upscaler: Any, loop: int | None, plays: int
) -> None:
    """No NETSCAPE block plays once; loop 0 forever; loop N repeats N times (N+1 plays)."""
    frames = [GifFrameSpec(random_indices(s)) for s in range(2)]
    src = write(tmp_path / "in.gif", gif_bytes(W, H, PALETTE, frames, loop=loop))
    probed = probe_animation(src)
    assert probed is not None and probed.plays == plays
    out = upscale_animation(src, tmp_path / "out.gif", frame_upscaler)
    assert out.plays == plays
    assert read_back(tmp_path / "out.gif").loop == loop  # Pillow reads the block as stored
    assert (b"NETSCAPE2.0" in (tmp_path / "out.gif").read_bytes()) == (loop is not None)


def gradient_frames(count: int) -> list[np.ndarray]:
    """Opaque RGB frames with far more than 256 colours; the top half moves from frame
    to frame, the bottom half stands still."""
    y, x = np.mgrid[0:H, 0:W]
    frames = []
    for t in range(count):
        moving = np.where(y < H // 2, t, 0)
        frame = np.dstack(
            [(x * 8 + 3 * moving) % 256, (y * 10 + 5 * moving) % 256, (x * y + 7 * moving) % 256]
        )
        frames.append(frame.astype(np.uint8))
    return frames


def test_gif_of_many_colours_uses_one_palette(tmp_path: Path, frame_upscaler: Any) -> None:
    frames = gradient_frames(4)
    assert len(np.unique(np.concatenate(frames).reshape(-1, 3), axis=0)) > 256
    src = pillow_animation(tmp_path / "in.png", frames, [100] * 4)  # an APNG source
    out = upscale_animation(src, tmp_path / "out.gif", frame_upscaler)
    data = (tmp_path / "out.gif").read_bytes()
    blocks = gif_image_blocks(data)
    assert len(blocks) == 4
    assert all(flags & 0x80 == 0 for *_, flags in blocks)  # no frame has its own palette
    # No worse than Pillow's own median cut over a mosaic of all the upscaled frames.
    mosaic = Image.fromarray(np.concatenate([nearest_x2(f) for f in frames]))
    quantized = mosaic.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pillows = np.abs(np.asarray(quantized.convert("RGB")).astype(int) - np.asarray(mosaic)).mean()
    assert out.palette_error is not None and 0.0 < out.palette_error <= pillows
    assert not out.lossless
    back = read_back(tmp_path / "out.gif")
    upscaled = [nearest_x2(f).astype(np.int16) for f in frames]
    written = [b[..., :3].astype(np.int16) for b in back.frames]
    error = np.mean([np.abs(w - u).mean() for w, u in zip(written, upscaled, strict=True)])
    assert error == pytest.approx(out.palette_error, abs=1e-9)
    # One palette, no dithering: a colour has one index, so the same upscaled colour in
    # two frames is written as the same colour (nothing flickers).
    same = (upscaled[0] == upscaled[1]).all(axis=2)
    assert same[H:].all() and not same[:H].all()
    np.testing.assert_array_equal(written[0][same], written[1][same])


def test_truncated_gif_is_refused_before_any_upscaling(tmp_path: Path, counting: Any) -> None:
    frames = [GifFrameSpec(random_indices(s)) for s in range(4)]
    data = gif_bytes(W, H, PALETTE, frames)
    src = write(tmp_path / "in.gif", data[: len(data) * 2 // 3])
    up = counting()
    with pytest.raises(MediaError, match="truncated"):
        upscale_animation(src, tmp_path / "out.gif", up)
    with pytest.raises(MediaError, match="truncated"):
        probe_animation(src)
    assert up.calls == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gif"]


def test_a_gif_without_its_trailer_is_read_as_its_complete_frames(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As browsers do; a still GIF cut so stays a still for the still path."""
    frames = [GifFrameSpec(random_indices(s)) for s in range(3)]
    src = write(tmp_path / "in.gif", gif_bytes(W, H, PALETTE, frames)[:-1])
    with caplog.at_level("WARNING", logger="upscaler.media.gif"):
        info = probe_animation(src)
    assert info is not None and info.frame_count == 3
    assert "has no trailer after its 3 frames" in caplog.text
    still = write(tmp_path / "still.gif", gif_bytes(W, H, PALETTE, frames[:1])[:-1] + b"\x00")
    assert probe_animation(still) is None


def test_damaged_image_data_in_the_last_frame_fails_before_any_upscaling(
    tmp_path: Path, counting: Any
) -> None:
    """The block structure is intact, the LZW codes of frame 3 are not: every frame is
    decoded once before the first model run, so this fails at once."""
    frames = [GifFrameSpec(random_indices(s)) for s in range(3)]
    data = bytearray(gif_bytes(W, H, PALETTE, frames))
    last = data.rfind(b",\x00\x00\x00\x00") + 11  # the last frame's first data block
    data[last + 1 : last + 1 + data[last]] = b"\xff" * data[last]
    src = write(tmp_path / "in.gif", bytes(data))
    up = counting()
    with pytest.raises(MediaError, match="cannot decode frame 3 of"):
        upscale_animation(src, tmp_path / "out.webp", up)
    assert up.calls == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["in.gif"]


def test_a_gif_frame_larger_than_the_pixel_limit_is_refused(tmp_path: Path) -> None:
    """A 32x24 canvas whose second frame declares 60000x60000 pixels (a few bytes of
    header): refused before anything is decoded."""
    data = gif_bytes(W, H, PALETTE, [GifFrameSpec(filled(WHITE))] * 2)
    second = data.rfind(b",\x00\x00\x00\x00")
    huge = data[: second + 5] + struct.pack("<HH", 60000, 60000) + data[second + 9 :]
    src = write(tmp_path / "in.gif", huge)
    with pytest.raises(MediaError, match=r"frame 2 of .* is 60000x60000 = 3,600,000,000 pixels"):
        probe_animation(src)


def test_an_empty_gif_frame_is_shown_and_draws_nothing(tmp_path: Path, frame_upscaler: Any) -> None:
    frames = [
        GifFrameSpec(random_indices(1), delay_cs=10),
        GifFrameSpec(np.zeros((0, 0), np.uint8), left=3, top=3, delay_cs=30),
        GifFrameSpec(filled(RED, 2, 2), delay_cs=10),
    ]
    src = write(tmp_path / "in.gif", gif_bytes(W, H, PALETTE, frames))
    out = upscale_animation(src, tmp_path / "out.png", frame_upscaler)
    assert out.durations_ms == (100, 300, 100)
    third = rgba(random_indices(1))
    third[:2, :2] = rgba(filled(RED, 2, 2))
    assert_frames(tmp_path / "out.png", [rgba(random_indices(1)), rgba(random_indices(1)), third])


def test_a_gif_written_by_pillow(tmp_path: Path, frame_upscaler: Any) -> None:
    """Pillow's writer interlaces, crops frames to what changed and picks disposal
    itself; the output is every frame as Pillow shows the source, upscaled."""
    frames = [rgba(random_indices(seed, 40, 48))[..., :3] for seed in range(4)]
    frames[2][10:30, 10:30] = frames[1][10:30, 10:30]  # part of a frame unchanged
    src = pillow_animation(tmp_path / "in.gif", frames, [70, 80, 90, 100], loop=0)
    source = read_back(src)
    out = upscale_animation(src, tmp_path / "out.gif", frame_upscaler)
    assert out.durations_ms == (70, 80, 90, 100) and out.palette_error == 0.0
    assert_frames(tmp_path / "out.gif", source.frames)


# -- APNG ----------------------------------------------------------------------------------------


def rgba_frame(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """Random colours; alpha 0, 128 and 255 in equal parts."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (h, w, 4)).astype(np.uint8)
    pixels[..., 3] = rng.choice(np.array([0, 128, 255], np.uint8), (h, w))
    return pixels


def test_apng_every_frame_exact_with_exact_delays(tmp_path: Path, frame_upscaler: Any) -> None:
    frames = [rgba_frame(seed) for seed in range(4)]
    delays = [(1, 30), (1, 10), (33, 1000), (2, 25)]
    src = write(
        tmp_path / "in.png",
        apng_bytes(
            W, H, [ApngFrameSpec(f, delay=d) for f, d in zip(frames, delays, strict=True)], plays=2
        ),
    )
    info = probe_animation(src)
    assert info is not None and info.format == "apng"
    assert (info.frame_count, info.plays, info.has_transparency) == (4, 2, True)
    assert info.durations_ms == (33, 100, 33, 80)
    out = upscale_animation(src, tmp_path / "out.png", frame_upscaler)
    assert (out.format, out.plays, out.has_transparency, out.lossless) == ("apng", 2, True, True)
    back = read_back(tmp_path / "out.png")
    assert back.loop == 2
    assert back.durations == pytest.approx([1000 / 30, 100, 33, 80])  # 1/30 s stays 1/30 s
    assert_frames(tmp_path / "out.png", frames)


def test_apng_blend_over_with_partial_frames_and_disposal(
    tmp_path: Path, frame_upscaler: Any
) -> None:
    blue = np.zeros((H, W, 4), np.uint8)
    blue[...] = (0, 0, 255, 255)
    half_red = np.zeros((8, 10, 4), np.uint8)
    half_red[...] = (255, 0, 0, 128)
    green_left = np.zeros((6, 6, 4), np.uint8)
    green_left[:, :3] = (0, 255, 0, 255)  # right half alpha 0: OVER leaves what is under
    faint_white = np.zeros((4, 4, 4), np.uint8)
    faint_white[...] = (255, 255, 255, 64)
    src = write(
        tmp_path / "in.png",
        apng_bytes(
            W,
            H,
            [
                ApngFrameSpec(blue),
                ApngFrameSpec(half_red, left=5, top=4, blend=1),
                ApngFrameSpec(green_left, left=20, top=10, blend=1, dispose=1),
                ApngFrameSpec(faint_white, left=0, top=0, blend=1),
                ApngFrameSpec(half_red[:4, :4], left=20, top=10, blend=1),
            ],
        ),
    )
    c0 = blue.copy()
    c1 = c0.copy()
    c1[4:12, 5:15] = (128, 0, 127, 255)  # red at 128/255 over opaque blue
    c2 = c1.copy()
    c2[10:16, 20:23] = (0, 255, 0, 255)
    c3 = c1.copy()
    c3[10:16, 20:26] = 0  # frame 3's region disposed to transparent black
    c3[0:4, 0:4] = (64, 64, 255, 255)  # white at 64/255 over blue
    c4 = c3.copy()
    c4[10:14, 20:24] = (255, 0, 0, 128)  # OVER a transparent pixel: the source itself
    out = upscale_animation(src, tmp_path / "out.png", frame_upscaler)
    assert out.has_transparency
    assert_frames(tmp_path / "out.png", [c0, c1, c2, c3, c4])


def test_apng_dispose_previous(tmp_path: Path, frame_upscaler: Any) -> None:
    base = rgba_frame(9)
    base[..., 3] = 255
    box = np.zeros((5, 7, 4), np.uint8)
    box[...] = (10, 200, 30, 255)
    src = write(
        tmp_path / "in.apng",
        apng_bytes(
            W,
            H,
            [
                ApngFrameSpec(base),
                ApngFrameSpec(box, left=3, top=2, dispose=2),
                ApngFrameSpec(box[:2, :2], left=30, top=22),
            ],
        ),
    )
    c1 = base.copy()
    c1[2:7, 3:10] = box
    c2 = base.copy()
    c2[22:24, 30:32] = box[:2, :2]
    out = upscale_animation(src, tmp_path / "out.apng", frame_upscaler)
    assert out.format == "apng" and not out.has_transparency
    assert_frames(tmp_path / "out.apng", [base, c1, c2])


def test_apng_pixels_that_turn_transparent_stay_transparent(
    tmp_path: Path, frame_upscaler: Any
) -> None:
    opaque = rgba_frame(2)
    opaque[..., 3] = 255
    hole = opaque.copy()
    hole[5:15, 5:20, 3] = 0
    src = write(tmp_path / "in.png", apng_bytes(W, H, [ApngFrameSpec(opaque), ApngFrameSpec(hole)]))
    upscale_animation(src, tmp_path / "out.png", frame_upscaler)
    back = read_back(tmp_path / "out.png")
    assert (back.frames[1][10:30, 10:40, 3] == 0).all()
    assert (back.frames[1][30:, :, 3] == 255).all()
    assert_frames(tmp_path / "out.png", [opaque, hole])


def test_an_apng_default_image_outside_the_animation_is_not_shown(
    tmp_path: Path, frame_upscaler: Any
) -> None:
    frames = [rgba_frame(seed) for seed in (4, 5)]
    hidden = np.full((H, W, 4), 255, np.uint8)
    src = write(
        tmp_path / "in.png",
        apng_bytes(W, H, [ApngFrameSpec(f) for f in frames], hidden_default=hidden),
    )
    info = probe_animation(src)
    assert info is not None and info.frame_count == 2
    upscale_animation(src, tmp_path / "out.webp", frame_upscaler)
    assert_frames(tmp_path / "out.webp", frames)


# -- WebP ----------------------------------------------------------------------------------------


def test_webp_every_frame_timing_and_loop(tmp_path: Path, frame_upscaler: Any) -> None:
    frames = [rgba(random_indices(seed))[..., :3] for seed in range(5)]
    src = pillow_animation(
        tmp_path / "in.webp", frames, [40, 80, 120, 60, 100], loop=2, lossless=True
    )
    info = probe_animation(src)
    assert info is not None and info.format == "webp" and info.lossless
    assert info.durations_ms == (40, 80, 120, 60, 100) and info.plays == 2
    out = upscale_animation(src, tmp_path / "out.webp", frame_upscaler)
    assert out.lossless and not out.has_transparency
    back = read_back(tmp_path / "out.webp")
    assert back.durations == [40, 80, 120, 60, 100] and back.loop == 2
    assert_frames(
        tmp_path / "out.webp", [np.dstack([f, np.full((H, W), 255, np.uint8)]) for f in frames]
    )


def test_webp_transparency_and_blending(tmp_path: Path, frame_upscaler: Any) -> None:
    """libwebp's encoder blends and disposes as it likes; the canvases it decodes to are
    the frames given to it, which the output must reproduce, holes included."""
    frames = [rgba_frame(seed) for seed in range(4)]
    frames[2][..., 3] = 255
    frames[3][:12, :, 3] = 0  # transparent where frame 2 was opaque
    src = pillow_animation(tmp_path / "in.webp", frames, [50] * 4, lossless=True, exact=True)
    out = upscale_animation(src, tmp_path / "out.webp", frame_upscaler)
    assert out.has_transparency
    assert_frames(tmp_path / "out.webp", frames)


def test_webp_quality_writes_lossy_frames(tmp_path: Path, frame_upscaler: Any) -> None:
    frames = gradient_frames(3)
    src = pillow_animation(tmp_path / "in.webp", frames, [100] * 3, lossless=True)
    out = upscale_animation(src, tmp_path / "out.webp", frame_upscaler, quality=70)
    assert not out.lossless
    data = (tmp_path / "out.webp").read_bytes()
    assert b"VP8 " in data and b"VP8L" not in data
    back = read_back(tmp_path / "out.webp")
    for got, frame in zip(back.frames, frames, strict=True):
        assert np.abs(got[..., :3].astype(int) - nearest_x2(frame)).mean() < 12


def test_lossy_webp_source_stays_lossy(tmp_path: Path, frame_upscaler: Any) -> None:
    src = pillow_animation(tmp_path / "in.webp", gradient_frames(2), [100] * 2, quality=90)
    info = probe_animation(src)
    assert info is not None and not info.lossless
    out = upscale_animation(src, tmp_path / "out.webp", frame_upscaler)
    assert not out.lossless and b"VP8L" not in (tmp_path / "out.webp").read_bytes()


# -- across formats ------------------------------------------------------------------------------


def make_source(kind: str, folder: Path, frames: list[np.ndarray], plays: int) -> Path:
    """The same opaque frames as a GIF, APNG or WebP source, shown ``plays`` times."""
    if kind == "gif":
        loop = None if plays == 1 else (0 if plays == 0 else plays - 1)
        specs = [GifFrameSpec(f, delay_cs=10 * (n + 1)) for n, f in enumerate(frames)]
        return write(folder / "in.gif", gif_bytes(W, H, PALETTE, specs, loop=loop))
    canvases = [rgba(f) for f in frames]
    delays = [100 * (n + 1) for n in range(len(frames))]
    if kind == "png":
        specs_png = [
            ApngFrameSpec(c, delay=(d, 1000)) for c, d in zip(canvases, delays, strict=True)
        ]
        return write(folder / "in.png", apng_bytes(W, H, specs_png, plays=plays))
    return pillow_animation(
        folder / "in.webp", [c[..., :3] for c in canvases], delays, loop=plays, lossless=True
    )


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("gif", "webp"),
        ("gif", "png"),
        ("png", "gif"),
        ("webp", "gif"),
        ("png", "webp"),
        ("webp", "apng"),
    ],
)
def test_across_formats(tmp_path: Path, frame_upscaler: Any, source: str, target: str) -> None:
    frames = [random_indices(seed) for seed in range(3)]
    src = make_source(source, tmp_path, frames, plays=3)
    dst = tmp_path / f"out.{target}"
    out = upscale_animation(src, dst, frame_upscaler)
    assert out.format == {"png": "apng"}.get(target, target)
    assert out.frame_count == 3 and out.plays == 3
    assert out.durations_ms == (100, 200, 300)
    back = read_back(dst)
    assert back.durations == [100, 200, 300]
    assert back.loop == (2 if target == "gif" else 3)  # GIF stores repeats, not plays
    assert_frames(dst, [rgba(f) for f in frames])


@pytest.mark.parametrize("target", ["png", "webp"])
def test_a_gif_played_once_is_played_once(tmp_path: Path, frame_upscaler: Any, target: str) -> None:
    src = make_source("gif", tmp_path, [random_indices(s) for s in range(2)], plays=1)
    out = upscale_animation(src, tmp_path / f"out.{target}", frame_upscaler)
    assert out.plays == 1 and read_back(tmp_path / f"out.{target}").loop == 1


# -- what is refused -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".tif", ".mp4", ""])
def test_an_output_that_cannot_animate_is_refused(
    tmp_path: Path, counting: Any, suffix: str
) -> None:
    src = make_source("gif", tmp_path, [random_indices(s) for s in range(2)], plays=0)
    up = counting()
    with pytest.raises(MediaError, match=r"\.gif, \.png \(or \.apng\) and \.webp"):
        upscale_animation(src, tmp_path / f"out{suffix}", up)
    assert up.calls == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gif"]


def test_the_input_is_never_overwritten(tmp_path: Path, counting: Any) -> None:
    src = make_source("webp", tmp_path, [random_indices(s) for s in range(2)], plays=0)
    before = src.read_bytes()
    (tmp_path / "link.webp").hardlink_to(src)
    up = counting()
    for dst in (src, tmp_path / "." / "in.webp", tmp_path / "link.webp"):
        with pytest.raises(ImageError, match="is the input"):
            upscale_animation(src, dst, up)
    assert up.calls == 0 and src.read_bytes() == before


def test_a_frame_bomb_is_refused_from_its_headers(tmp_path: Path, counting: Any) -> None:
    """7,000 one-pixel frames on a 400x400 canvas: a 200 kB file that would be 1.1
    billion pixels of frames to upscale (above the default 1e9)."""
    dot = GifFrameSpec(np.zeros((1, 1), np.uint8), delay_cs=2)
    data = gif_bytes(400, 400, PALETTE, [GifFrameSpec(filled(WHITE, 400, 400))] + [dot] * 6999)
    src = write(tmp_path / "bomb.gif", data)
    assert src.stat().st_size < 2_000_000
    up = counting()
    with pytest.raises(MediaError, match="UPSCALER_MAX_ANIMATION_PIXELS"):
        probe_animation(src)
    with pytest.raises(MediaError, match="7,000 frames of 400x400"):
        upscale_animation(src, tmp_path / "out.gif", up)
    assert up.calls == 0 and not (tmp_path / "out.gif").exists()


def test_the_animation_budget_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_source("gif", tmp_path, [random_indices(s) for s in range(3)], plays=0)
    monkeypatch.setenv("UPSCALER_MAX_ANIMATION_PIXELS", str(3 * W * H - 1))
    with pytest.raises(MediaError, match="above the limit of 2,303"):
        probe_animation(src)
    assert probe_animation(src, max_animation_pixels=3 * W * H) is not None
    monkeypatch.setenv("UPSCALER_MAX_ANIMATION_PIXELS", str(3 * W * H))
    assert probe_animation(src) is not None


def test_a_frame_above_the_pixel_limit_is_refused(tmp_path: Path, counting: Any) -> None:
    src = make_source("png", tmp_path, [random_indices(s) for s in range(2)], plays=0)
    up = counting()
    with pytest.raises(MediaError, match="UPSCALER_MAX_PIXELS"):
        upscale_animation(src, tmp_path / "out.png", up, max_pixels=W * H - 1)
    assert up.calls == 0


@pytest.mark.parametrize("target", ["gif", "png", "webp"])
def test_cancelled_midway_leaves_nothing(tmp_path: Path, counting: Any, target: str) -> None:
    src = make_source("gif", tmp_path, [random_indices(s) for s in range(5)], plays=0)
    up = counting(fail_on=3)
    with pytest.raises(Cancelled):
        upscale_animation(src, tmp_path / f"out.{target}", up)
    assert up.calls == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gif"]  # no output, temp, spill
    # An existing output is left as it was.
    (tmp_path / f"out.{target}").write_bytes(b"older result")
    with pytest.raises(Cancelled):
        upscale_animation(src, tmp_path / f"out.{target}", counting(fail_on=2))
    assert (tmp_path / f"out.{target}").read_bytes() == b"older result"
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("kind", ["gif", "png", "webp"])
def test_single_frame_files_are_stills(tmp_path: Path, frame_upscaler: Any, kind: str) -> None:
    src = make_source(kind, tmp_path, [random_indices(0)], plays=0)
    assert probe_animation(src) is None
    with pytest.raises(MediaError, match="not an animated GIF, APNG or WebP"):
        upscale_animation(src, tmp_path / f"out.{kind}", frame_upscaler)


@pytest.mark.parametrize(
    "content",
    [b"\x00\x00\x00\x18ftypisom" + bytes(200), b"plain text, no image", b""],
)
def test_other_files_are_not_animations(tmp_path: Path, content: bytes) -> None:
    assert probe_animation(write(tmp_path / "in.gif", content)) is None


def test_a_still_png_is_known_from_its_chunk_headers(tmp_path: Path) -> None:
    """The probe stops at the first IDAT chunk: whatever follows is never read (here it
    is cut off in the middle, which would fail any full read)."""
    still = tmp_path / "still.png"
    Image.fromarray(rgba(random_indices(1))).save(still)
    data = still.read_bytes()
    write(still, data[: len(data) - 30])
    assert probe_animation(still) is None


def test_progress_counts_frames(tmp_path: Path, frame_upscaler: Any) -> None:
    src = make_source("png", tmp_path, [random_indices(s) for s in range(3)], plays=0)
    calls: list[tuple[int, int]] = []
    upscale_animation(
        src, tmp_path / "out.webp", frame_upscaler, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_a_frame_upscaler_breaking_its_contract_is_an_error(tmp_path: Path) -> None:
    src = make_source("png", tmp_path, [random_indices(s) for s in range(2)], plays=0)
    with pytest.raises(MediaError, match="expected HxWx3 uint8"):
        upscale_animation(src, tmp_path / "out.png", lambda f: nearest_x2(f).astype(np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
