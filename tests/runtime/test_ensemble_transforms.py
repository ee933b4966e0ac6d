"""The self-ensemble's transform math (pure numpy, no model): the 8 elements of D4 are
distinct, each inverse undoes its forward, and a model that commutes with flips and
rotations comes out of the ensemble exactly as it went in."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from upscaler.runtime.ensemble import DIHEDRAL_X8, Unit, from_unit, self_ensemble, to_unit


def nearest_x2(unit: Unit) -> Unit:
    """An upscale that treats rows and columns alike: it commutes with all of D4."""
    return np.repeat(np.repeat(unit, 2, axis=0), 2, axis=1)


def test_the_eight_transforms_are_the_dihedral_group() -> None:
    x = np.arange(5 * 3 * 2).reshape(5, 3, 2)
    images = {tuple(t.forward(x).ravel()) + t.forward(x).shape for t in DIHEDRAL_X8}
    assert len(DIHEDRAL_X8) == len(images) == 8, "all eight are distinct"
    assert np.array_equal(DIHEDRAL_X8[0].forward(x), x), "identity first"
    assert [t.transposes for t in DIHEDRAL_X8] == [False, True] * 4
    assert [t.forward(x).shape[:2] for t in DIHEDRAL_X8[:2]] == [(5, 3), (3, 5)]
    assert [str(t) for t in DIHEDRAL_X8[::4]] == ["rot0", "flip+rot0"]


@pytest.mark.parametrize("transform", DIHEDRAL_X8, ids=str)
@pytest.mark.parametrize("shape", [(7, 4), (7, 4, 3), (1, 9, 1)])
def test_inverse_undoes_forward(transform: Any, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    assert np.array_equal(transform.inverse(transform.forward(x)), x)
    assert np.array_equal(transform.forward(transform.inverse(x)), x)


@pytest.mark.parametrize("transform", DIHEDRAL_X8, ids=str)
def test_inverse_turns_an_upscaled_output_back(transform: Any) -> None:
    # The inverse is applied to the model's output, which is larger than its input.
    x = np.random.default_rng(1).random((6, 5, 3)).astype(np.float32)
    out = nearest_x2(np.ascontiguousarray(transform.forward(x)))
    assert np.array_equal(transform.inverse(out), nearest_x2(x))


@pytest.mark.parametrize(("dtype", "top"), [(np.uint8, 255), (np.uint16, 65535), (np.float32, 1.0)])
def test_a_model_that_commutes_with_d4_comes_out_exactly(dtype: Any, top: float) -> None:
    rng = np.random.default_rng(2)
    if dtype == np.float32:
        # Multiples of 1/8: the float32 sums of 8 equal values are then exact.
        x = (rng.integers(0, 9, (9, 6, 3)) / 8).astype(np.float32)
    else:
        x = rng.integers(0, int(top) + 1, (9, 6, 3)).astype(dtype)
    seen: list[tuple[int, tuple[int, ...]]] = []

    def run(index: int, unit: Unit) -> Unit:
        assert unit.dtype == np.float32 and unit.flags.c_contiguous
        assert unit.min() >= 0.0 and unit.max() <= 1.0
        seen.append((index, unit.shape))
        return nearest_x2(unit)

    out = self_ensemble(run, x)
    assert out.dtype == x.dtype
    assert np.array_equal(out, np.repeat(np.repeat(x, 2, axis=0), 2, axis=1))
    assert seen == [(i, (6, 9, 3) if i % 2 else (9, 6, 3)) for i in range(8)]


def test_the_mean_is_of_floats_rounded_once() -> None:
    # Four passes say 0.4 grey levels, four say 1.1: rounded first, they would average
    # (0 + 1) / 2 = 0.5, which rounds (half to even) to 0; the float mean 0.75 rounds to 1.
    x = np.zeros((2, 2, 3), np.uint8)

    def run(index: int, unit: Unit) -> Unit:
        level = (0.4 if index < 4 else 1.1) / 255
        return np.full((4, 4, 3), level, np.float32)

    assert np.array_equal(self_ensemble(run, x), np.ones((4, 4, 3), np.uint8))


def test_unit_round_trip_and_clipping() -> None:
    x = np.array([[[0, 128, 255]]], np.uint8)
    assert to_unit(x).dtype == np.float32
    assert np.array_equal(from_unit(to_unit(x), np.dtype(np.uint8)), x)
    wild = np.array([[[-0.5, 0.5, 1.5]]], np.float32)
    assert from_unit(wild.copy(), np.dtype(np.float32)).tolist() == [[[0.0, 0.5, 1.0]]]
    assert from_unit(wild.copy(), np.dtype(np.uint16)).tolist() == [[[0, 32768, 65535]]]


def test_a_model_that_treats_rows_and_columns_unlike_is_refused() -> None:
    def run(index: int, unit: Unit) -> Unit:
        return np.repeat(unit, 2, axis=0)  # stretches rows only

    with pytest.raises(ValueError, match="does not treat rows and columns alike"):
        self_ensemble(run, np.zeros((3, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="at least one transform"):
        self_ensemble(run, np.zeros((3, 5, 3), np.uint8), ())
