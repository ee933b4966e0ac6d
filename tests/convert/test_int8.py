"""int8 variants: the graph form, the ranges, a real TFLite build and its runner.

Everything here is a real component on a tiny generated model: the TF.js parser, the
int8 rewrites, TensorFlow's TFLite converter, the TFLite interpreter with XNNPACK and
the tiled runner. The numbers checked are the ones that would break if int8 were faked:
int8 tensors inside, one XNNPACK partition, an output close to the float parent's but
not identical to it, and tiles that equal a whole-image run exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import write_tfjs_small_rdn

from upscaler.convert import ops
from upscaler.convert.int8_graph import check_int8_ops, int8_graph, shared_ranges, tensors
from upscaler.errors import ConversionError

VALUE_RANGE = (0.0, 255.0)


def node(name: str, op: ops.Op, inputs: tuple[str, ...], output: str) -> ops.Node:
    return ops.Node(name, type(op).__name__, op, inputs, output)


def kernel(cin: int, cout: int, k: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((k, k, cin, cout)) * 0.2).astype(np.float32)


def small_graph(factor: int = 2) -> ops.Graph:
    """conv → separate ReLU → sum of three (one scaled) → nearest x``factor`` → conv."""
    return ops.Graph(
        "x",
        (
            node("a", ops.Conv2D(kernel(3, 4), padding="same"), ("x",), "a"),
            node("r", ops.Activation(ops.Act("relu")), ("a",), "r"),
            node("b", ops.Conv2D(kernel(4, 4, seed=1), padding="same"), ("r",), "b"),
            node("s", ops.WeightedSum((1.0, 0.5, 1.0)), ("b", "r", "b"), "s"),
            node("up", ops.ResizeNearest(factor, factor), ("s",), "up"),
            node("out", ops.Conv2D(kernel(4, 3, seed=2), padding="same"), ("up",), "out"),
        ),
        "out",
    )


# ----------------------------------------------------------------------------- graph form


def test_int8_form_uses_only_ops_xnnpack_takes_in_int8() -> None:
    graph = int8_graph(small_graph())
    kinds = [type(n.op).__name__ for n in graph.nodes]
    assert "WeightedSum" not in kinds and "ResizeNearest" not in kinds
    assert "Activation" not in kinds  # the ReLU is now the convolution's
    conv_a = graph.producers()["r"]
    assert isinstance(conv_a.op, ops.Conv2D) and conv_a.op.act.kind == "relu"
    adds = [n for n in graph.nodes if isinstance(n.op, ops.Binary) and n.op.kind == "add"]
    assert len(adds) == 2  # three terms: two additions
    scaled = [n for n in graph.nodes if isinstance(n.op, ops.Binary) and n.op.kind == "mul"]
    assert [n.op.scalar for n in scaled] == [0.5]
    d2s = [n for n in graph.nodes if isinstance(n.op, ops.DepthToSpace)]
    assert len(d2s) == 1 and d2s[0].op.block == 2
    assert tensors(graph) == ["x", *(n.output for n in graph.nodes)]
    assert int8_graph(small_graph()).nodes[3].output == graph.nodes[3].output  # deterministic


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_int8_form_computes_the_same_float_network(tf: Any, factor: int) -> None:
    from upscaler.convert.builder import build_module, graph_variables
    from upscaler.convert.int8_graph import MAX_CONCAT, int8_forward

    graph = small_graph(factor)
    rebuilt = int8_graph(graph)
    concats = [n for n in rebuilt.nodes if isinstance(n.op, ops.Concat)]
    assert concats and max(len(n.inputs) for n in concats) <= MAX_CONCAT  # XNNPACK takes them
    steps = [n.op.block for n in rebuilt.nodes if isinstance(n.op, ops.DepthToSpace)]
    assert steps == {2: [2], 3: [3], 4: [2, 2], 8: [2, 2, 2]}[factor]
    x = np.random.default_rng(3).random((1, 9, 7, 3), dtype=np.float32)
    plain = build_module(tf, graph).serve(tf.constant(x))["output"].numpy()
    ours = int8_forward(tf, rebuilt, graph_variables(tf, rebuilt), None)(tf.constant(x)).numpy()
    assert ours.shape == (1, 9 * factor, 7 * factor, 3)
    np.testing.assert_allclose(ours, plain, rtol=1e-5, atol=1e-5)


def test_swish_is_split_so_the_sigmoid_gets_a_range() -> None:
    graph = ops.Graph(
        "x",
        (node("c", ops.Conv2D(kernel(3, 3), padding="same", act=ops.Act("swish")), ("x",), "c"),),
        "c",
    )
    rebuilt = int8_graph(graph)
    kinds = [(type(n.op).__name__, getattr(n.op, "kind", None)) for n in rebuilt.nodes]
    assert kinds == [("Conv2D", None), ("Activation", None), ("Binary", "mul")]
    assert rebuilt.nodes[1].op.act.kind == "sigmoid"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("op", "what"),
    [
        (ops.Binary("div", scalar=2.0), "Binary div"),
        (ops.ResizeBilinear(2, 2), "ResizeBilinear"),
        (ops.Activation(ops.Act("tanh")), "Activation tanh"),
    ],
)
def test_an_op_without_an_int8_form_is_refused_by_name(op: ops.Op, what: str) -> None:
    graph = ops.Graph("x", (node("odd_layer", op, ("x",), "y"),), "y")
    with pytest.raises(ConversionError, match=rf"layer 'odd_layer' .*{what}.* no int8 form"):
        check_int8_ops(graph)


def test_shared_ranges_unify_concatenations_hold_zero_and_pin_the_output() -> None:
    graph = ops.Graph(
        "x",
        (
            node("a", ops.Conv2D(kernel(3, 2), padding="same"), ("x",), "a"),
            node("b", ops.Conv2D(kernel(3, 2, seed=1), padding="same"), ("x",), "b"),
            node("cat", ops.Concat(), ("a", "b"), "cat"),
            node("d2s", ops.DepthToSpace(2), ("cat",), "out"),
        ),
        "out",
        input_channels=3,
    )
    measured = {"x": (0.0, 255.0), "a": (2.0, 5.0), "b": (-3.0, 1.0), "cat": (-3, 5), "out": (9, 9)}
    shared = shared_ranges(graph, measured)
    assert shared["a"] == shared["b"] == shared["cat"] == shared["out"] == (-3.0, 9.0)
    assert shared["x"] == (0.0, 255.0)
    pinned = shared_ranges(graph, measured, output=VALUE_RANGE)
    assert pinned["a"] == pinned["out"] == VALUE_RANGE
    with pytest.raises(ConversionError, match="no activation range for tensor 'b'"):
        shared_ranges(graph, {k: v for k, v in measured.items() if k != "b"})
    with pytest.raises(ConversionError, match=r"range .* of tensor 'a' is invalid"):
        shared_ranges(graph, {**measured, "a": (1.0, float("nan"))})


# ----------------------------------------------------------------------------- real build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Any]:
    """The small RDN parsed, its ranges measured on random patches, built as int8 TFLite
    and loaded; also its float SavedModel, for comparison."""
    from upscaler.convert import convert_tfjs_layers
    from upscaler.convert.int8 import int8_network, measure_ranges, write_int8_model
    from upscaler.convert.tfjs import read_tfjs_layers
    from upscaler.runtime.savedmodel import load_savedmodel
    from upscaler.runtime.tflite import load_model

    base = tmp_path_factory.mktemp("int8")
    model_json = write_tfjs_small_rdn(base / "src")
    graph = int8_network(read_tfjs_layers(model_json), scale=2, wrapper=None)
    rng = np.random.default_rng(0)
    batches = [
        (rng.random((4, 24, 24, 3), dtype=np.float32) * 255.0).astype(np.float32) for _ in range(4)
    ]
    ranges = measure_ranges(graph, batches)
    report = write_int8_model(
        graph,
        ranges,
        base / "int8",
        value_range=VALUE_RANGE,
        scale=2,
        alignment=1,
        where="tiny int8",
        source={"model_json": "tiny"},
    )
    convert_tfjs_layers(model_json, base / "float", value_range=VALUE_RANGE, scale=2)
    return {
        "graph": graph,
        "ranges": ranges,
        "report": report,
        "int8": load_model(base / "int8"),
        "float": load_savedmodel(base / "float"),
        "folder": base / "int8",
    }


def test_the_build_is_int8_inside_and_one_xnnpack_partition(built: dict[str, Any]) -> None:
    report = built["report"]
    assert report["xnnpack_partitions"] == 1
    assert report["ops"]["CONV_2D"] == 6  # F, the 1x1 of a concatenation, in two parts
    assert "CONCATENATION" in report["ops"]  # the nearest upsampling's copies
    assert report["ops"]["QUANTIZE"] == 1 and report["ops"]["DEQUANTIZE"] == 1
    assert "ADD_N" not in report["ops"] and "RESHAPE" not in report["ops"]
    model = built["int8"]
    assert type(model).__name__ == "LoadedTFLite"
    assert model.runtime == "tflite-xnnpack" and model.precision == "int8"
    assert model.describe()["quantization"] == "int8"
    # the convolution weights really are int8 in the file
    from upscaler.runtime.tflite import interpreter

    it = interpreter((built["folder"] / "model.tflite").read_bytes(), threads=1)
    dtypes = {d["name"]: d["dtype"] for d in it.get_tensor_details()}
    assert sum(1 for t in dtypes.values() if t == np.int8) >= 10
    assert sum(1 for t in dtypes.values() if t == np.float32) == 2  # input and output


def test_int8_output_is_close_to_the_float_parent_but_not_equal(built: dict[str, Any]) -> None:
    x = np.random.default_rng(5).random((1, 20, 16, 3), dtype=np.float32) * 255.0
    q = built["int8"].predict(x)
    f = np.clip(built["float"].predict(x), *VALUE_RANGE)
    assert q.shape == f.shape == (1, 40, 32, 3)
    assert np.all(q == np.round(q))  # output levels are the 8-bit grey levels
    difference = np.abs(q - f)
    assert 0 < difference.mean() < 4.0, difference.mean()
    assert np.percentile(difference, 99) < 16.0


def test_int8_tiles_equal_a_whole_image_run(built: dict[str, Any]) -> None:
    from upscaler.runtime.tiled import TiledRunner

    model = built["int8"]
    image = np.random.default_rng(7).integers(0, 256, (57, 43, 3), dtype=np.uint8)

    def run(tile: int) -> np.ndarray:
        runner = TiledRunner(model, scale=2, value_range=VALUE_RANGE, context=8, tile=tile)
        out = runner.run(image, progress=False)
        facts = runner.describe()
        assert facts["runtime"] == "tflite-xnnpack" and facts["precision"] == "int8"
        assert (facts["tiles"] > 1) == (tile < 57), facts
        return out

    whole, tiled = run(4096), run(16)
    assert whole.shape == (114, 86, 3)
    np.testing.assert_array_equal(tiled, whole)


def test_interpreters_are_kept_per_shape_and_bounded(built: dict[str, Any]) -> None:
    from upscaler.runtime.tflite import KEPT_SHAPES

    model = built["int8"]
    for side in range(8, 8 + KEPT_SHAPES + 3):
        model.predict(np.zeros((2, side, side, 3), np.float32))
    assert len(model._cache) == KEPT_SHAPES
    assert next(reversed(model._cache)) == (1, 8 + KEPT_SHAPES + 2, 8 + KEPT_SHAPES + 2, 3)


def test_ranges_that_do_not_fit_the_network_are_refused(
    built: dict[str, Any], tmp_path: Path
) -> None:
    from upscaler.convert.int8 import write_int8_model

    ranges = dict(built["ranges"])
    ranges.pop(next(iter(ranges)))
    ranges["ghost:0:0"] = (0.0, 1.0)
    with pytest.raises(ConversionError, match=r"do not fit the network .*unknown: ghost:0:0"):
        write_int8_model(
            built["graph"],
            ranges,
            tmp_path / "bad",
            value_range=VALUE_RANGE,
            scale=2,
            alignment=1,
            where="tiny",
            source={},
        )
    assert not (tmp_path / "bad").exists()


def test_a_pointwise_conv_of_a_concatenation_becomes_a_sum_of_parts(tf: Any) -> None:
    from upscaler.convert.builder import build_module, graph_variables
    from upscaler.convert.int8_graph import int8_forward

    rng = np.random.default_rng(4)
    fuse = ops.Conv2D(
        kernel(6, 3, k=1, seed=3),
        bias=rng.standard_normal(3).astype(np.float32),
        act=ops.Act("relu"),
    )
    graph = ops.Graph(
        "x",
        (
            node("a", ops.Conv2D(kernel(3, 2), padding="same"), ("x",), "a"),
            node("b", ops.Conv2D(kernel(3, 4, seed=1) * 50, padding="same"), ("x",), "b"),
            node("cat", ops.Concat(), ("a", "b"), "cat"),
            node("fuse", fuse, ("cat",), "out"),
        ),
        "out",
    )
    rebuilt = int8_graph(graph)
    assert not any(isinstance(n.op, ops.Concat) for n in rebuilt.nodes)
    assert tensors(rebuilt) == ["x", "a", "b", "out#part0", "out#part1", "out#sum1", "out"]
    parts = [n.op for n in rebuilt.nodes if n.output.startswith("out#part")]
    assert [p.kernel.shape[2] for p in parts] == [2, 4]  # type: ignore[attr-defined]
    assert parts[1].bias is None  # type: ignore[attr-defined]  # the bias is added once
    x = rng.random((1, 6, 5, 3), dtype=np.float32)
    plain = build_module(tf, graph).serve(tf.constant(x))["output"].numpy()
    ours = int8_forward(tf, rebuilt, graph_variables(tf, rebuilt), None)(tf.constant(x)).numpy()
    np.testing.assert_allclose(ours, plain, rtol=1e-5, atol=1e-4)


def test_percentile_ranges_leave_rare_outliers_out(tf: Any) -> None:
    from upscaler.convert.int8 import measure_ranges

    graph = ops.Graph(
        "x", (node("r", ops.Activation(ops.Act("relu")), ("x",), "y"),), "y", input_channels=1
    )
    rng = np.random.default_rng(0)
    batches = [rng.random((2, 64, 64, 1), dtype=np.float32) for _ in range(3)]
    batches[1][0, 5, 5, 0] = 1000.0  # one value in 24,576
    exact = measure_ranges(graph, batches)  # the default: min and max
    assert exact["y"] == (pytest.approx(0.0, abs=1e-3), 1000.0)
    robust = measure_ranges(graph, batches, percentile=99.99)
    assert robust["y"][0] == pytest.approx(0.0, abs=1e-2)
    assert 0.99 < robust["y"][1] < 1.0
    with pytest.raises(ConversionError, match="percentile 40"):
        measure_ranges(graph, batches, percentile=40)
