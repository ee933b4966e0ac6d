"""The query attributes, each defined once.

A query attribute is what a model is chosen by (``dataset=DIV2K scale=2``). Everything
that lists them reads :data:`ATTRIBUTES`: the catalog schema (a family file's fields and
a :class:`~upscaler.catalog.schema.ModelEntry`'s), the vocabulary's sections, the query
parser and the resolver's costs, the command line's model-choice options, the explorer's
code generation, a batch job's model choice and the ``Upscaler(...)`` keywords. Adding an
attribute is one row here plus its section in ``catalog/vocab.yaml`` (and, because the
public constructor spells its keywords out for type checkers and the API docs, one
keyword of ``Upscaler.__init__``, which a test holds to this table).

Rows are in the canonical order, the one queries, error messages and ``summary()`` use.
Older listings ordered them otherwise, and their outputs are kept byte for byte: see the
``*_rank`` fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from upscaler.catalog.attribute_values import number_as_id, parse_channels, parse_scale

LAST = 1_000
"""The rank of an attribute an older listing never had: after the others."""


@dataclass(frozen=True)
class FromInput:
    """A value that asks to read the attribute from each input rather than match it
    (``degradation=auto``), and the command-line switch that asks the same."""

    value: str
    flag: str
    help: str

    @property
    def dest(self) -> str:
        """The argparse destination of :attr:`flag`."""
        return self.flag.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class QueryAttribute:
    """One attribute a model is chosen by, and everything each layer needs to know of it."""

    name: str
    vocab: str | None = None
    """The ``vocab.yaml`` section whose ids and aliases are its values; None for numbers,
    which :attr:`parse` reads instead."""
    parse: Callable[[Any], Any] | None = None
    """Reads a typed value into the canonical one (None: the vocabulary's ``normalise``)."""
    keyword: Any = str
    """What ``Upscaler(name=...)`` accepts besides None (its annotation, checked by a test)."""
    value: Any = str
    """The value's type in a catalog entry (constraints as ``Annotated`` metadata)."""
    description: str | None = None
    """The catalog field's description (schema.json and editors show it)."""
    coerce: Callable[[Any], Any] | None = None
    """Applied to a YAML value before validation (``denoise: 2`` is the id "2")."""
    entry_default: Any = None
    """A model's value when its family file sets none; None: the file must set it."""
    derived: bool = False
    """Never set by hand: the loader derives it (a model's domain is its dataset's)."""
    help: str | None = None
    """The ``--name`` option's help (None: argparse shows the bare option)."""
    from_input: FromInput | None = None
    """A value that is no catalog value but asks to read each input (and its switch)."""
    cost: float | None = None
    """What a model that differs in this attribute costs when nothing bridges the
    difference (:mod:`upscaler.resolve.distance`); None where the distance module has a
    rule of its own (scale by chaining or resizing, channels by an adapter, denoise by
    level)."""
    help_rank: int = LAST
    """Its place among the model-choice options of ``--help``."""
    field_rank: int = LAST
    """Its place among a catalog entry's fields (``describe --json``, ``models show``)."""
    section_rank: int = LAST
    """Its section's place in the vocabulary (the loader reports bad terms in this order)."""

    @property
    def flag(self) -> str:
        """The command-line option that sets it."""
        return f"--{self.name}"


ATTRIBUTES: tuple[QueryAttribute, ...] = (
    QueryAttribute(
        "dataset",
        vocab="datasets",
        # Another training set makes another model: nothing adapts it. A set that holds
        # the asked one is a near miss, priced by the distance module itself.
        cost=20.0,
        help_rank=0,
        field_rank=2,
        section_rank=0,
    ),
    QueryAttribute(
        "domain",
        vocab="domains",
        description="its training set's domain (vocab), never set by hand",
        derived=True,
        help="what the model was trained on: photo or anime",
        # An anime model on a photo (or the reverse) is trained on other statistics, but
        # it still upscales: cheaper than another training set, dearer than another loss.
        cost=14.0,
        help_rank=7,
        field_rank=7,
        section_rank=5,
    ),
    QueryAttribute(
        "scale",
        parse=parse_scale,
        keyword=int,
        value=Annotated[int, Field(ge=1, le=16)],
        help="output scale: 2, 3, 4, 8, ...",
        help_rank=9,
        field_rank=3,
    ),
    QueryAttribute(
        "channels",
        parse=parse_channels,
        keyword=int,
        value=Literal[1, 3, 4],
        help="1 (gray), 3 (RGB) or 4 (RGBA)",
        help_rank=10,
        field_rank=4,
    ),
    QueryAttribute(
        "objective",
        vocab="objectives",
        description="what the training optimised: fidelity or perceptual (vocab)",
        help="fidelity (pixel-accurate) or perceptual (GAN-sharp)",
        # A perceptual model asked for fidelity (or the reverse) does a different job: it
        # invents texture, or it refuses to. Dearer than a different architecture.
        cost=15.0,
        help_rank=5,
        field_rank=5,
        section_rank=3,
    ),
    QueryAttribute(
        "degradation",
        vocab="degradations",
        description="the low-resolution inputs it was trained on (vocab)",
        help="bicubic (clean inputs) or real-world; auto reads each input (as --auto)",
        # No catalog value: the catalog's degradations describe training, "auto" how to
        # read the input (upscaler.analyze), so it never reaches the vocabulary.
        from_input=FromInput(
            value="auto",
            flag="--auto",
            help="read each input (JPEG quality from its tables, noise, drawn or photo) and "
            "run the model measured best for that condition (docs/protocols.md)",
        ),
        cost=10.0,
        help_rank=6,
        field_rank=6,
        section_rank=4,
    ),
    QueryAttribute(
        "denoise",
        vocab="denoise",
        keyword=str | int,
        description="the noise level it was trained to remove (vocab `denoise`; unset: none)",
        coerce=number_as_id,
        entry_default="none",
        help="noise level the model removes: none, conservative, 0, 1, 2, 3",
        help_rank=8,
        field_rank=8,
        section_rank=6,
    ),
    QueryAttribute(
        "architecture",
        vocab="architectures",
        cost=12.0,
        help_rank=1,
        field_rank=0,
        section_rank=1,
    ),
    QueryAttribute(
        "implementation",
        vocab="implementations",
        cost=12.0,
        help_rank=2,
        field_rank=1,
        section_rank=2,
    ),
    QueryAttribute(
        "pruning",
        vocab="pruning",
        cost=8.0,
        help_rank=3,
        field_rank=9,
        section_rank=7,
    ),
    QueryAttribute(
        "quantization",
        vocab="quantization",
        cost=8.0,
        help_rank=4,
        field_rank=10,
        section_rank=8,
    ),
)

QUERY_ATTRIBUTES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)
"""The attribute names in canonical order."""

_BY_NAME: dict[str, QueryAttribute] = {a.name: a for a in ATTRIBUTES}

SECTIONS: dict[str, str] = {
    a.vocab: a.name for a in sorted(ATTRIBUTES, key=lambda a: a.section_rank) if a.vocab is not None
}
"""Vocabulary section -> the query attribute it governs (``datasets`` -> ``dataset``)."""

SUBSTITUTION_COST: dict[str, float] = {a.name: a.cost for a in ATTRIBUTES if a.cost is not None}
"""Attribute -> the cost of a difference in it that no adapter bridges."""


def attribute_named(name: str) -> QueryAttribute | None:
    """The row of an attribute name (already lower-case), None when there is none."""
    return _BY_NAME.get(name)


def as_listed_in_help() -> list[QueryAttribute]:
    """The attributes in the order of ``--help``'s model-choice options."""
    return sorted(ATTRIBUTES, key=lambda a: a.help_rank)


def keyword_attributes(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The query attributes among a call's arguments, in the order the call declares them.

    ``Upscaler.__init__`` passes its own ``locals()``: its keyword order is the order in
    which its attributes enter the query, and so the order ``describe()`` shows them and
    in which a bad value among several is reported.
    """
    return {name: value for name, value in arguments.items() if name in _BY_NAME}


def attribute_pairs(given: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The query attributes given (None is "not given"), as (name, value) pairs in
    canonical order: how a frozen record of a choice holds them and stays hashable."""
    return tuple((a.name, given[a.name]) for a in ATTRIBUTES if given.get(a.name) is not None)


def catalog_fields(*, in_family_file: bool) -> dict[str, Any]:
    """pydantic field definitions of the attributes, in a catalog entry's field order.

    ``in_family_file``: the fields a family's ``defaults`` and variants may set (each
    optional, merged later; derived ones left out); else a merged entry's, required unless
    the row has a default.
    """
    fields: dict[str, Any] = {}
    for row in sorted(ATTRIBUTES, key=lambda a: a.field_rank):
        if in_family_file and row.derived:
            continue
        kind: Any = row.value | None if in_family_file else row.value
        if row.coerce is not None:
            kind = Annotated[kind, BeforeValidator(row.coerce)]
        default = None if in_family_file else row.entry_default
        required = default is None and not in_family_file
        fields[row.name] = (kind, Field(... if required else default, description=row.description))
    return fields
