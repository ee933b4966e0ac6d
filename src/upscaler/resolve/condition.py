"""Which measured numbers rank the candidates: the condition a query or an input names.

A model's numbers mean something only under the condition they were measured in
(:mod:`upscaler.catalog.protocols`). A query that asks for a denoiser, for real-world
inputs or for anime is about a condition the clean bicubic protocol does not test, and an
input that is a quality-45 JPEG is one too; ranking such requests by clean-input PSNR
would pick the model that is best at a job nobody asked for. This module turns the query
(and, for ``degradation="auto"``, what was read from the input) into a :class:`Ranking`:
the protocol and, for drawn images, the evaluation set whose numbers rank.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from upscaler.catalog.protocols import BICUBIC, DENOISE_LEVEL_PROTOCOL, PROTOCOLS, REAL_WORLD
from upscaler.catalog.vocab import Vocabulary

#: The metrics key of the illustration set (``upscaler eval --data illustration-v1``):
#: drawn images, on which anime models are measured for what they are for.
ILLUSTRATION_SET = "illustration"

#: The domain id whose queries rank by the illustration set.
ANIME = "anime"


@dataclass(frozen=True)
class Ranking:
    """The protocol (and preferred sets) whose numbers rank, and why, in one sentence."""

    protocol: str = BICUBIC
    sets: tuple[str, ...] = ()
    reason: str = ""

    @property
    def is_default(self) -> bool:
        """The classic ranking: clean bicubic numbers on the sets every candidate shares."""
        return self.protocol == BICUBIC and not self.sets


def ranking_for(
    query: dict[str, object], vocab: Vocabulary, *, observed: Ranking | None = None
) -> Ranking:
    """The ranking a normalised query asks for; ``observed`` (read from the input by
    ``degradation="auto"``) wins over the query's own condition, since it is evidence
    about the very image being upscaled."""
    if observed is not None and not observed.is_default:
        return observed
    protocol, why = BICUBIC, ""
    sets: tuple[str, ...] = ()
    denoise = query.get("denoise")
    if isinstance(denoise, str) and denoise in vocab.denoise:
        level = vocab.denoise_level(denoise)
        if level in DENOISE_LEVEL_PROTOCOL:
            protocol = DENOISE_LEVEL_PROTOCOL[level]
            why = f"denoise={denoise} asks for noisy input"
    if query.get("degradation") == REAL_WORLD:
        protocol, why = REAL_WORLD, "degradation=real-world asks for real-world input"
    if query.get("domain") == ANIME:
        sets = (ILLUSTRATION_SET,)
        why = f"{why} and domain=anime" if why else "domain=anime asks for drawn images"
    if protocol == BICUBIC and not sets:
        return observed or Ranking()
    where = f" on the {ILLUSTRATION_SET} set" if sets else ""
    return Ranking(protocol, sets, f"{why}: ranked by the {protocol} protocol's numbers{where}")


def nearest_protocols(name: str) -> list[str]:
    """The other protocols of the same kind, closest first (JPEG by quality, noise by
    sigma): where to look when no candidate was measured under ``name`` itself. A
    quality-40 JPEG is far better ranked by quality-50 numbers than by clean ones."""
    spec = PROTOCOLS[name]

    def strength(protocol: str) -> float:
        other = PROTOCOLS[protocol]
        return float(other.jpeg_quality or other.noise_sigma or 0.0)

    same = [p for p, s in PROTOCOLS.items() if s.kind == spec.kind and p != name]
    return sorted(same, key=lambda p: (abs(strength(p) - strength(name)), p))


def fall_back(ranking: Ranking, measured: set[str]) -> Ranking:
    """``ranking`` itself when some candidate has its protocol's numbers (``measured``
    holds the protocols any candidate has); else the nearest measured protocol of the
    same kind, saying so; else ``ranking`` unchanged (every candidate then ranks by the
    catalog order, and the note says none is measured)."""
    if ranking.is_default or ranking.protocol in measured:
        return ranking
    for other in nearest_protocols(ranking.protocol):
        if other in measured:
            why = (
                f"{ranking.reason}; no candidate is measured under {ranking.protocol}, so "
                f"the nearest measured protocol ranks: {other}"
            )
            return replace(ranking, protocol=other, reason=why)
    return ranking
