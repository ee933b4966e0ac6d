"""precision="bfloat16": opt-in, process-wide, refused where it cannot help.

The process-wide parts run in fresh interpreters: the precision is fixed when TensorFlow
starts, and this test process started it long ago.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fresh_process import run_fresh
from tiny_models import write_tfjs_upsampler

from upscaler.errors import DeviceError, UpscalerError
from upscaler.runtime.precision import (
    ENV_PRECISION,
    check_precision,
    cpu_flags,
    cpu_has_native_bfloat16,
)

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow


def test_names_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_PRECISION, raising=False)
    assert check_precision(None) == "float32"
    assert check_precision("BF16") == "bfloat16"
    assert check_precision("fp32") == "float32"
    monkeypatch.setenv(ENV_PRECISION, "bfloat16")
    assert check_precision(None) == "bfloat16"


def test_unknown_precision_names_the_value_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(DeviceError, match="'float16' is not a precision") as info:
        check_precision("float16")
    assert info.value.hint == "use one of float32, bfloat16"
    assert isinstance(info.value, ValueError) and isinstance(info.value, UpscalerError)
    monkeypatch.setenv(ENV_PRECISION, "half")
    with pytest.raises(DeviceError, match=f"{ENV_PRECISION} 'half'"):
        check_precision(None)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\n"
        "processor\t: 1\nflags\t\t: fpu sse2 avx512f avx512_bf16\n",
        encoding="utf-8",
    )
    flags = cpu_flags(cpuinfo)
    assert {"fpu", "avx512f", "avx512_bf16"} <= flags
    assert cpu_has_native_bfloat16(flags)
    assert not cpu_has_native_bfloat16(frozenset({"avx512f", "avx2"}))
    assert cpu_has_native_bfloat16(frozenset({"amx_bf16"}))
    assert cpu_flags(tmp_path / "missing") == frozenset()


RUN = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from upscaler import Upscaler
    from upscaler.errors import DeviceError
    from upscaler.runtime.precision import cpu_has_native_bfloat16

    folder, asked, out = sys.argv[1], sys.argv[2] or None, sys.argv[3]
    pixels = np.random.default_rng(0).random((40, 36, 3)).astype(np.float32)
    report = {"native": cpu_has_native_bfloat16()}
    try:
        up = Upscaler(model=folder, scale=2, value_range=(0.0, 1.0), precision=asked)
        up.prepare(progress=False)  # may start TensorFlow: the precision must be set first
        np.save(out, up.upscale(pixels, progress=False))
        report["precision"] = up.describe().to_dict()["runtime"]["precision"]
        other = "float32" if report["precision"] == "bfloat16" else "bfloat16"
        try:
            Upscaler(model=folder, scale=2, value_range=(0.0, 1.0), precision=other).load()
            report["switch"] = "allowed"
        except DeviceError as exc:
            report["switch"] = str(exc)
    except DeviceError as exc:
        report["error"] = str(exc)
    print(json.dumps(report))
    """
)


def _run(folder: Path, asked: str, out: Path, env_precision: str | None = None) -> dict[str, Any]:
    return run_fresh(RUN, str(folder), asked, str(out), env={ENV_PRECISION: env_precision})


def test_bfloat16_is_close_to_float32_and_fixed_for_the_process(
    conv_sr: Callable[..., Path], tmp_path: Path
) -> None:
    folder = conv_sr(convs=4, seed=3)
    exact = _run(folder, "", tmp_path / "f32.npy")
    assert exact["precision"] == "float32"
    if exact["native"]:
        assert "already runs models in float32" in exact["switch"]
    else:  # refused for the CPU before the process's precision is even considered
        assert "native bfloat16 (AVX512-BF16 or AMX)" in exact["switch"]

    fast = _run(folder, "", tmp_path / "bf16.npy", env_precision="bfloat16")
    if not fast["native"]:
        # Without native bfloat16 it would only be slower: refused, with the reason.
        assert "native bfloat16 (AVX512-BF16 or AMX)" in fast["error"]
        return
    assert fast["precision"] == "bfloat16"
    assert "already runs models in bfloat16" in fast["switch"]
    reference = np.load(tmp_path / "f32.npy")
    approx = np.load(tmp_path / "bf16.npy")
    assert approx.shape == reference.shape == (80, 72, 3)
    assert not np.array_equal(approx, reference), "bfloat16 must really be in effect"
    # bfloat16 keeps 8 significant bits: a few parts per thousand of the range.
    np.testing.assert_allclose(approx, reference, atol=0.02)


def test_precision_argument_is_applied_like_the_environment(
    conv_sr: Callable[..., Path], tmp_path: Path
) -> None:
    report = _run(conv_sr(convs=4, seed=3), "bfloat16", tmp_path / "out.npy")
    if report["native"]:
        assert report["precision"] == "bfloat16"
    else:
        assert "native bfloat16" in report["error"]


def test_bfloat16_on_a_gpu_is_refused_before_anything_changes() -> None:
    from upscaler.runtime.precision import current_precision, request_precision

    before = current_precision()
    with pytest.raises(DeviceError, match="runs on the CPU") as info:
        request_precision("bfloat16", device_kind="gpu")
    assert info.value.hint is not None and "float32" in info.value.hint
    assert current_precision() == before


PREPARE_FIRST = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from upscaler import Upscaler
    from upscaler.errors import DeviceError

    # A TF.js model: prepare() converts it, which is the first thing to start TensorFlow.
    up = Upscaler(model=sys.argv[1], scale=2, value_range=(0.0, 1.0), precision="bfloat16")
    try:
        up.prepare(progress=False)
        up.upscale(np.zeros((8, 8, 3), np.float32), progress=False)
        print(json.dumps({"precision": up.describe().to_dict()["runtime"]["precision"]}))
    except DeviceError as exc:
        print(json.dumps({"error": str(exc)}))
    """
)


def test_precision_is_set_before_a_conversion_starts_tensorflow(tmp_path: Path) -> None:
    model_json = write_tfjs_upsampler(tmp_path / "tfjs")
    report = run_fresh(
        PREPARE_FIRST, str(model_json), env={ENV_PRECISION: None, "UPSCALER_HOME": str(tmp_path)}
    )
    if cpu_has_native_bfloat16():
        assert report == {"precision": "bfloat16"}
    else:
        assert "native bfloat16" in report["error"]
