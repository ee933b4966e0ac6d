"""Controlled vocabularies (datasets, architectures, ...) with case-insensitive aliases.

Users type ``DIV2K``, ``div2k`` or ``Div2K``; the catalog stores the canonical id. One
table of aliases keeps the resolver, the validator and the explorer in agreement.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from upscaler.errors import QueryError, nearest

# Vocabulary sections and the query attribute each one governs.
SECTIONS: dict[str, str] = {
    "datasets": "dataset",
    "architectures": "architecture",
    "implementations": "implementation",
    "objectives": "objective",
    "degradations": "degradation",
    "domains": "domain",
    "denoise": "denoise",
    "pruning": "pruning",
    "quantization": "quantization",
}


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


class Vocabulary(BaseModel):
    """The whole ``vocab.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    datasets: dict[str, Term]
    architectures: dict[str, Term]
    implementations: dict[str, Term]
    objectives: dict[str, Term]
    degradations: dict[str, Term]
    domains: dict[str, Term]
    denoise: dict[str, Term]
    pruning: dict[str, Term]
    quantization: dict[str, Term]

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
