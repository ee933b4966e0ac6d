"""Typed, per-attribute distance between a query and a model.

Attributes differ in kind, so each has its own rule: a channel mismatch is bridged by an
adapter at almost no cost, a scale mismatch needs a chain of models or a resize and costs
most, and a different training set or implementation cannot be adapted at all (the model
is simply a different one), except that a training set containing the asked one is a near
miss: nothing to adapt, since the model has seen every image asked for. Costs are small
integers so that rankings are easy to reason about and stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from upscaler.catalog.attributes import SUBSTITUTION_COST
from upscaler.catalog.schema import ModelEntry
from upscaler.catalog.vocab import Vocabulary
from upscaler.resolve.query import Query
from upscaler.resolve.result import Adapter, Difference

# A difference that cannot be adapted costs its attribute's row in the attribute table
# (SUBSTITUTION_COST): the user gets a different kind of model.
CHANNEL_COST = 2.0
# A model trained on a superset of the asked dataset (DF2K for DIV2K: every DIV2K training
# image plus Flickr2K's) is a near miss: not the model asked for, so dearer than an
# adapter, but it has learned from every image that was asked for, so cheaper than any
# substitution (quantization, 8) and far cheaper than an unrelated dataset (20).
DATASET_SUPERSET_COST = 4.0
# Denoise is ordered, and the direction matters: a model that removes more noise than
# asked smooths away detail that cannot come back, one that removes less leaves noise
# that a second pass could still take out. Per level (vocab `denoise` levels).
DENOISE_MORE_COST = 4.0
DENOISE_LESS_COST = 3.0
# Same level, other style (Real-CUGAN conservative against no-denoise).
DENOISE_STYLE_COST = 2.0
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
    elif offered == 4 and wanted == 1:
        adapter = Adapter(
            kind="alpha",
            detail="gray replicated to RGB with an opaque alpha for the RGBA model; its alpha "
            "dropped, its colour folded back to gray",
        )
        note = "alpha adapter"
    else:  # a 4-channel model asked for 3 channels: add an opaque alpha, drop it after
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
    """A sibling whose scale completes ``model`` to ``wanted``: same family, and the same
    kind of model (channels, domain, objective, denoise), so a chain never switches from an
    anime model to a photo one halfway."""
    if wanted % model.scale:
        return None
    rest = wanted // model.scale
    partners = sorted(
        (
            s
            for s in siblings
            if s.family == model.family
            and s.scale == rest
            and (s.channels, s.domain, s.objective, s.denoise)
            == (model.channels, model.domain, model.objective, model.denoise)
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


def _dataset_difference(wanted: str, offered: str, vocab: Vocabulary | None) -> Difference:
    """A near miss when the model's training set contains the asked one (vocab
    ``contains``, transitively), else a different dataset."""
    if vocab is not None and vocab.dataset_contains(offered, wanted):
        return Difference(
            attribute="dataset",
            wanted=wanted,
            offered=offered,
            cost=DATASET_SUPERSET_COST,
            near_miss=True,
            note=f"trained on {vocab.short_title('dataset', offered)}, which contains "
            f"{vocab.short_title('dataset', wanted)}",
        )
    return Difference(
        attribute="dataset",
        wanted=wanted,
        offered=offered,
        cost=SUBSTITUTION_COST["dataset"],
        note="different dataset, no adapter",
    )


def _denoise_difference(wanted: str, offered: str, vocab: Vocabulary | None) -> Difference:
    """Which way the model misses the asked noise level, and by how many levels."""
    have = vocab.denoise_level(offered) if vocab and offered in vocab.denoise else 0.0
    want = vocab.denoise_level(wanted) if vocab and wanted in vocab.denoise else 0.0
    if have > want:
        cost = DENOISE_MORE_COST * (have - want)
        note = f"removes more noise than asked ({have - want:g} level(s); may smooth detail)"
    elif have < want:
        cost = DENOISE_LESS_COST * (want - have)
        note = f"removes less noise than asked ({want - have:g} level(s); noise may remain)"
    else:
        cost = DENOISE_STYLE_COST
        note = "same noise level, another style"
    return Difference(attribute="denoise", wanted=wanted, offered=offered, cost=cost, note=note)


def differences(
    query: Query,
    model: ModelEntry,
    siblings: Sequence[ModelEntry],
    vocab: Vocabulary | None = None,
) -> list[Difference]:
    """Every attribute of ``query`` that ``model`` does not satisfy, in attribute order.

    ``vocab`` orders denoise levels and knows which datasets contain which; without it
    every denoise mismatch costs the same and every other dataset is unrelated.
    """
    found: list[Difference] = []
    for attribute, wanted in query.items():
        offered = model.attribute(attribute)
        if offered == wanted:
            continue
        if attribute == "channels":
            found.append(_channel_difference(wanted, offered))
        elif attribute == "scale":
            found.append(_scale_difference(wanted, model, siblings))
        elif attribute == "denoise":
            found.append(_denoise_difference(wanted, offered, vocab))
        elif attribute == "dataset":
            found.append(_dataset_difference(wanted, offered, vocab))
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
