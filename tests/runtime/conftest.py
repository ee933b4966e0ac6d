"""SavedModels built directly with TensorFlow, right or deliberately wrong."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tf() -> Any:
    """TensorFlow, imported once and only by the tests that need it."""
    return pytest.importorskip("tensorflow")


@pytest.fixture
def save_fn(tmp_path: Path, tf: Any) -> Callable[..., Path]:
    """Save ``fn`` traced with ``specs`` as a SavedModel; returns its folder.

    ``specs`` are (shape, dtype, name) triples; ``key`` is the signature's name, so a test
    can build a model without a ``serving_default`` signature.
    """

    def save(
        name: str,
        fn: Callable[..., Any],
        specs: Sequence[tuple[list[int | None], Any, str]] = (
            ([None, None, None, 3], "float32", "input"),
        ),
        key: str = "serving_default",
    ) -> Path:
        signature = [tf.TensorSpec(shape, dtype, name=n) for shape, dtype, n in specs]
        module = tf.Module()
        module.fn = tf.function(fn, input_signature=signature, autograph=False)
        folder = tmp_path / name
        tf.saved_model.save(
            module, str(folder), signatures={key: module.fn.get_concrete_function()}
        )
        return folder

    return save


@pytest.fixture
def upsample2(save_fn: Callable[..., Path], tf: Any) -> Path:
    """A contract-honouring model: nearest 2x upscaling, output named 'output'."""

    def fn(x: Any) -> dict[str, Any]:
        return {"output": tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)}

    return save_fn("upsample2", fn)


@pytest.fixture(scope="session")
def conv_sr(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Factory of small convolutional x2 upscalers with a known receptive field.

    ``convs`` 3x3 convolutions (receptive field ``convs`` input pixels: each reaches one
    pixel further) with random weights, then depth-to-space by ``scale``, added to a
    nearest-neighbour upscale of the input so outputs stay near the input's range.
    ``channels`` is what it takes and returns (4: an RGBA model whose every output plane
    mixes all four inputs). Built once per session per argument set; returns the
    SavedModel folder.
    """
    built: dict[tuple[int, int, int, int], Path] = {}

    def make(
        convs: int = 3, scale: int = 2, seed: int = 0, width: float = 0.3, channels: int = 3
    ) -> Path:
        key = (convs, scale, seed, channels)
        if key in built:
            return built[key]
        rng = np.random.default_rng(seed)
        widths = [channels] + [8] * (convs - 1) + [channels * scale * scale]
        kernels = [
            tf.constant(rng.normal(0, width, (3, 3, cin, cout)).astype(np.float32))
            for cin, cout in itertools.pairwise(widths)
        ]
        biases = [
            tf.constant(rng.normal(0, 0.05, (cout,)).astype(np.float32)) for cout in widths[1:]
        ]

        def fn(x: Any) -> dict[str, Any]:
            y = x
            for i, (k, b) in enumerate(zip(kernels, biases, strict=True)):
                y = tf.nn.bias_add(tf.nn.conv2d(y, k, 1, "SAME"), b)
                if i < len(kernels) - 1:
                    y = tf.nn.leaky_relu(y, 0.2)
            up = tf.repeat(tf.repeat(x, scale, axis=1), scale, axis=2)
            return {"output": up + 0.1 * tf.nn.depth_to_space(y, scale)}

        signature = [tf.TensorSpec([None, None, None, channels], tf.float32, name="input")]
        module = tf.Module()
        module.fn = tf.function(fn, input_signature=signature, autograph=False)
        folder = tmp_path_factory.mktemp("models") / f"conv{convs}-x{scale}-s{seed}-c{channels}"
        tf.saved_model.save(
            module, str(folder), signatures={"serving_default": module.fn.get_concrete_function()}
        )
        built[key] = folder
        return folder

    return make
