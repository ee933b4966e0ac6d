"""Fixtures every test folder shares: the CLI run in-process, and the logger it touches."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator

import pytest
from cli_helpers import Result

from upscaler.cli.main import main

# Test modules import TensorFlow themselves, before the library's require_tensorflow()
# could choose the allocator; give the test process what the library gives a user's
# (tests/runtime/test_allocator.py checks the library does it in a fresh interpreter).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

# The oracles (spandrel on torch) and TensorFlow share the test process. torch's PyPI
# build brings triton, its GPU kernel compiler, which spandrel imports through torch and
# which crashes the interpreter (a segfault) when it loads after TensorFlow. These tests
# run torch on the CPU only, where triton is never used: keep it from loading at all.
sys.modules.setdefault("triton", None)  # type: ignore[arg-type]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the real CLI entry point with argv and return exit code, stdout and stderr."""

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
