"""Helpers shared by the evaluation tests (imported by name; pytest puts this folder on
sys.path, and a unique module name avoids clashing with other folders' conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The folder holding Set5/, Set14/, BSD100/ (each with HR/ and MANIFEST.sha256).
DATASETS_ENV = "UPSCALER_DATASETS"
DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def datasets_root() -> Path:
    """$UPSCALER_DATASETS, else ../shared/datasets beside the repository."""
    return Path(os.environ.get(DATASETS_ENV) or DEFAULT_DATASETS).resolve()


def standard_set(name: str) -> Path:
    """A standard set's folder, or skip the test saying where it was looked for."""
    folder = datasets_root() / name
    if not (folder / "HR").is_dir():
        pytest.skip(
            f"evaluation set {name} not found at {folder}/HR; set {DATASETS_ENV} to the "
            "folder that holds Set5/, Set14/ and BSD100/"
        )
    return folder
