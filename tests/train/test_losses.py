"""The training losses: plain L1, and L1 with an RGBA target's matte edges weighted up.

Checked against a numpy reference on real tensors, and end to end: a short RGBA run
with the edge loss records it in run.json and moves the alpha outputs more than plain
L1 does from the same start.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np
import pytest
from train_support import tiny_config, write_images

from upscaler.train import TrainConfig, train
from upscaler.train.optim import (
    ALPHA_EDGE_SPAN,
    ALPHA_EDGE_WEIGHT,
    LOSSES,
    alpha_edge_l1_loss,
    l1_loss,
)

tf = pytest.importorskip("tensorflow")


def _reference(prediction: np.ndarray, target: np.ndarray) -> float:
    """The edge-weighted loss in numpy: 3x3 span of the target alpha, edge-padded."""
    alpha = target[..., 3]
    padded = np.pad(alpha, ((0, 0), (1, 1), (1, 1)), mode="edge")
    windows = np.stack(
        [
            padded[:, dy : dy + alpha.shape[1], dx : dx + alpha.shape[2]]
            for dy in range(3)
            for dx in range(3)
        ]
    )
    edge = (windows.max(axis=0) - windows.min(axis=0)) > ALPHA_EDGE_SPAN
    weights = np.ones_like(target)
    weights[..., 3] = np.where(edge, ALPHA_EDGE_WEIGHT, 1.0)
    return float(np.mean(np.abs(prediction - target) * weights))


def _rgba_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.uniform(0, 1, (2, 12, 12, 4)).astype(np.float32)
    target[..., 3] = 0.0
    target[0, :, 6:, 3] = 1.0  # a hard vertical edge
    target[1, 3:8, 3:8, 3] = 0.5  # a half-transparent square
    prediction = (target + rng.normal(0, 0.05, target.shape)).astype(np.float32)
    return prediction, target


def test_edge_loss_matches_the_numpy_reference() -> None:
    prediction, target = _rgba_pair(0)
    got = float(alpha_edge_l1_loss(tf, tf.constant(prediction), tf.constant(target)))
    assert got == pytest.approx(_reference(prediction, target), rel=1e-5)
    plain = float(l1_loss(tf, tf.constant(prediction), tf.constant(target)))
    assert got > 1.5 * plain  # the edges really count more


def test_edge_loss_is_plain_l1_where_alpha_is_flat() -> None:
    prediction, target = _rgba_pair(1)
    target[..., 3] = 0.7
    ours = float(alpha_edge_l1_loss(tf, tf.constant(prediction), tf.constant(target)))
    plain = float(l1_loss(tf, tf.constant(prediction), tf.constant(target)))
    assert ours == pytest.approx(plain, rel=1e-6)


def test_edge_threshold_is_the_span_not_the_level() -> None:
    """A gentle ramp (under 16 levels per 3x3) is no edge; a step of 17 levels is."""
    _, target = _rgba_pair(2)
    ramp = np.linspace(0, 1, 12, dtype=np.float32) * (7.0 / 255.0) * 11 / 2
    target[..., 3] = ramp[np.newaxis, np.newaxis, :]
    prediction = target.copy()
    prediction[..., 3] += 0.1
    flat = float(alpha_edge_l1_loss(tf, tf.constant(prediction), tf.constant(target)))
    assert flat == pytest.approx(_reference(prediction, target), rel=1e-5)
    assert flat == pytest.approx(0.1 / 4, rel=1e-4)
    target[:, :, 6:, 3] += 17.0 / 255.0
    prediction[..., 3] = target[..., 3] + 0.1
    stepped = float(alpha_edge_l1_loss(tf, tf.constant(prediction), tf.constant(target)))
    assert stepped > flat * 2


def test_every_loss_the_config_accepts_has_a_function() -> None:
    accepted = typing.get_args(TrainConfig.model_fields["loss"].annotation)
    assert set(accepted) == set(LOSSES) == {"l1", "l1-alpha-edges"}
    assert LOSSES["l1-alpha-edges"] is alpha_edge_l1_loss


def _alpha_outputs(run: Path) -> np.ndarray:
    """Summed absolute weights of the last conv's alpha outputs (every 4th map)."""
    reader = tf.train.load_checkpoint(str(run / "savedmodel" / "variables" / "variables"))
    shapes = reader.get_variable_to_shape_map()
    tails = [name for name, shape in shapes.items() if len(shape) == 4 and shape[-1] == 16]
    assert len(tails) == 1, shapes
    kernel = reader.get_tensor(tails[0])
    return np.abs(kernel[..., 3::4]).sum()


def _hard_edged_rgba(folder: Path, count: int) -> Path:
    """RGB images (from the shared helper) with a matte of hard-edged discs."""
    from PIL import Image

    write_images(folder, count)
    yy, xx = np.mgrid[0:40, 0:48]
    for i, path in enumerate(sorted(folder.glob("*.png"))):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        disc = (yy - 20) ** 2 + (xx - 16 - 6 * i) ** 2 < 81
        stripe = (xx // 5) % 2 == 0
        alpha = np.where(disc | stripe, 255, 0).astype(np.uint8)[:, :, np.newaxis]
        Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(path)
    return folder


def test_rgba_run_with_the_edge_loss_records_it_and_trains_alpha(tmp_path: Path) -> None:
    data = _hard_edged_rgba(tmp_path / "d", 3)
    moved = {}
    for loss in ("l1", "l1-alpha-edges"):
        run = tmp_path / loss
        config = tiny_config(data, channels=4, loss=loss, steps=20, lr=1e-2, checkpoint_every=20)
        train(config, run, progress=False)
        record = json.loads((run / "run.json").read_text())
        assert record["config"]["loss"] == loss
        meta = json.loads((run / "savedmodel" / "upscaler.json").read_text())
        assert meta["training"]["loss"] == loss
        assert ("--loss l1-alpha-edges" in meta["training"]["command"]) == (loss != "l1")
        moved[loss] = _alpha_outputs(run)
    assert moved["l1-alpha-edges"] > moved["l1"]
