"""Pruning warm starts: `--init-from` a wider srvgg run keeps each layer's filters with the
largest L1 norm (Li et al., ICLR 2017), and the pruned run becomes a catalog variant
derived from its parent's entry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from train_support import run_forward, run_weights, srvgg_by_hand, tiny_config

from upscaler import Upscaler
from upscaler.catalog import load_catalog
from upscaler.errors import TrainingError
from upscaler.resolve import build_query, resolve
from upscaler.train import train
from upscaler.train.checkpoint import list_checkpoints
from upscaler.train.export import training_record

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

Cli = Callable[..., Result]
WIDE = {"features": 6, "convs": 1}
NARROW = {"features": 4, "convs": 1}


@pytest.fixture(scope="module")
def data(small_t91: Path) -> Path:
    return small_t91


@pytest.fixture(scope="module")
def wide_run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished, exported features=6 run: the source of every pruning here."""
    run = tmp_path_factory.mktemp("wide") / "wide"
    train(tiny_config(data, params=WIDE), run, progress=False, deterministic=False)
    return run


def _expected_pruning(
    source: list[np.ndarray], features: int
) -> tuple[list[np.ndarray], list[list[int]]]:
    """The paper's greedy L1 rule, recomputed here from the source's arrays (head and body
    convs: kernel, bias, slopes; then the tail's kernel and bias): the pruned arrays and
    the filters each layer keeps."""
    out: list[np.ndarray] = []
    kept: np.ndarray | None = None
    chosen: list[list[int]] = []
    for layer in range((len(source) - 2) // 3):
        kernel, bias, slopes = source[3 * layer : 3 * layer + 3]
        if kept is not None:
            kernel = kernel[:, :, kept, :]
        norms = [np.abs(kernel[..., f]).sum() for f in range(kernel.shape[-1])]
        kept = np.sort(np.argsort(norms)[::-1][:features])
        # The kept filters are exactly the largest: none dropped has a larger norm.
        dropped = [n for f, n in enumerate(norms) if f not in kept]
        assert min(norms[f] for f in kept) >= max(dropped)
        out += [kernel[..., kept], bias[kept], slopes[kept]]
        chosen.append(kept.tolist())
    assert kept is not None
    return [*out, source[-2][:, :, kept, :], source[-1]], chosen


def test_a_wider_run_is_pruned_to_its_largest_l1_filters(
    data: Path, tmp_path: Path, wide_run: Path
) -> None:
    run = tmp_path / "narrow"
    config = tiny_config(
        data, params=NARROW, steps=1, checkpoint_every=1, init=str(wide_run), lr=1e-12
    )
    train(config, run, progress=False, deterministic=False, export=False)
    expected, kept = _expected_pruning(run_weights(wide_run), NARROW["features"])
    started = run_weights(run, 1)
    # One step at a learning rate of 1e-12 leaves the start equal to float precision.
    assert [a.shape for a in started] == [a.shape for a in expected]
    for got, want in zip(started, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    # The seed's network keeps other filters than the first four: the norms chose them.
    assert kept != [[0, 1, 2, 3]] * 2

    # The pruned network computes what the sliced weights compute by hand.
    lr = np.random.default_rng(3).random((5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(run_forward(run, 1, lr), srvgg_by_hand(expected, lr, 2), atol=1e-5)

    init = json.loads((run / "run.json").read_text())["init"]
    assert init["pruned"] == {"features": [6, 4]} and init["pruning"] == "l1-filter"
    assert init["run"] == "wide" and init["step"] == 6 and len(init["sha256"]) == 64
    text = training_record(json.loads((run / "run.json").read_text()), 1)["init"]
    assert text.startswith("step 6 of: upscaler train T91")
    assert "--param features=6" in text
    assert text.endswith("; filters pruned by L1 norm, features 6 -> 4")

    # A restart before the first checkpoint prunes the pinned source again.
    for _, path in list_checkpoints(run):
        path.unlink()
    train(config, run, progress=False, deterministic=False, export=False)
    for got, want in zip(run_weights(run, 1), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"features": 4, "convs": 2}, "deeper, though narrower"),
        ({"features": 6, "convs": 0}, "shallower"),
    ],
)
def test_only_the_width_may_change(
    data: Path, tmp_path: Path, wide_run: Path, params: dict[str, int], why: str
) -> None:
    config = tiny_config(data, params=params, init=str(wide_run))
    with pytest.raises(TrainingError) as info:
        train(config, tmp_path / "r", progress=False, deterministic=False, export=False)
    error = info.value
    theirs = "srvgg convs=1 features=6"
    ours = f"srvgg convs={params['convs']} features={params['features']}"
    assert f"trained {theirs}; this run is {ours}" in error.message, why
    assert "--param convs=1 --param features=6" in str(error.hint)
    assert "a smaller features to prune it" in str(error.hint)
    assert "a larger features to widen it" in str(error.hint)
    assert not (tmp_path / "r").exists()


def test_a_pruned_run_becomes_a_variant_derived_from_its_parent(
    data: Path, tmp_path: Path, wide_run: Path, catalog_copy: Path, cli: Cli
) -> None:
    pruned = tmp_path / "pruned"
    config = tiny_config(data, params=NARROW, steps=2, init=str(wide_run))
    train(config, pruned, progress=False, deterministic=False)
    base = ["--dataset", "t91-bsd200", "--catalog", str(catalog_copy)]
    parent_added = cli(
        "catalog", "add", str(wide_run), *("--family", "ours", "--variant", "x2", *base)
    )
    assert parent_added.code == 0, parent_added.err
    added = cli(
        "catalog",
        "add",
        str(pruned),
        *("--family", "ours", "--variant", "l1-x2", "--derived-from", "ours.x2", *base),
    )
    assert added.code == 0, added.err
    assert cli("catalog", "validate", str(catalog_copy)).code == 0

    catalog = load_catalog(catalog_copy)
    parent, entry = catalog.get("ours.x2"), catalog.get("ours.l1-x2")
    assert parent.pruning == "none" and parent.derived_from is None
    assert entry.pruning == "l1-filter" and entry.derived_from == "ours.x2"
    assert entry.weights is not None and entry.quantize is None  # weights of its own
    assert entry.params == NARROW and entry.training is not None
    assert str(entry.training.init).endswith("filters pruned by L1 norm, features 6 -> 4")
    assert "--init-from wide" in str(entry.training.command)

    found = resolve(build_query("pruning=l1-filter", catalog), catalog)
    assert found.exact and "ours.l1-x2" in found.matches  # beside the shipped pruned model
    assert all(catalog.by_id[m].pruning == "l1-filter" for m in found.matches)
    unasked = resolve(build_query("dataset=t91-bsd200 scale=2", catalog), catalog)
    assert unasked.matches.index("ours.x2") < unasked.matches.index("ours.l1-x2")
    described = Upscaler(model="ours.l1-x2", catalog=catalog, cache_dir=tmp_path / "c")
    assert "derived      from ours.x2 (l1-filter, features 6 -> 4): quality delta not" in str(
        described.describe()
    )

    refused = cli(
        "catalog",
        "add",
        str(pruned),
        *("--family", "ours", "--variant", "l1b-x2", "--derived-from", "ours.x3", *base),
    )
    assert refused.code != 0
    assert "--derived-from 'ours.x3' is not a model of the catalog" in refused.err
    assert "did you mean ours.x2" in refused.err
    assert "l1b-x2" not in (catalog_copy / "models" / "ours.yaml").read_text()
