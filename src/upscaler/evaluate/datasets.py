"""Evaluation sets: a folder of high-resolution ground-truth images, and its fingerprint.

A set is given by a folder path (never a built-in location): either ``<Name>/`` holding
``HR/`` (and usually ``MANIFEST.sha256``, as in the standard Set5/Set14/BSD100 layout), or a
plain folder of images. The one exception is a set generated in code: its name
(``illustration-v1``), when no folder of that name exists, means its copy in the cache,
generated there on first use (:mod:`upscaler.evaluate.illustration`).

The set's name is the folder name (``Set5`` → key ``set5``), and its fingerprint is the
sha256 of its manifest, so the provenance written into the catalog says exactly which
pixels were measured. Without a manifest the fingerprint is the sha256 of the manifest we
would write (``sha256  HR/name`` lines, sorted by name).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError

logger = logging.getLogger("upscaler.evaluate")

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".ppm", ".pgm")
MANIFEST = "MANIFEST.sha256"


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set: its name, where its images are, and what they hash to."""

    name: str
    folder: Path
    images: tuple[Path, ...]
    fingerprint: str
    fingerprint_source: str

    @property
    def key(self) -> str:
        """The name used in catalog metrics (``set5``, ``set14``, ``bsd100``)."""
        return self.name.lower()


@dataclass(frozen=True)
class GroundTruth:
    """One HR image as 8-bit RGB, remembering whether the file itself was grayscale."""

    name: str
    rgb: npt.NDArray[np.uint8]
    gray: bool


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _generated(path: str | Path) -> Path:
    """``path`` itself, or for a generated set's name that is no folder here its cached copy."""
    folder = Path(path).expanduser()
    if folder.exists():
        return folder
    from upscaler.evaluate.illustration import RECIPES, cached_set

    return cached_set(str(path)) if str(path) in RECIPES else folder


def load_set(path: str | Path) -> EvalSet:
    """Find a set's images and fingerprint; errors name the folder and the fix."""
    folder = _generated(path)
    if not folder.exists():
        from upscaler.evaluate.illustration import RECIPES

        raise ImageError(
            f"evaluation folder {folder} does not exist",
            hint="pass --data DIR, a folder with HR/ inside or a folder of images, "
            f"or a set generated in code: {', '.join(RECIPES)}",
        )
    if not folder.is_dir():
        raise ImageError(
            f"evaluation data {folder} is not a folder",
            hint="pass the set's folder (e.g. .../Set5), not one image",
        )
    root = folder
    if folder.name == "HR" and not (folder / "HR").is_dir():
        root = folder.parent
    image_dir = root / "HR" if (root / "HR").is_dir() else folder
    images = tuple(
        sorted(
            (p for p in image_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: p.name,
        )
    )
    if not images:
        raise ImageError(
            f"no images in {image_dir}",
            hint=f"a set folder holds HR/ with {', '.join(IMAGE_SUFFIXES[:3])} ... files",
        )
    manifest = root / MANIFEST
    if manifest.is_file():
        fingerprint, source = _sha256(manifest), f"sha256 of {MANIFEST}"
    else:
        prefix = "HR/" if image_dir != root else ""
        lines = "".join(f"{_sha256(p)}  {prefix}{p.name}\n" for p in images)
        fingerprint = hashlib.sha256(lines.encode("utf-8")).hexdigest()
        source = "sha256 of a generated manifest (no MANIFEST.sha256 in the folder)"
    logger.debug("set %s: %d images in %s (%s)", root.name, len(images), image_dir, source)
    return EvalSet(
        name=root.name,
        folder=root,
        images=images,
        fingerprint=fingerprint,
        fingerprint_source=source,
    )


def read_ground_truth(path: Path) -> GroundTruth:
    """Decode one HR image to 8-bit RGB; gray files are replicated to three channels.

    Whether an image is gray is decided by the file (one channel), as the reference MATLAB
    scripts decide by ``size(im, 3)``: that is what makes Set14's ``bridge.png`` count the
    way the published tables count it (see :mod:`upscaler.evaluate.protocol`).
    """
    # The guarded opener every image input goes through: UPSCALER_MAX_PIXELS is checked on
    # the header and Pillow's own limit is lifted, so a bomb in an evaluation folder is our
    # ImageError naming the file (exit 10), not Pillow's DecompressionBombError.
    from upscaler.runtime.image_io import _PIL_ERRORS, _open_checked, _pil_unlimited

    try:
        with (
            path.open("rb") as handle,
            _pil_unlimited(),
            _open_checked(handle, str(path), None) as image,
        ):
            image.load()
            mode = image.mode
            if mode in ("L", "LA", "1"):
                gray = np.asarray(image.convert("L"), dtype=np.uint8)
                return GroundTruth(path.name, np.repeat(gray[:, :, np.newaxis], 3, axis=2), True)
            if mode.startswith("I") or mode == "F":
                raise ImageError(
                    f"{path} is a {mode} (high bit depth) image; the protocol is defined on 8 bits",
                    hint="convert the set to 8-bit PNG",
                )
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except ImageError:
        raise
    except _PIL_ERRORS as exc:
        raise ImageError(
            f"cannot decode {path} ({exc})", hint="remove it or replace it with a valid image"
        ) from None
    return GroundTruth(path.name, np.ascontiguousarray(rgb), False)


def load_sets(
    paths: Sequence[str | Path],
    *,
    role: str = "evaluation",
    hint: str = "metrics are keyed by folder name; pass each set once",
) -> list[EvalSet]:
    """Load several sets, refusing two folders that would be recorded under one name.

    ``role`` and ``hint`` word the refusal for the caller (evaluation sets key metrics by
    folder name; training folders are recorded by it).
    """
    sets: list[EvalSet] = []
    seen: dict[str, Path] = {}
    for path in paths:
        eval_set = load_set(path)
        if eval_set.key in seen:
            raise ImageError(
                f"two {role} folders are both named {eval_set.name!r}: "
                f"{seen[eval_set.key]} and {eval_set.folder}",
                hint=hint,
            )
        seen[eval_set.key] = eval_set.folder
        sets.append(eval_set)
    if not sets:
        raise ImageError(f"no {role} data given", hint="pass --data DIR (repeatable)")
    return sets
