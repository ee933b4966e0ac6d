"""Turn published model files into SavedModels that honour the serving contract.

One parser per source format (:mod:`~upscaler.convert.tfjs`, :mod:`~upscaler.convert.ncnn`,
:mod:`~upscaler.convert.npz`) emits the shared op vocabulary (:mod:`~upscaler.convert.ops`);
one builder and one writer (:mod:`~upscaler.convert.builder`,
:mod:`~upscaler.convert.writer`) serve them all.
Importing this package does not import TensorFlow.
"""

from upscaler.convert.keras_file import convert_keras_file
from upscaler.convert.ncnn import convert_ncnn
from upscaler.convert.npz import convert_npz
from upscaler.convert.tfjs import convert_tfjs_layers
from upscaler.convert.writer import CONVERTER_VERSION, ConversionReport, Wrapper

__all__ = [
    "CONVERTER_VERSION",
    "ConversionReport",
    "Wrapper",
    "convert_keras_file",
    "convert_ncnn",
    "convert_npz",
    "convert_tfjs_layers",
]
