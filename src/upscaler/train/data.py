"""Training data: folders of HR images → random (LR, HR) patch batches keyed by step.

Why the pieces are as they are:

* **LR exactly as `upscaler eval` makes it.** Each HR image is mod-cropped and the whole
  image downscaled once with the MATLAB-compatible bicubic
  (:func:`upscaler.evaluate.protocol.make_lr`, rounded to 8 bits), and patches are cut
  from aligned positions of both. Cutting after downscaling (not downscaling each patch)
  means patch borders see the same pixels the evaluation's LR has there.
* **Batches are a pure function of (seed, step).** Which images, where, and which of the
  eight flips/rotations all come from ``numpy.random.default_rng([seed, step])``, so a
  run resumed at step N draws exactly the batches an uninterrupted run draws there,
  with no generator state to save.
* **Degradations are pluggable** (:data:`DEGRADATIONS`): a function applied to each LR
  patch with the step's generator. ``none`` is the bicubic setting; noise and JPEG can
  be added as entries without touching the sampler.
* **Channels.** RGB is the image; 1 channel is its full-range BT.601 luma (what a gray
  file holds); 4 channels add an alpha: the image's own when it has one, else a
  synthetic matte (:func:`synthetic_alpha`), downscaled with the same bicubic as the
  colour, so the model learns alpha jointly with colour.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError, TrainingError
from upscaler.evaluate.color import gray_level
from upscaler.evaluate.datasets import load_sets
from upscaler.evaluate.imresize import round_uint8
from upscaler.evaluate.protocol import make_lr, modcrop
from upscaler.train.evaluation_images import EvaluationImages, known_images, pixel_key, rgb8

log = logging.getLogger("upscaler.train")

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

Degradation = Callable[[U8, np.random.Generator], U8]


def _no_degradation(lr: U8, rng: np.random.Generator) -> U8:
    """Clean bicubic inputs: the LR patch as the evaluation protocol makes it."""
    return lr


DEGRADATIONS: dict[str, Degradation] = {"none": _no_degradation}
"""LR degradations by name (the training config's ``degradation``). Each takes an 8-bit
LR patch and the step's generator and returns a patch of the same shape and dtype."""


@dataclass(frozen=True)
class Folder:
    """A data folder as the training record names it: its name and manifest hash, how
    many images it holds and how many were large enough to use."""

    name: str
    fingerprint: str
    images: int
    used: int

    def record(self) -> dict[str, str | int]:
        return {
            "name": self.name,
            "sha256": self.fingerprint,
            "images": self.images,
            "used": self.used,
        }


@dataclass(frozen=True)
class Pair:
    """One training image at one scale: the mod-cropped HR and its bicubic LR.

    ``key`` is the pixel key of the decoded image
    (:func:`upscaler.train.evaluation_images.pixel_key`), so validation images that are
    also training images can be told apart from their names (:func:`refuse_overlap`).
    """

    name: str
    hr: U8
    lr: U8
    key: str = ""


def _to_channels(pixels: npt.NDArray[np.generic], channels: int, name: str, seed: int) -> U8:
    """8-bit pixels with the wanted channel count (see the module docstring)."""
    from upscaler.runtime.image_io import to_dtype

    image = to_dtype(np.asarray(pixels), "uint8").astype(np.uint8)
    have = image.shape[2]
    color = image[:, :, :3] if have >= 3 else np.repeat(image[:, :, :1], 3, axis=2)
    alpha = image[:, :, have - 1 : have] if have in (2, 4) else None
    if channels == 3:
        return np.ascontiguousarray(color)
    if channels == 1:
        return round_uint8(gray_level(color))[:, :, np.newaxis]
    if alpha is None:
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
        alpha = synthetic_alpha(color.shape[:2], np.random.default_rng([seed, key]))
    return np.ascontiguousarray(np.concatenate([color, alpha], axis=2))


def synthetic_alpha(shape: tuple[int, int], rng: np.random.Generator) -> U8:
    """An alpha matte with what real mattes have: opaque and clear regions, hard edges,
    soft edges and gradients. A few random ellipses (hard or feathered) over a base that
    is opaque, clear or a linear ramp; deterministic for a given generator."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    kind = rng.integers(0, 3)
    if kind == 0:
        alpha = np.ones(shape)
    elif kind == 1:
        alpha = np.zeros(shape)
    else:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xx / max(1, width) + np.sin(angle) * yy / max(1, height)
        alpha = (ramp - ramp.min()) / max(1e-9, np.ptp(ramp))
    for _ in range(int(rng.integers(1, 5))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry = rng.uniform(0.1, 0.6) * height
        rx = rng.uniform(0.1, 0.6) * width
        distance = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
        feather = rng.uniform(0.0, 0.5)
        inside = np.clip((1.0 - distance) / feather, 0, 1) if feather > 0.02 else distance < 1
        alpha = np.where(inside > 0, (1 - inside) * alpha + inside * rng.uniform(0, 1), alpha)
    return round_uint8(alpha * 255.0)[:, :, np.newaxis]


def load_folders(
    folders: Sequence[str | Path],
    *,
    scale: int,
    channels: int,
    hr_patch: int,
    seed: int,
    evaluation: EvaluationImages | None = None,
) -> tuple[list[Pair], list[Folder]]:
    """Every usable image of every folder as an HR/LR pair, and each folder's record.

    A folder is what ``upscaler eval --data`` takes (``<Name>/HR/`` or a plain folder of
    images; its fingerprint is the sha256 of its manifest). Images smaller than one HR
    patch are skipped with a warning (T91 has 78-pixel images; at x4 a 48-pixel LR patch
    needs 192 HR pixels); a folder left with none is an error. Every problem is a
    :class:`TrainingError` naming the file and the fix: an empty folder, a file that is
    not an image, a folder whose images are all smaller than a patch, and an evaluation
    image under any name (looked up by content in ``evaluation``, default the shipped
    table: :mod:`upscaler.train.evaluation_images`). The exception is an image over the
    pixel limit (a decompression bomb): that stays the :class:`ImageError` every other
    command raises for it, since its fix is the same everywhere (``UPSCALER_MAX_PIXELS``).
    """
    from upscaler.runtime.image_io import decode

    if not folders:
        raise TrainingError("no training folders given", hint="pass one or more folders of images")
    for folder in folders:
        _check_folder(Path(folder).expanduser())
    try:
        image_sets = load_sets(
            folders, role="data", hint="the training record names folders by name; rename one"
        )
    except ImageError as exc:
        raise TrainingError(exc.message, hint=exc.hint) from None
    known = known_images() if evaluation is None else evaluation
    pairs: list[Pair] = []
    records: list[Folder] = []
    for image_set in image_sets:
        small: list[str] = []
        found: list[str] = []
        used = 0
        for path in image_set.images:
            try:
                decoded = decode(path)
            except ImageError as exc:
                if _over_the_limit(exc):
                    raise
                raise TrainingError(
                    f"{path} cannot be used for training: {exc.message}",
                    hint="remove it from the folder or replace it with a valid image",
                ) from None
            rgb = rgb8(decoded.pixels)
            what = known.match(_file_sha256(path), rgb)
            if what is not None:
                found.append(f"{path.name} is {what}")
                continue
            key = pixel_key(rgb)
            hr = modcrop(_to_channels(decoded.pixels, channels, path.name, seed), scale)
            if min(hr.shape[:2]) < hr_patch:
                small.append(path.name)
                continue
            pairs.append(Pair(f"{image_set.name}/{path.name}", hr, make_lr(hr, scale), key))
            used += 1
        if found:
            raise TrainingError(
                f"{image_set.folder} holds evaluation images, which a model must never "
                f"train on: {_listed(found)}",
                hint="remove them from the training folder (the project's models train on "
                "T91 and BSD200)",
            )
        if not used:
            raise TrainingError(
                f"every image in {image_set.folder} is smaller than one {hr_patch}x{hr_patch} "
                f"HR patch (x{scale}, LR patch {hr_patch // scale})",
                hint="pass a smaller --patch, or folders of larger images",
            )
        if small:
            log.warning(
                "%s: %d of %d images are smaller than a %dx%d HR patch and are skipped (%s%s)",
                image_set.name,
                len(small),
                len(image_set.images),
                hr_patch,
                hr_patch,
                ", ".join(small[:3]),
                ", ..." if len(small) > 3 else "",
            )
        records.append(Folder(image_set.name, image_set.fingerprint, len(image_set.images), used))
    log.info("training data: %d images from %s", len(pairs), ", ".join(r.name for r in records))
    return pairs, records


def _check_folder(folder: Path) -> None:
    """A missing or non-folder path, in training words (the shared loader speaks of
    evaluation data, and would suggest an evaluation set as the fix)."""
    if not folder.exists():
        raise TrainingError(
            f"training folder {folder} does not exist",
            hint="pass folders of HR images (a folder with HR/ inside, or of images)",
        )
    if not folder.is_dir():
        raise TrainingError(
            f"training data {folder} is not a folder",
            hint="pass the folder that holds the images, not one image",
        )


def _over_the_limit(exc: ImageError) -> bool:
    """Whether a decode refusal is the pixel or file-size limit (a decompression bomb):
    the image guard names its setting in every such refusal and in no other."""
    return "UPSCALER_MAX_PIXELS" in f"{exc.message} {exc.hint or ''}"


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _listed(items: Sequence[str], shown: int = 5) -> str:
    more = f"; and {len(items) - shown} more" if len(items) > shown else ""
    return "; ".join(items[:shown]) + more


def _repeated(train: Sequence[Pair], val: Sequence[Pair]) -> list[str]:
    """``val name = train name`` for every validation image whose pixels are a training
    image's; pairs without a key (made outside :func:`load_folders`) are not compared."""
    trained = {p.key: p.name for p in train if p.key}
    return [f"{p.name} = {trained[p.key]}" for p in val if p.key and p.key in trained]


def refuse_overlap(train: Sequence[Pair], val: Sequence[Pair]) -> None:
    """A ``--val`` image that is also a training image (same pixels, any name) measures
    memory, not generalisation: refuse it, naming both files."""
    both = _repeated(train, val)
    if both:
        raise TrainingError(
            f"the --val folder repeats training images: {_listed(both)}",
            hint="validate on images the run does not train on (remove the duplicates, "
            "or pass another --val folder)",
        )


def warn_duplicates(train: Sequence[Pair], held: Sequence[Pair]) -> None:
    """An image held out with ``--val-holdout`` whose duplicate stays in training (T91
    holds one such pair, t36 and t65). Warned, not refused: the held-out images are a
    function of the seed, and a refusal would break recorded recipes that drew one."""
    both = _repeated(train, held)
    if both:
        log.warning(
            "held-out validation images are also in the training images, so validation "
            "overstates their quality: %s",
            _listed(both),
        )


def evaluation_fingerprints() -> dict[str, str]:
    """Manifest hash -> set name of every evaluation set the catalog's metrics name."""
    from upscaler.catalog.loader import default_catalog

    found: dict[str, str] = {}
    for entry in default_catalog().entries:
        if entry.metrics is not None:
            for name, fingerprint in entry.metrics.provenance.data.items():
                found.setdefault(fingerprint, name)
    return found


def refuse_evaluation_sets(records: Sequence[Folder], evaluation: dict[str, str]) -> None:
    """Training on an evaluation set makes its published numbers meaningless: refuse any
    folder whose manifest hash is one the catalog's metrics were measured on
    (``evaluation``: fingerprint -> set name, from the metrics' provenance)."""
    for record in records:
        name = evaluation.get(record.fingerprint)
        if name is not None:
            raise TrainingError(
                f"{record.name} is the evaluation set {name!r} (its manifest hash is the one "
                "the catalog's metrics were measured on); a model must never train on it",
                hint="train on other images (the project's models use T91 and BSD200)",
            )


def _augment(patch: U8, code: int) -> U8:
    """One of the eight flips/rotations of a square patch (``code`` 0..7)."""
    out = np.rot90(patch, code % 4)
    if code >= 4:
        out = out[:, ::-1]
    return out


@dataclass(frozen=True)
class PatchSampler:
    """Random aligned patches from HR/LR pairs; a batch is a pure function of its step.

    Images are drawn with probability proportional to their area, so a small T91 image
    is not seen as often as a BSD photo ten times its size.
    """

    pairs: Sequence[Pair]
    scale: int
    lr_patch: int
    seed: int
    degradation: str = "none"

    def __post_init__(self) -> None:
        if not self.pairs:
            raise TrainingError("no training images", hint="pass folders that hold images")
        if self.degradation not in DEGRADATIONS:
            raise TrainingError(
                f"unknown degradation {self.degradation!r}",
                hint=f"available: {', '.join(DEGRADATIONS)}",
            )

    @property
    def weights(self) -> npt.NDArray[np.float64]:
        """Each image's chance of being drawn: its share of the total area."""
        areas = np.array([p.lr.shape[0] * p.lr.shape[1] for p in self.pairs], np.float64)
        out: npt.NDArray[np.float64] = areas / areas.sum()
        return out

    def batch(self, step: int, size: int) -> tuple[F32, F32]:
        """``(lr, hr)`` float32 in [0, 1]: ``[size, p, p, C]`` and ``[size, p·s, p·s, C]``."""
        rng = np.random.default_rng([self.seed, step])
        chosen = rng.choice(len(self.pairs), size=size, p=self.weights)
        degrade = DEGRADATIONS[self.degradation]
        p, s = self.lr_patch, self.scale
        lrs, hrs = [], []
        for index in chosen:
            pair = self.pairs[int(index)]
            y = int(rng.integers(0, pair.lr.shape[0] - p + 1))
            x = int(rng.integers(0, pair.lr.shape[1] - p + 1))
            code = int(rng.integers(0, 8))
            lr = _augment(pair.lr[y : y + p, x : x + p], code)
            hr = _augment(pair.hr[y * s : (y + p) * s, x * s : (x + p) * s], code)
            lrs.append(degrade(np.ascontiguousarray(lr), rng))
            hrs.append(hr)
        return _unit(np.stack(lrs)), _unit(np.stack(hrs))


def _unit(pixels: U8) -> F32:
    out: F32 = pixels.astype(np.float32) / np.float32(255.0)
    return out


def holdout(pairs: Sequence[Pair], count: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Split ``count`` images off for validation, chosen by the seed: (train, held out)."""
    if count <= 0:
        return list(pairs), []
    if count >= len(pairs):
        raise TrainingError(
            f"cannot hold out {count} of {len(pairs)} images for validation",
            hint="hold out fewer, or pass a separate --val folder",
        )
    order = np.random.default_rng([seed, 0xA1]).permutation(len(pairs))
    held = {int(i) for i in order[:count]}
    return (
        [p for i, p in enumerate(pairs) if i not in held],
        [p for i, p in enumerate(pairs) if i in held],
    )
