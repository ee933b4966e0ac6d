"""`upscaler batch` on the local engine: the mirrored tree, the failure report, resuming,
format conversion, and the one-line errors; plus the planning helpers on real folders."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from batch_support import TinyEnv, mixed_tree, noise, read_pixels, write_image
from cli_helpers import Result
from PIL import Image
from tiny_models import nearest_x2

from upscaler.batch import BatchIncomplete, FileResult, ModelSpec, RunOptions, run_batch
from upscaler.batch.plan import Job, clean_temp_files, discover, is_complete
from upscaler.batch.ray_engine import _rebuild_error
from upscaler.errors import OfflineError

Cli = Callable[..., Result]
GOOD = ("top.png", "a/photo.JPG", "a/b/deep.webp", "c/old.bmp")
LOSSLESS = ("top.png", "c/old.bmp")
REPORT_KEYS = {"path", "output", "error", "message", "hint", "time"}


def assert_one_line_error(result: Result, code: int, words: str) -> None:
    """User mistakes: the documented code, `error:` + `hint:` lines, no traceback."""
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.err
    assert words in lines[0], result.err
    assert "Traceback" not in result.err


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def mtimes(root: Path, names: tuple[str, ...]) -> dict[str, int]:
    return {name: (root / name).stat().st_mtime_ns for name in names}


# --- the mixed tree ------------------------------------------------------------------------


def test_mixed_folder_is_mirrored_and_the_bad_file_reported(
    tiny: TinyEnv, cli: Cli, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    sources = mixed_tree(src)

    result = cli("batch", str(src), str(dst), "--no-progress")

    assert result.code == BatchIncomplete.exit_code == 12, result
    assert files_under(dst) == {*GOOD, "upscaler-failures.jsonl"}
    for rel in LOSSLESS:
        np.testing.assert_array_equal(read_pixels(dst / rel), nearest_x2(sources[rel]), rel)
    for rel, fmt in (("a/photo.JPG", "JPEG"), ("a/b/deep.webp", "WEBP")):  # lossy: size only
        with Image.open(dst / rel) as image:
            assert (image.format, image.size) == (
                fmt,
                (2 * sources[rel].shape[1], 2 * sources[rel].shape[0]),
            )
    (line,) = (dst / "upscaler-failures.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert set(record) == REPORT_KEYS
    assert record["path"] == str(src / "a" / "broken.png")
    assert record["output"] == str(dst / "a" / "broken.png")
    assert record["error"] == "ImageError"
    assert "cannot decode" in record["message"]
    assert record["time"].endswith("+00:00")
    assert f"failed: {src / 'a' / 'broken.png'}: ImageError: cannot decode" in result.err
    assert result.out.strip() == (
        f"5 files: done 4, skipped 0, failed 1 in {result.out.split(' in ')[1].split()[0]} s; "
        f"failures in {dst / 'upscaler-failures.jsonl'}"
    )
    assert result.err.strip().splitlines()[-2:] == [
        "error: 1 of 5 files failed; the others are written",
        f"hint: see {dst / 'upscaler-failures.jsonl'}; "
        "rerun the same command to retry only what is missing",
    ]


def test_rerun_skips_finished_outputs_and_retries_failures(
    tiny: TinyEnv, cli: Cli, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    mixed_tree(src)
    assert cli("batch", str(src), str(dst), "--no-progress").code == 12
    before = mtimes(dst, GOOD)

    again = cli("batch", str(src), str(dst), "--no-progress", "--json")

    assert again.code == 12
    summary = json.loads(again.out)
    assert (summary["total"], summary["done"], summary["skipped"], summary["failed"]) == (
        5,
        0,
        4,
        1,
    )
    assert mtimes(dst, GOOD) == before  # nothing finished was written again
    assert len((dst / "upscaler-failures.jsonl").read_text().splitlines()) == 1  # not appended
    assert [f["path"] for f in summary["failures"]] == [str(src / "a" / "broken.png")]
    assert summary["describe"]["model"]["id"] == "tiny.x2"

    (src / "a" / "broken.png").unlink()
    fixed = cli("batch", str(src), str(dst), "--no-progress")
    assert fixed.code == 0, fixed
    assert "4 files: done 0, skipped 4, failed 0" in fixed.out
    assert not (dst / "upscaler-failures.jsonl").exists()
    assert mtimes(dst, GOOD) == before

    redo = cli("batch", str(src), str(dst), "--no-progress", "--overwrite")
    assert redo.code == 0
    assert "done 4, skipped 0" in redo.out
    assert all(after > before[n] for n, after in mtimes(dst, GOOD).items())


def test_an_output_that_does_not_decode_is_written_again(
    tiny: TinyEnv, cli: Cli, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    pixels = noise(10, 10, 7)
    write_image(src / "x" / "one.png", pixels)
    write_image(src / "two.png", pixels)
    assert cli("batch", str(src), str(dst), "--no-progress").code == 0
    complete = (dst / "x" / "one.png").read_bytes()
    (dst / "x" / "one.png").write_bytes(complete[: len(complete) // 2])  # a foreign, cut file
    assert not is_complete(dst / "x" / "one.png")

    result = cli("batch", str(src), str(dst), "--no-progress")

    assert result.code == 0
    assert "done 1, skipped 1, failed 0" in result.out
    np.testing.assert_array_equal(read_pixels(dst / "x" / "one.png"), nearest_x2(pixels))


def test_format_converts_names_and_keeps_the_tree(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    sources = mixed_tree(src)
    (src / "a" / "broken.png").unlink()

    result = cli("batch", str(src), str(dst), "--no-progress", "--format", "PNG")

    assert result.code == 0, result
    expected = {"top.png", "a/photo.png", "a/b/deep.png", "c/old.png"}
    assert files_under(dst) == expected
    np.testing.assert_array_equal(
        read_pixels(dst / "a/b/deep.png"), nearest_x2(sources["a/b/deep.webp"])
    )  # lossless WebP in, PNG out: exact
    with Image.open(dst / "a/photo.png") as image:
        assert image.format == "PNG"

    jpg = cli(
        "batch",
        str(src),
        str(tmp_path / "jpg"),
        "--no-progress",
        "--format",
        "jpeg",
        "--quality",
        "90",
    )
    assert jpg.code == 0
    assert (tmp_path / "jpg" / "c" / "old.jpg").is_file()


def test_library_run_batch_reports_each_file(tiny: TinyEnv, tmp_path: Path) -> None:
    src = tmp_path / "src"
    mixed_tree(src)
    seen: list[FileResult] = []

    summary = run_batch(
        src,
        tmp_path / "out",
        model=ModelSpec(model="tiny.x2"),
        options=RunOptions(outscale=2),
        progress=False,
        on_result=seen.append,
    )

    assert (summary.total, summary.done, summary.skipped, summary.failed) == (5, 4, 0, 1)
    assert not summary.ok
    assert sorted(r.src for r in seen) == sorted(str(src / p) for p in (*GOOD, "a/broken.png"))
    assert [f.error for f in summary.failures] == ["ImageError"]
    assert summary.report == str(tmp_path / "out" / "upscaler-failures.jsonl")
    assert summary.to_dict()["failures"][0]["path"] == str(src / "a" / "broken.png")


# --- errors: one line, a hint, a documented code -------------------------------------------


def test_missing_src(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    result = cli("batch", str(tmp_path / "nope"), str(tmp_path / "out"))
    assert_one_line_error(result, 11, "no such folder")
    assert not (tmp_path / "out").exists()


def test_src_is_a_file(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    image = write_image(tmp_path / "one.png", noise(4, 4, 1))
    result = cli("batch", str(image), str(tmp_path / "out"))
    assert_one_line_error(result, 11, "is a file, not a folder")
    assert "upscaler upscale" in result.err


@pytest.mark.parametrize("dst", [".", "inner", "inner/deeper"])
def test_dst_inside_src(tiny: TinyEnv, cli: Cli, tmp_path: Path, dst: str) -> None:
    write_image(tmp_path / "src" / "one.png", noise(4, 4, 1))
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "src" / dst))
    assert_one_line_error(result, 11, "inside SRC")
    assert not (tmp_path / "src" / "inner").exists()


@pytest.mark.parametrize(("fmt", "hint"), [("gif", "tif"), ("jgp", "jpg"), ("pngg", "png")])
def test_unknown_format(tiny: TinyEnv, cli: Cli, tmp_path: Path, fmt: str, hint: str) -> None:
    write_image(tmp_path / "src" / "one.png", noise(4, 4, 1))
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"), "--format", fmt)
    assert_one_line_error(result, 2, f"unknown output format {fmt!r}")
    assert f"did you mean {hint}?" in result.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (("--engine", "rey"), "unknown engine 'rey'"),
        (("--alpha", "linear"), "alpha must be one of model, bicubic"),
        (("--quality", "0"), "quality must be in 1..100"),
        (("--outscale", "0"), "outscale (--outscale) must be in (0, 64]"),
        (("--scale", "5"), ""),
    ],
)
def test_bad_options(
    tiny: TinyEnv, cli: Cli, tmp_path: Path, option: tuple[str, str], words: str
) -> None:
    write_image(tmp_path / "src" / "one.png", noise(4, 4, 1))
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"), "--strict", *option)
    assert result.code in (2, 4), result
    assert words in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_outputs_that_collide(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    write_image(tmp_path / "src" / "same.png", noise(4, 4, 1))
    write_image(tmp_path / "src" / "same.jpg", noise(4, 4, 2))
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"), "--format", "png")
    assert_one_line_error(result, 11, "would both be written to")


def test_a_second_job_on_the_same_dst_is_refused(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    from filelock import FileLock

    write_image(tmp_path / "src" / "one.png", noise(4, 4, 1))
    (tmp_path / "out").mkdir()
    with FileLock(str(tmp_path / "out" / ".upscaler-batch.lock")):
        result = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"))
    assert_one_line_error(result, 11, "another upscaler batch job is writing into")
    assert not (tmp_path / "out" / "one.png").exists()


def test_a_finished_job_leaves_no_lock_file(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    """Issue 14, item 20: `.upscaler-batch.lock` stayed in DST after every job."""
    write_image(tmp_path / "src" / "one.png", noise(4, 4, 1))
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"), "--no-progress")
    assert result.code == 0, result
    assert files_under(tmp_path / "out") == {"one.png"}
    again = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"), "--no-progress")
    assert again.code == 0 and not (tmp_path / "out" / ".upscaler-batch.lock").exists()


def test_ray_engine_without_ray_names_the_extra(
    tiny: TinyEnv, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # what `import ray` sees
    write_image(tmp_path / "src" / "one.png", noise(4, 4, 1))
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"), "--engine", "ray")
    assert_one_line_error(result, 9, "--engine ray needs Ray Data, which is not installed")
    assert "hint: pip install 'upscaler[ray]'" in result.err
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    from upscaler.batch import BatchError

    with pytest.raises(BatchError):
        cli("--debug", "batch", str(tmp_path / "nope"), str(tmp_path / "out"))


# --- planning helpers on real folders --------------------------------------------------------


def test_discover_is_recursive_sorted_case_insensitive_and_skips_hidden(tmp_path: Path) -> None:
    taken = ("b/Z.PNG", "a.jpeg", "b/c/y.TIF", "b/x.Webp", "m.bmp", "n.tiff", "k.jpg")
    for rel in (*taken, "anim.GIF", "b/clip.mp4", "talk.MKV"):  # animations and videos too
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    for rel in ("._a.jpg", ".git/x.png", "notes.txt", "song.mp3", "b/.tmp.abcdefgh.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)] == [
        "a.jpeg",
        "anim.GIF",
        "b/Z.PNG",
        "b/c/y.TIF",
        "b/clip.mp4",
        "b/x.Webp",
        "k.jpg",
        "m.bmp",
        "n.tiff",
        "talk.MKV",
    ]


def test_only_temp_files_of_planned_outputs_are_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    leftovers = [out / ".photo.k2j_9xq0.jpg", out / ".my.file.abcdefgh.png"]
    kept = [
        out / ".keep",
        out / ".other.abcdefgh.png",  # no planned output `other.png`
        out / ".photo.abcdefgh.png",  # planned output is photo.jpg, not .png
        out / ".photo.toolongname.jpg",
        out / "photo.jpg",
    ]
    for path in (*leftovers, *kept):
        path.write_bytes(b"x")
    jobs = [
        Job("s/photo.jpg", str(out / "photo.jpg")),
        Job("s/my.file.png", str(out / "my.file.png")),
    ]
    assert sorted(clean_temp_files(jobs)) == sorted(leftovers)
    assert all(p.exists() for p in kept)
    assert not any(p.exists() for p in leftovers)
    assert clean_temp_files([Job("s/a.png", str(tmp_path / "missing" / "a.png"))]) == []


def test_a_worker_setup_error_comes_back_as_its_own_class() -> None:
    row = FileResult(
        "a", "b", "setup-error", error="OfflineError", message="not cached", hint="fetch"
    )
    error = _rebuild_error(FileResult.from_row(row.to_row()))
    assert isinstance(error, OfflineError)
    assert (error.exit_code, error.message, error.hint) == (7, "not cached", "fetch")
    other = _rebuild_error(FileResult("a", "b", "setup-error", error="KeyError", message="x"))
    assert other.exit_code == 11
    assert "KeyError: x" in other.message


def test_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.png").write_bytes(b"")
    os.symlink(tmp_path, tmp_path / "real" / "loop")
    assert [p.name for p in discover(tmp_path / "real")] == ["a.png"]


def test_tiff_inputs_are_upscaled(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    pixels = noise(10, 12, 5)
    write_image(tmp_path / "src" / "scan.tiff", pixels)
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "out"), "--no-progress")
    assert result.code == 0, result.err
    np.testing.assert_array_equal(read_pixels(tmp_path / "out" / "scan.tiff"), nearest_x2(pixels))
