"""Tiny real training data and configurations, shared by the training tests.

Images are real PNG files written into tmp folders (smooth gradients plus seeded
noise, so there is detail to learn); runs use a 4-feature network and a few steps,
so a whole training with export takes a second or two on one core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from upscaler.train import TrainConfig

TINY_PARAMS = {"features": 4, "convs": 1}


def write_images(
    folder: Path, count: int, *, size: tuple[int, int] = (40, 48), mode: str = "RGB", seed: int = 0
) -> Path:
    """``count`` PNGs of ``size`` (height, width) in ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        base = np.stack([(xx * 5 + i * 20) % 256, (yy * 7) % 256, ((xx + yy) * 3) % 256], -1)
        noisy = base + rng.integers(-12, 13, base.shape)
        rgb = np.clip(noisy, 0, 255).astype(np.uint8)
        if mode == "RGBA":
            alpha = np.clip(xx * 6, 0, 255).astype(np.uint8)[:, :, None]
            Image.fromarray(np.concatenate([rgb, alpha], 2), "RGBA").save(folder / f"im{i}.png")
        elif mode == "L":
            Image.fromarray(rgb[:, :, 0], "L").save(folder / f"im{i}.png")
        else:
            Image.fromarray(rgb, "RGB").save(folder / f"im{i}.png")
    return folder


def tiny_config(data: Path, **overrides: Any) -> TrainConfig:
    """A configuration that trains in about a second; overrides replace any field."""
    fields: dict[str, Any] = {
        "data": [str(data)],
        "params": TINY_PARAMS,
        "patch": 8,
        "batch": 2,
        "steps": 6,
        "val_holdout": 1,
        "val_every": 3,
        "checkpoint_every": 2,
        "xla": False,
        "threads": 1,
    }
    fields.update(overrides)
    return TrainConfig(**fields)


def checkpoint_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def same_bits(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a
    )


def srvgg_by_hand(weights: list[np.ndarray], lr: np.ndarray, scale: int) -> np.ndarray:
    """The srvgg network by hand in numpy: 3x3 'same' convs, PReLU, pixel shuffle and the
    nearest-neighbour residual."""

    def conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
        padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
        h, w = x.shape[:2]
        out = np.zeros((h, w, kernel.shape[-1]))
        for dy in range(3):
            for dx in range(3):
                out += padded[dy : dy + h, dx : dx + w] @ kernel[dy, dx]
        return out + bias

    x = lr.astype(np.float64)
    for layer in range((len(weights) - 2) // 3):
        kernel, bias, slopes = weights[3 * layer : 3 * layer + 3]
        y = conv(x, kernel, bias)
        x = np.maximum(y, 0) + slopes * np.minimum(y, 0)
    detail = conv(x, weights[-2], weights[-1])
    h, w, c = lr.shape
    shuffled = detail.reshape(h, w, scale, scale, c).transpose(0, 2, 1, 3, 4)  # TF order
    return shuffled.reshape(h * scale, w * scale, c) + lr.repeat(scale, 0).repeat(scale, 1)


def run_weights(run: Path, step: int | None = None) -> list[np.ndarray]:
    """The network weights of a run's checkpoint at ``step`` (default: the newest)."""
    from upscaler.train.checkpoint import list_checkpoints

    found = dict(list_checkpoints(run))
    arrays = checkpoint_arrays(found[step] if step is not None else found[max(found)])
    return [arrays[k] for k in sorted(arrays) if k.startswith("w")]


def run_forward(run: Path, step: int, lr: np.ndarray) -> np.ndarray:
    """One HxWxC image through the run's network at checkpoint ``step``, built by the
    converter's own builder (what export writes), as float32 output."""
    from upscaler.convert.builder import graph_forward, graph_variables
    from upscaler.runtime.savedmodel import require_tensorflow
    from upscaler.train.export import trained_graph

    graph, _ = trained_graph(run, step)
    tf = require_tensorflow()
    forward = graph_forward(tf, graph, graph_variables(tf, graph, trainable=False))
    return np.asarray(forward(tf.constant(lr[None])))[0]
