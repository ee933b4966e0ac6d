"""Items 2, 3 and 8: an output never replaces its input, files get the modes the umask
asks for, and temp files neither outlive a kill -9 nor outgrow a legal name."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import Result
from hostile_support import Tiny, assert_cli_error, run_cli_process, snapshot, write_png
from PIL import Image

from upscaler import ImageError, Upscaler

Cli = Callable[..., Result]


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


# -- item 2: the input is never overwritten --------------------------------------------------


def _same_file_forms(folder: Path) -> dict[str, str]:
    """Ways to name the input as the output; each is made on disk by ``make``."""
    return {
        "same name": "in.png",
        "dot slash": "./in.png",
        "via parent": "../" + folder.name + "/in.png",
        "symlink": "link.png",
        "hard link": "hard.png",
        "folder holding it": ".",
    }


@pytest.mark.parametrize(
    "form", ["same name", "dot slash", "via parent", "symlink", "hard link", "folder holding it"]
)
def test_output_that_is_the_input_is_refused(cli: Cli, tiny: Tiny, in_tmp: Path, form: str) -> None:
    write_png(in_tmp / "in.png")
    (in_tmp / "link.png").symlink_to("in.png")
    os.link(in_tmp / "in.png", in_tmp / "hard.png")
    before = snapshot(in_tmp)
    out = _same_file_forms(in_tmp)[form]
    result = cli("upscale", "in.png", "-o", out, "--model", "tiny.x2")
    assert_cli_error(result, 10, "input")
    assert snapshot(in_tmp) == before


def test_upscale_file_refuses_to_write_its_input(tiny: Tiny, tmp_path: Path) -> None:
    src = write_png(tmp_path / "x.png")
    data = src.read_bytes()
    with pytest.raises(ImageError, match="input"):
        Upscaler("tiny.x2").upscale_file(src, src, progress=False)
    assert src.read_bytes() == data


# -- item 3: file modes follow the umask ------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_upscale_output_mode_follows_the_umask(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path, umask: int
) -> None:
    src = write_png(tmp_path / "in.png")
    old = os.umask(umask)
    try:
        result = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "tiny.x2")
    finally:
        os.umask(old)
    assert result.code == 0, result
    assert _mode(tmp_path / "out.png") == 0o666 & ~umask


def test_batch_outputs_and_cache_files_follow_the_umask(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    write_png(tmp_path / "src" / "a.png")
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "dst"), "--model", "tiny.x2")
    assert result.code == 0, result
    assert _mode(tmp_path / "dst" / "a.png") == 0o644
    files = [p for p in home.rglob("*") if p.is_file() and not p.is_symlink()]
    assert files
    for path in files:
        if path.suffix == ".lock":
            continue
        assert _mode(path) == 0o644, path
    folders = [p for p in home.rglob("*") if p.is_dir()]
    for path in folders:
        assert _mode(path) == 0o755, path


def test_rewritten_catalog_yaml_keeps_a_readable_mode(tmp_path: Path, umask_022: None) -> None:
    from tiny_models import write_tiny_catalog

    from upscaler.catalog.yaml_edit import set_variant_values

    family = write_tiny_catalog(tmp_path) / "models" / "tiny.yaml"
    family.chmod(0o644)
    set_variant_values(family, {"x2": {"description": "changed"}})
    assert "changed" in family.read_text(encoding="utf-8")
    assert _mode(family) == 0o644


# -- item 8: temp files ----------------------------------------------------------------------

_HOLD_TEMP = """
import sys, time
from pathlib import Path
from upscaler.atomic import temp_path
tmp = temp_path(Path(sys.argv[1]), ".png")
tmp.write_bytes(b"half an image")
print(tmp, flush=True)
time.sleep(600)
"""


def test_temp_file_of_a_killed_run_is_removed_by_the_next(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path
) -> None:
    """kill -9 between writing the temp file and renaming it leaves it behind; the next
    write into that folder removes it (its writer is dead), and nobody else's files."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".mine.abcdefgh.png").write_bytes(b"a user's hidden file")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_TEMP, str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    leftover = Path(proc.stdout.readline().strip())
    assert leftover.parent == out and leftover.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    src = write_png(tmp_path / "in.png")
    result = cli("upscale", str(src), "-o", str(out / "in.png"), "--model", "tiny.x2")
    assert result.code == 0, result
    assert sorted(p.name for p in out.iterdir()) == [".mine.abcdefgh.png", "in.png"]


def test_temp_file_of_a_live_writer_is_kept(tmp_path: Path) -> None:
    from upscaler.atomic import clean_stale_temps, temp_path

    live = temp_path(tmp_path, ".png")
    assert clean_stale_temps(tmp_path) == []
    assert live.exists()


@pytest.mark.parametrize("length", [200, 250, 255])
def test_output_name_near_the_name_limit(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path, length: int
) -> None:
    """A legal name of up to 255 bytes works: the temp name is short and fixed."""
    src = write_png(tmp_path / "in.png")
    name = "n" * (length - 4) + ".png"
    result = cli("upscale", str(src), "-o", str(tmp_path / name), "--model", "tiny.x2")
    assert result.code == 0, result
    with Image.open(tmp_path / name) as image:
        assert image.size == (10, 12)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.png", name])


@pytest.mark.slow
def test_read_only_output_folder(tiny: Tiny, tmp_path: Path) -> None:
    src = write_png(tmp_path / "in.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done = run_cli_process(
            "upscale", str(src), "-o", str(locked / "out.png"), "--model", "tiny.x2"
        )
    finally:
        locked.chmod(0o755)
    assert done.returncode == 10, done.stderr
    assert "Traceback" not in done.stderr
    assert "error: cannot write" in done.stderr and "hint: " in done.stderr
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ("a-file.png/out.png", "does not exist"),
        ("missing/out.png", "does not exist"),
        ("out.png\x00", "null"),
    ],
    ids=["under a file", "missing folder", "nul in name"],
)
def test_output_paths_that_cannot_be(
    cli: Cli, tiny: Tiny, in_tmp: Path, output: str, words: str
) -> None:
    write_png(in_tmp / "in.png")
    (in_tmp / "a-file.png").write_bytes(b"x")
    before = snapshot(in_tmp)
    result = cli("upscale", "in.png", "-o", output.replace("\\x00", "\x00"), "--model", "tiny.x2")
    assert result.code in (1, 10), result
    assert "Traceback" not in result.err and result.err.startswith("error: ")
    assert snapshot(in_tmp) == before


def test_existing_folder_as_output_takes_the_input_name(
    cli: Cli, tf_tiny: Tiny, in_tmp: Path
) -> None:
    write_png(in_tmp / "in.png")
    (in_tmp / "out").mkdir()
    result = cli("upscale", "in.png", "-o", "out", "--model", "tiny.x2")
    assert result.code == 0, result
    assert [p.name for p in (in_tmp / "out").iterdir()] == ["in.png"]


def test_no_output_is_written_when_a_later_one_would_replace_its_input(
    cli: Cli, tiny: Tiny, in_tmp: Path
) -> None:
    """`upscale a.png sub/b.png -o sub/`: b's output is b itself; a's is not written
    either (checked for every pair before any work)."""
    write_png(in_tmp / "a.png")
    write_png(in_tmp / "sub" / "b.png")
    before = snapshot(in_tmp)
    result = cli("upscale", "a.png", "sub/b.png", "-o", "sub/", "--model", "tiny.x2")
    assert_cli_error(result, 10, "input")
    assert snapshot(in_tmp) == before
