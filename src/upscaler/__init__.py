"""upscaler: AI image super-resolution, with models chosen by what they are.

Public names are re-exported here. Heavy modules (pydantic models, the catalog, and
above all TensorFlow) load on first use, so `import upscaler` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from upscaler.errors import (
    BatchError,
    BatchIncomplete,
    Cancelled,
    CatalogError,
    ConversionError,
    DependencyError,
    DeviceError,
    FetchError,
    ImageError,
    IntegrityError,
    MediaError,
    ModelLoadError,
    NoMatchingModel,
    OfflineError,
    QueryError,
    TrainingError,
    UnsafeArchiveError,
    UpscalerError,
)

if TYPE_CHECKING:
    from upscaler.catalog.loader import Catalog
    from upscaler.export import export_onnx
    from upscaler.media.video.options import VideoOptions
    from upscaler.resolve.description import Description
    from upscaler.upscaler import Upscaler

__version__ = "0.1.0"

_LAZY = {
    "Upscaler": ("upscaler.upscaler", "Upscaler"),
    "Description": ("upscaler.resolve.description", "Description"),
    "Catalog": ("upscaler.catalog.loader", "Catalog"),
    "export_onnx": ("upscaler.export", "export_onnx"),
    "VideoOptions": ("upscaler.media.video.options", "VideoOptions"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'upscaler' has no attribute {name!r}")


def describe(model: str | None = None, **query: Any) -> Description:
    """Describe the model that ``Upscaler(model, **query)`` would run, without loading it."""
    from upscaler.upscaler import Upscaler

    return Upscaler(model, **query).describe()


__all__ = [
    "BatchError",
    "BatchIncomplete",
    "Cancelled",
    "Catalog",
    "CatalogError",
    "ConversionError",
    "DependencyError",
    "Description",
    "DeviceError",
    "FetchError",
    "ImageError",
    "IntegrityError",
    "MediaError",
    "ModelLoadError",
    "NoMatchingModel",
    "OfflineError",
    "QueryError",
    "TrainingError",
    "UnsafeArchiveError",
    "Upscaler",
    "UpscalerError",
    "VideoOptions",
    "__version__",
    "describe",
    "export_onnx",
]
