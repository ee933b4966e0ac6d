"""Run the protocol over sets for one target: a catalog model, a query, or bicubic.

A *target* is what gets measured; it becomes a :class:`Method` that scores one ground
truth image. Models go through the public :class:`~upscaler.Upscaler` facade (so the
numbers are those a user gets), built once and reused for every image.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from upscaler.catalog.protocols import BICUBIC as BICUBIC_PROTOCOL
from upscaler.catalog.protocols import PROTOCOLS, ProtocolSpec
from upscaler.errors import QueryError
from upscaler.evaluate.datasets import EvalSet, GroundTruth, read_ground_truth
from upscaler.evaluate.protocol import (
    BICUBIC_Y_PROTOCOL_ID,
    MIN_SCALE,
    ImageScore,
    MakeInput,
    bicubic_upscale,
    score_bicubic_y,
    score_rgb,
)

if TYPE_CHECKING:
    from upscaler.upscaler import Upscaler

logger = logging.getLogger("upscaler.evaluate")

BICUBIC = "bicubic"
BICUBIC_Y = "bicubic-y"
BASELINES = (BICUBIC, BICUBIC_Y)


@dataclass(frozen=True)
class Method:
    """Something that scores one HR image at a scale, with the label results carry."""

    target: str
    kind: str
    scale: int
    protocol: str
    score: Callable[[GroundTruth], ImageScore]
    model_id: str | None = None
    model_scale: int | None = None
    protocol_name: str = BICUBIC_PROTOCOL


@dataclass(frozen=True)
class ImageResult:
    """One image's numbers, and what its degradation drew (None for the clean protocol)."""

    name: str
    psnr_y: float
    ssim_y: float
    degradation: Mapping[str, Any] | None = None
    perceptual: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (PSNR to 4 decimals, SSIM to 6: finer than any table needs)."""
        out: dict[str, Any] = {
            "name": self.name,
            "psnr_y": round(self.psnr_y, 4),
            "ssim_y": round(self.ssim_y, 6),
        }
        if self.perceptual is not None:
            out["perceptual"] = round(self.perceptual, 4)
        if self.degradation:
            out["degradation"] = dict(self.degradation)
        return out


@dataclass(frozen=True)
class SetResult:
    """One set's per-image numbers and their means (the published statistic)."""

    name: str
    key: str
    fingerprint: str
    images: tuple[ImageResult, ...]
    seconds: float

    @property
    def psnr_y(self) -> float:
        """Mean of per-image PSNR (not PSNR of the mean error), as papers report it."""
        return float(np.mean([i.psnr_y for i in self.images]))

    @property
    def ssim_y(self) -> float:
        """Mean of per-image SSIM."""
        return float(np.mean([i.ssim_y for i in self.images]))

    @property
    def perceptual(self) -> float | None:
        """Mean of the per-image perceptual metric, when it was measured."""
        values = [i.perceptual for i in self.images if i.perceptual is not None]
        return float(np.mean(values)) if values and len(values) == len(self.images) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        perceptual = self.perceptual
        return {
            "name": self.name,
            "psnr_y": round(self.psnr_y, 4),
            "ssim_y": round(self.ssim_y, 6),
            **({"perceptual": round(perceptual, 4)} if perceptual is not None else {}),
            "count": len(self.images),
            "seconds": round(self.seconds, 2),
            "fingerprint": self.fingerprint,
            "images": [i.to_dict() for i in self.images],
        }


@dataclass(frozen=True)
class EvalResult:
    """Everything measured for one target."""

    target: str
    kind: str
    scale: int
    protocol: str
    model_id: str | None
    model_scale: int | None
    sets: dict[str, SetResult] = field(default_factory=dict)
    protocol_name: str = BICUBIC_PROTOCOL

    @property
    def seconds(self) -> float:
        """Wall time over all sets (decoding, LR, the model and the metrics)."""
        return sum(s.seconds for s in self.sets.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "target": self.target,
            "kind": self.kind,
            "model": self.model_id,
            "scale": self.scale,
            "protocol": self.protocol,
            "protocol_name": self.protocol_name,
            "seconds": round(self.seconds, 2),
            "sets": {key: s.to_dict() for key, s in self.sets.items()},
        }


def check_scale(scale: int) -> int:
    """Scales below 1 are not a model's scale; say so with the fix."""
    if scale < MIN_SCALE:
        raise QueryError(
            f"scale must be an integer >= {MIN_SCALE}, got {scale}",
            hint="the scale is the upscaling factor, e.g. --scale 2",
        )
    return scale


def _check_baseline_scale(scale: int) -> None:
    """At scale 1 the baseline would return the ground truth itself (infinite PSNR)."""
    if scale < 2:
        raise QueryError(
            "the bicubic baseline needs a scale >= 2: at scale 1 there is nothing to "
            "interpolate, and its output would be the ground truth itself",
            hint="evaluate scale-1 (restoration) models alone, or pass --scale 2 or more",
        )


def input_recipe(spec: ProtocolSpec) -> MakeInput | None:
    """The LR recipe of a protocol (None: the classic bicubic step of the protocol)."""
    if spec.name == BICUBIC_PROTOCOL:
        return None
    from upscaler.evaluate.degradations import degraded_lr

    return lambda hr, scale: degraded_lr(hr, scale, spec)


def bicubic_method(scale: int, spec: ProtocolSpec = PROTOCOLS[BICUBIC_PROTOCOL]) -> Method:
    """MATLAB bicubic upward, under the same protocol as the models."""
    _check_baseline_scale(check_scale(scale))
    make_input = input_recipe(spec)

    def score(gt: GroundTruth) -> ImageScore:
        return score_rgb(
            gt.rgb,
            scale,
            lambda lr: bicubic_upscale(lr, scale),
            gray=gt.gray,
            name=gt.name,
            make_input=make_input,
        )

    return Method(BICUBIC, "baseline", scale, spec.id, score, protocol_name=spec.name)


def bicubic_y_method(scale: int) -> Method:
    """The published tables' Y-only bicubic (for checking against the literature)."""
    _check_baseline_scale(check_scale(scale))

    def score(gt: GroundTruth) -> ImageScore:
        return score_bicubic_y(gt.rgb, scale, gray=gt.gray)

    return Method(BICUBIC_Y, "baseline", scale, BICUBIC_Y_PROTOCOL_ID, score)


def upscaler_method(
    upscaler: Upscaler,
    target: str,
    spec: ProtocolSpec = PROTOCOLS[BICUBIC_PROTOCOL],
    *,
    perceptual: Callable[[npt.NDArray[np.uint8], npt.NDArray[np.uint8]], float] | None = None,
) -> Method:
    """A model behind the facade; the scale is the upscaler's (the query's, else the model's).

    The facade adapts the RGB evaluation images to the model's channels, so luma and RGBA
    models are scored like RGB ones: a luma model on Y with chroma resized, an RGBA model
    with an opaque alpha added and its alpha output dropped (colour is what is scored).
    """
    scale = check_scale(upscaler.scale)

    def run(lr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        out: npt.NDArray[np.uint8] = upscaler.upscale(lr, progress=False)
        return out

    make_input = input_recipe(spec)

    def score(gt: GroundTruth) -> ImageScore:
        return score_rgb(
            gt.rgb,
            scale,
            run,
            gray=gt.gray,
            name=gt.name,
            make_input=make_input,
            perceptual=perceptual,
        )

    entry = upscaler.model
    return Method(
        target,
        "model",
        scale,
        spec.id,
        score,
        model_id=entry.id,
        model_scale=entry.scale,
        protocol_name=spec.name,
    )


def evaluate(
    method: Method,
    sets: Sequence[EvalSet],
    *,
    progress: bool = False,
    on_image: Callable[[str, ImageResult], None] | None = None,
) -> EvalResult:
    """Score every image of every set; ``progress`` shows a bar on stderr."""
    results: dict[str, SetResult] = {}
    for eval_set in sets:
        started = time.perf_counter()
        rows: list[ImageResult] = []
        images: Any = eval_set.images
        if progress:
            from tqdm import tqdm

            from upscaler.progress import tqdm_disable

            images = tqdm(
                images,
                desc=f"{method.target} {eval_set.name} x{method.scale} {method.protocol_name}",
                unit="img",
                leave=False,
                file=sys.stderr,
                disable=tqdm_disable(progress),
            )
        for path in images:
            gt = read_ground_truth(path)
            scored = method.score(gt)
            row = ImageResult(
                path.name, scored.psnr_y, scored.ssim_y, scored.degradation, scored.perceptual
            )
            rows.append(row)
            if on_image is not None:
                on_image(eval_set.key, row)
        result = SetResult(
            name=eval_set.name,
            key=eval_set.key,
            fingerprint=eval_set.fingerprint,
            images=tuple(rows),
            seconds=time.perf_counter() - started,
        )
        results[eval_set.key] = result
        logger.info(
            "%s x%d on %s: PSNR %.4f dB, SSIM %.6f (%d images, %.1f s)",
            method.target,
            method.scale,
            eval_set.name,
            result.psnr_y,
            result.ssim_y,
            len(rows),
            result.seconds,
        )
    return EvalResult(
        target=method.target,
        kind=method.kind,
        scale=method.scale,
        protocol=method.protocol,
        model_id=method.model_id,
        model_scale=method.model_scale,
        sets=results,
        protocol_name=method.protocol_name,
    )
