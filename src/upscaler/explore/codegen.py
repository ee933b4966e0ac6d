"""The explorer's choice of model, and the Python and shell code that reproduce it.

Pure functions with no Gradio and no TensorFlow: the explorer builds one :class:`Choice`
from its controls, runs ``Upscaler(**choice.kwargs())`` itself, and shows the code below,
so what a person copies is exactly what the page ran.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from upscaler.catalog.attributes import ATTRIBUTES, QUERY_ATTRIBUTES, attribute_pairs
from upscaler.catalog.loader import Catalog
from upscaler.resolve.prefer import DEFAULT_PREFER, check_prefer
from upscaler.resolve.resolver import build_query

# What a control shows for "no constraint on this attribute".
ANY = "any"
AUTO_MODEL = "auto"
DEFAULT_INPUT = "input.png"


@dataclass(frozen=True, init=False)
class Choice:
    """Everything the explorer's controls decide; an attribute not given is not constrained.

    Built as ``Choice(model=..., scale=4, prefer="fast")``: the query attributes are the
    attribute table's (:mod:`upscaler.catalog.attributes`), so none is spelled here; they
    are held as (name, value) pairs in the table's order, which keeps a choice immutable,
    hashable and equal to any other choice of the same values.
    """

    model: str | None
    attributes: tuple[tuple[str, Any], ...]
    prefer: str
    strict: bool

    def __init__(
        self,
        model: str | None = None,
        *,
        prefer: str = DEFAULT_PREFER,
        strict: bool = False,
        **attributes: Any,
    ) -> None:
        unknown = sorted(set(attributes) - set(QUERY_ATTRIBUTES))
        if unknown:
            raise TypeError(f"Choice() got unknown attribute(s): {', '.join(unknown)}")
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "attributes", attribute_pairs(attributes))
        object.__setattr__(self, "prefer", prefer)
        object.__setattr__(self, "strict", strict)

    @classmethod
    def from_controls(cls, values: Mapping[str, Any]) -> Choice:
        """Build a choice from control values; ``"any"``, ``"auto"``, ``""`` and None drop out."""
        known = {"model", "prefer", "strict", *QUERY_ATTRIBUTES}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KeyError(f"unknown control(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if name == "strict":
                kwargs[name] = bool(value)
            elif name == "prefer":
                kwargs[name] = str(value) if value else DEFAULT_PREFER
            elif not _unset(value):
                kwargs[name] = value.strip() if isinstance(value, str) else value
        return cls(**kwargs)

    def attribute(self, name: str) -> Any:
        """The value given for a query attribute, None when it is not constrained."""
        return dict(self.attributes).get(name)

    def normalised(self, catalog: Catalog) -> Choice:
        """Canonical values (aliases → ids, ``"x4"`` → 4); raises ``QueryError`` when invalid.

        The model id is checked too (``NoMatchingModel`` for an unknown one), so that
        generated code never names a model that does not exist.
        """
        query = build_query(None, catalog, **self.query())
        model = catalog.get(self.model).id if self.model is not None else None
        prefer = check_prefer(self.prefer)
        return Choice(model, prefer=prefer, strict=self.strict, **query)

    def query(self) -> dict[str, Any]:
        """The attributes that constrain the choice, in canonical order."""
        return dict(self.attributes)

    def kwargs(self) -> dict[str, Any]:
        """Exactly the keyword arguments for ``Upscaler(...)``; library defaults left out."""
        args: dict[str, Any] = {}
        if self.model is not None:
            args["model"] = self.model
        args.update(self.query())
        if self.prefer != DEFAULT_PREFER:
            args["prefer"] = self.prefer
        if self.strict:
            args["strict"] = True
        return args


def _unset(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in ("", ANY, AUTO_MODEL)
    return False


def py_literal(value: Any) -> str:
    """A Python literal in the style of the README (double-quoted strings)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as a literal")


def upscaler_call(choice: Choice) -> str:
    """``Upscaler(dataset="div2k", scale=4)``: the constructor call for a choice."""
    args = ", ".join(f"{k}={py_literal(v)}" for k, v in choice.kwargs().items())
    return f"Upscaler({args})"


def output_path(input_path: str, scale: int | None) -> str:
    """``photo.png`` → ``photo-x4.png`` beside it (``-up`` when the scale is unknown)."""
    path = PurePath(input_path or DEFAULT_INPUT)
    suffix = path.suffix or ".png"
    tag = f"x{scale}" if scale is not None else "up"
    return str(path.with_name(f"{path.stem}-{tag}{suffix}"))


def python_snippet(choice: Choice, *, input_path: str = DEFAULT_INPUT, output: str) -> str:
    """A complete script that builds the same Upscaler and upscales ``input_path``."""
    return "\n".join(
        [
            "from upscaler import Upscaler",
            "",
            f"up = {upscaler_call(choice)}",
            f"up.upscale_file({py_literal(input_path)}, {py_literal(output)})",
            "print(up.describe())",
            "",
        ]
    )


def cli_args(choice: Choice) -> list[str]:
    """The model-choice options of `upscaler upscale` for a choice."""
    argv: list[str] = []
    if choice.model is not None:
        argv += ["--model", choice.model]
    for row in ATTRIBUTES:
        value = choice.attribute(row.name)
        if value is not None:
            argv += [row.flag, str(value)]
    if choice.prefer != DEFAULT_PREFER:
        argv += ["--prefer", choice.prefer]
    if choice.strict:
        argv.append("--strict")
    return argv


def cli_command(choice: Choice, *, input_path: str = DEFAULT_INPUT, output: str) -> str:
    """The `upscaler upscale IN -o OUT ...` line, quoted for a POSIX shell."""
    argv = ["upscaler", "upscale", input_path, "-o", output, *cli_args(choice)]
    return shlex.join(argv)
