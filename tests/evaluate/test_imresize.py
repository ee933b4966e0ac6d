"""MATLAB-compatible bicubic imresize: hand-computed values and MATLAB's documented rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upscaler.evaluate.imresize import (
    contributions,
    cubic,
    imresize,
    output_length,
    resize_matrix,
    round_uint8,
)


def test_keys_kernel_values() -> None:
    # Keys (1981) with a = -0.5: 1 at 0, 0 at the integers, -1/16 at 1.5, 9/16 at 0.5.
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    expected = [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625]
    np.testing.assert_array_equal(cubic(x), expected)


def test_shrink_by_two_of_1_2_3_4_is_the_known_matlab_answer() -> None:
    # imresize([1 2 3 4], 0.5) = [1.4609375 3.5390625]: the antialiased kernel spans 8
    # pixels, so the mirrored borders enter with weights -3/256, -9/256, 29/256, 111/256.
    out = imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 0.5)
    np.testing.assert_allclose(out, [[1.4609375, 3.5390625]], rtol=0, atol=1e-12)


def test_enlarge_by_two_of_1_2_3_4_by_hand() -> None:
    # u = x/2 + 1/4; the first output mixes the mirrored [3 2 1 | 1 2 3] with weights
    # [-3/128, 29/128, 111/128, -9/128] at offsets 1.75, 0.75, -0.25, -1.25.
    out = imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 2)
    row = [0.90625, 1.1796875, 1.7265625, 2.25, 2.75, 3.2734375, 3.8203125, 4.09375]
    assert out.shape == (2, 8)
    np.testing.assert_allclose(out, [row, row], rtol=0, atol=1e-12)


def test_contributions_follow_matlabs_index_mapping() -> None:
    weights, indices = contributions(4, 2, 0.5)
    assert weights.shape == indices.shape == (2, 10)  # ceil(4 / 0.5) + 2 taps
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # 1-based taps -3..6 mirror onto [4 3 2 1 | 1 2 3 4 | 4 3] (0-based below).
    assert indices[0].tolist() == [3, 2, 1, 0, 0, 1, 2, 3, 3, 2]


@pytest.mark.parametrize(
    ("length", "scale", "expected"),
    [(7, 0.5, 4), (9, 1 / 3, 3), (228, 1 / 3, 76), (5, 2, 10), (3, 1 / 2, 2)],
)
def test_output_size_is_ceil_of_scale_times_size(length: int, scale: float, expected: int) -> None:
    assert output_length(length, scale) == expected


@settings(max_examples=40, deadline=None)
@given(
    value=st.integers(0, 255),
    height=st.integers(1, 30),
    width=st.integers(1, 30),
    scale=st.sampled_from([1 / 4, 1 / 3, 1 / 2, 2.0, 3.0, 4.0]),
)
def test_a_constant_image_stays_constant(value: int, height: int, width: int, scale: float) -> None:
    image = np.full((height, width, 3), value, dtype=np.uint8)
    out = imresize(image, scale)
    assert out.dtype == np.uint8
    assert out.shape == (output_length(height, scale), output_length(width, scale), 3)
    assert np.all(out == value)


def test_a_linear_ramp_halves_to_pair_means_away_from_the_borders() -> None:
    ramp = np.tile(np.arange(32, dtype=np.float64) * 3.0 + 5.0, (4, 1))
    out = imresize(ramp, 0.5)
    pair_means = (ramp[0, 0::2] + ramp[0, 1::2]) / 2
    assert out.shape == (2, 16)
    # The stretched kernel reaches 4 input pixels each way, so the first and last two
    # outputs see the mirrored border; the rest are exact (cubic reproduces lines).
    np.testing.assert_allclose(out[:, 2:-2], np.tile(pair_means[2:-2], (2, 1)), atol=1e-12)


def test_a_linear_ramp_enlarges_onto_the_sample_positions() -> None:
    ramp = np.arange(16, dtype=np.float64)[:, np.newaxis] * np.ones((1, 3))
    out = imresize(ramp, 4)
    x = np.arange(1, 65)
    u = x / 4 + 0.5 * (1 - 1 / 4)  # 1-based input coordinate sampled by output x
    np.testing.assert_allclose(out[8:-8, 1], (u - 1)[8:-8], atol=1e-12)


def test_uint8_rounds_half_away_from_zero_and_saturates() -> None:
    values = np.array([0.5, 1.5, 2.5, -0.4, -3.0, 254.5, 300.0])
    assert round_uint8(values).tolist() == [1, 2, 3, 0, 0, 255, 255]


def test_uint8_in_uint8_out_float_in_float64_out() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(12, 18, 3), dtype=np.uint8)
    small = imresize(image, 0.5)
    assert small.dtype == np.uint8 and small.shape == (6, 9, 3)
    as_float = imresize(image.astype(np.float64), 0.5)
    assert as_float.dtype == np.float64
    # Per-pass rounding moves a value by at most one level.
    assert np.max(np.abs(small.astype(np.float64) - as_float)) <= 1.0


def test_gray_and_per_channel_agree() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(9, 15, 3), dtype=np.uint8)
    out = imresize(image, 1 / 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], imresize(image[:, :, c], 1 / 3))


def test_output_shape_uses_each_axis_own_scale() -> None:
    image = np.arange(6 * 8, dtype=np.float64).reshape(6, 8)
    assert imresize(image, output_shape=(3, 2)).shape == (3, 2)


def test_resize_matrix_rows_sum_to_one() -> None:
    for n_in, n_out, s in [(10, 5, 0.5), (9, 3, 1 / 3), (4, 16, 4.0), (1, 3, 3.0)]:
        np.testing.assert_allclose(resize_matrix(n_in, n_out, s).sum(axis=1), 1.0)


def test_differs_from_pil_bicubic() -> None:
    # Why this module exists: PIL's bicubic (a = -0.5, but other support and rounding)
    # does not give MATLAB's pixels.
    from PIL import Image

    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(16, 16), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(image).resize((8, 8), Image.Resampling.BICUBIC))
    assert not np.array_equal(pil, imresize(image, 0.5))


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros((2, 2, 2, 2))])
def test_bad_shapes_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="image"):
        imresize(bad, 0.5)


def test_scale_and_shape_are_exclusive() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        imresize(np.zeros((4, 4)), 0.5, output_shape=(2, 2))
    with pytest.raises(ValueError, match="exactly one"):
        imresize(np.zeros((4, 4)))
