"""L1 loss, Adam and a cosine learning-rate schedule, as plain TensorFlow.

Why not a Keras optimizer: resuming bit for bit needs every piece of optimiser state
in the checkpoint, in a known layout, and nothing else influencing the update. Adam is
four lines; written here its moments are ordinary variables that the checkpoint saves
and restores exactly, the step count is the run's own, and the learning rate is a pure
function of the step, so a resumed run computes the very same updates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

BETA1 = 0.9
BETA2 = 0.999
EPSILON = 1e-8


def cosine_lr(step: int, *, steps: int, lr: float, lr_min: float, warmup: int) -> float:
    """The learning rate for ``step`` (0-based): linear warm-up, then a half cosine from
    ``lr`` down to ``lr_min`` at the last step."""
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * progress))


@dataclass
class Adam:
    """Adam (Kingma and Ba, 2015) over a fixed list of variables, with bias correction.

    ``slots`` holds the first and second moments as variables, in the same order as the
    parameters; ``clamps`` bounds individual parameters after each update (see
    :func:`upscaler.train.network.clamps`).
    """

    params: Sequence[Any]
    first: Sequence[Any]
    second: Sequence[Any]
    clamps: Sequence[Callable[[Any], Any] | None]

    @classmethod
    def create(
        cls, tf: Any, params: Sequence[Any], clamps: Sequence[Callable[[Any], Any] | None]
    ) -> Adam:
        first = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
        second = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
        return cls(params, first, second, clamps)

    def slots(self) -> list[Any]:
        """Every optimiser variable, in checkpoint order."""
        return [*self.first, *self.second]

    def apply(self, tf: Any, grads: Sequence[Any], lr: Any, t: Any) -> None:
        """One update with learning rate ``lr`` at 1-based step ``t`` (float32 tensors)."""
        correction1 = 1.0 - tf.pow(BETA1, t)
        correction2 = 1.0 - tf.pow(BETA2, t)
        for p, g, m, v, clamp in zip(
            self.params, grads, self.first, self.second, self.clamps, strict=True
        ):
            m.assign(BETA1 * m + (1.0 - BETA1) * g)
            v.assign(BETA2 * v + (1.0 - BETA2) * tf.square(g))
            update = lr * (m / correction1) / (tf.sqrt(v / correction2) + EPSILON)
            value = p - update
            p.assign(value if clamp is None else clamp(value))


def l1_loss(tf: Any, prediction: Any, target: Any) -> Any:
    """Mean absolute error over every pixel and channel."""
    return tf.reduce_mean(tf.abs(prediction - target))


ALPHA_EDGE_SPAN = 16.0 / 255.0
"""An alpha pixel is on a matte edge when its 3x3 neighbourhood in the target spans more
than this (the edge threshold `benchmarks/alpha.py` reports on)."""

ALPHA_EDGE_WEIGHT = 20.0
"""How much more an alpha pixel on a matte edge counts than any other pixel."""


def alpha_edge_l1_loss(tf: Any, prediction: Any, target: Any) -> Any:
    """L1 with the alpha channel's matte edges weighted up (RGBA targets only).

    Under plain L1 an RGBA network learns no alpha: nearest-neighbour alpha is already
    within 0.05 of the target on 99.5 % of the synthetic mattes' pixels, and the many
    near-zero pixels pull the alpha outputs to zero faster than the few edge pixels push
    them out (docs/training.md, native RGBA). Weighting the edge pixels restores the
    balance; colour and flat alpha keep plain L1.
    """
    error = tf.abs(prediction - target)
    alpha = target[..., 3:]
    span = tf.nn.max_pool2d(alpha, 3, 1, "SAME") + tf.nn.max_pool2d(-alpha, 3, 1, "SAME")
    edge = tf.cast(span > ALPHA_EDGE_SPAN, error.dtype)
    weights = tf.concat(
        [tf.ones_like(error[..., :3]), 1.0 + (ALPHA_EDGE_WEIGHT - 1.0) * edge], axis=-1
    )
    return tf.reduce_mean(error * weights)


LOSSES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "l1": l1_loss,
    "l1-alpha-edges": alpha_edge_l1_loss,
}
"""Training losses by the name the config, run.json and the catalog's training record use."""
