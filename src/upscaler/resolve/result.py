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

    @property
    def adaptable(self) -> bool:
        """True when an adapter bridges the difference (the result still meets the query)."""
        return self.adapter is not None

    def __str__(self) -> str:
        return f"{self.attribute}: {self.offered} ≠ {self.wanted} → {self.note}"


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
        data["difference_details"] = [d.model_dump(mode="json") for d in self.differences]
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `upscaler resolve --json` output)."""
        return {
            "query": self.query,
            "prefer": self.prefer,
            "exact": self.exact,
            "matches": self.matches,
            "model": self.model.summary() if self.model else None,
            "reason": self.reason,
            "adapters": [a.model_dump(mode="json") for a in self.adapters],
            "alternatives": [a.to_dict() for a in self.alternatives],
        }
