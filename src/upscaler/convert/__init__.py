"""Turn published model files into SavedModels that honour the serving contract."""

from upscaler.convert.keras_file import convert_keras_file
from upscaler.convert.tfjs import CONVERTER_VERSION, ConversionReport, convert_tfjs_layers

__all__ = ["CONVERTER_VERSION", "ConversionReport", "convert_keras_file", "convert_tfjs_layers"]
