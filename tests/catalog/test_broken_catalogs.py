"""Broken catalog files: one fixture per rule, each reported as `file:line: message`.

Every fixture is a real folder under tmp_path (the shipped vocab.yaml and one or two
shipped family files, then one thing broken) checked twice: by ``load_catalog`` and by
``upscaler catalog validate <dir>``, which must exit 3 and print the same location.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from catalog_helpers import TmpCatalog, line_containing, parse_problem

from upscaler.catalog import load_catalog, shipped_catalog_dir
from upscaler.cli.main import main
from upscaler.errors import CatalogError, UpscalerError

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

EXIT_CATALOG = 3


@dataclass(frozen=True)
class Case:
    """One broken rule: the edit that breaks it and where the error must point."""

    id: str
    edits: list[tuple[str, str]]  # (old, new) applied to the first family's file
    at: str  # text on the line the problem must be reported at ...
    message: str  # ... and a regex the message must match
    offset: int = 0  # lines below `at` (for lines with no unique text)
    families: tuple[str, ...] = ("esrgan-slim",)
    count: int = 1  # problems expected in all; the first is the one checked


X2_RANGES = "LR:0:0: [0.0, 255.0]\n        F_m1:0:0: [-112.437,"
"""The first ranges of esrgan-slim.int8-x2 (unique: int8-x4 has other numbers)."""

CALIBRATED_ON = (
    "        data:\n"
    "          T91: 712f54243fd508328a65593959a8be81dc845410803f0eae5be35a55c5648de0\n"
    "          BSD200: 103f812766f96d49d4d47e32740eb8defc5d63c4a5c09e46b6b8ed2ae2e9bb4e\n"
    "        images: 284\n"
)
"""esrgan-slim.int8-x2's calibration folders (unique with its image count)."""

CASES = [
    Case(
        "yaml-syntax-error",
        [("license: MIT\n", "license: MIT: oops\n")],
        at="MIT: oops",
        message=r"^mapping values are not allowed here",
    ),
    Case(
        "yaml-bad-indentation",
        [("    scale: 3\n", "    scale: 3\n   stray: key\n")],
        at="stray: key",
        message=r"expected <block end>",
    ),
    Case(
        "unknown-top-level-key",
        [("license: MIT\n", "license: MIT\nlicence: MIT\n")],
        at="licence: MIT",
        message=r"^licence: Extra inputs are not permitted$",
    ),
    Case(
        "unknown-variant-key",
        [("    scale: 3\n", "    scale: 3\n    scael: 3\n")],
        at="scael: 3",
        message=r"^variants\.x3\.scael: Extra inputs are not permitted$",
    ),
    Case(
        "wrong-type-scale",
        [("    scale: 3\n", '    scale: "two"\n')],
        at='scale: "two"',
        message=r"^variants\.x3\.scale: Input should be a valid integer",
    ),
    Case(
        "channels-not-1-3-4",
        [("    scale: 3\n", "    scale: 3\n    channels: 2\n")],
        at="channels: 2",
        message=r"^variants\.x3\.channels: Input should be 1, 3 or 4",
    ),
    Case(
        "unknown-dataset",
        [("    scale: 3\n", "    scale: 3\n    dataset: div3k\n")],
        at="dataset: div3k",
        # The whole list, sorted (it grows with the vocabulary).
        message=r"^unknown dataset 'div3k' \(valid: anime-images, anime-video, df2k, df2k-ost, "
        r"div2k, none, [a-z0-9, -]+; add new values to catalog/vocab\.yaml\)$",
    ),
    Case(
        "dataset-alias-instead-of-id",
        [("    scale: 3\n", "    scale: 3\n    dataset: DIV2K\n")],
        at="dataset: DIV2K",
        message=r"^unknown dataset 'DIV2K' \(write the canonical id 'div2k'\)$",
    ),
    Case(
        "quantization-alias-instead-of-id",
        [("    scale: 3\n", "    scale: 3\n    quantization: fp32\n")],
        at="quantization: fp32",
        message=r"^unknown quantization 'fp32' \(write the canonical id 'none'\)$",
    ),
    Case(
        "family-is-not-file-stem",
        [
            ("family: esrgan-slim\n", "family: esrgan-slimmer\n"),
            # the int8 and bfloat16 variants name their parents by id, which the rename
            # would break too
            *[
                (
                    f"derived_from: esrgan-slim.x{n}\n    quantization: {q}\n",
                    f"derived_from: esrgan-slimmer.x{n}\n    quantization: {q}\n",
                )
                for n in (2, 4)
                for q in ("int8", "bfloat16")
            ],
        ],
        at="family: esrgan-slimmer",
        message=r"^family 'esrgan-slimmer' must equal the file name stem 'esrgan-slim'$",
    ),
    Case(
        "no-family-default",
        [("    default: true\n", "")],
        at="variants:",
        message=r"must mark exactly one variant `default: true`, found 0$",
    ),
    Case(
        "two-family-defaults",
        [("    scale: 3\n", "    default: true\n    scale: 3\n")],
        at="variants:",
        message=r"must mark exactly one variant `default: true`, found 2$",
    ),
    Case(
        "global-default-names-no-variant",
        [("global_default: ch48-x2\n", "global_default: x16\n")],
        at="global_default: x16",
        message=r"^global_default 'x16' is not a variant of 'span'",
        families=("span",),
        count=2,  # and so the catalog has no global default either
    ),
    Case(
        # ruamel refuses duplicate keys; the loader turns that into a problem at the
        # second occurrence instead of silently keeping one of the two variants.
        "duplicate-variant-key",
        [("  x3:\n", "  x2:  # the duplicate\n")],
        at="# the duplicate",
        message=r'^found duplicate key "x2"',
    ),
    Case(
        "derived-from-missing-model",
        [("    scale: 3\n", "    scale: 3\n    derived_from: esrgan-slim.x9\n")],
        at="  x3:",
        message=r"^derived_from 'esrgan-slim\.x9' names no model \(nearest: esrgan-slim\.x",
    ),
    # int8 variants: a recipe of ranges on a parent (the shipped esrgan-slim.int8-x2)
    Case(
        "int8-range-min-above-max",
        [(X2_RANGES, X2_RANGES.replace("[0.0, 255.0]", "[255.0, 0.0]"))],
        at="LR:0:0: [255.0, 0.0]",
        message=r"^variants\.int8-x2\.quantize\.ranges\.LR:0:0: Value error, range "
        r"\[255\.0, 0\.0\] has min > max$",
    ),
    Case(
        "int8-range-not-finite",
        [(X2_RANGES, X2_RANGES.replace("[0.0, 255.0]", "[0.0, .inf]"))],
        at="LR:0:0: [0.0, .inf]",
        message=r"quantize\.ranges\.LR:0:0: Value error, range \[0\.0, inf\] must hold finite",
    ),
    Case(
        "int8-range-one-number",
        [(X2_RANGES, X2_RANGES.replace("[0.0, 255.0]", "[0.0]"))],
        at="LR:0:0: [0.0]",
        message=r"quantize\.ranges\.LR:0:0: List should have at least 2 items",
    ),
    Case(
        "int8-parent-missing",
        [
            (
                "derived_from: esrgan-slim.x2\n    quantization: int8\n",
                "derived_from: esrgan-slim.x9\n    quantization: int8\n",
            )
        ],
        at="  int8-x2:",
        message=r"^derived_from 'esrgan-slim\.x9' names no model",
    ),
    Case(
        "int8-recipe-without-int8",
        [
            (
                "    derived_from: esrgan-slim.x2\n    quantization: int8\n",
                "    derived_from: esrgan-slim.x2\n    quantization: none\n",
            )
        ],
        at="  int8-x2:",
        offset=5,  # its `quantize:` line
        message=r"has a `quantize` recipe but quantization 'none'; set `quantization: int8`$",
    ),
    Case(
        "int8-without-recipe",
        [("    scale: 3\n", "    scale: 3\n    quantization: int8  # no recipe\n")],
        at="    quantization: int8  # no recipe",
        message=r"^variant 'x3' is int8 but has no `quantize` recipe$",
    ),
    Case(
        "int8-scale-differs-from-parent",
        [("  int8-x2:\n    scale: 2\n", "  int8-x3:\n    scale: 3\n")],
        at="  int8-x3:",
        message=r"esrgan-slim\.int8-x3 has scale 3 but its parent esrgan-slim\.x2 has 2$",
    ),
    # bfloat16 variants: built from a parent, with no recipe (the shipped esrgan-slim.bf16-x2)
    Case(
        "bfloat16-without-parent",
        [("    scale: 3\n", "    scale: 3\n    quantization: bfloat16  # no parent\n")],
        at="    quantization: bfloat16  # no parent",
        message=r"^variant 'x3' quantizes a parent: set `derived_from`$",
        count=2,  # and its own weights must go
    ),
    Case(
        "bfloat16-of-a-parent-it-cannot-rebuild",
        [
            (
                "derived_from: esrgan-slim.x2\n    quantization: bfloat16\n",
                "derived_from: upscaler-compact.x2\n    quantization: bfloat16\n",
            )
        ],
        at="  bf16-x2:",
        message=r"esrgan-slim\.bf16-x2 is built from upscaler-compact\.x2, whose savedmodel "
        r"weights cannot be rebuilt yet \(only tfjs-layers, ncnn, npz, pytorch, safetensors\)$",
        families=("esrgan-slim", "upscaler-compact"),
        count=2,  # and the value ranges differ
    ),
    Case(
        "int8-calibrated-on-nothing",
        [(CALIBRATED_ON, "        data: {}\n        images: 284\n")],
        at="        data: {}",
        message=r"quantize\.calibration\.data: Dictionary should have at least 1 item",
    ),
    Case(
        "sha256-not-64-hex",
        [("sha256: 9d344609", "sha256: XYZ44609")],
        at="XYZ44609",
        message=r"^variants\.x3\.weights\.files\.1\.sha256: String should match pattern",
    ),
    Case(
        "sha256-too-short",
        [
            (
                "9d344609abd1e29bd3924f9c4e9ffaa1aee6be7c3586bab0f52863597858a2ba",
                "9d344609abd1e29bd3924f9c4e9ffaa1",
            )
        ],
        at="9d344609abd1e29bd3924f9c4e9ffaa1,",
        message=r"^variants\.x3\.weights\.files\.1\.sha256: String should match pattern",
    ),
    Case(
        "absolute-weights-path",
        [("path: models/x3/model.json", "path: /models/x3/model.json")],
        at="/models/x3/model.json",
        message=r"^variants\.x3\.weights\.files\.0\.path: Value error, path '/models/x3/model"
        r"\.json' must be relative",
    ),
    Case(
        "weights-file-not-a-mapping",
        [("- {path: models/x3/group1-shard1of1.bin", "- models/x3/group1-shard1of1.bin #")],
        at="- models/x3/group1-shard1of1.bin",
        message=r"^variants\.x3\.weights\.files\.1: Input should be a valid dictionary",
    ),
    Case(
        "tfjs-weights-without-json",
        [("models/x3/model.json", "models/x3/model.txt")],
        at="  x3:",
        offset=3,  # the `weights:` key of x3
        message=r"^variants\.x3\.weights: Value error, tfjs-layers weights need exactly one "
        r"\.json topology file, found 0$",
    ),
    Case(
        "missing-merged-scale",
        [("    scale: 3\n", "")],
        at="  x3:",
        message=r"^variant 'x3' lacks scale \(set them under the variant or in `defaults`\)$",
    ),
    Case(
        "value-range-reversed",
        [("    scale: 3\n", "    scale: 3\n    value_range: [255, 0]\n")],
        at="  x3:",
        message=r"^value_range must be \[low, high\] with low < high$",
    ),
]


def build(make_catalog: Callable[..., TmpCatalog], case: Case) -> tuple[TmpCatalog, Path]:
    cat = make_catalog(*case.families)
    edited = case.families[0]
    path = cat.family(edited)
    for old, new in case.edits:
        cat.edit(edited, old, new)
    return cat, path


def expected_line(path: Path, case: Case) -> int:
    return line_containing(path, case.at) + case.offset


def problems_of(root: Path, **kwargs: object) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(root, **kwargs)  # type: ignore[arg-type]
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, UpscalerError)
    assert err.exit_code == EXIT_CATALOG
    assert err.problems
    return err.problems


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_load_catalog_reports_file_and_line(
    make_catalog: Callable[..., TmpCatalog], case: Case
) -> None:
    cat, path = build(make_catalog, case)
    problems = [parse_problem(p) for p in problems_of(cat.root)]
    assert len(problems) == case.count, problems
    first = problems[0]
    assert first.file == path
    assert first.line == expected_line(path, case), first
    assert re.search(case.message, first.message), first.message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_validate_dir_exits_3_with_file_and_line(
    make_catalog: Callable[..., TmpCatalog], case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    cat, path = build(make_catalog, case)
    assert main(["catalog", "validate", str(cat.root)]) == EXIT_CATALOG
    out, err = capsys.readouterr()
    assert "ok" not in out
    lines = err.splitlines()
    assert len(lines) == case.count, err
    assert lines[0].startswith(f"{path}:{expected_line(path, case)}: ")
    assert re.search(case.message, parse_problem(lines[0]).message)
    assert "Traceback" not in err


def test_untouched_copy_is_valid(make_catalog: Callable[..., TmpCatalog]) -> None:
    """The fixtures fail because of their edit, not because of the copying."""
    cat = make_catalog("esrgan-slim", "esrgan-medium")
    catalog = load_catalog(cat.root)
    assert [e.id for e in catalog.entries][:1] == ["esrgan-medium.x2"]
    # 4 + 4 (esrgan-slim's int8 and bf16 variants) + 5 (span's self-ensemble)
    assert len(catalog.entries) == 17
    assert catalog.global_default.id == "span.ch48-x2"
    assert sorted(catalog.families) == ["esrgan-medium", "esrgan-slim", "span"]


def test_two_global_defaults_across_files(
    make_catalog: Callable[..., TmpCatalog], capsys: pytest.CaptureFixture[str]
) -> None:
    cat = make_catalog("esrgan-slim", "esrgan-medium")
    medium = cat.edit("esrgan-medium", "defaults:\n", "global_default: x2\ndefaults:\n")
    span = cat.family("span")
    (problem,) = problems_of(cat.root)
    parsed = parse_problem(problem)
    assert "second global default" in parsed.message
    # Both offending models are named by file:line (their variant keys): the second one
    # (alphabetically later file) is where the problem is reported.
    assert f"{medium}:{line_containing(medium, 'default: true') - 1}" in parsed.message
    assert (parsed.file, parsed.line) == (span, line_containing(span, "default: true") - 1)

    assert main(["catalog", "validate", str(cat.root)]) == EXIT_CATALOG
    err = capsys.readouterr().err
    assert err.strip() == problem


def test_no_global_default_at_all(
    make_catalog: Callable[..., TmpCatalog], capsys: pytest.CaptureFixture[str]
) -> None:
    cat = make_catalog("esrgan-slim", "esrgan-medium")
    cat.edit("span", "global_default: ch48-x2\n", "")
    (problem,) = problems_of(cat.root)
    parsed = parse_problem(problem)
    assert parsed.file.parent == cat.root / "models"
    assert parsed.line == 1
    assert parsed.message.startswith("the catalog has no `global_default`")

    assert main(["catalog", "validate", str(cat.root)]) == EXIT_CATALOG
    assert capsys.readouterr().err.strip() == problem


def test_defaults_typo_points_at_defaults_line(make_catalog: Callable[..., TmpCatalog]) -> None:
    cat = make_catalog("esrgan-slim")
    path = cat.edit("esrgan-slim", "  dataset: div2k\n", "  dataset: div3k\n")
    problems = [parse_problem(p) for p in problems_of(cat.root)]
    assert [p.line for p in problems] == [line_containing(path, "dataset: div3k")]


def test_top_level_architecture_typo_points_at_its_line(
    make_catalog: Callable[..., TmpCatalog],
) -> None:
    cat = make_catalog("esrgan-slim")
    path = cat.edit("esrgan-slim", "architecture: rdn\n", "architecture: rdnn\n")
    problems = [parse_problem(p) for p in problems_of(cat.root)]
    assert [p.line for p in problems] == [line_containing(path, "architecture: rdnn")]


def test_bad_integrity_is_reported_at_its_line(make_catalog: Callable[..., TmpCatalog]) -> None:
    cat = make_catalog("esrgan-slim")
    path = cat.edit("esrgan-slim", 'integrity: "sha512-DXtwn5', 'integrity: "sha1-DXtwn5', count=4)
    problems = [parse_problem(p) for p in problems_of(cat.root)]
    integrity = [
        p
        for p in problems
        if p.message.startswith("variants.x2.weights.source.integrity: String should match pattern")
    ]
    assert len(integrity) == 1
    assert integrity[0].line == line_containing(path, "models/x2/model.json") - 2


def test_bad_integrity_is_one_problem(make_catalog: Callable[..., TmpCatalog]) -> None:
    cat = make_catalog("esrgan-slim")
    cat.edit(
        "esrgan-slim",
        'integrity: "sha512-DXtwn5SE71+pZKluN/hGeLaZv6ZylyFQYSvMqU08kKCEA5Y9Q'
        '1cIIk4EvPTPZw8VqGi2C6F02c8OjhtId4BK2w=="}\n      files:\n        - {path: models/x3',
        'integrity: "sha1-DXtwn5"}\n      files:\n        - {path: models/x3',
    )
    assert len(problems_of(cat.root)) == 1


def test_unknown_vocab_key_in_vocab_yaml(make_catalog: Callable[..., TmpCatalog]) -> None:
    cat = make_catalog("esrgan-slim")
    vocab = cat.root / "vocab.yaml"
    text = vocab.read_text()
    vocab.write_text(text.replace("    title: DIV2K\n", "    title: DIV2K\n    titel: DIV2K\n"))
    (problem,) = problems_of(cat.root)
    parsed = parse_problem(problem)
    assert parsed.file == vocab
    assert parsed.line == line_containing(vocab, "titel: DIV2K")
    assert parsed.message == "datasets.div2k.titel: Extra inputs are not permitted"


def test_several_schema_problems_in_one_file_are_all_reported(
    make_catalog: Callable[..., TmpCatalog], capsys: pytest.CaptureFixture[str]
) -> None:
    cat = make_catalog("esrgan-slim")
    path = cat.family("esrgan-slim")
    cat.edit("esrgan-slim", "license: MIT\n", "license: MIT\nlicence: MIT\n")
    cat.edit("esrgan-slim", "    scale: 3\n", '    scale: "three"\n')
    cat.edit("esrgan-slim", "sha256: 9d344609", "sha256: XYZ44609")
    cat.edit("esrgan-slim", "    scale: 8\n", "    scale: 8\n    channels: 2\n")
    problems = [parse_problem(p) for p in problems_of(cat.root)]
    found = {(p.line, p.message.split(":")[0]) for p in problems}
    assert found == {
        (line_containing(path, "licence: MIT"), "licence"),
        (line_containing(path, 'scale: "three"'), "variants.x3.scale"),
        (line_containing(path, "XYZ44609"), "variants.x3.weights.files.1.sha256"),
        (line_containing(path, "channels: 2"), "variants.x8.channels"),
    }
    assert len(problems) == 4

    assert main(["catalog", "validate", str(cat.root)]) == EXIT_CATALOG
    assert len(capsys.readouterr().err.splitlines()) == 4


def test_several_entry_problems_in_one_file_are_all_reported(
    make_catalog: Callable[..., TmpCatalog],
) -> None:
    cat = make_catalog("esrgan-slim")
    path = cat.family("esrgan-slim")
    cat.edit("esrgan-slim", "    scale: 3\n", "    scale: 3\n    dataset: div3k\n")
    cat.edit(
        "esrgan-slim", "  x4:\n    scale: 4\n", "  x4:\n    scale: 4\n    quantization: int4\n"
    )
    cat.edit("esrgan-slim", "    scale: 8\n", "")
    cat.edit("esrgan-slim", "family: esrgan-slim\n", "family: esrgan-slimmer\n")
    for parent in ("x2", "x4"):  # the int8 and bf16 variants name their parents by id
        old, new = f"from: esrgan-slim.{parent}\n", f"from: esrgan-slimmer.{parent}\n"
        cat.edit("esrgan-slim", old, new, count=2)
    problems = [parse_problem(p) for p in problems_of(cat.root)]
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (
            line_containing(path, "family: esrgan-slimmer"),
            "family 'esrgan-slimmer' must equal the file name stem 'esrgan-slim'",
        ),
        (line_containing(path, "dataset: div3k"), "unknown dataset 'div3k'"),
        (line_containing(path, "quantization: int4"), "unknown quantization 'int4'"),
        (line_containing(path, "  x8:"), "variant 'x8' lacks scale"),
    ]


def test_problems_in_several_files_are_all_reported(
    make_catalog: Callable[..., TmpCatalog],
) -> None:
    cat = make_catalog("esrgan-slim", "esrgan-medium")
    slim = cat.edit("esrgan-slim", "    scale: 3\n", "    scale: 3\n    dataset: div3k\n")
    medium = cat.edit("esrgan-medium", "license: MIT\n", "license: MIT\nlicence: MIT\n")
    problems = sorted((p.file, p.line) for p in map(parse_problem, problems_of(cat.root)))
    assert problems == sorted(
        [
            (slim, line_containing(slim, "dataset: div3k")),
            (medium, line_containing(medium, "licence: MIT")),
        ]
    )


NEW_FAMILY = """\
# A contributor's new family, checked against the shipped catalog.
schema_version: 1
family: {family}
title: Contributed Upsampler
architecture: nearest
implementation: upscalerjs
license: MIT
defaults:
  dataset: none
  channels: 3
  objective: fidelity
  degradation: bicubic
  pruning: none
  quantization: none
  value_range: [0, 255]
variants:
  x5:
    default: true
    scale: 5
    weights:
      format: tfjs-layers
      source: {{npm: "@example/new-family", version: 1.0.0, integrity: "{integrity}"}}
      files:
        - {{path: models/x5/x5.json, sha256: {sha}, size: 498}}
"""
# The integrity of a real npm tarball (@upscalerjs/pixel-upsampler), any valid sha512 will do.
INTEGRITY = "sha512-" + (
    "1cA5pibP71GDVjGwTqCfnluAnbbytHlps0E6uVydqZb+RGExm+Zg3BbuWaqT0+aDPuyTGRrKXJU5KB4QMwU6Ng=="
)
GOOD_SHA = "0a11420e2425758f3a60d9f8b1bdcb8e0e281588ab0b83a0f79c02716d7013ba"


def write_new_family(folder: Path, *, family: str = "new-family", sha: str = GOOD_SHA) -> Path:
    path = folder / "new-family.yaml"
    path.write_text(NEW_FAMILY.format(family=family, sha=sha, integrity=INTEGRITY))
    return path


def test_overlay_valid_new_family_on_shipped_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_new_family(tmp_path)
    catalog = load_catalog(overlay=[path])
    assert len(catalog.entries) == len(load_catalog().entries) + 1
    assert catalog.by_id["new-family.x5"].scale == 5
    assert catalog.by_id["new-family.x5"].source_file == str(path)
    assert catalog.global_default.id == "span.ch48-x2"

    assert main(["catalog", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {shipped_catalog_dir()}: 105 models in 13 families")
    assert err == ""


def test_overlay_problem_is_reported_in_the_contributed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_new_family(tmp_path, sha="0a11420e")
    assert main(["catalog", "validate", str(path)]) == EXIT_CATALOG
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"{path}:{line_containing(path, 'sha256: 0a11420e,')}: ")


def test_overlay_cannot_add_a_second_global_default(tmp_path: Path) -> None:
    path = write_new_family(tmp_path)
    path.write_text(path.read_text().replace("defaults:\n", "global_default: x5\ndefaults:\n"))
    (problem,) = problems_of(shipped_catalog_dir(), overlay=[path])
    assert "second global default" in problem and "span.ch48-x2" in problem
    assert f"{path}:" in problem


def test_overlay_replaces_shipped_file_of_the_same_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "esrgan-slim.yaml"
    text = (shipped_catalog_dir() / "models" / "esrgan-slim.yaml").read_text()
    broken.write_text(text.replace("    scale: 3\n", "    scale: 3\n    dataset: div3k\n"))
    assert main(["catalog", "validate", str(broken)]) == EXIT_CATALOG
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{broken}:{line_containing(broken, 'dataset: div3k')}: unknown")


def test_overlay_family_must_match_its_file_name(tmp_path: Path) -> None:
    path = write_new_family(tmp_path, family="other-name")
    problems = [parse_problem(p) for p in problems_of(shipped_catalog_dir(), overlay=[path])]
    assert [(p.file, p.line) for p in problems] == [(path, line_containing(path, "family:"))]


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["catalog", "validate", str(missing)]) == EXIT_CATALOG
    assert capsys.readouterr().err.strip() == f"{missing}:1: no such file"


def test_validate_shipped_catalog_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "validate"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"ok: {shipped_catalog_dir()}: 104 models in 12 families"
    )


def test_validate_through_subprocess(make_catalog: Callable[..., TmpCatalog]) -> None:
    cat = make_catalog("esrgan-slim")
    path = cat.edit("esrgan-slim", "    scale: 3\n", '    scale: "two"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "upscaler", "catalog", "validate", str(cat.root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cat.root,
    )
    assert proc.returncode == EXIT_CATALOG, proc.stderr
    assert proc.stdout == ""
    line = line_containing(path, 'scale: "two"')
    assert proc.stderr.startswith(f"{path}:{line}: variants.x3.scale: ")
    assert "Traceback" not in proc.stderr
