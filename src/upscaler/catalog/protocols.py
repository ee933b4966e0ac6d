"""The measurement protocols the catalog's numbers can come from: one table, data only.

A model's numbers mean something only with the condition they were measured under. A
waifu2x noise model scored on clean bicubic input is scored on an identity task; a web
JPEG is not a clean downscale. Each protocol is a named, versioned recipe applied to the
ground truth before the model runs (the recipes live in
:mod:`upscaler.evaluate.degradations`; this table is what the catalog, the resolver and
the docs need to agree on, without importing the evaluator).

The ``id`` is what provenance records: change it whenever a step of the recipe changes,
so old and new numbers are never compared silently. The ``name`` is what users type
(``upscaler eval --protocol jpeg-q50``) and what keys ``protocol_metrics`` in the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from upscaler.errors import QueryError, nearest

Kind = Literal["bicubic", "jpeg", "noise", "real-world"]

BICUBIC = "bicubic"
"""The classic protocol: bicubic downscale of a clean photo. Its numbers live in
``metrics``; every other protocol's in ``protocol_metrics``."""


@dataclass(frozen=True)
class ProtocolSpec:
    """One protocol: what users call it, what provenance records, what it simulates."""

    name: str
    id: str
    kind: Kind
    title: str
    jpeg_quality: int | None = None
    noise_sigma: float | None = None


PROTOCOLS: dict[str, ProtocolSpec] = {
    spec.name: spec
    for spec in (
        ProtocolSpec(
            BICUBIC,
            "sr-y-bt601-shave-s-matlab-bicubic-v1",
            "bicubic",
            "clean photo, MATLAB bicubic downscale",
        ),
        ProtocolSpec(
            "jpeg-q30",
            "sr-y-bt601-bicubic-jpeg-pillow-q30-420-v1",
            "jpeg",
            "bicubic downscale, then JPEG quality 30 (heavy web compression)",
            jpeg_quality=30,
        ),
        ProtocolSpec(
            "jpeg-q50",
            "sr-y-bt601-bicubic-jpeg-pillow-q50-420-v1",
            "jpeg",
            "bicubic downscale, then JPEG quality 50 (typical web compression)",
            jpeg_quality=50,
        ),
        ProtocolSpec(
            "jpeg-q75",
            "sr-y-bt601-bicubic-jpeg-pillow-q75-420-v1",
            "jpeg",
            "bicubic downscale, then JPEG quality 75 (Pillow's default quality)",
            jpeg_quality=75,
        ),
        ProtocolSpec(
            "noise-s15",
            "sr-y-bt601-bicubic-gauss-rgb-s15-v1",
            "noise",
            "bicubic downscale, then Gaussian noise sigma 15 (of 255) per RGB channel",
            noise_sigma=15.0,
        ),
        ProtocolSpec(
            "noise-s25",
            "sr-y-bt601-bicubic-gauss-rgb-s25-v1",
            "noise",
            "bicubic downscale, then Gaussian noise sigma 25 (of 255) per RGB channel",
            noise_sigma=25.0,
        ),
        ProtocolSpec(
            "real-world",
            "sr-y-bt601-realworld-second-order-v1",
            "real-world",
            "blind real-world mix: blur, resize, noise and JPEG, twice (after Real-ESRGAN)",
        ),
    )
}

#: Which protocol ranks a query that names a train-time denoise level, by the vocabulary's
#: ``level`` (waifu2x noise 0-3 and Real-CUGAN denoise 1x-3x are levels 1-4). The
#: publishers train their levels on JPEG noise of growing strength; the mapping to one
#: quality each is our judgement, documented in docs/protocols.md. Level 0 (no denoising,
#: or Real-CUGAN's conservative models) keeps the clean protocol.
DENOISE_LEVEL_PROTOCOL: dict[float, str] = {
    1: "jpeg-q75",
    2: "jpeg-q50",
    3: "jpeg-q50",
    4: "jpeg-q30",
}

#: The protocol that ranks a query naming ``degradation=real-world``.
REAL_WORLD = "real-world"


def protocol_named(name: str) -> ProtocolSpec:
    """The protocol called ``name`` (case-insensitive), or a QueryError naming the nearest."""
    found = PROTOCOLS.get(str(name).strip().lower())
    if found is not None:
        return found
    close = nearest(name, list(PROTOCOLS))
    raise QueryError(
        f"unknown protocol {name!r}; valid protocols: {', '.join(PROTOCOLS)}",
        hint=f"did you mean --protocol {close[0]}?" if close else "see docs/protocols.md",
    )


def protocol_of_id(protocol_id: str) -> ProtocolSpec | None:
    """The protocol whose versioned id is ``protocol_id`` (None for an unknown id)."""
    return next((p for p in PROTOCOLS.values() if p.id == protocol_id), None)
