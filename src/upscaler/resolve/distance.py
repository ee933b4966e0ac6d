"""Typed, per-attribute distance between a query and a model.

Attributes differ in kind, so each has its own rule: a channel mismatch is bridged by an
adapter at almost no cost, a scale mismatch needs a chain of models or a resize and costs
most, and a different training set or implementation cannot be adapted at all (the model
is simply a different one). Costs are small integers so that rankings are easy to reason
about and stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from upscaler.catalog.schema import ModelEntry
from upscaler.resolve.query import Query
from upscaler.resolve.result import Adapter, Difference

# Cost of a difference that cannot be adapted: the user gets a different kind of model.
SUBSTITUTION_COST: dict[str, float] = {
    "dataset": 20.0,
    # A perceptual model asked for fidelity (or the reverse) does a different job: it
    # invents texture, or it refuses to. Dearer than a different architecture.
    "objective": 15.0,
    "degradation": 10.0,
    "architecture": 12.0,
    "implementation": 12.0,
    "quantization": 8.0,
    "pruning": 8.0,
}
CHANNEL_COST = 2.0
CHAIN_COST = 25.0
DOWNSCALE_COST = 40.0
UPSCALE_COST = 60.0


def _channel_difference(wanted: int, offered: int) -> Difference:
    if offered == 3 and wanted == 4:
        adapter = Adapter(
            kind="alpha",
            detail="colour through the RGB model; alpha upscaled separately and re-attached",
        )
        note = "alpha adapter"
    elif offered == 3 and wanted == 1:
        adapter = Adapter(kind="gray", detail="gray replicated to RGB, model, then back to gray")
        note = "gray adapter"
    elif offered == 1:
        adapter = Adapter(kind="luma", detail="model on luma (Y); chroma resized bicubically")
        note = "luma adapter"
    else:  # a 4-channel model asked for 3 or 1 channels: add an opaque alpha, drop it after
        adapter = Adapter(kind="alpha", detail="opaque alpha added for the model, dropped after")
        note = "alpha adapter"
    return Difference(
        attribute="channels",
        wanted=wanted,
        offered=offered,
        cost=CHANNEL_COST,
        adapter=adapter,
        note=note,
    )


def _chain_partner(model: ModelEntry, wanted: int, siblings: Sequence[ModelEntry]) -> str | None:
    """A sibling (same family, same channels) whose scale completes ``model`` to ``wanted``."""
    if wanted % model.scale:
        return None
    rest = wanted // model.scale
    partners = sorted(
        (
            s
            for s in siblings
            if s.family == model.family and s.scale == rest and s.channels == model.channels
        ),
        key=lambda s: (not s.default, s.id),
    )
    return partners[0].id if partners else None


def _scale_difference(wanted: int, model: ModelEntry, siblings: Sequence[ModelEntry]) -> Difference:
    offered = model.scale
    partner = _chain_partner(model, wanted, siblings)
    if partner is not None:
        adapter = Adapter(
            kind="chain",
            detail=f"x{offered} by {model.id}, then x{wanted // offered} by {partner}",
            models=[model.id, partner],
        )
        return Difference(
            attribute="scale",
            wanted=wanted,
            offered=offered,
            cost=CHAIN_COST,
            adapter=adapter,
            note=f"chain {model.id} + {partner}",
        )
    factor = wanted / offered
    if offered > wanted:
        cost = DOWNSCALE_COST + (offered / wanted - 1.0)
        note = f"x{offered} model then downscale ×{factor:g}"
    else:
        cost = UPSCALE_COST + 10.0 * (factor - 1.0)
        note = f"x{offered} model then resize ×{factor:g} (softer)"
    adapter = Adapter(
        kind="resize",
        detail=f"model output resized by {factor:g} with a high-quality filter",
        models=[model.id],
        factor=factor,
    )
    return Difference(
        attribute="scale", wanted=wanted, offered=offered, cost=cost, adapter=adapter, note=note
    )


def differences(
    query: Query, model: ModelEntry, siblings: Sequence[ModelEntry]
) -> list[Difference]:
    """Every attribute of ``query`` that ``model`` does not satisfy, in attribute order."""
    found: list[Difference] = []
    for attribute, wanted in query.items():
        offered = model.attribute(attribute)
        if offered == wanted:
            continue
        if attribute == "channels":
            found.append(_channel_difference(wanted, offered))
        elif attribute == "scale":
            found.append(_scale_difference(wanted, model, siblings))
        else:
            found.append(
                Difference(
                    attribute=attribute,
                    wanted=wanted,
                    offered=offered,
                    cost=SUBSTITUTION_COST[attribute],
                    note=f"different {attribute}, no adapter",
                )
            )
    return found
