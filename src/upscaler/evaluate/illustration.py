"""``illustration-v1``: an evaluation set of drawn pictures, made in code.

The catalog's anime and illustration models (waifu2x, Real-CUGAN, Real-ESRGAN anime)
were only scored on photographs (Set5, Set14, BSD100), which is not what they are for.
No drawn set with a licence that allows shipping exists, so this one is generated: 24
cel-style pictures (:mod:`upscaler.evaluate.illustration_scenes`), each from its own
seeded generator, drawn at 4x and box-filtered (:mod:`upscaler.evaluate.illustration_canvas`).

The set is versioned and pinned: :data:`PIXELS_SHA256` is the hash of the pixels (not of
the PNG files, whose bytes depend on the zlib build), checked every time the set is
generated, so a number measured on ``illustration-v1`` means the same pixels on every
machine. Changing any recipe means a new version name, never new pixels under an old one.

On disk it is an ordinary evaluation set (see :mod:`upscaler.evaluate.datasets`):
``Illustration/HR/*.png``, ``Illustration/MANIFEST.sha256`` and ``Illustration/VERSION``
(the version and the pixel hash), so its metrics key is ``illustration``.
``upscaler eval ... --data illustration-v1`` generates it once into the cache;
``python -m upscaler.evaluate.illustration DIR`` writes it anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from upscaler import settings
from upscaler.atomic import temp_folder
from upscaler.errors import ImageError, UpscalerError, nearest
from upscaler.evaluate.illustration_scenes import SCENES

logger = logging.getLogger("upscaler.evaluate.illustration")

VERSION = "illustration-v1"
SET_NAME = "Illustration"
"""The set's folder name; the metrics key is its lower case, ``illustration``."""
MANIFEST = "MANIFEST.sha256"
VERSION_FILE = "VERSION"
CACHE_FOLDER = "sets"
"""Generated sets live in ``<cache root>/sets/<version>/``."""

Picture = tuple[str, npt.NDArray[np.uint8]]
"""One picture: its file name and its HxWx3 8-bit RGB pixels."""


@dataclass(frozen=True)
class Recipe:
    """What one version of the set is: how many pictures, their sizes, the seed."""

    count: int
    seed: int
    smallest: int
    largest: int


RECIPES: dict[str, Recipe] = {
    VERSION: Recipe(count=24, seed=20261201, smallest=240, largest=512),
}
"""Every published version. A new version gets a new entry; old ones never change."""

PIXELS_SHA256: dict[str, str] = {
    VERSION: "fcea9f0ec4ae06368a4dcea911afb44aa8ec2c359aa85e68154cf52479279e8c",
}
"""sha256 of each version's pixels, as :func:`pixels_sha256` computes it."""


def pixels_sha256(images: Sequence[Picture]) -> str:
    """The hash that pins a set: every image's name, shape and raw RGB bytes, in order.

    Raw pixels rather than PNG files, because PNG bytes change with the zlib that
    compressed them while the pixels must not.
    """
    digest = hashlib.sha256()
    for name, pixels in images:
        height, width, channels = pixels.shape
        digest.update(f"{name} {width}x{height}x{channels}\n".encode())
        digest.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def _recipe(version: str) -> Recipe:
    recipe = RECIPES.get(version)
    if recipe is None:
        close = nearest(version, list(RECIPES))
        raise ImageError(
            f"unknown illustration set version {version!r}",
            hint=f"known versions: {', '.join(close or list(RECIPES))}",
        )
    return recipe


def render_illustration(version: str, index: int) -> Picture:
    """Draw picture ``index`` of ``version`` (its own generator: any one can be redrawn)."""
    recipe = _recipe(version)
    if not 0 <= index < recipe.count:
        raise ValueError(f"{version} has pictures 0..{recipe.count - 1}, not {index}")
    _, scene = SCENES[index % len(SCENES)]
    rng = np.random.Generator(np.random.PCG64([recipe.seed, index]))
    width = int(rng.integers(recipe.smallest, recipe.largest + 1))
    height = int(rng.integers(recipe.smallest, recipe.largest + 1))
    return picture_names(version)[index], scene(rng, width, height).picture()


def picture_names(version: str = VERSION) -> list[str]:
    """The file names of ``version``'s pictures, in drawing order (``01-portrait.png``, ...)."""
    recipe = _recipe(version)
    return [f"{i + 1:02d}-{SCENES[i % len(SCENES)][0]}.png" for i in range(recipe.count)]


@lru_cache(maxsize=2)
def _generated(version: str) -> tuple[Picture, ...]:
    """The whole set, drawn once per process (about a second per picture) and checked.

    Kept because one run may need it twice (write it, then compare a folder with it).
    """
    recipe = _recipe(version)
    images = tuple(render_illustration(version, i) for i in range(recipe.count))
    found = pixels_sha256(images)
    if found != PIXELS_SHA256[version]:
        raise ImageError(
            f"the {version} pictures drawn here hash to {found}, not the pinned "
            f"{PIXELS_SHA256[version]}: numbers measured on them would not be comparable",
            hint="report this as a bug, with the output of `pip freeze`",
        )
    for _, pixels in images:
        pixels.flags.writeable = False
    logger.debug("generated %s: %d pictures, pixels sha256 %s", version, len(images), found)
    return images


def generate_illustrations(version: str = VERSION) -> list[Picture]:
    """Every picture of ``version`` as ``(file name, HxWx3 uint8 RGB)``, checked against
    the pinned pixel hash (an :class:`~upscaler.errors.ImageError` if it differs)."""
    return [(name, pixels.copy()) for name, pixels in _generated(version)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _version_text(version: str) -> str:
    return f"{version}\npixels-sha256 {PIXELS_SHA256[version]}\n"


def _write_into(folder: Path, version: str, images: Sequence[Picture]) -> None:
    """The set's files in ``folder`` (a fresh temp folder)."""
    from PIL import Image as PILImage

    hr = folder / "HR"
    hr.mkdir()
    lines = []
    for name, pixels in sorted(images, key=lambda image: image[0]):
        path = hr / name
        PILImage.fromarray(pixels, "RGB").save(path, format="PNG")
        lines.append(f"{_sha256(path)}  HR/{name}\n")
    (folder / MANIFEST).write_text("".join(lines), encoding="utf-8")
    (folder / VERSION_FILE).write_text(_version_text(version), encoding="utf-8")


def find_damage(folder: Path, version: str = VERSION) -> str | None:
    """What is wrong with a written copy of ``version`` at ``folder``, or None.

    Checks the files against the manifest and the manifest against the version's file
    names; it does not decode the pictures (a file that matches the manifest is the file
    that was written).
    """
    recipe = _recipe(version)
    version_file = folder / VERSION_FILE
    if not version_file.is_file():
        return f"no {VERSION_FILE} file"
    if version_file.read_text(encoding="utf-8", errors="replace") != _version_text(version):
        return f"{VERSION_FILE} does not name {version} with its pixel hash"
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return f"no {MANIFEST}"
    listed: dict[str, str] = {}
    for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or not name.startswith("HR/"):
            return f"{MANIFEST} has a malformed line {line!r}"
        listed[name.removeprefix("HR/")] = digest
    expected = picture_names(version)
    if sorted(listed) != expected:
        return f"{MANIFEST} does not list the {recipe.count} pictures of {version}"
    hr = folder / "HR"
    present = sorted(p.name for p in hr.iterdir()) if hr.is_dir() else []
    if present != expected:
        extra = sorted(set(present) - set(expected))
        missing = sorted(set(expected) - set(present))
        return f"HR/ holds {extra or 'no'} extra and misses {missing or 'no'} files"
    for name in expected:
        if _sha256(hr / name) != listed[name]:
            return f"HR/{name} does not match its sha256 in {MANIFEST}"
    return None


def _difference(folder: Path, version: str, images: Sequence[Picture]) -> str | None:
    """How an existing folder differs from the set (files, then decoded pixels), or None."""
    from PIL import Image as PILImage

    if not folder.is_dir():
        return "it is not a folder"
    stray = sorted(p.name for p in folder.iterdir() if p.name not in ("HR", MANIFEST, VERSION_FILE))
    if stray:
        return f"it also holds {stray}"
    problem = find_damage(folder, version)
    if problem is not None:
        return problem
    for name, pixels in images:
        with PILImage.open(folder / "HR" / name) as picture:
            found = np.asarray(picture.convert("RGB"))
        if found.shape != pixels.shape or not np.array_equal(found, pixels):
            return f"HR/{name} has other pixels"
    return None


def write_illustration_set(root: Path, version: str = VERSION) -> Path:
    """Write ``version`` as ``root/Illustration/`` and return that folder.

    Written into a temp folder beside it and renamed, so a reader never sees half a set.
    A folder already there with exactly these pictures is kept as it is; one with
    anything else is refused (nothing of the user's is overwritten).
    """
    root = Path(root).expanduser()
    target = root / SET_NAME
    images = generate_illustrations(version)
    empty = target.is_dir() and not any(target.iterdir())
    if target.exists() and not empty:
        problem = _difference(target, version, images)
        if problem is None:
            logger.info("%s already holds %s", target, version)
            return target
        raise ImageError(
            f"{target} already exists and is not {version}: {problem}",
            hint="remove that folder, or write the set into another folder",
        )
    if empty:
        target.rmdir()  # a rename cannot replace a folder on every system
    tmp = temp_folder(root, prefix=".illustration-")
    try:
        _write_into(tmp, version, images)
        try:
            tmp.rename(target)
        except OSError:
            # Another process wrote the set first: keep theirs if it is the same set.
            if _difference(target, version, images) is not None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote %s (%d pictures) to %s", version, len(images), target)
    return target


def _discard(folder: Path) -> None:
    """Move a damaged copy aside, then delete it (a reader never sees it half deleted)."""
    aside = folder.with_name(f".damaged-{os.getpid()}-{secrets.token_hex(4)}")
    with contextlib.suppress(FileNotFoundError):
        folder.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)


def cached_set(version: str = VERSION, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The set's folder in the cache, generated on first use and checked on every use.

    A copy whose files no longer match its manifest is generated again (with a warning).
    """
    _recipe(version)
    root = settings.cache_root(cache_dir) / CACHE_FOLDER / version
    target = root / SET_NAME
    if target.exists():
        problem = find_damage(target, version)
        if problem is None:
            return target
        logger.warning(
            "the cached %s at %s is damaged (%s); generating it again", version, target, problem
        )
        _discard(target)
    else:
        logger.info("generating %s into %s (once)", version, target)
    return write_illustration_set(root, version)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m upscaler.evaluate.illustration DIR``: write the set to ``DIR/Illustration``."""
    parser = argparse.ArgumentParser(
        prog="python -m upscaler.evaluate.illustration",
        description="Write the generated illustration evaluation set to DIR/Illustration.",
    )
    parser.add_argument("folder", metavar="DIR", type=Path, help="where to write the set")
    parser.add_argument("--version", default=VERSION, help=f"set version (default {VERSION})")
    args = parser.parse_args(argv)
    try:
        target = write_illustration_set(args.folder, args.version)
    except UpscalerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("hint: check the path and permissions", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
