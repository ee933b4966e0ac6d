"""The architecture registry: every channel count and scale the catalog needs, seeded
weights, parameter checks, and the network TensorFlow builds from the graph."""

from __future__ import annotations

import numpy as np
import pytest

from upscaler.errors import TrainingError
from upscaler.train import REGISTRY, get_architecture


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_every_channel_count_and_scale_builds_and_runs(channels: int, scale: int) -> None:
    from upscaler.convert.builder import graph_forward, graph_variables
    from upscaler.runtime.savedmodel import require_tensorflow

    tf = require_tensorflow()
    arch = get_architecture("srvgg")
    graph = arch.build(channels, scale, {"features": 4, "convs": 1}, seed=0)
    forward = graph_forward(tf, graph, graph_variables(tf, graph, trainable=True))
    x = np.random.default_rng(0).random((2, 5, 7, channels), dtype=np.float32)
    out = np.asarray(forward(tf.constant(x)))
    assert out.shape == (2, 5 * scale, 7 * scale, channels)
    # A fresh network is close to the nearest upscale (its last conv starts small).
    nearest = np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)
    assert np.abs(out - nearest).mean() < 0.1


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    arch = get_architecture("srvgg")
    a = arch.build(3, 2, {}, seed=1)
    b = arch.build(3, 2, {}, seed=1)
    c = arch.build(3, 2, {}, seed=2)
    weights = [x for n in a.nodes for x in n.op.arrays().values()]
    assert all(
        np.array_equal(x, y)
        for x, y in zip(weights, [x for n in b.nodes for x in n.op.arrays().values()], strict=True)
    )
    assert not np.array_equal(weights[0], next(iter(c.nodes[0].op.arrays().values())))


def test_params_are_the_catalog_params() -> None:
    arch = get_architecture("SRVGG")
    assert arch.resolve_params({"convs": 4}) == {"features": 32, "convs": 4}
    graph = arch.build(3, 4, {"features": 8, "convs": 2}, seed=0)
    expected = (3 * 9 * 8 + 8) + 2 * (8 * 9 * 8 + 8) + 3 * 8 + (8 * 9 * 48 + 48)
    assert graph.parameters() == expected
    assert arch.receptive_field({"features": 8, "convs": 2}) == 4
    assert set(REGISTRY) == {"srvgg"}


def test_bad_names_and_values_say_what_is_valid() -> None:
    with pytest.raises(TrainingError, match="unknown architecture 'srvg'") as info:
        get_architecture("srvg")
    assert "did you mean 'srvgg'" in str(info.value.hint)
    arch = get_architecture("srvgg")
    with pytest.raises(TrainingError, match="no size parameter 'feature'") as info:
        arch.resolve_params({"feature": 8})
    assert "did you mean 'features'" in str(info.value.hint)
    with pytest.raises(TrainingError, match="features=0 is out of range"):
        arch.resolve_params({"features": 0})
    with pytest.raises(TrainingError, match="scale=5 is not supported"):
        arch.build(3, 5, {}, seed=0)
    with pytest.raises(TrainingError, match="channels=2 is not supported"):
        arch.build(2, 2, {}, seed=0)
