"""`upscaler upscale IN [IN ...] -o OUT`: one file or a folder, --json, --format/--quality,
and its errors, with a tiny local TF.js model (nearest x2: outputs are known exactly)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from PIL import Image
from tiny_models import nearest_x2, write_tfjs_upsampler

Cli = Callable[..., Result]


def noise(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def pixels_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def model_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny nearest-x2 TF.js model (tests/tiny_models.py)."""
    return write_tfjs_upsampler(tmp_path_factory.mktemp("tfjs"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the module: the model is converted once."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def model(model_json: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    return ["--model", str(model_json), "--scale", "2"]


@pytest.fixture
def images(tmp_path: Path) -> dict[str, np.ndarray]:
    made = {"one.png": noise(10, 12, 1), "two.png": noise(7, 9, 2), "sub/three.bmp": noise(6, 6, 3)}
    for rel, pixels in made.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / rel)
    return made


def assert_one_line_error(result: Result, code: int, words: str) -> None:
    assert result.code == code, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.err
    assert words in lines[0]
    assert "Traceback" not in result.err


def test_one_input_to_a_file(cli: Cli, model: list[str], images: dict, tmp_path: Path) -> None:
    result = cli("upscale", str(tmp_path / "one.png"), "-o", str(tmp_path / "out.png"), *model)
    assert result.code == 0, result
    assert result.out.startswith(f"wrote {tmp_path / 'out.png'} in ")
    assert result.out.rstrip().endswith("with local:model")
    np.testing.assert_array_equal(pixels_of(tmp_path / "out.png"), nearest_x2(images["one.png"]))


def test_several_inputs_into_a_new_folder(
    cli: Cli, model: list[str], images: dict, tmp_path: Path
) -> None:
    inputs = [str(tmp_path / rel) for rel in images]
    result = cli("upscale", *inputs, "-o", str(tmp_path / "made" / "here"), *model)
    assert result.code == 0, result
    out = tmp_path / "made" / "here"
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "three.bmp", "two.png"]
    for rel, pixels in images.items():
        np.testing.assert_array_equal(pixels_of(out / Path(rel).name), nearest_x2(pixels))
    assert len(result.out.strip().splitlines()) == 3


@pytest.mark.parametrize("how", ["trailing-slash", "existing-folder"])
def test_one_input_into_a_folder(
    cli: Cli, model: list[str], images: dict, tmp_path: Path, how: str
) -> None:
    out = tmp_path / "folder"
    if how == "existing-folder":
        out.mkdir()
        target = str(out)
    else:
        target = str(out) + os.sep
    result = cli("upscale", str(tmp_path / "two.png"), "-o", target, *model)
    assert result.code == 0, result
    np.testing.assert_array_equal(pixels_of(out / "two.png"), nearest_x2(images["two.png"]))


def test_json_shape(cli: Cli, model: list[str], images: dict, tmp_path: Path) -> None:
    inputs = [str(tmp_path / "one.png"), str(tmp_path / "two.png")]
    result = cli("upscale", *inputs, "-o", str(tmp_path / "o") + "/", *model, "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert list(data) == ["model", "outputs", "load_seconds", "seconds", "describe"]
    assert data["model"] == "local:model"
    assert [o["input"] for o in data["outputs"]] == inputs
    assert [o["output"] for o in data["outputs"]] == [
        str(tmp_path / "o" / "one.png"),
        str(tmp_path / "o" / "two.png"),
    ]
    for entry in data["outputs"]:
        assert set(entry) == {"input", "output", "seconds"}
        assert entry["seconds"] >= 0
    assert (
        data["seconds"] >= data["load_seconds"] + sum(o["seconds"] for o in data["outputs"]) - 0.01
    )
    assert data["describe"]["model"]["id"] == "local:model"
    assert data["describe"]["runtime"]["savedmodel"]


def test_format_jpg_quality_90(cli: Cli, model: list[str], images: dict, tmp_path: Path) -> None:
    inputs = [str(tmp_path / "one.png"), str(tmp_path / "sub" / "three.bmp")]
    result = cli(
        "upscale", *inputs, "-o", str(tmp_path / "j"), *model, "--format", "jpg", "--quality", "90"
    )
    assert result.code == 0, result
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == ["one.jpg", "three.jpg"]
    for name, rel in (("one.jpg", "one.png"), ("three.jpg", "sub/three.bmp")):
        expected = {}
        for quality in (90, 75):
            buffer = io.BytesIO()
            Image.fromarray(nearest_x2(images[rel])).save(buffer, "JPEG", quality=quality)
            expected[quality] = buffer.getvalue()
        written = (tmp_path / "j" / name).read_bytes()
        assert written == expected[90]  # the same encoder at quality 90, byte for byte
        assert written != expected[75]


def test_format_names_a_suffixless_output(
    cli: Cli, model: list[str], images: dict, tmp_path: Path
) -> None:
    result = cli(
        "upscale",
        str(tmp_path / "one.png"),
        "-o",
        str(tmp_path / "pic"),
        *model,
        "--format",
        "webp",
    )
    assert result.code == 0, result
    with Image.open(tmp_path / "pic.webp") as image:
        assert (image.format, image.size) == ("WEBP", (24, 20))


def test_describe_still_prints(cli: Cli, model: list[str], images: dict, tmp_path: Path) -> None:
    result = cli(
        "upscale", str(tmp_path / "one.png"), "-o", str(tmp_path / "d.png"), *model, "--describe"
    )
    assert result.code == 0
    assert "model        local:model" in result.out


# --- errors ----------------------------------------------------------------------------------


def test_missing_input(cli: Cli, model: list[str], images: dict, tmp_path: Path) -> None:
    result = cli(
        "upscale",
        str(tmp_path / "one.png"),
        str(tmp_path / "nope.png"),
        "-o",
        str(tmp_path / "o"),
        *model,
    )
    assert_one_line_error(result, 10, "no such image file")
    assert not (tmp_path / "o").exists()  # checked before anything is written


def test_a_folder_as_input(cli: Cli, model: list[str], images: dict, tmp_path: Path) -> None:
    result = cli("upscale", str(tmp_path / "sub"), "-o", str(tmp_path / "o.png"), *model)
    assert_one_line_error(result, 10, "is a folder, not an image file")
    assert "upscaler batch" in result.err


def test_format_disagrees_with_the_output_name(
    cli: Cli, model: list[str], images: dict, tmp_path: Path
) -> None:
    result = cli(
        "upscale",
        str(tmp_path / "one.png"),
        "-o",
        str(tmp_path / "o.png"),
        *model,
        "--format",
        "jpg",
    )
    assert_one_line_error(result, 2, "--format jpg disagrees with the output name o.png")


def test_unknown_format(cli: Cli, model: list[str], images: dict, tmp_path: Path) -> None:
    result = cli(
        "upscale",
        str(tmp_path / "one.png"),
        "-o",
        str(tmp_path / "o") + "/",
        *model,
        "--format",
        "gifx",
    )
    assert_one_line_error(result, 2, "unknown output format 'gifx'")


def test_same_names_into_one_folder(
    cli: Cli, model: list[str], images: dict, tmp_path: Path
) -> None:
    (tmp_path / "sub" / "one.png").write_bytes((tmp_path / "one.png").read_bytes())
    result = cli(
        "upscale",
        str(tmp_path / "one.png"),
        str(tmp_path / "sub" / "one.png"),
        "-o",
        str(tmp_path / "o"),
        *model,
    )
    assert_one_line_error(result, 11, "would both be written to")


def test_several_inputs_but_out_is_a_file(
    cli: Cli, model: list[str], images: dict, tmp_path: Path
) -> None:
    result = cli(
        "upscale",
        str(tmp_path / "one.png"),
        str(tmp_path / "two.png"),
        "-o",
        str(tmp_path / "one.png"),
        *model,
    )
    assert_one_line_error(result, 11, "inputs need a folder")


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (("--quality", "101"), "quality must be in 1..100"),
        (("--alpha", "x"), "alpha must be one of"),
    ],
)
def test_bad_run_options(
    cli: Cli, model: list[str], images: dict, tmp_path: Path, option: tuple[str, str], words: str
) -> None:
    result = cli(
        "upscale", str(tmp_path / "one.png"), "-o", str(tmp_path / "o.png"), *model, *option
    )
    assert_one_line_error(result, 2, words)


def test_errors_through_a_real_process_have_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env["UPSCALER_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-m", "upscaler", "upscale", "nope.png", "-o", "out.png"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 10
    assert proc.stderr.splitlines() == [
        "error: no such image file: nope.png",
        "hint: check the path",
    ]


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing output folder", "does not exist"),
        ("unknown output format", "is not an output format that keeps the whole image"),
        ("input is not an image", "cannot decode"),
    ],
)
def test_mistakes_are_reported_before_any_model_work(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, words: str
) -> None:
    """Issue 14, item 18: these came 3-6 s in, after TensorFlow had loaded the model.

    The model is a catalog one that is not cached, and the network is forbidden: any
    model work would fail with OfflineError (exit 7) before the image check could run.
    """
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(noise(8, 8, 0)).save(src)
    if case == "missing output folder":
        out = tmp_path / "no" / "such" / "out.png"
    elif case == "unknown output format":
        out = tmp_path / "out.xyz"
    else:
        src.write_text("not an image", encoding="utf-8")
    result = cli("upscale", str(src), "-o", str(out), "--model", "esrgan-slim.x2")
    assert_one_line_error(result, 10, words)
