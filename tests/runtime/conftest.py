"""SavedModels built directly with TensorFlow, right or deliberately wrong."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
