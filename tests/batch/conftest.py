"""A tiny local catalog (one nearest x2 model with local weights) for folder-job tests.

Its cache (UPSCALER_HOME) is shared by the whole session, so the TF.js → SavedModel
conversion happens once; each test points the library and the CLI at it through the
environment, exactly as a user would.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from batch_support import Result, TinyEnv, write_tfjs_upsampler

from upscaler.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def _sha(path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


@pytest.fixture(scope="session")
def tiny_env(tmp_path_factory: pytest.TempPathFactory) -> TinyEnv:
    """A catalog folder whose only family, `tiny`, has local nearest-x2 weights."""
    base = tmp_path_factory.mktemp("tiny")
    weights = base / "weights"
    write_tfjs_upsampler(weights / "models" / "x2")
    root = base / "catalog"
    (root / "models").mkdir(parents=True)
    shutil.copy(REPO / "catalog" / "vocab.yaml", root / "vocab.yaml")
    files = []
    for rel in ("models/x2/model.json", "models/x2/up.bin"):
        sha, size = _sha(weights / rel)
        files.append(f"        - {{path: {rel}, sha256: {sha}, size: {size}}}")
    (root / "models" / "tiny.yaml").write_text(
        "\n".join(
            [
                "schema_version: 1",
                "family: tiny",
                "title: Tiny",
                "architecture: nearest",
                "implementation: upscalerjs",
                "license: MIT",
                "global_default: x2",
                "defaults: {dataset: none, channels: 3, pruning: none, quantization: none,"
                " value_range: [0, 255]}",
                "variants:",
                "  x2:",
                "    default: true",
                "    scale: 2",
                "    weights:",
                "      format: tfjs-layers",
                f"      source: {{path: {weights}}}",
                "      files:",
                *files,
                "",
            ]
        ),
        encoding="utf-8",
    )
    return TinyEnv(catalog=root, home=base / "home")


@pytest.fixture
def tiny(tiny_env: TinyEnv, monkeypatch: pytest.MonkeyPatch) -> TinyEnv:
    """The tiny catalog and its cache, set in this process's environment."""
    pytest.importorskip("tensorflow")
    for name, value in tiny_env.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("UPSCALER_OFFLINE", raising=False)
    return tiny_env


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the real CLI entry point in-process; return exit code, stdout and stderr."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture(autouse=True)
def _restore_upscaler_logger() -> Iterator[None]:
    """main() installs a stderr handler on the `upscaler` logger; undo it after each test."""
    logger = logging.getLogger("upscaler")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
