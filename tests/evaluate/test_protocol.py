"""The protocol's steps on generated images (no datasets needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from upscaler.errors import ImageError
from upscaler.evaluate.protocol import (
    bicubic_upscale,
    compare,
    make_lr,
    modcrop,
    score_bicubic_y,
    score_rgb,
)


def test_modcrop_keeps_the_top_left_multiple() -> None:
    image = np.zeros((321, 481, 3), dtype=np.uint8)
    assert modcrop(image, 2).shape == (320, 480, 3)
    assert modcrop(image, 3).shape == (321, 480, 3)
    assert modcrop(image, 8).shape == (320, 480, 3)


def test_lr_and_bicubic_sizes() -> None:
    hr = np.zeros((48, 36, 3), dtype=np.uint8)
    lr = make_lr(hr, 3)
    assert lr.shape == (16, 12, 3) and lr.dtype == np.uint8
    assert bicubic_upscale(lr, 3).shape == hr.shape


def test_a_flat_image_is_reconstructed_perfectly() -> None:
    hr = np.full((40, 40, 3), 77, dtype=np.uint8)
    score = score_rgb(hr, 2, lambda lr: bicubic_upscale(lr, 2), gray=False)
    assert score.psnr_y == math.inf and score.ssim_y == pytest.approx(1.0)


def test_gray_ground_truth_is_compared_on_gray_levels() -> None:
    rng = np.random.default_rng(0)
    g = rng.integers(0, 256, size=(32, 32), dtype=np.uint8)
    hr = np.repeat(g[:, :, np.newaxis], 3, axis=2)
    sr = hr.copy()
    sr[10, 10] = (sr[10, 10].astype(int) + 10).clip(0, 255).astype(np.uint8)
    as_gray = compare(hr, sr, 2, gray=True)
    as_colour = compare(hr, sr, 2, gray=False)
    # Studio-swing Y shrinks errors by 219/255: +1.32 dB for the same pixels.
    assert as_colour.psnr_y - as_gray.psnr_y == pytest.approx(20 * math.log10(255 / 219))


def test_shave_removes_border_errors() -> None:
    hr = np.full((40, 40, 3), 100, dtype=np.uint8)
    sr = hr.copy()
    sr[:2, :, :] = 0  # damage only the 2-pixel border that x2 shaves
    assert compare(hr, sr, 2, gray=False).psnr_y == math.inf
    assert compare(hr, sr, 1, gray=False).psnr_y < 40


def test_wrong_output_size_and_tiny_images_are_image_errors() -> None:
    hr = np.zeros((40, 40, 3), dtype=np.uint8)
    with pytest.raises(ImageError, match="expected 40x40x3"):
        score_rgb(hr, 2, lambda lr: lr, gray=False)
    with pytest.raises(ImageError, match="needs at least"):
        score_rgb(np.zeros((12, 12, 3), dtype=np.uint8), 4, lambda lr: lr, gray=False)


def test_bicubic_y_baseline_runs_on_gray_and_colour() -> None:
    y, x = np.mgrid[0:40, 0:40]
    hr = np.stack([x * 5, y * 5, x + y], axis=-1).clip(0, 255).astype(np.uint8)
    score = score_bicubic_y(hr, 2, gray=False)
    assert 30 < score.psnr_y < math.inf
    assert 0.9 < score.ssim_y <= 1.0


def test_scale_1_input_is_the_clean_image_itself() -> None:
    # Restoration (denoise-only) models are scored on the image they have nothing to fix.
    hr = np.random.default_rng(5).integers(0, 256, (20, 18, 3), dtype=np.uint8)
    lr = make_lr(hr, 1)
    np.testing.assert_array_equal(lr, hr)
    assert lr is not hr
