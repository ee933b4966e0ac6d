"""The explorer's choice of model, and the Python and shell code that reproduce it.

Pure functions with no Gradio and no TensorFlow: the explorer builds one :class:`Choice`
from its controls, runs ``Upscaler(**choice.kwargs())`` itself, and shows the code below,
so what a person copies is exactly what the page ran.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import PurePath
from typing import Any

from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import QUERY_ATTRIBUTES
from upscaler.resolve.resolver import PREFER_CHOICES, build_query

# What a control shows for "no constraint on this attribute".
ANY = "any"
AUTO_MODEL = "auto"
DEFAULT_INPUT = "input.png"


@dataclass(frozen=True)
class Choice:
    """Everything the explorer's controls decide; ``None`` means "not constrained"."""

    model: str | None = None
    dataset: str | None = None
    scale: int | str | None = None
    channels: int | str | None = None
    objective: str | None = None
    degradation: str | None = None
    domain: str | None = None
    denoise: str | None = None
    architecture: str | None = None
    implementation: str | None = None
    pruning: str | None = None
    quantization: str | None = None
    prefer: str = "balanced"
    strict: bool = False

    @classmethod
    def from_controls(cls, values: Mapping[str, Any]) -> Choice:
        """Build a choice from control values; ``"any"``, ``"auto"``, ``""`` and None drop out."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KeyError(f"unknown control(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if name == "strict":
                kwargs[name] = bool(value)
            elif name == "prefer":
                kwargs[name] = str(value) if value else "balanced"
            elif not _unset(value):
                kwargs[name] = value.strip() if isinstance(value, str) else value
        return cls(**kwargs)

    def normalised(self, catalog: Catalog) -> Choice:
        """Canonical values (aliases → ids, ``"x4"`` → 4); raises ``QueryError`` when invalid.

        The model id is checked too (``NoMatchingModel`` for an unknown one), so that
        generated code never names a model that does not exist.
        """
        query = build_query(None, catalog, **self.query())
        model = catalog.get(self.model).id if self.model is not None else None
        if self.prefer not in PREFER_CHOICES:
            from upscaler.errors import QueryError

            raise QueryError(
                f"prefer must be one of {', '.join(PREFER_CHOICES)}, got {self.prefer!r}"
            )
        return replace(
            self,
            model=model,
            dataset=query.get("dataset"),
            scale=query.get("scale"),
            channels=query.get("channels"),
            objective=query.get("objective"),
            degradation=query.get("degradation"),
            domain=query.get("domain"),
            denoise=query.get("denoise"),
            architecture=query.get("architecture"),
            implementation=query.get("implementation"),
            pruning=query.get("pruning"),
            quantization=query.get("quantization"),
        )

    def query(self) -> dict[str, Any]:
        """The attributes that constrain the choice, in canonical order."""
        return {
            name: getattr(self, name)
            for name in QUERY_ATTRIBUTES
            if getattr(self, name) is not None
        }

    def kwargs(self) -> dict[str, Any]:
        """Exactly the keyword arguments for ``Upscaler(...)``; library defaults left out."""
        args: dict[str, Any] = {}
        if self.model is not None:
            args["model"] = self.model
        args.update(self.query())
        if self.prefer != "balanced":
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
    for name, value in choice.query().items():
        argv += [f"--{name}", str(value)]
    if choice.prefer != "balanced":
        argv += ["--prefer", choice.prefer]
    if choice.strict:
        argv.append("--strict")
    return argv


def cli_command(choice: Choice, *, input_path: str = DEFAULT_INPUT, output: str) -> str:
    """The `upscaler upscale IN -o OUT ...` line, quoted for a POSIX shell."""
    argv = ["upscaler", "upscale", input_path, "-o", output, *cli_args(choice)]
    return shlex.join(argv)
