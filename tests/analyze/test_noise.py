"""Noise sigma estimated from pixels, on real photos with Gaussian noise added."""

from __future__ import annotations

import numpy as np
import pytest
from analyze_support import drawing, standard_photos, with_noise

from upscaler.analyze.noise import estimate_noise_sigma
from upscaler.analyze.pixels import to_255
from upscaler.analyze.report import NOISE_S15_MIN

SIGMAS = (5, 10, 15, 25, 50)
GRAINY = {"baboon"}
"""Set14's mandrill is a grainy scan: clean, it reads about 7 (its own grain), so noise
added to it adds to that grain (in quadrature) rather than starting from zero."""


def _sigma(pixels: np.ndarray) -> float:
    return estimate_noise_sigma(to_255(pixels))


def _tolerance(sigma: float) -> float:
    """The brief's bound: within 30%, or within 3 for small sigma."""
    return max(0.3 * sigma, 3.0)


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0, 25.0])
def test_pure_noise_reads_its_sigma_within_5_percent(sigma: float) -> None:
    field = with_noise(np.full((512, 512, 3), 128, np.uint8), sigma, seed=int(sigma))
    assert _sigma(field) == pytest.approx(sigma, rel=0.05)


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_added_noise_is_read_within_30_percent_on_set5_and_set14() -> None:
    photos = standard_photos("Set5", "Set14")
    misses = {}
    for name, pixels in photos.items():
        own = _sigma(pixels)
        for sigma in SIGMAS:
            found = _sigma(with_noise(pixels, sigma, seed=sigma))
            expected = float(np.hypot(sigma, own)) if name in GRAINY else sigma
            if abs(found - expected) > _tolerance(expected):
                misses[name, sigma] = round(found, 2)
    assert not misses, misses


def test_clean_photos_read_as_clean() -> None:
    photos = standard_photos("Set5", "Set14")
    readings = {name: round(_sigma(pixels), 2) for name, pixels in photos.items()}
    assert max(readings.values()) < NOISE_S15_MIN, readings
    quiet = {name: s for name, s in readings.items() if name not in GRAINY}
    assert max(quiet.values()) < 5.0, quiet


def test_drawings_read_as_clean_and_their_noise_exactly() -> None:
    art = drawing(seed=1)
    assert _sigma(art) < 0.5
    for sigma in SIGMAS:
        assert _sigma(with_noise(art, sigma, seed=sigma)) == pytest.approx(sigma, rel=0.1)


def test_gray_16_bit_and_float_images_are_on_the_0_255_scale() -> None:
    gray = with_noise(np.full((256, 256), 100, np.uint8), 12.0)
    assert _sigma(gray) == pytest.approx(12.0, rel=0.05)
    deep = gray.astype(np.uint16) * 257
    assert _sigma(deep[:, :, np.newaxis]) == pytest.approx(12.0, rel=0.05)
    floats = (gray / 255.0).astype(np.float32)
    assert _sigma(floats[:, :, np.newaxis]) == pytest.approx(12.0, rel=0.05)


def test_tiny_images_fall_back_to_the_whole_image() -> None:
    small = with_noise(np.full((30, 30, 3), 128, np.uint8), 10.0)
    assert _sigma(small) == pytest.approx(10.0, rel=0.15)
    assert _sigma(np.zeros((2, 2, 3), np.uint8)) == 0.0


def test_clipped_regions_do_not_hide_noise() -> None:
    """Half the frame blown out to white: the noise is read from the other half."""
    frame = np.full((256, 256, 3), 128, np.uint8)
    frame[:, 128:] = 255
    assert _sigma(with_noise(frame, 15.0)) == pytest.approx(15.0, rel=0.1)
