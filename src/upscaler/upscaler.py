"""The :class:`Upscaler` facade: resolve → fetch → convert → load → run; and describe().

Construction only resolves (pure Python, no TensorFlow, no network), so building an
Upscaler and asking it to describe itself is instant. Weights are fetched, converted and
loaded on the first ``upscale`` call (or ``load()``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from upscaler import settings
from upscaler.catalog.loader import Catalog, default_catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.description import Description, RuntimeInfo
from upscaler.resolve.resolver import build_query, choose, resolve
from upscaler.resolve.result import Resolution

logger = logging.getLogger("upscaler")
logger.addHandler(logging.NullHandler())


class Upscaler:
    """An upscaling model chosen by what it is.

    ``Upscaler()`` is the catalog's global default; ``Upscaler(model="esrgan-slim.x2")``
    pins a model; ``Upscaler(dataset="DIV2K", scale=2, channels=4)`` resolves attributes,
    taking the nearest adaptable model (with a warning) unless ``strict=True``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        query: str | None = None,
        dataset: str | None = None,
        scale: int | None = None,
        channels: int | None = None,
        architecture: str | None = None,
        implementation: str | None = None,
        pruning: str | None = None,
        quantization: str | None = None,
        prefer: str = "balanced",
        strict: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self._catalog = catalog or default_catalog()
        self._cache_dir = settings.cache_root(cache_dir)
        self._strict = strict
        attrs = {
            "dataset": dataset,
            "scale": scale,
            "channels": channels,
            "architecture": architecture,
            "implementation": implementation,
            "pruning": pruning,
            "quantization": quantization,
        }
        normalised = build_query(query, self._catalog, **attrs)
        pinned = os.fspath(model) if model is not None else None
        self._resolution: Resolution = resolve(
            normalised, self._catalog, prefer=prefer, model=pinned
        )
        self._entry: ModelEntry = choose(self._resolution, strict=strict)
        self._runtime = RuntimeInfo()
        self._weights_files: dict[str, str] | None = None

    @property
    def model(self) -> ModelEntry:
        """The catalog entry this upscaler runs."""
        return self._entry

    @property
    def scale(self) -> int:
        """The output scale this upscaler delivers (the query's, else the model's)."""
        wanted = self._resolution.query.get("scale")
        return int(wanted) if wanted is not None else self._entry.scale

    @property
    def resolution(self) -> Resolution:
        """The resolver's full answer (exact matches, alternatives, adapters)."""
        return self._resolution

    @property
    def cache_dir(self) -> Path:
        """Where weights and converted models are cached for this upscaler."""
        return self._cache_dir

    def describe(self) -> Description:
        """What this upscaler is, why it was chosen, and what it will do to an image."""
        r = self._resolution
        return Description(
            query=r.query,
            prefer=r.prefer,
            strict=self._strict,
            exact=r.exact,
            model=self._entry,
            reason=r.reason,
            adapters=r.adapters,
            alternatives=r.alternatives,
            cache_dir=str(self._cache_dir),
            weights_files=self._weights_files,
            runtime=self._runtime.model_copy(),
        )

    def __repr__(self) -> str:
        return f"Upscaler(model={self._entry.id!r})"
