"""The model catalog: YAML files validated into :class:`ModelEntry` objects."""

from upscaler.catalog.attributes import QUERY_ATTRIBUTES
from upscaler.catalog.loader import Catalog, default_catalog, load_catalog, shipped_catalog_dir
from upscaler.catalog.schema import ModelEntry

__all__ = [
    "QUERY_ATTRIBUTES",
    "Catalog",
    "ModelEntry",
    "default_catalog",
    "load_catalog",
    "shipped_catalog_dir",
]
