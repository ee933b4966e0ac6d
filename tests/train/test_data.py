"""The data pipeline: LR exactly as `upscaler eval` makes it, batches keyed by step,
channels 1/3/4, and clear errors for folders that cannot be trained on."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from train_support import write_images

from upscaler.errors import TrainingError
from upscaler.evaluate.datasets import load_set
from upscaler.evaluate.protocol import make_lr, modcrop
from upscaler.train.data import (
    PatchSampler,
    holdout,
    load_folders,
    synthetic_alpha,
)


def _pairs(folder: Path, *, scale: int = 2, channels: int = 3, hr_patch: int = 16):
    return load_folders([folder], scale=scale, channels=channels, hr_patch=hr_patch, seed=0)


def test_lr_is_the_evaluation_lr_of_the_whole_image(tmp_path: Path) -> None:
    from PIL import Image

    folder = write_images(tmp_path / "Set", 2, size=(41, 50))
    pairs, records = _pairs(folder, scale=3)
    hr = np.asarray(Image.open(folder / "im0.png").convert("RGB"))
    assert pairs[0].hr.shape == (39, 48, 3)  # mod-cropped to the scale
    assert np.array_equal(pairs[0].hr, modcrop(hr, 3))
    assert np.array_equal(pairs[0].lr, make_lr(modcrop(hr, 3), 3))
    assert records[0].name == "Set"
    assert records[0].fingerprint == load_set(folder).fingerprint
    assert (records[0].images, records[0].used) == (2, 2)


def test_batches_are_a_pure_function_of_seed_and_step(tmp_path: Path) -> None:
    pairs, _ = _pairs(write_images(tmp_path / "d", 3))
    sampler = PatchSampler(pairs, scale=2, lr_patch=8, seed=7)
    lr, hr = sampler.batch(5, 4)
    assert lr.shape == (4, 8, 8, 3) and hr.shape == (4, 16, 16, 3)
    assert lr.dtype == hr.dtype == np.float32
    assert lr.min() >= 0.0 and lr.max() <= 1.0
    again = PatchSampler(pairs, scale=2, lr_patch=8, seed=7).batch(5, 4)
    assert np.array_equal(lr, again[0]) and np.array_equal(hr, again[1])
    assert not np.array_equal(lr, sampler.batch(6, 4)[0])
    assert not np.array_equal(lr, PatchSampler(pairs, 2, 8, seed=8).batch(5, 4)[0])


def test_patches_are_aligned_crops_of_lr_and_hr(tmp_path: Path) -> None:
    """Each LR patch is the LR of its HR patch's place (up to the same flip/rotation):
    search for it in the pair's LR and check the HR patch at twice the offset."""
    pairs, _ = _pairs(write_images(tmp_path / "d", 1, size=(24, 24)))
    pair = pairs[0]
    lr, hr = PatchSampler(pairs, 2, 8, seed=1).batch(0, 6)
    for lr_patch, hr_patch in zip(lr, hr, strict=True):
        found = False
        for code in range(8):
            cand_lr = np.rot90(np.rint(lr_patch * 255).astype(np.uint8), -(code % 4))
            cand_hr = np.rot90(np.rint(hr_patch * 255).astype(np.uint8), -(code % 4))
            if code >= 4:
                cand_lr = np.rot90(np.rint(lr_patch * 255).astype(np.uint8)[:, ::-1], -(code % 4))
                cand_hr = np.rot90(np.rint(hr_patch * 255).astype(np.uint8)[:, ::-1], -(code % 4))
            for y in range(pair.lr.shape[0] - 7):
                for x in range(pair.lr.shape[1] - 7):
                    if np.array_equal(pair.lr[y : y + 8, x : x + 8], cand_lr) and np.array_equal(
                        pair.hr[2 * y : 2 * y + 16, 2 * x : 2 * x + 16], cand_hr
                    ):
                        found = True
        assert found


def test_gray_and_rgba_channels(tmp_path: Path) -> None:
    gray, _ = _pairs(write_images(tmp_path / "g", 1), channels=1)
    assert gray[0].hr.shape[2] == 1 and gray[0].lr.shape[2] == 1
    own, _ = _pairs(write_images(tmp_path / "a", 1, mode="RGBA"), channels=4)
    assert own[0].hr.shape[2] == 4
    assert own[0].hr[0, 0, 3] == 0 and own[0].hr[0, -1, 3] == 255  # the file's own alpha
    synth, _ = _pairs(write_images(tmp_path / "s", 2), channels=4)
    assert synth[0].hr.shape[2] == 4 and synth[0].lr.shape[2] == 4
    again, _ = _pairs(tmp_path / "s", channels=4)
    assert np.array_equal(synth[0].hr, again[0].hr)  # synthetic mattes are seeded


def test_synthetic_alpha_has_opaque_clear_and_soft_regions() -> None:
    values = np.concatenate(
        [synthetic_alpha((48, 48), np.random.default_rng(i)).ravel() for i in range(20)]
    )
    assert values.dtype == np.uint8
    assert (values == 0).any() and (values == 255).any()
    assert ((values > 10) & (values < 245)).mean() > 0.05


def test_small_images_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_images(tmp_path / "mixed", 2, size=(40, 40))
    write_images(tmp_path / "tiny", 1, size=(10, 10))
    (tmp_path / "tiny" / "im0.png").rename(folder / "small.png")
    with caplog.at_level(logging.WARNING, logger="upscaler.train"):
        pairs, records = _pairs(folder, hr_patch=32)
    assert len(pairs) == 2 and (records[0].images, records[0].used) == (3, 2)
    assert "small.png" in caplog.text and "skipped" in caplog.text


def test_folders_that_cannot_be_trained_on(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="no images in"):
        _pairs(tmp_path / "empty")
    with pytest.raises(TrainingError, match="does not exist"):
        _pairs(tmp_path / "missing")
    bad = write_images(tmp_path / "bad", 1)
    (bad / "notes.png").write_bytes(b"not an image at all")
    with pytest.raises(TrainingError, match=r"notes\.png cannot be used for training"):
        _pairs(bad)
    small = write_images(tmp_path / "small", 2, size=(12, 12))
    with pytest.raises(TrainingError, match=r"every image .* smaller than one 32x32 HR patch"):
        _pairs(small, hr_patch=32)
    one = write_images(tmp_path / "a" / "Same", 1)
    two = write_images(tmp_path / "b" / "Same", 1)
    with pytest.raises(TrainingError, match="both named 'Same'"):
        load_folders([one, two], scale=2, channels=3, hr_patch=16, seed=0)


def test_holdout_is_seeded_and_bounded(tmp_path: Path) -> None:
    pairs, _ = _pairs(write_images(tmp_path / "d", 5))
    train, val = holdout(pairs, 2, seed=3)
    assert len(train) == 3 and len(val) == 2
    assert [p.name for p in holdout(pairs, 2, seed=3)[1]] == [p.name for p in val]
    with pytest.raises(TrainingError, match="cannot hold out 5 of 5"):
        holdout(pairs, 5, seed=0)


def test_unknown_degradation_is_refused(tmp_path: Path) -> None:
    pairs, _ = _pairs(write_images(tmp_path / "d", 1))
    with pytest.raises(TrainingError, match="unknown degradation 'jpeg'"):
        PatchSampler(pairs, 2, 8, seed=0, degradation="jpeg")
