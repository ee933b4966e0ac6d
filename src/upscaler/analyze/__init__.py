"""Read an input image's condition: JPEG quality, noise, drawn or photographed.

Pure numpy and Pillow (no TensorFlow), imported only when asked for: by
``upscaler inspect`` and by the facade's ``degradation="auto"``.
"""

from upscaler.analyze.report import InputCondition, choose_protocol, inspect_array, inspect_image

__all__ = ["InputCondition", "choose_protocol", "inspect_array", "inspect_image"]
