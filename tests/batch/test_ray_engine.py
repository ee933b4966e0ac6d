"""`--engine ray` on a local Ray cluster started for the job: the same bytes as the local
engine and the same failure report. (Resuming runs the same Worker code in the actors as
in the local engine, where tests/batch/test_batch.py proves it; a second Ray run would
cost another cluster start.)

Runs whenever Ray Data is installed (the `ray` extra is part of `dev`, so CI runs it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from batch_support import TinyEnv, mixed_tree
from cli_helpers import Result

Cli = Callable[..., Result]
GOOD = ("top.png", "a/photo.JPG", "a/b/deep.webp", "c/old.bmp")

pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'upscaler[ray]'")


def report(dst: Path) -> list[dict[str, str]]:
    lines = (dst / "upscaler-failures.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_ray_engine_matches_the_local_engine(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    import ray

    src, local, distributed = tmp_path / "src", tmp_path / "local", tmp_path / "ray"
    mixed_tree(src)
    assert cli("batch", str(src), str(local), "--no-progress").code == 12

    result = cli(
        "batch", str(src), str(distributed), "--engine", "ray", "--workers", "2", "--no-progress"
    )

    assert result.code == 12, result
    assert not ray.is_initialized()  # the job's own cluster was shut down
    assert "5 files: done 4, skipped 0, failed 1" in result.out
    for rel in GOOD:
        assert (distributed / rel).read_bytes() == (local / rel).read_bytes(), rel
    ((ray_failure,), (local_failure,)) = report(distributed), report(local)
    for key in ("path", "error", "message", "hint"):
        assert ray_failure[key] == local_failure[key]
    assert ray_failure["output"] == str(distributed / "a" / "broken.png")
    assert f"failed: {src / 'a' / 'broken.png'}: ImageError" in result.err
    assert "core_worker" not in result.err  # Ray's own logs stay out of the user's way
