"""The `upscaler` command line: models, resolve, describe, errors and help."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import Result

from upscaler import __version__
from upscaler.catalog import default_catalog
from upscaler.cli.main import build_parser, main

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

CATALOG = default_catalog()
LIST_KEYS = {
    "id",
    "architecture",
    "implementation",
    "dataset",
    "scale",
    "channels",
    "pruning",
    "quantization",
}

Cli = Callable[..., Result]


def assert_one_line_error(result: Result, code: int) -> None:
    """User mistakes: a non-zero code, `error:` and `hint:` lines, no traceback, no stdout."""
    assert result.code == code, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.err
    assert "Traceback" not in result.err


def run_module(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env["UPSCALER_HOME"] = str(cwd / "home")
    return subprocess.run(
        [sys.executable, "-m", "upscaler", *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )


# --- models list ------------------------------------------------------------------------------


def test_models_list_json_has_every_model(cli: Cli) -> None:
    result = cli("models", "list", "--json")
    assert result.code == 0
    rows = json.loads(result.out)
    assert isinstance(rows, list)
    assert len(rows) == len(CATALOG.entries) == 104
    assert [r["id"] for r in rows] == [e.id for e in CATALOG.entries]
    for row in rows:
        assert set(row) >= LIST_KEYS, row
        entry = CATALOG.by_id[row["id"]]
        for key in LIST_KEYS - {"id"}:
            assert row[key] == entry.attribute(key)
    assert [r["id"] for r in rows if r["global_default"]] == ["span.ch48-x2"]


def test_models_list_table(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    result = cli("models", "list")
    assert result.code == 0
    header, *rows = result.out.splitlines()
    assert header.split() == [
        "ID",
        "SCALE",
        "PSNR",
        "MS/MP",
        "CHANNELS",
        "DOMAIN",
        "DENOISE",
        "PROTOCOLS",
        "ARCHITECTURE",
        "DATASET",
        "IMPLEMENTATION",
        "QUANTIZATION",
        "PRUNING",
    ]
    assert [row.split()[0] for row in rows] == [e.id for e in CATALOG.entries]
    slim = next(row for row in rows if row.startswith("esrgan-slim.x2 "))
    assert slim.split() == [
        "esrgan-slim.x2",
        "2",
        "31.07",  # mean of set5 33.52, set14 30.13, bsd100 29.55
        "703",
        "3",
        "photo",
        "none",
        "bicubic",
        "rdn",
        "div2k",
        "upscalerjs",
        "none",
        "none",
    ]


def test_models_list_names_the_protocol_of_its_psnr(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    result = cli("models", "list", "--protocol", "jpeg-q50", "--filter", "scale=2")
    assert result.code == 0, result.err
    header = result.out.splitlines()[0]
    assert header.split()[2] == "PSNR:jpeg-q50"
    rows_json = json.loads(cli("models", "list", "--protocol", "jpeg-q50", "--json").out)
    for row in rows_json:
        entry = CATALOG.get(row["id"])
        assert row["psnr_protocol"] == "jpeg-q50"
        assert (row["mean_psnr_y"] is None) == ("jpeg-q50" not in entry.protocol_metrics)
    bad = cli("models", "list", "--protocol", "jpeg50")
    assert bad.code != 0 and "unknown protocol" in bad.err


def test_models_list_json_carries_quality_and_speed(cli: Cli) -> None:
    rows = json.loads(cli("models", "list", "--json").out)
    slim = next(r for r in rows if r["id"] == "esrgan-slim.x2")
    assert slim["mean_psnr_y"] == 31.07 and slim["ms_per_output_megapixel"] == 703.0


@pytest.mark.parametrize("width", [40, 60, 80, 100])
def test_models_list_fits_the_terminal(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """Columns are dropped from the least useful end, never the id, quality or speed."""
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli("models", "list")
    assert result.code == 0
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= width, lines
    assert lines[0].split()[:1] == ["ID"]
    if width >= 60:
        assert {"SCALE", "PSNR", "MS/MP"} <= set(lines[0].split())
    assert "hidden to fit" in result.out and "--json" in result.out
    assert any(line.startswith("esrgan-legacy.psnr-small-x2") for line in lines)


@pytest.mark.parametrize(
    "filters",
    [
        ("scale=4", "architecture=RRDN"),
        ("scale=x4", "architecture=esrgan"),
        ("Scale=4", "architecture=rrdb"),
    ],
)
def test_models_list_filters_with_aliases(cli: Cli, filters: tuple[str, ...]) -> None:
    argv = ["models", "list", "--json"]
    for f in filters:
        argv += ["--filter", f]
    result = cli(*argv)
    assert result.code == 0
    ids = [r["id"] for r in json.loads(result.out)]
    assert ids == [
        "esrgan-legacy.gans-x4",
        "esrgan-thick.x4",
        "realesrgan.plus-anime-x4",
        "realesrgan.plus-x4",
    ]


def test_models_list_filter_architecture_span(cli: Cli) -> None:
    result = cli("models", "list", "--json", "--filter", "architecture=span")
    assert result.code == 0
    ids = [r["id"] for r in json.loads(result.out)]
    assert ids == [
        "span.ch48-ens8-x2",  # the self-ensemble of ch48-x2 ("e" sorts before "x")
        "span.ch48-x2",
        "span.ch52-x2",
        "span.ch48-x4",
        "span.ch52-x4",
    ]


def test_models_list_filter_on_vocab_alias(cli: Cli) -> None:
    result = cli("models", "list", "--json", "--filter", "implementation=ISR")
    ids = [r["id"] for r in json.loads(result.out)]
    assert ids == [e.id for e in CATALOG.entries if e.family == "esrgan-legacy"]
    result = cli("models", "list", "--json", "--filter", "quantization=u8", "--filter", "scale=2")
    assert [r["id"] for r in json.loads(result.out)] == [
        "esrgan-legacy.div2k-x2",
        "esrgan-legacy.psnr-small-x2",
    ]


def test_models_list_filter_with_no_match_is_empty(cli: Cli) -> None:
    result = cli("models", "list", "--json", "--filter", "channels=4 scale=3")
    assert result.code == 0
    assert json.loads(result.out) == []


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("datset=div2k", "did you mean dataset"),
        ("dataset=div3k", "did you mean dataset=div2k"),
        ("scale=two", "outscale"),
        ("channels=2", "channels=3"),
        ("scale", "--filter scale=2"),
    ],
)
def test_models_list_bad_filter_is_one_line_error(cli: Cli, bad: str, hint: str) -> None:
    result = cli("models", "list", "--filter", bad)
    assert_one_line_error(result, 2)
    assert hint in result.err.splitlines()[1]


# --- models show ----------------------------------------------------------------------------


def test_models_show_json(cli: Cli) -> None:
    result = cli("models", "show", "esrgan-slim.x2", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data == CATALOG.by_id["esrgan-slim.x2"].model_dump(mode="json")
    assert data["id"] == "esrgan-slim.x2"
    assert data["global_default"] is False  # span.ch48-x2 since SPAN was measured
    assert data["training"]["epochs"] == 494
    assert [f["path"] for f in data["weights"]["files"]] == [
        "models/x2/model.json",
        "models/x2/group1-shard1of1.bin",
    ]


def test_models_show_family_gives_its_default(cli: Cli) -> None:
    result = cli("models", "show", "esrgan-legacy", "--json")
    assert json.loads(result.out)["id"] == "esrgan-legacy.div2k-x2"


def test_models_show_text(cli: Cli) -> None:
    result = cli("models", "show", "esrgan-thick.x4")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["id", "esrgan-thick.x4"]
    entry = CATALOG.by_id["esrgan-thick.x4"]
    assert entry.weights is not None
    for f in entry.weights.files:
        assert any(f.path in line and f.sha256 in line for line in lines), f.path


def test_models_show_text_has_no_python_literals(cli: Cli) -> None:
    """Nested values (params, training, metrics, speed, weights source) read as text."""
    result = cli("models", "show", "esrgan-slim.x2")
    assert result.code == 0
    for literal in ("{'", "['", "': ", "None", "True"):
        assert literal not in result.out, literal
    lines = result.out.splitlines()
    assert any(line.split() == ["set5", "33.52", "0.9288"] for line in lines), result.out
    assert any("703.0 ms per output megapixel" in line for line in lines)
    assert any("npm @upscalerjs/esrgan-slim@1.0.0" in line for line in lines)
    assert any(line.split() == ["value_range", "0", "to", "255"] for line in lines)


def test_models_show_of_our_trained_model_reads_as_text(cli: Cli) -> None:
    """A trained model's training record holds a mapping (dataset id -> manifest hash)."""
    result = cli("models", "show", "upscaler-compact.y-x4")
    assert result.code == 0
    for literal in ("{'", "['", "': ", "None", "True"):
        assert literal not in result.out, literal
    training = next(line for line in result.out.splitlines() if line.startswith("training"))
    assert "data=(t91 712f54243fd5" in training and ", bsd200 103f812766f9" in training


@pytest.mark.parametrize("model_id", ["esrgan-slim.x9", "nope", "esrgan-slim.X2"])
def test_models_show_unknown_id(cli: Cli, model_id: str) -> None:
    result = cli("models", "show", model_id)
    assert_one_line_error(result, 4)
    assert f"unknown model {model_id!r}" in result.err
    assert "upscaler models list" in result.err


# --- resolve --------------------------------------------------------------------------------


def test_resolve_json_reports_alternatives(cli: Cli) -> None:
    result = cli("resolve", "dataset=DIV2K scale=2 channels=4", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["exact"] is False
    assert data["query"] == {"dataset": "div2k", "scale": 2, "channels": 4}
    assert data["model"]["id"] == "esrgan-slim.x2"
    assert data["adapters"][0]["kind"] == "alpha"
    assert data["alternatives"]
    for alt in data["alternatives"]:
        assert alt["differences"]
        assert alt["call"].startswith(f'Upscaler(model="{alt["id"]}"')
    assert data["alternatives"][0]["differences"] == ["channels: 3 ≠ 4 → alpha adapter"]


def test_resolve_text(cli: Cli) -> None:
    result = cli("resolve", "dataset=DIV2K scale=2 channels=4")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "exact: no"
    assert lines[1].startswith("model: esrgan-slim.x2  (no exact match")
    assert lines[2].startswith("adapter: alpha: ")
    assert "--model esrgan-slim.x2" in result.out
    assert "Upscaler(" not in result.out


def test_resolve_text_explains_cost_and_lists_the_choice_once(cli: Cli) -> None:
    """Issue 14, item 17: the chosen model was its own first alternative; "cost" unexplained."""
    result = cli("resolve", "scale=3 channels=4")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[1].startswith("model: upscaler-compact.x3 ")
    listed = [line.split()[0] for line in lines if line.startswith("  ") and "cost" in line]
    assert listed and "upscaler-compact.x3" not in listed
    legend = next(line for line in lines if line.startswith("other choices"))
    assert "cost" in legend and "lower" in legend and "alpha" in legend
    assert any(line.strip() == "--model esrgan-medium.x3" for line in lines)


def test_resolve_takes_the_query_as_several_words(cli: Cli) -> None:
    quoted = json.loads(cli("resolve", "scale=3 channels=1", "--json").out)
    unquoted = cli("resolve", "scale=3", "channels=1", "--json")
    assert unquoted.code == 0
    assert json.loads(unquoted.out) == quoted
    assert quoted["query"] == {"scale": 3, "channels": 1}


def test_models_list_filter_takes_a_query_string(cli: Cli) -> None:
    """`--filter` accepts what `resolve` accepts: several ATTR=VALUE in one string."""
    one = cli("models", "list", "--json", "--filter", "scale=4 architecture=rrdn")
    assert one.code == 0
    two = cli("models", "list", "--json", "--filter", "scale=4", "--filter", "architecture=rrdn")
    assert json.loads(one.out) == json.loads(two.out) != []


def test_models_list_without_matches_points_at_the_adapters(cli: Cli) -> None:
    # The only native RGBA model is x2 (ours); at x3 RGB models serve through the adapter.
    result = cli("models", "list", "--filter", "channels=4 scale=3")
    assert result.code == 0
    assert "alpha adapter" in result.out
    assert "upscaler resolve channels=4 scale=3" in result.out


@pytest.mark.parametrize("flag", ["-q", "--quiet"])
def test_quiet_works_after_the_subcommand(cli: Cli, flag: str) -> None:
    result = cli("describe", "--channels", "4", flag)
    assert result.code == 0
    assert result.err == ""


def test_debug_works_after_the_subcommand(cli: Cli) -> None:
    from upscaler.errors import NoMatchingModel

    with pytest.raises(NoMatchingModel):
        cli("models", "show", "nope", "--debug")


@pytest.mark.parametrize(
    ("argv", "bad", "suggestion"),
    [
        (("describe", "--modle", "esrgan-slim.x2"), "--modle", "--model"),
        (("models", "list", "--fliter", "scale=2"), "--fliter", "--filter"),
        (("upscale", "a.png", "-o", "b.png", "--patchsize", "64"), "--patchsize", "--patch-size"),
        (("--qiet", "models", "list"), "--qiet", "--quiet"),
    ],
)
def test_misspelled_flag_gets_did_you_mean(
    cli: Cli, argv: tuple[str, ...], bad: str, suggestion: str
) -> None:
    result = cli(*argv)
    assert_one_line_error(result, 2)
    assert bad in result.err.splitlines()[0]
    assert f"did you mean {suggestion}?" in result.err.splitlines()[1]


def test_cli_hints_are_flags_not_python(cli: Cli) -> None:
    result = cli("describe", "--scale", "5", "--strict")
    assert_one_line_error(result, 4)
    hint = result.err.splitlines()[1]
    assert "--model " in hint and "--scale 5" in hint
    assert "Upscaler(" not in result.err


def test_resolve_exact_lists_other_matches(cli: Cli) -> None:
    result = cli("resolve", "scale=3", "--json")
    data = json.loads(result.out)
    assert data["exact"] is True
    assert data["matches"][0] == "upscaler-compact.x3"
    text = cli("resolve", "scale=3").out.splitlines()
    assert text[0] == "exact: yes"
    other = next(line for line in text if line.startswith("other exact matches: "))
    assert other.removeprefix("other exact matches: ").split(", ") == data["matches"][1:]


def test_resolve_unknown_value(cli: Cli) -> None:
    result = cli("resolve", "dataset=DIV3K")
    assert_one_line_error(result, 2)
    assert "dataset=div2k" in result.err


# --- describe -------------------------------------------------------------------------------


def test_describe_scale_3(cli: Cli) -> None:
    result = cli("describe", "--scale", "3")
    assert result.code == 0
    assert result.out.splitlines()[0].startswith("model        upscaler-compact.x3")
    assert result.err == ""


def test_describe_json(cli: Cli) -> None:
    result = cli("describe", "--query", "dataset=DIV2K scale=2", "--channels", "4", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["model"]["id"] == "esrgan-slim.x2"
    assert data["query"] == {"dataset": "div2k", "scale": 2, "channels": 4}
    assert data["adapters"][0]["kind"] == "alpha"
    # Non-strict adaptation is announced on stderr, never on stdout.
    assert result.err.startswith("WARNING: no exact model for dataset=div2k scale=2 channels=4")


def test_describe_quiet_hides_the_warning(cli: Cli) -> None:
    result = cli("-q", "describe", "--channels", "4")
    assert result.code == 0
    assert result.err == ""
    assert "alpha" in result.out


def test_describe_strict_fails_with_the_nearest_call(cli: Cli) -> None:
    result = cli("describe", "--dataset", "DIV2K", "--scale", "2", "--channels", "4", "--strict")
    assert_one_line_error(result, 4)
    assert "--model esrgan-slim.x2" in result.err


def test_describe_unknown_model(cli: Cli) -> None:
    assert_one_line_error(cli("describe", "--model", "esrgan-slim.x9"), 4)


def test_describe_bad_scale(cli: Cli) -> None:
    assert_one_line_error(cli("describe", "--scale", "0"), 2)


def test_debug_shows_the_exception(cli: Cli) -> None:
    from upscaler.errors import NoMatchingModel

    with pytest.raises(NoMatchingModel):
        cli("--debug", "models", "show", "nope")


# --- help and version -------------------------------------------------------------------------


def command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_paths(sub, (*prefix, name))


COMMANDS = list(command_paths(build_parser()))


def test_the_command_tree_is_complete() -> None:
    assert {
        ("models", "list"),
        ("models", "show"),
        ("resolve",),
        ("describe",),
        ("catalog", "validate"),
        ("catalog", "hash"),
        ("catalog", "schema"),
        ("upscale",),
        ("fetch",),
        ("cache", "list"),
    } <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "upscaler" for p in COMMANDS])
def test_help_works_for_every_command(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: upscaler {' '.join(path)}".rstrip())
    assert "Traceback" not in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"upscaler {__version__}"


@pytest.mark.parametrize(
    ("argv", "listed"),
    [
        ((), ["upscale", "models", "resolve", "batch", "explore"]),
        (("models",), ["list", "show"]),
        (("cache",), ["list", "verify", "prune"]),
    ],
)
def test_a_bare_command_lists_its_subcommands(
    cli: Cli, argv: tuple[str, ...], listed: list[str]
) -> None:
    result = cli(*argv)
    assert result.code == 0
    assert result.out.startswith(f"usage: upscaler {' '.join(argv)}".rstrip())
    for name in listed:
        assert f"    {name} " in result.out, name


# --- through a real process -------------------------------------------------------------------


def test_subprocess_models_list_json(tmp_path: Path) -> None:
    proc = run_module("models", "list", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in json.loads(proc.stdout)] == [e.id for e in CATALOG.entries]


def test_subprocess_bad_filter_has_no_traceback(tmp_path: Path) -> None:
    proc = run_module("models", "list", "--filter", "datset=div2k", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: unknown attribute 'datset'; valid attributes: dataset, domain, scale, "
        "channels, objective, degradation, denoise, architecture, implementation, pruning, "
        "quantization",
        "hint: did you mean dataset=...?",
    ]


def test_subprocess_resolve_and_describe(tmp_path: Path) -> None:
    proc = run_module("resolve", "dataset=DIV2K scale=2 channels=4", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["exact"] is False
    proc = run_module("describe", "--scale", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "upscaler-compact.x3" in proc.stdout
    assert not (tmp_path / "home").exists()


def test_subprocess_unknown_model_has_no_traceback(tmp_path: Path) -> None:
    proc = run_module("models", "show", "esrgan-slim.x9", cwd=tmp_path)
    assert proc.returncode == 4
    assert proc.stderr.startswith("error: unknown model 'esrgan-slim.x9'")
    assert "Traceback" not in proc.stderr
