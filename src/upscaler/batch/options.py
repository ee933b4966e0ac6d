"""What a job runs with: the model choice and the per-image options, as plain picklable data.

A Ray actor on another process (or machine) must build the very same Upscaler the driver
validated, so the choice travels as a small frozen dataclass, not as a live object
(which holds TensorFlow state and cannot be pickled).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from upscaler.arguments import check_alpha, check_run_arguments
from upscaler.catalog.attributes import QUERY_ATTRIBUTES, attribute_pairs
from upscaler.errors import QueryError, nearest
from upscaler.resolve.prefer import DEFAULT_PREFER

if TYPE_CHECKING:
    from upscaler.upscaler import Upscaler

# --format value → the suffix written. Aliases map to one canonical suffix so that
# `--format jpeg` and `--format jpg` name files the same way.
FORMATS: dict[str, str] = {
    "png": ".png",
    "jpg": ".jpg",
    "jpeg": ".jpg",
    "webp": ".webp",
    "tif": ".tif",
    "tiff": ".tif",
}


def format_suffix(value: str | None) -> str | None:
    """The output suffix for a ``--format`` value (None keeps each input's own suffix)."""
    if value is None:
        return None
    key = value.strip().lower().lstrip(".")
    if key in FORMATS:
        return FORMATS[key]
    close = nearest(key, list(FORMATS))
    hint = f"did you mean {close[0]}?" if close else "use png, jpg, webp or tif"
    raise QueryError(
        f"unknown output format {value!r}; valid formats: png, jpg, webp, tif", hint=hint
    )


@dataclass(frozen=True, init=False)
class ModelSpec:
    """The arguments of ``Upscaler(...)``: enough to rebuild the same model anywhere.

    Given as ``Upscaler`` takes them (``ModelSpec(scale=4, prefer="fast")``); the query
    attributes, whichever the attribute table lists, are kept together in
    :attr:`attributes`, so this class spells none of them. ``attributes=`` is taken too,
    so that ``ModelSpec(**asdict(spec))`` rebuilds a spec in a worker process.
    """

    model: str | None = None
    query: str | None = None
    attributes: tuple[tuple[str, Any], ...] = ()
    """Query attributes (:mod:`upscaler.catalog.attributes`) as typed, as (name, value)
    pairs: a spec stays immutable and hashable."""
    prefer: str = DEFAULT_PREFER
    strict: bool = False
    device: str = "auto"
    precision: str | None = None
    border: str | None = None
    cache_dir: str | None = None

    def __init__(self, model: str | None = None, **given: Any) -> None:
        attributes = dict(given.pop("attributes", None) or ())
        attributes.update((name, given.pop(name)) for name in QUERY_ATTRIBUTES if name in given)
        unknown = sorted(set(given) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"ModelSpec() got unexpected keyword argument(s): {', '.join(unknown)}")
        for spec in fields(self):  # every field has a plain default
            object.__setattr__(self, spec.name, given.get(spec.name, spec.default))
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "attributes", attribute_pairs(attributes))

    def build(self) -> Upscaler:
        """A new Upscaler (resolution only: no TensorFlow, no network until it runs)."""
        from upscaler.upscaler import Upscaler

        kwargs: dict[str, Any] = {
            name: value
            for name, value in asdict(self).items()
            if name not in ("model", "attributes")
        }
        return Upscaler(self.model, **dict(self.attributes), **kwargs)


@dataclass(frozen=True)
class RunOptions:
    """Per-image options of ``Upscaler.upscale`` / ``upscale_file``, validated once."""

    patch_size: int | None = None
    padding: int | None = None
    batch_size: int | None = None
    outscale: float | None = None
    alpha: str = "model"
    quality: int | None = None
    max_pixels: int | None = None
    video: Any = None
    """:class:`~upscaler.media.video.VideoOptions` for video inputs (None: the input's
    own codec and quality)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.video, dict):  # a Ray worker gets the options as plain data
            from upscaler.media.video import VideoOptions

            object.__setattr__(self, "video", VideoOptions(**self.video))
        check_alpha(self.alpha)  # first, then quality, then the numbers: the order users meet
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise QueryError(
                f"quality must be in 1..100, got {self.quality}",
                hint="90 is a good JPEG/WebP quality; it is ignored for PNG and TIFF",
            )
        check_run_arguments(
            patch_size=self.patch_size,
            padding=self.padding,
            batch_size=self.batch_size,
            outscale=self.outscale,
        )

    def upscale_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Upscaler.upscale`` (only the ones given)."""
        kwargs: dict[str, Any] = {"alpha": self.alpha}
        for name in ("patch_size", "padding", "batch_size", "outscale", "max_pixels"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.video is not None:
            kwargs["video"] = self.video
        kwargs.update(self.extra)
        return kwargs


def forwarded_environment() -> dict[str, str]:
    """The settings a worker process must share with the driver ($UPSCALER_*, npm registry).

    Ray workers on a cluster do not inherit the driver's environment, yet the catalog,
    cache and offline switches must mean the same thing on both sides.
    """
    from upscaler import settings

    names = {settings.ENV_NPM_REGISTRY}
    return {
        name: value
        for name, value in os.environ.items()
        if name.startswith("UPSCALER_") or name in names
    }
