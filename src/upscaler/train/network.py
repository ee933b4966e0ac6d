"""The TensorFlow side of a run: the trainable network, its compiled step, validation
and distillation targets.

The network is the architecture's op graph run through the converter's builder with
trainable variables (:func:`upscaler.convert.builder.graph_forward`), so what is trained
is what export writes. The step (loss, gradients, Adam, parameter bounds) is one
``tf.function``, compiled with XLA unless the run says not to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from upscaler.errors import TrainingError
from upscaler.train import checkpoint as ckpt
from upscaler.train.architectures import Architecture
from upscaler.train.config import TrainConfig
from upscaler.train.data import Pair
from upscaler.train.optim import LOSSES, Adam

log = logging.getLogger("upscaler.train")


def clamps(tf: Any, graph: Any) -> list[Callable[[Any], Any] | None]:
    """Per-parameter bounds applied after each update. PReLU slopes stay <= 1: for them the
    builder computes PReLU as ``max(x, a·x)``, which is PReLU only while ``a <= 1``."""
    from upscaler.convert import ops

    out: list[Callable[[Any], Any] | None] = []
    for node in graph.nodes:
        for _name in node.op.arrays():
            if isinstance(node.op, ops.PReLU):
                out.append(lambda value: tf.minimum(value, 1.0))
            else:
                out.append(None)
    return out


def teacher_targets(config: TrainConfig) -> Callable[[np.ndarray], np.ndarray] | None:
    """The distillation target maker: the catalog model's output for each LR patch."""
    if config.teacher is None:
        return None
    from upscaler.upscaler import Upscaler

    teacher = Upscaler(model=config.teacher)
    if teacher.model.scale != config.scale or config.channels != 3:
        raise TrainingError(
            f"teacher {config.teacher} is an x{teacher.model.scale} model with "
            f"{teacher.model.channels} channels; this run trains x{config.scale} with "
            f"{config.channels}",
            hint="pick an RGB teacher of the same scale, or drop --teacher",
        )

    def targets(lr: np.ndarray) -> np.ndarray:
        pixels = np.clip(np.rint(lr * 255.0), 0, 255).astype(np.uint8)
        outs = [np.asarray(teacher.upscale(patch, progress=False)) for patch in pixels]
        return np.stack(outs).astype(np.float32) / np.float32(255.0)

    return targets


def validate(
    predict: Callable[[np.ndarray], np.ndarray], pairs: Sequence[Pair], scale: int
) -> float | None:
    """Mean PSNR on Y over ``pairs``, with the evaluation protocol's Y and shave (RGB
    and RGBA on their colour; gray images on their gray level)."""
    from upscaler.evaluate.metrics import psnr, shave
    from upscaler.evaluate.protocol import luminance

    if not pairs:
        return None
    values = []
    for pair in pairs:
        out = predict(pair.lr.astype(np.float32)[np.newaxis] / np.float32(255.0))[0]
        sr = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
        gray = pair.hr.shape[2] == 1
        hr = pair.hr if gray else pair.hr[:, :, :3]
        sr = sr if gray else sr[:, :, :3]
        y_hr = shave(luminance(hr, gray=gray), scale)
        y_sr = shave(luminance(sr, gray=gray), scale)
        values.append(psnr(y_hr, y_sr))
    return float(np.mean(values))


class Network:
    """The graph's variables, Adam, and the compiled step and predict functions."""

    def __init__(self, tf: Any, arch: Architecture, config: TrainConfig, params: dict[str, int]):
        from upscaler.convert.builder import graph_forward, graph_variables

        self.tf = tf
        self.graph = arch.build(config.channels, config.scale, params, config.seed)
        self.variables = graph_variables(tf, self.graph, trainable=True)
        self.params = [v for node in self.variables for v in node.values()]
        self.adam = Adam.create(tf, self.params, clamps(tf, self.graph))
        forward = graph_forward(tf, self.graph, self.variables)
        loss_of = LOSSES[config.loss]

        @tf.function(jit_compile=config.xla, autograph=False)  # type: ignore[untyped-decorator]
        def step(lr: Any, hr: Any, rate: Any, t: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_of(tf, forward(lr), hr)
            grads = tape.gradient(loss, self.params)
            self.adam.apply(tf, grads, rate, t)
            return loss

        spec = tf.TensorSpec([1, None, None, config.channels], tf.float32)

        @tf.function(input_signature=[spec], autograph=False)  # type: ignore[untyped-decorator]
        def predict(x: Any) -> Any:
            return forward(x)

        self.step = step
        self._predict = predict

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(self.tf.constant(x)))

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in p.shape) for p in self.params]

    def state(self, step: int) -> ckpt.Checkpoint:
        return ckpt.Checkpoint(
            step,
            self.weights(),
            [np.asarray(m.numpy()) for m in self.adam.first],
            [np.asarray(v.numpy()) for v in self.adam.second],
        )

    def weights(self) -> list[np.ndarray]:
        """The network's weights as they are now (fresh ones before any step)."""
        return [np.asarray(var.numpy(), dtype=np.float32) for var in self.params]

    def warm_start(self, weights: list[np.ndarray | None]) -> None:
        """Copy the given weights (None keeps the fresh initialisation); moments stay 0."""
        for var, value in zip(self.params, weights, strict=True):
            if value is not None:
                var.assign(value)

    def restore(self, state: ckpt.Checkpoint) -> None:
        for var, value in zip(
            [*self.params, *self.adam.first, *self.adam.second],
            [*state.weights, *state.first, *state.second],
            strict=True,
        ):
            var.assign(value)


def start_tensorflow(config: TrainConfig, deterministic: bool) -> tuple[Any, int]:
    """TensorFlow with the run's threads and op determinism; returns it and the number of
    intra-op threads in effect (which decides how sums are split, so the last bits)."""
    from upscaler.runtime.device import configure_threads, thread_settings
    from upscaler.runtime.savedmodel import require_tensorflow

    if config.threads is not None:
        configure_threads(config.threads)  # before TensorFlow runs its first op
    tf = require_tensorflow()
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return tf, thread_settings().intra_op
