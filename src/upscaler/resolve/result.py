"""What the resolver returns: differences, planned adapters, alternatives, the resolution.

These are pydantic models so the CLI's ``--json``, ``describe()`` and the explorer all
serialise them the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from upscaler.catalog.schema import ModelEntry

AdapterKind = Literal["alpha", "gray", "luma", "chain", "resize"]


class Adapter(BaseModel):
    """A planned adaptation the runner executes around the model."""

    model_config = ConfigDict(frozen=True)

    kind: AdapterKind
    detail: str
    models: list[str] = []
    factor: float | None = None


class Difference(BaseModel):
    """One attribute where a model differs from the query, and what that costs."""

    model_config = ConfigDict(frozen=True)

    attribute: str
    wanted: Any
    offered: Any
    cost: float
    adapter: Adapter | None = None
    note: str
    near_miss: bool = False
    """The offered value contains the wanted one (a model trained on a superset of the
    asked dataset): no exact match, since it is another model, but it has learned from
    everything that was asked for, so nothing needs bridging. Shown as ``⊇``."""

    @property
    def adaptable(self) -> bool:
        """True when the model still answers the query without being exact: an adapter
        bridges the difference, or it is a :attr:`near_miss` (nothing to bridge). A
        non-strict query may take such a model; ``strict=True`` never does."""
        return self.adapter is not None or self.near_miss

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``near_miss`` only when set, so the JSON of every other
        difference is what it was before near misses existed."""
        return self.model_dump(mode="json", exclude=None if self.near_miss else {"near_miss"})

    def __str__(self) -> str:
        relation = "⊇" if self.near_miss else "≠"
        return f"{self.attribute}: {self.offered} {relation} {self.wanted} → {self.note}"


class Alternative(BaseModel):
    """A model that is not an exact match, with its differences and how to get it."""

    model_config = ConfigDict(frozen=True)

    id: str
    cost: float
    adaptable: bool
    differences: list[Difference]
    adapters: list[Adapter]
    call: str
    summary: dict[str, Any]
    flags: str = ""
    """The same choice in command-line words: ``--model X`` (and ``--scale N``)."""

    def describe_differences(self) -> list[str]:
        """Readable differences (``channels: 3 ≠ 4 → alpha adapter``)."""
        return [str(d) for d in self.differences]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form used by the CLI and describe()."""
        data = self.model_dump(mode="json", exclude={"differences"})
        data["differences"] = self.describe_differences()
        data["difference_details"] = [d.to_dict() for d in self.differences]
        return data


class Resolution(BaseModel):
    """The resolver's answer for one query."""

    model_config = ConfigDict(frozen=True)

    query: dict[str, Any]
    prefer: str
    exact: bool
    matches: list[str]
    model: ModelEntry | None
    reason: str
    adapters: list[Adapter]
    alternatives: list[Alternative]
    ranking: str | None = None
    """Whose numbers ranked, when not the clean bicubic protocol's (a query's denoise=,
    degradation= or domain=anime, or what degradation="auto" read from the input)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `upscaler resolve --json` output)."""
        ranking = {"ranking": self.ranking} if self.ranking else {}
        return {
            **ranking,
            "query": self.query,
            "prefer": self.prefer,
            "exact": self.exact,
            "matches": self.matches,
            "model": self.model.summary() if self.model else None,
            "reason": self.reason,
            "adapters": [a.model_dump(mode="json") for a in self.adapters],
            "alternatives": [a.to_dict() for a in self.alternatives],
        }
