"""Weights shipped inside the package: every file under catalog/weights/ is pinned by a
catalog entry (source kind ``package``), none is over 2 MiB, and the wheel carries them."""

from __future__ import annotations

import tomllib
from pathlib import Path

from upscaler.catalog import default_catalog, shipped_catalog_dir
from upscaler.catalog.schema import PACKAGE_FILE_LIMIT, PackageSource
from upscaler.fetch.hashing import file_digest

REPO = Path(__file__).resolve().parents[2]


def test_every_in_package_file_is_pinned_and_small() -> None:
    root = shipped_catalog_dir()
    pinned: dict[str, tuple[str, int]] = {}
    for entry in default_catalog().entries:
        weights = entry.weights
        if weights is not None and isinstance(weights.source, PackageSource):
            for f in weights.files:
                pinned[f"{weights.source.package}/{f.path}"] = (f.sha256, f.size)
    folder = root / "weights"
    present = (
        {p.relative_to(root).as_posix(): p for p in folder.rglob("*") if p.is_file()}
        if folder.is_dir()
        else {}
    )
    assert sorted(present) == sorted(pinned), "unpinned or missing files in catalog/weights"
    for rel, path in present.items():
        assert not path.is_symlink()
        assert file_digest(path, "sha256") == pinned[rel]
        assert path.stat().st_size <= PACKAGE_FILE_LIMIT


def test_the_wheel_ships_the_catalog_folder_with_its_weights() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["catalog"] == "upscaler/_catalog"
    assert "catalog" in config["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
