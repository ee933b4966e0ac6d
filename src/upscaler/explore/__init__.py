"""The live model explorer (``upscaler explore``) and the code it writes for you.

:mod:`upscaler.explore.codegen` and :mod:`upscaler.explore.present` are pure Python (no
Gradio): the choice of model, the code that reproduces it, and what the page shows.
:mod:`upscaler.explore.app` is the Gradio app, behind the optional ``explore`` extra.
"""

from upscaler.explore.codegen import Choice, cli_command, python_snippet, upscaler_call

__all__ = ["Choice", "cli_command", "python_snippet", "upscaler_call"]
