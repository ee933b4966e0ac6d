"""The attribute table and the prefer table are the one list of each: every layer that
names query attributes or rankings is built from them, and a query string is read once."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import typing
from dataclasses import asdict
from pathlib import Path

import pytest

import upscaler.resolve.query as query_module
from upscaler.batch.options import ModelSpec
from upscaler.catalog import default_catalog, shipped_catalog_dir
from upscaler.catalog.attributes import ATTRIBUTES, QUERY_ATTRIBUTES, SECTIONS, SUBSTITUTION_COST
from upscaler.catalog.schema import ModelEntry, VariantFields
from upscaler.catalog.vocab import Vocabulary
from upscaler.cli.main import build_parser
from upscaler.cli.options import spec_from_args
from upscaler.errors import QueryError
from upscaler.explore.codegen import Choice, cli_args
from upscaler.resolve import resolve
from upscaler.resolve.prefer import DEFAULT_PREFER, PREFER_CHOICES, check_prefer
from upscaler.resolve.query import read_query
from upscaler.upscaler import Upscaler

# `Upscaler.__init__` spells its keywords out for type checkers, IDEs and the API docs:
# the only place besides the table (and vocab.yaml) that a new attribute needs a line.
SIGNATURE_FIX = "add `{name}: {kind} = None,` to Upscaler.__init__ (before prefer=)"


def keyword_problems() -> list[str]:
    """How the explicit ``Upscaler(...)`` keywords disagree with the attribute table."""
    parameters = list(inspect.signature(Upscaler.__init__).parameters)
    between = parameters[parameters.index("query") + 1 : parameters.index("prefer")]
    hints = typing.get_type_hints(Upscaler.__init__)
    problems = [
        SIGNATURE_FIX.format(name=row.name, kind=_spelled(row.keyword))
        for row in ATTRIBUTES
        if row.name not in between
    ]
    problems += [
        f"Upscaler({name}=...) is no attribute of the table"
        for name in between
        if name not in QUERY_ATTRIBUTES
    ]
    problems += [
        f"Upscaler({row.name}=...) takes {hints[row.name]}, the table {_spelled(row.keyword)}"
        for row in ATTRIBUTES
        if row.name in hints and hints[row.name] != row.keyword | None
    ]
    return problems


def _spelled(kind: object) -> str:
    return getattr(kind, "__name__", None) or str(kind)


def test_upscaler_keywords_are_the_table() -> None:
    assert keyword_problems() == []


def test_catalog_fields_come_from_the_table() -> None:
    entry_fields = list(ModelEntry.model_fields)
    in_order = [name for name in entry_fields if name in QUERY_ATTRIBUTES]
    assert in_order == [row.name for row in sorted(ATTRIBUTES, key=lambda r: r.field_rank)]
    settable = {row.name for row in ATTRIBUTES if not row.derived}
    assert settable == set(VariantFields.model_fields) & set(QUERY_ATTRIBUTES)
    assert ModelEntry.model_fields["denoise"].default == "none"
    assert VariantFields.model_validate({"denoise": 2}).model_dump()["denoise"] == "2"


def test_vocabulary_sections_come_from_the_table() -> None:
    sections = [name for name in Vocabulary.model_fields if name != "schema_version"]
    assert sections == list(SECTIONS)
    assert {row.name for row in ATTRIBUTES if row.vocab} == set(SECTIONS.values())
    vocab = default_catalog().vocab
    for section, attribute in SECTIONS.items():
        assert vocab.terms(attribute) is getattr(vocab, section)


def test_costs_come_from_the_table() -> None:
    ruled = {"scale", "channels", "denoise"}  # distance.py prices these itself
    assert set(SUBSTITUTION_COST) == set(QUERY_ATTRIBUTES) - ruled


def _options(*words: str) -> argparse.Namespace:
    args, extras = build_parser().parse_known_args(list(words))
    assert not extras
    return args


def _choice_flags(command: str) -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    group = next(g for g in sub.choices[command]._action_groups if g.title == "model choice")
    return [a.option_strings[-1] for a in group._group_actions]


@pytest.mark.parametrize("command", ["describe", "upscale", "batch"])
def test_cli_model_choice_options_come_from_the_table(command: str) -> None:
    flags = _choice_flags(command)
    for row in ATTRIBUTES:
        assert row.flag in flags
        if row.from_input is not None:
            assert flags.index(row.from_input.flag) == flags.index(row.flag) + 1


def test_cli_options_become_the_upscaler_keywords() -> None:
    args = _options("describe", "--domain", "anime", "--scale", "x2", "--auto")
    spec = spec_from_args(args)
    given = dict(spec.attributes)
    assert given == {"domain": "anime", "scale": "x2", "degradation": "auto"}
    assert set(given) <= set(inspect.signature(Upscaler.__init__).parameters)


def test_a_batch_spec_takes_attributes_as_upscaler_does() -> None:
    spec = ModelSpec(scale=4, prefer="fast")  # as docs/batch.md writes it
    assert dict(spec.attributes) == {"scale": 4}
    assert ModelSpec(**asdict(spec)) == spec  # how a Ray worker rebuilds it
    assert hash(spec) == hash(ModelSpec(**asdict(spec)))
    with pytest.raises(TypeError, match="sclae"):
        ModelSpec(sclae=4)


def test_explorer_code_names_the_table_flags() -> None:
    choice = Choice(denoise="2", scale=4)
    assert choice.query() == {"scale": 4, "denoise": "2"}  # canonical order
    assert cli_args(choice) == ["--scale", "4", "--denoise", "2"]
    with pytest.raises(TypeError, match="sclae"):
        Choice(sclae=4)


@pytest.mark.parametrize(
    ("words", "help_text"),
    [
        (("resolve", "scale=2"), None),
        (("describe",), "how to rank several exact matches (default: balanced)"),
        (("eval", "--data", "x"), "how a query ranks several exact matches (default: balanced)"),
    ],
)
def test_every_prefer_option_is_the_prefer_table(words: tuple[str, ...], help_text: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    option = next(a for a in sub.choices[words[0]]._actions if "--prefer" in a.option_strings)
    assert tuple(option.choices or ()) == PREFER_CHOICES
    assert option.default == DEFAULT_PREFER
    assert option.help == help_text


def test_prefer_has_one_check() -> None:
    with pytest.raises(QueryError) as by_resolver:
        resolve({"scale": 2}, default_catalog(), prefer="fastest")
    with pytest.raises(QueryError) as by_check:
        check_prefer("fastest")
    assert (by_resolver.value.message, by_resolver.value.hint) == (
        by_check.value.message,
        by_check.value.hint,
    )
    assert resolve({"scale": 2}, default_catalog(), prefer=" Fast ").prefer == "fast"


def test_a_query_string_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    parse = query_module.parse_query_string

    def counting(text: str) -> dict[str, str]:
        calls.append(text)
        return parse(text)

    monkeypatch.setattr(query_module, "parse_query_string", counting)
    up = Upscaler(query="scale=2 prefer=fast degradation=auto", domain="photo")
    assert calls == ["scale=2 prefer=fast degradation=auto"]
    assert up.resolution.prefer == "fast"
    assert up.describe().ranking is not None  # degradation=auto: read per input


def test_read_query_returns_attributes_prefer_and_auto() -> None:
    asked = read_query(
        "Scale=2 PREFER=accurate degradation=Auto",
        {"domain": "anime", "dataset": None},
        read_input=True,
    )
    assert (asked.attributes, asked.prefer, asked.auto) == (
        {"scale": "2", "domain": "anime"},
        "accurate",
        True,
    )
    kept = read_query("degradation=auto")  # no image to read: left for normalise to refuse
    assert (kept.attributes, kept.auto) == ({"degradation": "auto"}, False)
    with pytest.raises(QueryError, match="the query says prefer=fast and the option says"):
        read_query("prefer=fast", prefer="accurate")


# -- a trial attribute: what adding one really takes ---------------------------------------

TRIAL_ROW = """    QueryAttribute(
        "colour",
        vocab="colours",
        entry_default="neutral",
        help="the colour cast the model was tuned for",
        cost=6.0,
    ),
"""
TRIAL_SECTION = """colours:
  neutral:
    title: No colour cast
    aliases: [none]
  warm:
    title: Warm colour cast
    aliases: [golden]
"""


def _trial_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the package with one row added to the attribute table and one keyword to
    ``Upscaler.__init__``, and a catalog whose vocabulary has the new section and whose
    pixel-upsampler family sets the new attribute: nothing else is edited."""
    src = tmp_path / "src"
    shutil.copytree(
        Path(inspect.getfile(Upscaler)).parent,
        src / "upscaler",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    table = src / "upscaler" / "catalog" / "attributes.py"
    text = table.read_text()
    end = text.index("\n)\n\nQUERY_ATTRIBUTES")
    table.write_text(text[: end + 1] + TRIAL_ROW + text[end + 1 :])
    facade = src / "upscaler" / "upscaler.py"
    text = facade.read_text()
    keyword = "        quantization: str | None = None,\n"
    assert text.count(keyword) == 1
    facade.write_text(text.replace(keyword, keyword + "        colour: str | None = None,\n"))

    catalog = tmp_path / "catalog"
    (catalog / "models").mkdir(parents=True)
    shipped = shipped_catalog_dir()
    vocab = (shipped / "vocab.yaml").read_text()
    (catalog / "vocab.yaml").write_text(vocab.rstrip("\n") + "\n" + TRIAL_SECTION)
    for family in ("pixel-upsampler", default_catalog().global_default.family):
        shutil.copy(shipped / "models" / f"{family}.yaml", catalog / "models")
    pixel = catalog / "models" / "pixel-upsampler.yaml"
    pixel.write_text(pixel.read_text().replace("defaults:\n", "defaults:\n  colour: warm\n", 1))
    return src, catalog


def _run(src: Path, catalog: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env.update(
        PYTHONPATH=str(src),
        UPSCALER_CATALOG=str(catalog),
        UPSCALER_OFFLINE="1",
        UPSCALER_HOME=str(src.parent / "home"),
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, check=False, env=env
    )


@pytest.mark.slow
def test_a_trial_attribute_needs_a_row_a_keyword_and_its_vocabulary(tmp_path: Path) -> None:
    src, catalog = _trial_tree(tmp_path)
    helped = _run(src, catalog, "-m", "upscaler", "describe", "--help")
    assert re.search(r"--colour COLOUR\s+the colour cast the model was tuned for", helped.stdout)

    resolved = _run(src, catalog, "-m", "upscaler", "resolve", "colour=golden", "scale=2", "--json")
    assert resolved.returncode == 0, resolved.stderr
    answer = json.loads(resolved.stdout)
    assert answer["query"] == {"colour": "warm", "scale": 2}
    assert answer["model"]["id"] == "pixel-upsampler.x2" and answer["exact"]

    described = _run(
        src, catalog, "-m", "upscaler", "describe", "--colour", "golden", "--scale", "2", "--json"
    )
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["model"]["colour"] == "warm"

    api = _run(
        src,
        catalog,
        "-c",
        "from upscaler import Upscaler\n"
        "from upscaler.explore.codegen import Choice, upscaler_call\n"
        "up = Upscaler(colour='none', scale=2, strict=True)\n"
        "print(up.model.id, up.model.attribute('colour'))\n"
        "print(upscaler_call(Choice(colour='warm')))\n",
    )
    assert api.returncode == 0, api.stderr
    model, call = api.stdout.splitlines()
    assert model.endswith(" neutral") and not model.startswith("pixel-upsampler")
    assert call == 'Upscaler(colour="warm")'
