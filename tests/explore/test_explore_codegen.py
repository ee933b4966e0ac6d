"""The code the explorer writes is the code it runs, and both forms mean the same model.

No browser and no TensorFlow: the generated Python is parsed and its ``Upscaler(...)``
call evaluated for real (construction only resolves), and the generated command line is
fed to the real `upscaler` argument parser.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upscaler import NoMatchingModel, QueryError, Upscaler
from upscaler.catalog import default_catalog
from upscaler.cli.main import build_parser
from upscaler.cli.run_cmds import upscaler_from_args
from upscaler.explore.codegen import (
    Choice,
    cli_command,
    output_path,
    py_literal,
    python_snippet,
    upscaler_call,
)
from upscaler.explore.present import control_options, evaluate

CATALOG = default_catalog()


def call_kwargs(snippet: str) -> dict[str, Any]:
    """The keyword arguments of the ``Upscaler(...)`` call in a snippet."""
    calls = [
        node
        for node in ast.walk(ast.parse(snippet))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Upscaler"
    ]
    assert len(calls) == 1, snippet
    assert not calls[0].args, "the generated call uses keywords only"
    return {kw.arg: ast.literal_eval(kw.value) for kw in calls[0].keywords if kw.arg}


def upscale_file_args(snippet: str) -> list[Any]:
    for node in ast.walk(ast.parse(snippet)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "upscale_file":
            return [ast.literal_eval(a) for a in node.args]
    raise AssertionError(f"no upscale_file call in {snippet}")


def cli_upscaler(command: str) -> tuple[Any, Upscaler]:
    argv = shlex.split(command)
    assert argv[:2] == ["upscaler", "upscale"]
    args = build_parser().parse_args(argv[1:])
    return args, upscaler_from_args(args)


# ------------------------------------------------------------------------ small pieces


def test_no_choice_is_the_bare_default_call() -> None:
    assert upscaler_call(Choice()) == "Upscaler()"
    assert cli_command(Choice(), input_path="a.png", output="b.png") == (
        "upscaler upscale a.png -o b.png"
    )


def test_call_lists_attributes_in_canonical_order_and_only_non_defaults() -> None:
    choice = Choice(
        scale=4, dataset="div2k", channels=4, prefer="fast", strict=True, model="esrgan-slim.x4"
    )
    assert upscaler_call(choice) == (
        'Upscaler(model="esrgan-slim.x4", dataset="div2k", scale=4, channels=4, '
        'prefer="fast", strict=True)'
    )
    assert upscaler_call(Choice(prefer="balanced", strict=False)) == "Upscaler()"


def test_cli_flags_mirror_the_call() -> None:
    choice = Choice(model="esrgan-thick.x4", scale=4, prefer="accurate", strict=True)
    assert cli_command(choice, input_path="in.png", output="out.png") == (
        "upscaler upscale in.png -o out.png --model esrgan-thick.x4 --scale 4 "
        "--prefer accurate --strict"
    )


@pytest.mark.parametrize(
    ("value", "literal"),
    [("div2k", '"div2k"'), ('say "hi"', '"say \\"hi\\""'), (4, "4"), (True, "True")],
)
def test_literals_are_valid_python(value: Any, literal: str) -> None:
    assert py_literal(value) == literal
    assert ast.literal_eval(literal) == value


def test_literal_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        py_literal(["a"])


@pytest.mark.parametrize(
    ("name", "scale", "expected"),
    [
        ("photo.png", 4, "photo-x4.png"),
        ("holiday.photo.JPG", 2, "holiday.photo-x2.JPG"),
        ("scan", 3, "scan-x3.png"),
        ("photo.png", None, "photo-up.png"),
        ("", 2, "input-x2.png"),
    ],
)
def test_output_path(name: str, scale: int | None, expected: str) -> None:
    assert output_path(name, scale) == expected


def test_from_controls_drops_unset_values() -> None:
    choice = Choice.from_controls(
        {
            "model": "auto",
            "dataset": "any",
            "scale": "4",
            "channels": None,
            "architecture": "",
            "prefer": None,
            "strict": 0,
        }
    )
    assert choice == Choice(scale="4")


def test_from_controls_rejects_an_unknown_control() -> None:
    with pytest.raises(KeyError, match="colour"):
        Choice.from_controls({"colour": "red"})


def test_normalised_canonicalises_aliases_and_spellings() -> None:
    choice = Choice(dataset="DIV2K", scale="x4", channels="rgba", architecture="ESRGAN")
    normal = choice.normalised(CATALOG)
    assert normal == Choice(dataset="div2k", scale=4, channels=4, architecture="rrdn")
    assert upscaler_call(normal) == (
        'Upscaler(dataset="div2k", scale=4, channels=4, architecture="rrdn")'
    )


def test_normalised_turns_a_family_name_into_its_default_model() -> None:
    assert Choice(model="esrgan-thick").normalised(CATALOG).model == "esrgan-thick.x2"


@pytest.mark.parametrize(
    ("choice", "error"),
    [
        (Choice(scale="four"), QueryError),
        (Choice(dataset="DIV3K"), QueryError),
        (Choice(prefer="cheap"), QueryError),
        (Choice(model="esrgan-slimm.x2"), NoMatchingModel),
    ],
)
def test_normalised_rejects_what_upscaler_rejects(choice: Choice, error: type) -> None:
    with pytest.raises(error):
        choice.normalised(CATALOG)
    with pytest.raises(error):
        Upscaler(**choice.kwargs())


def test_snippet_is_a_complete_script_with_the_files() -> None:
    choice = Choice(scale=4)
    snippet = python_snippet(choice, input_path="my photo.png", output="my photo-x4.png")
    compile(snippet, "<snippet>", "exec")
    assert snippet.startswith("from upscaler import Upscaler\n")
    assert upscale_file_args(snippet) == ["my photo.png", "my photo-x4.png"]
    args, _ = cli_upscaler(cli_command(choice, input_path="my photo.png", output="o k.png"))
    given = args.inputs if hasattr(args, "inputs") else [args.input]
    assert [Path(p) for p in given] == [Path("my photo.png")]
    assert Path(args.output) == Path("o k.png")


# ------------------------------------------------------------------------ the property


def control_values() -> st.SearchStrategy[dict[str, Any]]:
    """Any combination the explorer's controls can produce for the shipped catalog."""
    options = control_options(CATALOG)
    values: dict[str, st.SearchStrategy[Any]] = {
        "model": st.sampled_from([value for _, value in options.model]),
        "prefer": st.sampled_from(options.prefer),
        "strict": st.booleans(),
    }
    for name, choices in options.attributes.items():
        extra = ["6", "x3", "16"] if name == "scale" else []
        values[name] = st.sampled_from([value for _, value in choices] + extra)
    return st.fixed_dictionaries(values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(control_values())
@pytest.mark.slow
def test_python_and_cli_build_the_model_the_explorer_shows(values: dict[str, Any]) -> None:
    outcome = evaluate(Choice.from_controls(values), CATALOG)
    out = output_path("in.png", outcome.scale)
    snippet = python_snippet(outcome.choice, input_path="in.png", output=out)
    command = cli_command(outcome.choice, input_path="in.png", output=out)

    kwargs = call_kwargs(snippet)
    assert kwargs == outcome.choice.kwargs()
    if not outcome.runnable:
        assert outcome.error is not None
        with pytest.raises(type(outcome.error)):
            Upscaler(**kwargs)
        with pytest.raises(type(outcome.error)):
            cli_upscaler(command)
        return
    assert outcome.model is not None
    from_python = Upscaler(**kwargs)
    _, from_cli = cli_upscaler(command)
    assert from_python.model.id == from_cli.model.id == outcome.model.id
    assert outcome.resolution is not None
    expected = outcome.resolution.to_dict()
    assert from_python.resolution.to_dict() == from_cli.resolution.to_dict() == expected
    assert from_python.describe().strict == from_cli.describe().strict == outcome.choice.strict
    assert from_python.plan() == from_cli.plan()
    assert from_python.scale == from_cli.scale == outcome.scale
    assert out == f"in-x{outcome.scale}.png"
