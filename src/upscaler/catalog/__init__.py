"""The model catalog: YAML files validated into :class:`ModelEntry` objects."""

from upscaler.catalog.loader import Catalog, default_catalog, load_catalog, shipped_catalog_dir
from upscaler.catalog.schema import QUERY_ATTRIBUTES, ModelEntry

__all__ = [
    "QUERY_ATTRIBUTES",
    "Catalog",
    "ModelEntry",
    "default_catalog",
    "load_catalog",
    "shipped_catalog_dir",
]
