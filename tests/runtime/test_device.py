"""Device strings, device checks, thread pools; several devices via logical CPUs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from fresh_process import run_fresh

from upscaler.runtime.device import (
    DeviceError,
    DeviceSpec,
    available_devices,
    configure_threads,
    cpu_cores,
    parse_device,
    resolve_device,
    thread_settings,
)

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", DeviceSpec("auto")),
        ("CPU", DeviceSpec("cpu")),
        (" cpu:1 ", DeviceSpec("cpu", 1)),
        ("gpu", DeviceSpec("gpu")),
        ("gpu:3", DeviceSpec("gpu", 3)),
        ("cuda:2", DeviceSpec("gpu", 2)),
        ("/device:GPU:1", DeviceSpec("gpu", 1)),
        ("/gpu:0", DeviceSpec("gpu", 0)),
    ],
)
def test_parse(text: str, expected: DeviceSpec) -> None:
    assert parse_device(text) == expected


@pytest.mark.parametrize("text", ["", "tpu", "gpu:", "gpu:-1", "gpu:a", "auto:0", "cpu0"])
def test_parse_errors_say_what_is_valid(text: str) -> None:
    with pytest.raises(DeviceError, match="'auto'"):
        parse_device(text)


def test_device_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_device(3)  # type: ignore[arg-type]


def test_resolve_on_this_machine(tf: Any) -> None:
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert resolve_device("auto") == ("/device:GPU:0" if has_gpu else "/device:CPU:0")
    assert resolve_device("cpu") == "/device:CPU:0"
    assert "cpu:0" in available_devices()


def test_missing_device_lists_the_available_ones(tf: Any) -> None:
    with pytest.raises(DeviceError, match=r"'gpu:7' is not available here \(available: cpu:0"):
        resolve_device("gpu:7")
    with pytest.raises(DeviceError, match="cpu:0"):
        resolve_device("cpu:9")


def test_threads_report_what_is_in_effect(tf: Any) -> None:
    settings = configure_threads()  # TensorFlow already ran in this process: report only
    assert settings.intra_op >= 1 and settings.inter_op >= 1
    assert thread_settings().as_dict()["intra_op"] == settings.intra_op
    assert cpu_cores() >= 1


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    from upscaler.runtime.device import configure_threads, cpu_cores, resolve_device
    from upscaler.errors import UpscalerError

    threads = configure_threads()  # before anything runs: really sets the pools
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

    def fn(x):
        k = tf.constant(np.random.default_rng(0).normal(0, 0.3, (3, 3, 3, 12)), tf.float32)
        y = tf.nn.depth_to_space(tf.nn.conv2d(x, k, 1, "SAME"), 2)
        return {"output": tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2) + 0.1 * y}

    module = tf.Module()
    module.fn = tf.function(
        fn, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="input")]
    )
    folder = sys.argv[1]
    tf.saved_model.save(
        module, folder, signatures={"serving_default": module.fn.get_concrete_function()}
    )

    from upscaler.runtime import load_savedmodel
    from upscaler.runtime.tiled import TiledRunner

    model = load_savedmodel(folder)
    pixels = np.random.default_rng(1).integers(0, 256, (70, 50, 3)).astype(np.uint8)
    report = {
        "threads": threads.as_dict(),
        "cores": cpu_cores(),
        "intra": tf.config.threading.get_intra_op_parallelism_threads(),
    }
    outputs = {}
    for name in ("cpu:0", "cpu:1"):
        runner = TiledRunner(
            model, scale=2, value_range=(0, 1), tile=16, context=2, device=name
        )
        outputs[name] = runner.run(pixels, progress=False)
        function = runner._function()
        with tf.device(runner.device):
            placed = function(tf.zeros((1, 20, 20, 3)))
        report[name] = {"device": runner.device, "placed": placed.device}
    report["equal"] = bool(np.array_equal(outputs["cpu:0"], outputs["cpu:1"]))
    try:
        resolve_device("cpu:2")
    except UpscalerError as exc:
        report["cpu:2"] = str(exc)
    print(json.dumps(report))
    """
)


def test_logical_cpus_route_work_and_agree(tmp_path: Path) -> None:
    """Two logical CPUs stand in for two GPUs; they must be set up before TensorFlow
    initialises, hence a fresh interpreter."""
    report = run_fresh(SCRIPT, str(tmp_path / "model"))
    assert report["threads"]["configured"] is True
    assert report["intra"] == report["cores"] == report["threads"]["intra_op"]
    assert report["cpu:0"]["device"] == "/device:CPU:0"
    assert report["cpu:1"]["device"] == "/device:CPU:1"
    assert report["cpu:1"]["placed"].endswith("/device:CPU:1")
    assert report["cpu:0"]["placed"].endswith("/device:CPU:0")
    assert report["equal"] is True
    assert "available: cpu:0, cpu:1" in report["cpu:2"]


FIRST_IMPORT = textwrap.dedent(
    """
    import json, sys
    assert "tensorflow" not in sys.modules
    from upscaler.runtime.savedmodel import require_tensorflow
    from upscaler.runtime.device import configure_threads, cpu_cores, thread_settings

    tf = require_tensorflow()  # the first import: sizes the pools before anything runs
    again = require_tensorflow()
    total = float(tf.reduce_sum(tf.ones((4, 4))))  # TensorFlow has run: pools now fixed
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        fixed = False
    except RuntimeError:
        fixed = True
    print(json.dumps({
        "same": again is tf,
        "total": total,
        "fixed": fixed,
        "configured": thread_settings().configured,
        "again": configure_threads().as_dict(),
        "intra": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter": tf.config.threading.get_inter_op_parallelism_threads(),
        "cores": cpu_cores(),
    }))
    """
)


def test_first_tensorflow_import_sizes_the_thread_pools(tmp_path: Path, tf: Any) -> None:
    """require_tensorflow() is the one way into TensorFlow, so the call that imports it
    sizes the pools; any later call (a runner built after a load or a conversion) is too
    late. A fresh interpreter, because this process imported TensorFlow long ago."""
    report = run_fresh(FIRST_IMPORT, cwd=tmp_path)
    assert report["same"] is True
    assert report["total"] == 16.0
    assert report["fixed"] is True, "the pools must be fixed once TensorFlow has run"
    assert report["configured"] is True
    assert report["again"] == {
        "intra_op": report["cores"],
        "inter_op": report["cores"],
        "configured": True,
    }
    assert report["intra"] == report["inter"] == report["cores"]
