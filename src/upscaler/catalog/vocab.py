"""Controlled vocabularies (datasets, architectures, ...) with case-insensitive aliases.

Users type ``DIV2K``, ``div2k`` or ``Div2K``; the catalog stores the canonical id. One
table of aliases keeps the resolver, the validator and the explorer in agreement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from upscaler.catalog.attributes import SECTIONS
from upscaler.errors import QueryError, nearest

__all__ = ["SECTIONS", "Term", "Vocabulary"]


class Term(BaseModel):
    """One vocabulary value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    aliases: list[str] = []
    url: str | None = None
    paper: str | None = None
    description: str | None = None
    baseline: bool = Field(
        default=False, description="a reference method (ranked after trained models)"
    )
    domain: str | None = Field(
        default=None,
        description="datasets only: what the images are (a `domains` id); a model's domain "
        "is its training set's",
    )
    level: float | None = Field(
        default=None,
        description="denoise only: how much noise the model removes, for ordering levels "
        "(0 = none); levels are the publishers' and comparable only roughly across families",
    )
    contains: list[str] = Field(
        default=[],
        description="datasets only: the ids of the datasets whose every image this one holds "
        "(DF2K holds DIV2K); transitive, so name only the direct parts",
    )


class _VocabularyHead(BaseModel):
    """What comes before the sections; an unknown section is an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1


if TYPE_CHECKING:
    # Type checkers see the generated sections as these: the ones code reads by name.
    class _Sections(_VocabularyHead):
        datasets: dict[str, Term]
        architectures: dict[str, Term]
        domains: dict[str, Term]
        denoise: dict[str, Term]

else:
    # One section per vocabulary attribute of the attribute table, so a new attribute's
    # section needs no line here.
    _Sections = create_model(
        "_Sections",
        __base__=_VocabularyHead,
        **dict.fromkeys(SECTIONS, (dict[str, Term], ...)),
    )


class Vocabulary(_Sections):
    """The whole ``vocab.yaml``."""

    @model_validator(mode="after")
    def _domains_and_levels(self) -> Vocabulary:
        """A model's domain comes from its dataset and denoise levels are ordered, so every
        dataset must name a known domain and every denoise term a level (and only they)."""
        for term_id, term in self.datasets.items():
            if term.domain not in self.domains:
                raise ValueError(
                    f"datasets.{term_id}: domain {term.domain!r} is not one of the domains "
                    f"({', '.join(sorted(self.domains))}); set `domain:` on every dataset"
                )
        for term_id, term in self.denoise.items():
            if term.level is None or term.level < 0:
                raise ValueError(f"denoise.{term_id}: needs `level:`, a number >= 0")
        for section in SECTIONS:
            for term_id, term in getattr(self, section).items():
                if term.domain is not None and section != "datasets":
                    raise ValueError(f"{section}.{term_id}: `domain:` belongs on datasets only")
                if term.level is not None and section != "denoise":
                    raise ValueError(f"{section}.{term_id}: `level:` belongs on denoise only")
        return self

    @model_validator(mode="after")
    def _containment(self) -> Vocabulary:
        """``contains`` must form a hierarchy of known datasets: the resolver walks it to
        call a superset-trained model a near miss, and a typo or a loop would make it call
        an unrelated model near (or never stop asking)."""
        problems: list[InitErrorDetails] = []

        def problem(loc: tuple[str | int, ...], value: Any, detail: str) -> None:
            error = PydanticCustomError("vocab_contains", "{detail}", {"detail": detail})
            problems.append(InitErrorDetails(type=error, loc=loc, input=value))

        for section in SECTIONS:
            for term_id, term in getattr(self, section).items():
                if term.contains and section != "datasets":
                    problem(
                        (section, term_id, "contains"),
                        term.contains,
                        "`contains:` belongs on datasets only",
                    )
        for term_id, term in self.datasets.items():
            for index, inner in enumerate(term.contains):
                loc = ("datasets", term_id, "contains", index)
                if inner == term_id:
                    problem(
                        loc,
                        inner,
                        f"dataset {term_id!r} cannot contain itself; list only the other "
                        "datasets whose images it holds",
                    )
                elif inner not in self.datasets:
                    close = nearest(inner, sorted(self.datasets))
                    fix = f"did you mean {close[0]!r}?" if close else "add it under `datasets:`"
                    problem(
                        loc,
                        inner,
                        f"unknown dataset {inner!r} in `contains:` of {term_id!r} "
                        f"(valid: {', '.join(sorted(self.datasets))}); {fix}",
                    )
        if not problems:
            cycle = _first_cycle(self.datasets)
            if cycle is not None:
                last, back = cycle[-2], cycle[-1]
                index = self.datasets[last].contains.index(back)
                problem(
                    ("datasets", last, "contains", index),
                    back,
                    f"datasets contain each other in a loop ({' -> '.join(cycle)}); a dataset "
                    "can only contain smaller ones, so remove one of these entries",
                )
        if problems:
            # Raised as a ValidationError so that each problem keeps its own location and
            # the loader reports the exact `contains:` line, not line 1.
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def domain_of(self, dataset: str) -> str:
        """The domain of a dataset id (validated to exist for every dataset)."""
        term = self.datasets[dataset]
        assert term.domain is not None  # guaranteed by _domains_and_levels
        return term.domain

    def denoise_level(self, denoise: str) -> float:
        """The ordering level of a denoise id (0 = removes no noise)."""
        level = self.denoise[denoise].level
        assert level is not None  # guaranteed by _domains_and_levels
        return level

    def dataset_contains(self, outer: str, inner: str) -> bool:
        """Whether dataset ``outer`` holds every image of ``inner``, directly or through
        datasets it contains (DF2K + OST holds DF2K, which holds DIV2K). False for the same
        id (a dataset is no superset of itself) and for ids the vocabulary lacks."""
        if outer == inner or outer not in self.datasets:
            return False
        seen: set[str] = set()
        todo = list(self.datasets[outer].contains)
        while todo:
            part = todo.pop()
            if part == inner:
                return True
            if part in seen or part not in self.datasets:
                continue
            seen.add(part)
            todo.extend(self.datasets[part].contains)
        return False

    def short_title(self, attribute: str, value: str) -> str:
        """A term's title without its parenthesised gloss ("DF2K (DIV2K + Flickr2K)" ->
        "DF2K"), for prose; the id when the term is unknown."""
        term = self.terms(attribute).get(value)
        return term.title.split(" (")[0] if term is not None else value

    def terms(self, attribute: str) -> dict[str, Term]:
        """The terms that govern a query attribute (``dataset`` → ``datasets``)."""
        for section, attr in SECTIONS.items():
            if attr == attribute:
                terms: dict[str, Term] = getattr(self, section)
                return terms
        raise KeyError(attribute)

    def canonical(self, attribute: str, value: Any) -> str | None:
        """The canonical id for a value or alias, or None when unknown."""
        text = str(value).strip().lower()
        for term_id, term in self.terms(attribute).items():
            if text == term_id or text in (a.lower() for a in term.aliases):
                return term_id
        return None

    def normalise(self, attribute: str, value: Any) -> str:
        """Like :meth:`canonical` but raises a QueryError listing the nearest valid values."""
        found = self.canonical(attribute, value)
        if found is not None:
            return found
        valid = sorted(self.terms(attribute))
        close = nearest(value, valid)
        raise QueryError(
            f"unknown {attribute} {value!r}; valid values: {', '.join(valid)}",
            hint=f"did you mean {attribute}={close[0]}?"
            if close
            else "add new values to "
            "catalog/vocab.yaml (contributors) or pick one of the valid values",
        )

    def is_baseline(self, architecture: str) -> bool:
        """Baselines (nearest neighbour, ...) rank after trained models."""
        term = self.architectures.get(architecture)
        return bool(term and term.baseline)


def _first_cycle(datasets: dict[str, Term]) -> list[str] | None:
    """The first loop of ``contains`` edges, as ids from its start back to it
    (``[a, b, a]``), or None. Depth-first in file order, so the report is stable, and
    iterative, so a hostile file with a chain of thousands of datasets cannot exhaust the
    interpreter's recursion."""
    done: set[str] = set()
    for start, term in datasets.items():
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        # One iterator of `contains` edges per dataset on the current path.
        edges = [iter(term.contains)]
        while edges:
            inner = next(edges[-1], None)
            if inner is None:
                node = path.pop()
                on_path.discard(node)
                done.add(node)
                edges.pop()
            elif inner in on_path:
                return [*path[path.index(inner) :], inner]
            elif inner not in done and inner in datasets:
                path.append(inner)
                on_path.add(inner)
                edges.append(iter(datasets[inner].contains))
    return None
