"""Stored bfloat16 variants: the network written with every weight and op in bfloat16.

Real components on a tiny generated model (the TF.js parser, the builder, TensorFlow's
SavedModel writer and loader, the tiled runner) and, through a copy of the catalog, the
whole path a user takes: `Upscaler(model=VARIANT)` builds the variant from its parent's
verified weights. What would break if bfloat16 were faked: the stored variables' dtype,
outputs that differ from the float32 parent's in the last bits but stay close to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import write_tfjs_small_rdn

from upscaler.errors import ConversionError

VALUE_RANGE = (0.0, 255.0)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Any]:
    """The small RDN written twice from one parse: float32 and bfloat16."""
    import time

    from upscaler.convert.tfjs import read_tfjs_layers
    from upscaler.convert.writer import write_savedmodel
    from upscaler.runtime.savedmodel import load_savedmodel

    base = tmp_path_factory.mktemp("bf16")
    parsed = read_tfjs_layers(write_tfjs_small_rdn(base / "src"))
    reports = {}
    for compute in ("float32", "bfloat16"):
        reports[compute] = write_savedmodel(
            parsed.graph,
            base / compute,
            where=f"tiny {compute}",
            source_format="tfjs-layers",
            layer_counts=parsed.layer_counts,
            source=parsed.source,
            value_range=VALUE_RANGE,
            scale=2,
            wrapper=None,
            overwrite=False,
            started=time.perf_counter(),
            compute=compute,
        )
    return {
        "float": load_savedmodel(base / "float32"),
        "bf16": load_savedmodel(base / "bfloat16"),
        "reports": reports,
        "base": base,
    }


def test_the_weights_are_stored_in_bfloat16(built: dict[str, Any], tf: Any) -> None:
    def dtypes(folder: Path) -> set[str]:
        reader = tf.train.load_checkpoint(str(folder / "variables" / "variables"))
        kinds = reader.get_variable_to_dtype_map()
        return {d.name for key, d in kinds.items() if key.startswith("weights_list/")}

    assert dtypes(built["base"] / "bfloat16") == {"bfloat16"}
    assert dtypes(built["base"] / "float32") == {"float32"}
    assert built["bf16"].metadata["compute"] == "bfloat16"
    assert "compute" not in built["float"].metadata
    assert built["bf16"].precision == "bfloat16" and built["float"].precision is None
    # The signature is the serving contract's float32 either way.
    assert built["bf16"].input.dtype == built["bf16"].output.dtype == "float32"


def test_output_is_close_to_float32_but_not_equal(built: dict[str, Any]) -> None:
    x = np.random.default_rng(5).random((1, 20, 16, 3), dtype=np.float32) * 255.0
    b = built["bf16"].predict(x)
    f = built["float"].predict(x)
    assert b.shape == f.shape == (1, 40, 32, 3) and b.dtype == np.float32
    difference = np.abs(b - f)
    assert difference.max() > 0  # computed in bfloat16, not float32 in disguise
    # bfloat16 keeps 8 significant bits: about 0.4 % of a value, at most a few levels here.
    assert difference.mean() < 1.0 and difference.max() < 6.0, difference.max()


def test_tiles_match_a_whole_image_run(built: dict[str, Any]) -> None:
    from upscaler.runtime.tiled import TiledRunner

    model = built["bf16"]
    image = np.random.default_rng(7).integers(0, 256, (57, 43, 3), dtype=np.uint8)

    def run(tile: int) -> np.ndarray:
        runner = TiledRunner(model, scale=2, value_range=VALUE_RANGE, context=8, tile=tile)
        out = runner.run(image, progress=False)
        assert runner.describe()["precision"] == "bfloat16"
        return out

    whole, tiled = run(4096), run(16)
    assert whole.shape == tiled.shape == (114, 86, 3)
    # A tile's convolutions may sum in another order; in bfloat16 that can move a value
    # across a rounding step, never further.
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_an_unknown_compute_type_is_refused(tf: Any) -> None:
    from upscaler.convert import ops
    from upscaler.convert.builder import build_module

    graph = ops.Graph(
        "x",
        (ops.Node("up", "UpSampling", ops.ResizeNearest(2, 2), ("x",), "up"),),
        "up",
    )
    with pytest.raises(ConversionError, match="float16"):
        build_module(tf, graph, compute="float16")
