"""Item 4: contributed catalog YAML. `upscaler catalog validate FILE` answers every
hostile file with `file:line: message` lines and exit code 3, in bounded time and
memory, never a traceback; bad npm versions and file paths are caught by the schema."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Result
from pydantic import ValidationError

from upscaler.catalog.schema import NpmSource, WeightsFile
from upscaler.catalog.yaml_lines import MAX_DEPTH

Cli = Callable[..., Result]

SHA = "0" * 64
INTEGRITY = "sha512-" + "A" * 86 + "=="

VALID = f"""schema_version: 1
family: hostile
title: Hostile
architecture: rdn
implementation: upscalerjs
license: MIT
defaults: {{dataset: div2k, channels: 3, pruning: none, quantization: none, value_range: [0, 255]}}
variants:
  x2:
    default: true
    scale: 2
    weights:
      format: tfjs-layers
      source: {{npm: "@upscalerjs/esrgan-slim", version: VERSION, integrity: "{INTEGRITY}"}}
      files:
        - {{path: PATH, sha256: {SHA}, size: 1}}
"""


def family(version: str = "1.0.0", path: str = "models/x2/model.json") -> str:
    return VALID.replace("VERSION", version).replace("PATH", path)


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE_YAML: dict[str, tuple[bytes, str]] = {
    "alias bomb": (billion_laughs().encode(), "alias"),
    "one alias": (
        family().replace("title: Hostile", "title: &t Hostile\nhomepage: *t").encode(),
        "alias",
    ),
    "non-utf8 bytes": (
        family().replace("Hostile", "Hostil\udce9").encode("utf-8", "surrogateescape"),
        "UTF-8",
    ),
    "utf-16 with bom": (family().encode("utf-16"), "UTF-8"),
    "control character": (
        family().replace("title: Hostile", "title: Host\x07ile").encode(),
        "character",
    ),
    "nul byte": (family().replace("title: Hostile", "title: Host\x00ile").encode(), "character"),
    "deep flow sequence": (("k: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "deep"),
    "deep flow mapping": (("k: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n").encode(), "deep"),
    # 1,000 levels stay under the 1 MiB size cap, so the depth cap is what refuses them
    "deep block mapping": ("".join(" " * i + f"k{i}:\n" for i in range(1000)).encode(), "deep"),
    "npm version path": (family(version="1.0.0/../../x").encode(), "version"),
    "npm version words": (family(version="latest").encode(), "version"),
    "npm version range": (family(version="^1.0.0").encode(), "version"),
    "file path dot segment": (family(path="models/./x.json").encode(), "path"),
    "file path dotdot": (family(path="models/../x.json").encode(), "path"),
    "file path empty segment": (family(path="models//x.json").encode(), "path"),
    "file path absolute": (family(path="/etc/passwd.json").encode(), "path"),
    "file path backslash": (family(path='"models\\\\x.json"').encode(), "path"),
    "file path trailing slash": (family(path="models/x.json/").encode(), "path"),
    "file path control char": (family(path='"models/x\\u0007.json"').encode(), "path"),
    "not a mapping": (b"- just\n- a list\n", "mapping"),
    "empty file": (b"", "mapping"),
    "duplicate key": (
        family().replace("title: Hostile", "title: Hostile\ntitle: Again").encode(),
        "duplicate",
    ),
    "tab indentation": (b"family: x\n\tvariants: {}\n", "character '\\t'"),
    "huge scalar": (b"title: " + b"x" * 2_000_000 + b"\n", "MiB"),
}


STOPS_BY_LINE = {"alias bomb": 2, "deep block mapping": MAX_DEPTH + 1}
"""Where the reader must have stopped: at the first alias, at the first level beyond the
depth cap (each level is a line), not after reading the whole file."""


@pytest.mark.timeout(60)  # bounds a hang; the checks below prove the caps did the work
@pytest.mark.parametrize("case", list(HOSTILE_YAML))
def test_hostile_family_files(cli: Cli, tmp_path: Path, case: str) -> None:
    data, words = HOSTILE_YAML[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(data)
    result = cli("catalog", "validate", str(path))
    assert result.code == 3, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert lines, result
    assert all(re.match(r"^.+\.ya?ml:\d+: ", line) for line in lines), result.err
    ours = [re.match(r"^.*hostile\.yaml:(\d+): (.*)$", line) for line in lines]
    problems = [(int(m[1]), m[2]) for m in ours if m is not None]
    assert any(words.lower() in message.lower() for _, message in problems), result.err
    if case in STOPS_BY_LINE:
        assert problems[0][0] <= STOPS_BY_LINE[case], result.err


@pytest.mark.timeout(60)
def test_ten_megabytes_of_unknown_keys_is_refused_by_size(cli: Cli, tmp_path: Path) -> None:
    """Refused by the size cap before parsing: one problem, on line 1, about the size (a
    parse would report the first unknown key, on its own line)."""
    path = tmp_path / "hostile.yaml"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(500_000):
            handle.write(f"unknown_key_{i:07d}: 1\n")
    assert path.stat().st_size > 10_000_000
    result = cli("catalog", "validate", str(path))
    assert result.code == 3
    assert len(result.err.splitlines()) == 1, result.err[:500]
    assert "hostile.yaml:1: " in result.err and "MiB" in result.err
    assert "unknown_key" not in result.err


@pytest.mark.slow
def test_many_problems_are_capped_and_the_rest_counted(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(family() + "".join(f"junk{i}: 1\n" for i in range(5000)), encoding="utf-8")
    result = cli("catalog", "validate", str(path))
    assert result.code == 3
    lines = result.err.strip().splitlines()
    assert len(lines) <= 101, len(lines)
    assert re.search(r"\d+ more problems", lines[-1]), lines[-1]


@pytest.mark.parametrize("version", ["1.0.0/../../x", "latest", "1.0", "01.0.0", "1.0.0 ", ""])
def test_npm_source_version_must_be_an_exact_semver(version: str) -> None:
    with pytest.raises(ValidationError, match="version"):
        NpmSource(npm="@upscalerjs/esrgan-slim", version=version, integrity=INTEGRITY)


@pytest.mark.parametrize("version", ["1.0.0", "0.1.12", "2.0.0-beta.3", "1.2.3+build.5"])
def test_npm_source_accepts_semver(version: str) -> None:
    assert NpmSource(npm="@a/b", version=version, integrity=INTEGRITY).version == version


@pytest.mark.parametrize(
    "path", ["models/./x.json", "./x.json", "models//x.json", "x/", ".", "a/../b", "/abs", "a\\b"]
)
def test_weights_file_path_must_be_normalised(path: str) -> None:
    with pytest.raises(ValidationError, match="path"):
        WeightsFile(path=path, sha256=SHA, size=1)


@pytest.mark.parametrize("version", ["1.0.0/../../x", "1.0.0/x"])
def test_fetch_refuses_a_bent_version_as_a_catalog_error(tmp_path: Path, version: str) -> None:
    """A caller that bypasses the schema still gets one of our errors, not a ValueError
    traceback (and no request is made)."""
    from upscaler import CatalogError
    from upscaler.fetch.npm import download_npm_tarball

    with pytest.raises(CatalogError, match="version"):
        download_npm_tarball("@a/b", version, integrity=INTEGRITY, cache_dir=tmp_path)


@pytest.mark.parametrize("kind", ["looping symlink", "fifo", "dev-zero"])
@pytest.mark.slow
def test_family_paths_that_are_no_regular_file(cli: Cli, tmp_path: Path, kind: str) -> None:
    import os

    path = tmp_path / "hostile.yaml"
    if kind == "looping symlink":
        path.symlink_to("hostile.yaml")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    result = cli("catalog", "validate", str(path))
    assert result.code == 3, result
    assert "Traceback" not in result.err
    assert "hostile.yaml:1: " in result.err


def test_folder_named_like_a_family_file_in_a_catalog(
    cli: Cli, tmp_path: Path, make_shipped_copy: Path
) -> None:
    (make_shipped_copy / "models" / "odd.yaml").mkdir()
    result = cli("catalog", "validate", str(make_shipped_copy))
    assert result.code == 3, result
    assert "Traceback" not in result.err
    assert "odd.yaml:1: not a regular file" in result.err


@pytest.fixture
def make_shipped_copy(tmp_path: Path) -> Path:
    import shutil

    from upscaler.catalog import shipped_catalog_dir

    root = tmp_path / "catalog"
    shutil.copytree(shipped_catalog_dir(), root)
    return root
