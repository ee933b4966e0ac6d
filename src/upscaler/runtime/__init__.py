"""Load converted models and run them on images (TensorFlow is imported lazily)."""

from upscaler.runtime.savedmodel import LoadedModel, TensorInfo, load_savedmodel
from upscaler.runtime.whole_image import upscale_rgb

__all__ = ["LoadedModel", "TensorInfo", "load_savedmodel", "upscale_rgb"]
