"""Query parsing, per-attribute distance, and the resolver."""

from upscaler.resolve.prefer import PREFER_CHOICES
from upscaler.resolve.query import Query, format_query, normalise_query, parse_query_string
from upscaler.resolve.resolver import build_query, choose, resolve
from upscaler.resolve.result import Adapter, Alternative, Difference, Resolution

__all__ = [
    "PREFER_CHOICES",
    "Adapter",
    "Alternative",
    "Difference",
    "Query",
    "Resolution",
    "build_query",
    "choose",
    "format_query",
    "normalise_query",
    "parse_query_string",
    "resolve",
]
