"""`upscaler eval` end to end on generated sets, and its one-line errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import Result

from upscaler.evaluate.datasets import load_set, read_ground_truth
from upscaler.evaluate.protocol import PROTOCOL_ID, bicubic_upscale, score_rgb

Cli = Callable[..., Result]


def test_eval_bicubic_json_on_a_tiny_set(cli: Cli, tiny_set: Path) -> None:
    ran = cli("eval", "bicubic", "--data", str(tiny_set), "--scale", "2", "--json")
    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    assert data["protocol"] == PROTOCOL_ID
    (result,) = data["results"]
    assert result["target"] == "bicubic" and result["scale"] == 2 and result["model"] is None
    tiny = result["sets"]["tiny"]
    assert tiny["name"] == "Tiny" and tiny["count"] == 3
    assert tiny["fingerprint"] == load_set(tiny_set).fingerprint
    names = [i["name"] for i in tiny["images"]]
    assert names == ["a.png", "b.png", "c.png"]
    for row in tiny["images"]:
        gt = read_ground_truth(tiny_set / "HR" / row["name"])
        expected = score_rgb(gt.rgb, 2, lambda lr: bicubic_upscale(lr, 2), gray=gt.gray)
        assert row["psnr_y"] == pytest.approx(expected.psnr_y, abs=1e-4)
        assert row["ssim_y"] == pytest.approx(expected.ssim_y, abs=1e-6)
    assert tiny["psnr_y"] == pytest.approx(np.mean([r["psnr_y"] for r in tiny["images"]]), abs=1e-3)


def test_eval_human_table_lists_images_and_the_mean(cli: Cli, tiny_set: Path) -> None:
    ran = cli("eval", "bicubic-y", "--data", str(tiny_set / "HR"), "--scale", "2")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].startswith("bicubic-y x2 on Tiny")
    assert lines[1].split() == ["IMAGE", "PSNR_Y", "SSIM_Y"]
    assert [line.split()[0] for line in lines[2:6]] == ["a.png", "b.png", "c.png", "mean"]


def test_a_plain_folder_of_images_is_a_set_too(cli: Cli, tiny_set: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for p in (tiny_set / "HR").iterdir():
        (plain / p.name).write_bytes(p.read_bytes())
    ran = cli("eval", "bicubic", "--data", str(plain), "--scale", "2", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["results"][0]["sets"]["plain"]["count"] == 3


@pytest.mark.parametrize(
    ("argv", "code", "message", "hint"),
    [
        (["bicubic", "--data", "{missing}", "--scale", "2"], 10, "does not exist", "--data DIR"),
        (["bicubic", "--data", "{empty}", "--scale", "2"], 10, "no images in", "HR/"),
        (
            ["bicubic", "--data", "{tiny}", "--scale", "1"],
            2,
            "the bicubic baseline needs a scale >= 2",
            "--scale 2 or more",
        ),
        (["bicubic", "--data", "{tiny}"], 2, "bicubic needs --scale", "--scale 2"),
        (["--data", "{tiny}"], 2, "give one target or --all", "--all"),
        (["bicubic", "--all", "--data", "{tiny}"], 2, "give one target or --all", "--all"),
        (
            ["bicubic", "--data", "{tiny}", "--scale", "2", "--write"],
            2,
            "not a catalog model",
            "drop --write",
        ),
        (["bicubic", "--data", "{tiny}", "--scale", "16"], 10, "needs at least", "smaller --scale"),
        (
            ["bicubic", "--data", "{tiny}", "--data", "{tiny}", "--scale", "2"],
            10,
            "both named",
            "once",
        ),
        (
            ["--all", "--data", "{tiny}", "--scale", "5"],
            2,
            "no catalog model has scale 5",
            "catalog scales",
        ),
        (["esrgan-slimm.x2", "--data", "{tiny}"], 4, "unknown model", None),
    ],
)
def test_bad_input_is_one_line_with_a_hint(
    cli: Cli,
    tiny_set: Path,
    tmp_path: Path,
    argv: list[str],
    code: int,
    message: str,
    hint: str | None,
) -> None:
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "tiny": tiny_set}
    ran = cli("eval", *[a.format(**{k: str(v) for k, v in paths.items()}) for a in argv])
    assert ran.code == code, ran.err
    # The last lines: any progress bar output comes before them.
    lines = ran.err.strip().splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("error: ")) :]
    assert message in lines[0]
    assert "Traceback" not in ran.err
    if hint is not None:
        assert lines[1].startswith("hint: ") and hint in lines[1]


def test_an_undecodable_image_is_an_image_error(cli: Cli, tiny_set: Path) -> None:
    (tiny_set / "HR" / "broken.png").write_bytes(b"not a png")
    ran = cli("eval", "bicubic", "--data", str(tiny_set), "--scale", "2")
    assert ran.code == 10
    assert "cannot decode" in ran.err and "broken.png" in ran.err


def save_model(folder: Path, fn: Callable[[Any], Any], channels: int) -> Path:
    """Save ``fn`` over ``channels``-channel float32 batches as a SavedModel in ``folder``."""
    tf: Any = pytest.importorskip("tensorflow")
    module = tf.Module()
    spec = tf.TensorSpec([None, None, None, channels], "float32", name="input")
    module.fn = tf.function(fn, input_signature=[spec], autograph=False)
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": module.fn.get_concrete_function()}
    )
    return folder


def nearest(lr: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1)


def assert_scores_are_nearest_x2(result: dict[str, Any], tiny_set: Path) -> None:
    """Every image of the tiny set scored as nearest-neighbour x2 scores."""
    rows = result["sets"]["tiny"]["images"]
    assert len(rows) == 3
    for row in rows:
        gt = read_ground_truth(tiny_set / "HR" / row["name"])
        expected = score_rgb(gt.rgb, 2, nearest, gray=gt.gray)
        assert math.isclose(row["psnr_y"], expected.psnr_y, abs_tol=1e-4)
        assert math.isclose(row["ssim_y"], expected.ssim_y, abs_tol=1e-6)


@pytest.fixture
def nearest2(tmp_path: Path) -> Path:
    """A tiny SavedModel doing nearest-neighbour x2 (TensorFlow needed)."""
    tf: Any = pytest.importorskip("tensorflow")

    def fn(x: Any) -> dict[str, Any]:
        return {"output": tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)}

    return save_model(tmp_path / "nearest2", fn, 3)


def test_eval_a_local_model_through_the_facade(cli: Cli, tiny_set: Path, nearest2: Path) -> None:
    ran = cli("eval", str(nearest2), "--data", str(tiny_set), "--scale", "2", "--json")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)["results"]
    assert result["kind"] == "model" and result["scale"] == 2
    assert_scores_are_nearest_x2(result, tiny_set)


@pytest.fixture
def premultiplying(tmp_path: Path) -> Path:
    """A tiny RGBA SavedModel: nearest x2 of colour times alpha / 255, and of alpha (value
    range 0..255), so its colour is right only when the alpha it is fed is opaque."""
    tf: Any = pytest.importorskip("tensorflow")

    def fn(x: Any) -> dict[str, Any]:
        up = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        alpha = up[..., 3:]
        return {"output": tf.concat([up[..., :3] * alpha / 255.0, alpha], axis=3)}

    return save_model(tmp_path / "premultiplying", fn, 4)


def test_an_rgba_model_is_scored_on_colour_with_opaque_alpha(
    cli: Cli, tiny_set: Path, premultiplying: Path
) -> None:
    """The RGB (and gray) evaluation images reach a 4-channel model with an opaque alpha
    added, and the colour it returns is what is scored: the scores are nearest x2's."""
    ran = cli("eval", str(premultiplying), "--data", str(tiny_set), "--scale", "2", "--json")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)["results"]
    assert_scores_are_nearest_x2(result, tiny_set)
