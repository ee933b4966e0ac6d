"""Turn published model files into SavedModels that honour the serving contract.

One parser per source format (:mod:`~upscaler.convert.tfjs`, :mod:`~upscaler.convert.ncnn`,
:mod:`~upscaler.convert.npz`) emits the shared op vocabulary (:mod:`~upscaler.convert.ops`);
one builder and one writer (:mod:`~upscaler.convert.builder`,
:mod:`~upscaler.convert.writer`) serve them all. The formats themselves are one table,
:mod:`~upscaler.convert.formats`; :func:`convert_weights` converts any of them.

The names below load on first use: the catalog imports the format table on every load,
and importing this package must import neither the parsers, numpy nor TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upscaler.convert.keras_file import convert_keras_file
    from upscaler.convert.ncnn import convert_ncnn
    from upscaler.convert.npz import convert_npz
    from upscaler.convert.tfjs import convert_tfjs_layers
    from upscaler.convert.writer import (
        CONVERTER_VERSION,
        ConversionReport,
        Wrapper,
        convert_weights,
    )

_LAZY = {
    "CONVERTER_VERSION": "upscaler.convert.writer",
    "ConversionReport": "upscaler.convert.writer",
    "Wrapper": "upscaler.convert.writer",
    "convert_weights": "upscaler.convert.writer",
    "convert_keras_file": "upscaler.convert.keras_file",
    "convert_ncnn": "upscaler.convert.ncnn",
    "convert_npz": "upscaler.convert.npz",
    "convert_tfjs_layers": "upscaler.convert.tfjs",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'upscaler.convert' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "CONVERTER_VERSION",
    "ConversionReport",
    "Wrapper",
    "convert_keras_file",
    "convert_ncnn",
    "convert_npz",
    "convert_tfjs_layers",
    "convert_weights",
]
