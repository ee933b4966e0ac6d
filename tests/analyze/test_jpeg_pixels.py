"""A JPEG past read from pixels alone (a PNG that was a JPEG, an array)."""

from __future__ import annotations

import numpy as np
import pytest
from analyze_support import drawing, jpeg_round_trip, standard_photos, textured
from PIL import Image

from upscaler.analyze.jpeg_pixels import jpeg_history
from upscaler.analyze.pixels import to_255

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

KNOWN_ONCE_JPEG = {"woman": 75}
"""Set5's woman.png was a JPEG before it was a PNG: its blocks sit on the IJG lattice of
quality 74-75 (the two share every step read), tighter (misfit 0.07) than many images
this test saves as JPEG itself."""


def _history_of(pixels: np.ndarray) -> int | None:
    return jpeg_history(to_255(pixels)).quality


@pytest.mark.timeout(300)
def test_set5_every_fifth_quality_from_10_to_85() -> None:
    photos = standard_photos("Set5")
    misses = {}
    for name, pixels in photos.items():
        for quality in range(10, 90, 5):
            found = _history_of(jpeg_round_trip(pixels, quality))
            if found is None or abs(found - quality) > 5:
                misses[name, quality] = found
    assert not misses, misses


@pytest.mark.timeout(300)
def test_set14_at_the_protocol_qualities() -> None:
    photos = standard_photos("Set14")
    misses = {}
    for name, pixels in photos.items():
        for quality in (30, 50, 75):
            found = _history_of(jpeg_round_trip(pixels, quality))
            if found is None or abs(found - quality) > 5:
                misses[name, quality] = found
    assert not misses, misses


def test_never_compressed_photos_show_no_jpeg() -> None:
    photos = standard_photos("Set5", "Set14")
    found = {name: _history_of(pixels) for name, pixels in photos.items()}
    once = {name: q for name, q in found.items() if q is not None}
    assert once == KNOWN_ONCE_JPEG


@pytest.mark.parametrize("gradient", [False, True])
def test_drawings_show_no_jpeg_until_they_are_one(gradient: bool) -> None:
    """Flat fills and straight edges repeat identical blocks, which must not pass for a
    lattice; anti-aliased line art saved as JPEG is read like a photo."""
    for seed in range(3):
        art = drawing(seed, gradient=gradient)
        assert _history_of(art) is None
        assert _history_of(drawing(seed, antialias=False, gradient=gradient)) is None
        for quality in (30, 50, 75):
            assert abs((_history_of(jpeg_round_trip(art, quality)) or 0) - quality) <= 5


def test_hard_edged_drawings_give_no_wrong_quality() -> None:
    """Pure-black outlines and saturated fills clip the decoded JPEG almost everywhere
    there is an edge; what is left may be too little to read, but never reads wrong."""
    for seed in range(6):
        for gradient in (False, True):
            art = drawing(seed, antialias=False, gradient=gradient)
            for quality in (10, 30, 50, 75, 85):
                found = _history_of(jpeg_round_trip(art, quality))
                assert found is None or abs(found - quality) <= 5, (seed, gradient, quality, found)


def test_a_generated_image_gray_and_colour_420_and_444() -> None:
    pixels = textured(200, 232)
    gray = np.asarray(Image.fromarray(pixels).convert("L"))
    for quality in (20, 45, 70):
        assert abs((_history_of(jpeg_round_trip(pixels, quality, 2)) or 0) - quality) <= 5
        assert abs((_history_of(jpeg_round_trip(pixels, quality, 0)) or 0) - quality) <= 5
        assert abs((_history_of(jpeg_round_trip(gray, quality)) or 0) - quality) <= 5
    assert _history_of(pixels) is None
    assert _history_of(gray) is None


def test_a_cropped_jpeg_is_found_on_its_shifted_grid() -> None:
    decoded = jpeg_round_trip(textured(200, 232), 40)
    history = jpeg_history(to_255(decoded[3:, 5:]))
    assert history.quality is not None and abs(history.quality - 40) <= 5
    assert history.grid == (5, 3)  # block edges now fall after rows 4, 12, ... and cols 2, 10


def test_a_resized_jpeg_has_no_grid_left() -> None:
    decoded = jpeg_round_trip(textured(200, 232), 30)
    resized = np.asarray(Image.fromarray(decoded).resize((174, 150), Image.Resampling.BICUBIC))
    assert _history_of(resized) is None


def test_images_too_small_for_blocks_show_nothing() -> None:
    assert _history_of(jpeg_round_trip(textured(12, 40), 30)) is None
    assert _history_of(np.full((64, 64, 3), 128, np.uint8)) is None
