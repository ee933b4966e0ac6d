"""Widening warm starts: `--init-from` a narrower srvgg run starts a wider network that
computes exactly what the trained narrow one computes, and whose new filters then learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from train_support import run_forward, run_weights, srvgg_by_hand, tiny_config

from upscaler.train import train
from upscaler.train.export import training_record

NARROW = {"features": 4, "convs": 1}
WIDE = {"features": 6, "convs": 1}


@pytest.fixture(scope="module")
def narrow_run(small_t91: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("narrow") / "narrow"
    train(
        tiny_config(small_t91, params=NARROW),
        run,
        progress=False,
        deterministic=False,
        export=False,
    )
    return run


def test_a_narrower_run_grows_into_the_same_function(
    small_t91: Path, tmp_path: Path, narrow_run: Path
) -> None:
    data = small_t91
    # One step at a learning rate of 1e-12 leaves the start itself, to float precision.
    run = tmp_path / "wide"
    config = tiny_config(
        data, params=WIDE, steps=1, checkpoint_every=1, init=str(narrow_run), lr=1e-12
    )
    train(config, run, progress=False, deterministic=False, export=False)
    source, started = run_weights(narrow_run), run_weights(run, 1)
    assert [w.shape for w in started] == [
        (3, 3, 3, 6), (6,), (6,), (3, 3, 6, 6), (6,), (6,), (3, 3, 6, 12), (12,)
    ]  # fmt: skip
    # The trained slices came across whole.
    for got, old in zip(started, source, strict=True):
        np.testing.assert_allclose(got[tuple(slice(0, n) for n in old.shape)], old, atol=1e-6)
    # The old filters and the tail read nothing from the two new maps.
    body, tail = started[3], started[6]
    assert np.abs(body[:, :, 4:, :4]).max() < 1e-6 and np.abs(tail[:, :, 4:, :]).max() < 1e-6
    # The new filters are random, not copies or zeros: they are there to learn.
    assert np.abs(started[0][..., 4:]).mean() > 0.05 and np.abs(body[..., 4:]).mean() > 0.05

    # So the wide network computes what the narrow one does, through TensorFlow too.
    lr = np.random.default_rng(5).random((6, 5, 3)).astype(np.float32)
    narrow_out = srvgg_by_hand(source, lr, 2)
    assert not np.allclose(narrow_out, lr.repeat(2, 0).repeat(2, 1), atol=1e-3)  # not a no-op
    np.testing.assert_allclose(srvgg_by_hand(started, lr, 2), narrow_out, atol=1e-5)
    np.testing.assert_allclose(run_forward(run, 1, lr), narrow_out, atol=1e-5)

    # A few real steps wake the new maps up: the tail starts reading them.
    more = tiny_config(data, params=WIDE, steps=4, init=str(narrow_run), lr=1e-3)
    train(more, tmp_path / "more", progress=False, deterministic=False, export=False)
    tail = run_weights(tmp_path / "more")[-2]
    assert np.abs(tail[:, :, 4:, :]).max() > 1e-4

    record = json.loads((run / "run.json").read_text())
    assert record["init"]["widened"] == {"features": [4, 6]}
    assert "pruned" not in record["init"]
    text = training_record(record, 1)["init"]
    assert text.startswith("step 6 of: upscaler train T91")
    assert text.endswith("; widened with the same function, features 4 -> 6")
