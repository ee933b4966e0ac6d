"""Y conversion constants (MATLAB rgb2ycbcr), PSNR and SSIM (Wang et al. 2004)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from upscaler.evaluate.color import Y_OFFSET, Y_WEIGHTS, gray_level, rgb_to_y
from upscaler.evaluate.metrics import gaussian_window, psnr, shave, ssim


def _pixel(r: int, g: int, b: int) -> np.ndarray:
    return np.array([[[r, g, b]]], dtype=np.uint8)


def test_y_constants_are_matlabs_rgb2ycbcr() -> None:
    assert Y_OFFSET == 16.0
    assert Y_WEIGHTS == (65.481, 128.553, 24.966)
    assert sum(Y_WEIGHTS) == pytest.approx(219.0)  # studio swing: 16..235


@pytest.mark.parametrize(
    ("rgb", "y"),
    [
        ((0, 0, 0), 16.0),
        ((255, 255, 255), 235.0),
        ((255, 0, 0), 16.0 + 65.481),
        ((0, 255, 0), 16.0 + 128.553),
        ((0, 0, 255), 16.0 + 24.966),
        ((128, 64, 32), 16.0 + (65.481 * 128 + 128.553 * 64 + 24.966 * 32) / 255),
    ],
)
def test_y_of_known_colours(rgb: tuple[int, int, int], y: float) -> None:
    out = rgb_to_y(_pixel(*rgb))
    assert out.dtype == np.float64
    assert out[0, 0] == pytest.approx(y, abs=1e-12)


def test_y_of_a_gray_array_is_the_formula_on_r_equal_g_equal_b() -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    np.testing.assert_allclose(rgb_to_y(gray), rgb_to_y(rgb), atol=1e-12)
    np.testing.assert_allclose(rgb_to_y(gray), 16 + 219 * gray.astype(float) / 255, atol=1e-12)


def test_gray_level_is_exact_on_gray_and_bt601_on_colour() -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    np.testing.assert_array_equal(gray_level(rgb), gray.astype(np.float64))
    assert gray_level(_pixel(255, 0, 0))[0, 0] == pytest.approx(0.299 * 255)
    assert gray_level(_pixel(0, 0, 255))[0, 0] == pytest.approx(0.114 * 255)


def test_y_refuses_float_input() -> None:
    with pytest.raises(ValueError, match="8-bit"):
        rgb_to_y(np.zeros((2, 2, 3)))


def test_psnr_identical_is_infinite_and_known_case() -> None:
    a = np.full((8, 8), 100.0)
    assert psnr(a, a) == math.inf
    # A uniform error of 1 level: MSE 1, PSNR = 20 log10(255) = 48.1308 dB.
    assert psnr(a, a + 1.0) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr(a, a + 1.0) == pytest.approx(48.1308, abs=1e-4)
    # Error of 255 everywhere: 0 dB.
    assert psnr(np.zeros((4, 4)), np.full((4, 4), 255.0)) == pytest.approx(0.0)


def test_gaussian_window_is_fspecial_11_1_5() -> None:
    w = gaussian_window()
    assert w.shape == (11, 11)
    assert w.sum() == pytest.approx(1.0)
    assert w[5, 5] == w.max()
    # fspecial: exp(-(x^2 + y^2) / (2 sigma^2)), normalised.
    assert w[5, 6] / w[5, 5] == pytest.approx(math.exp(-1 / 4.5))
    assert w[0, 0] / w[5, 5] == pytest.approx(math.exp(-50 / 4.5))


def test_ssim_identical_is_one() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 255, size=(32, 40))
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_two_constants_is_the_luminance_term() -> None:
    # No variance: SSIM = (2 a b + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2.
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(np.full((20, 20), 100.0), np.full((20, 20), 110.0)) == pytest.approx(expected)


def _ssim_bruteforce(x: np.ndarray, y: np.ndarray) -> float:
    """Direct transcription of ssim_index.m's 'valid' filtering, window by window."""
    w = gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx = (w * px * px).sum() - mx * mx
            vy = (w * py * py).sum() - my * my
            cxy = (w * px * py).sum() - mx * my
            values.append(
                ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            )
    return float(np.mean(values))


def test_ssim_matches_a_direct_window_by_window_computation() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, size=(19, 23))
    y = np.clip(x + rng.normal(0, 20, size=x.shape), 0, 255)
    assert ssim(x, y) == pytest.approx(_ssim_bruteforce(x, y), abs=1e-12)
    assert ssim(x, y) == pytest.approx(ssim(y, x), abs=1e-12)
    assert 0 < ssim(x, y) < 1


def test_metrics_refuse_mismatched_or_tiny_images() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))


def test_shave() -> None:
    a = np.arange(100).reshape(10, 10)
    assert shave(a, 0) is a
    assert shave(a, 2).shape == (6, 6)
    assert shave(a, 2)[0, 0] == 22
    with pytest.raises(ValueError, match="too small"):
        shave(a, 5)
