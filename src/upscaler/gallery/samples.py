"""Run catalog models on the sample crops, with a cache that makes docs builds fast.

An output is cached as a PNG under ``<cache root>/gallery/`` keyed by the model id, the
hash of its weight files and the hash of the crop: new weights or a redrawn crop give a
new key, anything else is reused. A model that cannot be fetched (offline, no
TensorFlow, a format this install cannot convert) is *not available*: the reason is
recorded and the gallery shows a placeholder, so the docs build never fails for it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from upscaler.catalog.loader import Catalog, default_catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.gallery.crops import (
    Array,
    Crop,
    bicubic,
    high_resolution,
    low_resolution,
    sample_crops,
)
from upscaler.settings import cache_root

if TYPE_CHECKING:
    from upscaler.upscaler import Upscaler

log = logging.getLogger("upscaler")

#: Bump when the way samples are made changes (crop size, LR kernel, runner options).
SAMPLES_VERSION = "1"
NOT_AVAILABLE = "sample not available"
#: How a missing sample is made: the docs build only reads the cache unless told to run.
FILL_HINT = (
    "run `upscaler models samples` (or build with `UPSCALER_DOCS_SAMPLES=run`), then build "
    "the docs again"
)
#: The reason recorded for a model whose outputs are simply not cached yet.
NOT_CACHED = f"not in the sample cache: {FILL_HINT}"


def weights_digest(entry: ModelEntry) -> str:
    """One hash over a model's weight files (their catalog sha256s); ``none`` without any."""
    if entry.weights is None:
        return f"none:{entry.derived_from or ''}"
    h = hashlib.sha256()
    for f in sorted(entry.weights.files, key=lambda f: f.path):
        h.update(f"{f.path}:{f.sha256}\n".encode())
    return h.hexdigest()


def sample_key(entry: ModelEntry, crop: Crop) -> str:
    """The cache key of one model's output on one crop."""
    text = f"{SAMPLES_VERSION}\n{entry.id}\n{weights_digest(entry)}\n{crop.digest}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def png_bytes(pixels: Array) -> bytes:
    """Lossless PNG of an HxWx3 uint8 array (what the docs and the cache store)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _read_png(path: Path) -> Array:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


class SampleRunner:
    """Outputs of catalog models on the sample crops, from the cache or by running them.

    ``run_models=False`` only reads the cache (a fast docs build that never imports
    TensorFlow); a model whose output is missing is then not available, with
    :data:`NOT_CACHED` as its reason.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        cache: Path | None = None,
        run_models: bool = True,
    ) -> None:
        self.catalog = catalog or default_catalog()
        self.folder = cache or cache_root() / "gallery"
        self.run_models = run_models
        self.problems: dict[str, str] = {}
        self._loaded: tuple[str, Upscaler] | None = None

    def path(self, entry: ModelEntry, crop: Crop) -> Path:
        """Where the cached output of ``entry`` on ``crop`` lives."""
        return self.folder / f"{sample_key(entry, crop)}.png"

    def output(self, entry: ModelEntry, crop: Crop) -> Array | None:
        """The model's output on the crop, or None when not available (see :attr:`problems`)."""
        cached = self.path(entry, crop)
        if cached.is_file():
            return _read_png(cached)
        if entry.id in self.problems:
            return None
        if not self.run_models:
            self.problems[entry.id] = NOT_CACHED
            return None
        try:
            pixels = self._run(entry, crop)
        # A sample is an illustration: whatever stops one model (offline, no TensorFlow, a
        # weights format this install cannot convert, a broken download) must not stop
        # the docs build. The reason is kept and reported.
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self.problems[entry.id] = f"{type(exc).__name__}: {reason}"
            log.info("gallery: %s %s: %s", entry.id, NOT_AVAILABLE, self.problems[entry.id])
            return None
        self._store(cached, pixels)
        return pixels

    def _run(self, entry: ModelEntry, crop: Crop) -> Array:
        from upscaler.upscaler import Upscaler

        if self._loaded is None or self._loaded[0] != entry.id:
            self._loaded = None  # release the previous model before loading the next
            self._loaded = (entry.id, Upscaler(model=entry.id, catalog=self.catalog))
        up = self._loaded[1]
        result = np.asarray(up.upscale(low_resolution(crop, entry.scale), progress=False))
        expected = high_resolution(crop, entry.scale).shape
        if result.shape != expected:
            raise ValueError(f"output shape {result.shape} is not the HR shape {expected}")
        return result.astype(np.uint8)

    def _store(self, path: Path, pixels: Array) -> None:
        """Write beside the target, then rename: a reader never sees half a PNG."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(png_bytes(pixels))
        tmp.replace(path)

    def run_all(self, entry: ModelEntry) -> str | None:
        """Every crop for one model; the reason it is not available, or None when it is."""
        for crop in sample_crops():
            if self.output(entry, crop) is None:
                return self.problems.get(entry.id, NOT_AVAILABLE)
        return None


def reference_images(crop: Crop, scale: int) -> dict[str, Array]:
    """What every model is compared with: the LR input, bicubic, and the HR original."""
    lr = low_resolution(crop, scale)
    return {"lr": lr, "bicubic": bicubic(lr, scale), "hr": high_resolution(crop, scale)}


def write_folder(runner: SampleRunner, entries: Iterable[ModelEntry], out: Path) -> int:
    """``<out>/<crop>/x<scale>/{lr,bicubic,hr,<model id>}.png``; returns the count written."""
    written = 0
    chosen = list(entries)
    for crop in sample_crops():
        for scale in sorted({e.scale for e in chosen}):
            folder = out / crop.name / f"x{scale}"
            folder.mkdir(parents=True, exist_ok=True)
            images = reference_images(crop, scale)
            for e in chosen:
                if e.scale == scale and (pixels := runner.output(e, crop)) is not None:
                    images[e.id] = pixels
            for name, pixels in images.items():
                (folder / f"{name}.png").write_bytes(png_bytes(pixels))
                written += 1
    return written
