"""Item 5: `upscaler batch` over a folder someone else filled. Only regular files are
read; every other entry with an image name (FIFO, device, socket, broken or looping
link), every folder symlink and every unreadable folder is counted and reported by kind,
and the job goes on."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Result
from hostile_support import Tiny, assert_cli_error, run_cli_process, snapshot, write_png

from upscaler.batch.plan import scan

Cli = Callable[..., Result]


def _hostile_tree(src: Path) -> None:
    write_png(src / "good.png")
    os.mkfifo(src / "pipe.png")
    (src / "zero.png").symlink_to("/dev/zero")
    (src / "loop.png").symlink_to("loop.png")
    (src / "gone.png").symlink_to(src / "nowhere.png")
    (src / "linked-folder").symlink_to(src / "sub")
    write_png(src / "sub" / "inner.png")


def test_scan_reports_every_entry_it_will_not_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _hostile_tree(src)
    result = scan(src)
    assert [p.relative_to(src).as_posix() for p in result.files] == ["good.png", "sub/inner.png"]
    assert result.ignored == {
        "FIFO": ["pipe.png"],
        "character device": ["zero.png"],
        "broken or looping symlink": ["gone.png", "loop.png"],
        "folder symlink (not followed)": ["linked-folder"],
    }


@pytest.mark.timeout(120)
def test_batch_over_a_hostile_tree_finishes_and_reports(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path
) -> None:
    """Before: the FIFO hung the job, /dev/zero ate gigabytes, the loop gave a traceback."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    _hostile_tree(src)
    before = snapshot(src)
    result = cli("batch", str(src), str(dst), "--model", "tiny.x2", "--json", "--no-progress")
    assert result.code == 0, result
    summary = json.loads(result.out)
    assert (summary["total"], summary["done"], summary["failed"]) == (2, 2, 0)
    assert summary["ignored"] == {
        "FIFO": ["pipe.png"],
        "character device": ["zero.png"],
        "broken or looping symlink": ["gone.png", "loop.png"],
        "folder symlink (not followed)": ["linked-folder"],
    }
    assert "Traceback" not in result.err
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.png")) == [
        "good.png",
        "sub/inner.png",
    ]
    assert snapshot(src) == before


def test_summary_line_counts_ignored_entries_by_kind(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _hostile_tree(src)
    result = cli("batch", str(src), str(dst), "--model", "tiny.x2", "--no-progress")
    assert result.code == 0, result
    assert (
        "ignored 5 entries: 1 FIFO, 2 broken or looping symlink, 1 character device, "
        "1 folder symlink (not followed)" in result.out
    )


def test_socket_in_src_is_ignored(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_png(src / "a.png")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(src / "s.png"))
        assert scan(src).ignored == {"socket": ["s.png"]}
    finally:
        server.close()


def test_unreadable_subfolder_is_counted_and_reported(tiny: Tiny, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_png(src / "a.png")
    write_png(src / "locked" / "secret.png")
    (src / "locked").chmod(0)
    dst.mkdir()
    shutil.copy(src / "a.png", dst / "a.png")  # a finished output: no model is loaded
    try:
        done = run_cli_process("batch", str(src), str(dst), "--model", "tiny.x2", "--json")
    finally:
        (src / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ignored"] == {"unreadable folder": ["locked"]}
    assert "unreadable folder" in done.stderr  # the warning names it too


def test_dst_that_is_a_symlink_loop(cli: Cli, tiny: Tiny, tmp_path: Path) -> None:
    write_png(tmp_path / "src" / "a.png")
    (tmp_path / "dst").symlink_to("dst")
    before = snapshot(tmp_path)
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "dst"), "--model", "tiny.x2")
    assert_cli_error(result, 11, "dst")
    assert snapshot(tmp_path) == before


def test_output_name_that_is_a_looping_symlink_is_replaced(
    cli: Cli, tf_tiny: Tiny, tmp_path: Path
) -> None:
    write_png(tmp_path / "src" / "a.png")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "a.png").symlink_to("a.png")
    result = cli("batch", str(tmp_path / "src"), str(tmp_path / "dst"), "--model", "tiny.x2")
    assert result.code == 0, result
    assert (tmp_path / "dst" / "a.png").is_file()
    assert not (tmp_path / "dst" / "a.png").is_symlink()


def test_file_names_that_are_not_utf8(cli: Cli, tf_tiny: Tiny, tmp_path: Path) -> None:
    """Names a Python str can only hold surrogate-escaped: the failure report, the
    warnings and --json carry them as \\udcXX escapes instead of crashing the job."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    raw = os.fsencode(src)
    write_png(Path(os.fsdecode(raw + b"/good\xff.png")))
    Path(os.fsdecode(raw + b"/broken\xfe.png")).write_bytes(b"not a png")
    os.mkfifo(os.fsdecode(raw + b"/pipe\xfd.png"))
    result = cli("batch", str(src), str(dst), "--model", "tiny.x2", "--json", "--no-progress")
    assert result.code == 12, result
    assert "Traceback" not in result.err and "Logging error" not in result.err
    summary = json.loads(result.out)
    assert (summary["done"], summary["failed"]) == (1, 1)
    assert summary["ignored"] == {"FIFO": ["pipe\udcfd.png"]}
    assert os.fsdecode(raw.replace(b"/src", b"/dst") + b"/good\xff.png") in {
        str(p) for p in dst.iterdir()
    }
    report = (dst / "upscaler-failures.jsonl").read_text(encoding="utf-8")
    assert json.loads(report)["path"].endswith("broken\udcfe.png")
