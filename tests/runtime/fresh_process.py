"""Run a Python snippet in a fresh interpreter and read its last stdout line as JSON.

Thread pools and precision are fixed when TensorFlow starts, and the test process
started it long ago, so what depends on them is checked in a new interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_fresh(
    script: str, *args: str, env: dict[str, str | None] | None = None, cwd: Path | None = None
) -> dict[str, Any]:
    """``python -c script args...``; ``env`` entries set (or, when None, remove) variables."""
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report
