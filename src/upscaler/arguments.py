"""Checks of the numbers a user passes to one run, at the public boundary.

``Upscaler.upscale`` and the CLI's ``RunOptions`` both check here, so a bad value is a
:class:`~upscaler.errors.QueryError` (exit code 2) that names the argument as the user
spelled it (``patch_size`` and ``--patch-size``) before any model is loaded, instead of a
``ValueError`` from deep inside the tiler worded in its internal names (``tile``,
``context``) or a Pillow traceback.
"""

from __future__ import annotations

import math
from typing import Any

from upscaler.errors import QueryError

MAX_OUTSCALE = 64.0
"""Largest ``outscale``: beyond it an output is a memory bomb, not an upscale."""


def _names(name: str) -> str:
    """``patch_size (--patch-size)``: the Python and the CLI spelling of one argument."""
    return f"{name} (--{name.replace('_', '-')})"


def check_whole(name: str, value: Any, *, minimum: int) -> int | None:
    """``value`` as an int of at least ``minimum``; None passes (the default applies).

    Booleans and floats are refused even when whole (``True`` is not a batch size, and
    ``2.0`` tiles hide a caller's arithmetic bug).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(
            f"{_names(name)} must be a whole number, got {value!r}",
            hint=f"pass an integer of at least {minimum}, or leave it out for the default",
        )
    if value < minimum:
        raise QueryError(
            f"{_names(name)} must be at least {minimum}, got {value}",
            hint=f"pass {minimum} or more, or leave it out for the default",
        )
    return value


def check_outscale(value: Any) -> float | None:
    """``outscale`` as a finite float in (0, MAX_OUTSCALE]; None passes."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(
            f"{_names('outscale')} must be a number, got {value!r}",
            hint="e.g. outscale=1.5 for one and a half times the input size",
        )
    number = float(value)
    if not math.isfinite(number) or not 0 < number <= MAX_OUTSCALE:
        raise QueryError(
            f"{_names('outscale')} must be in (0, {MAX_OUTSCALE:g}], got {value!r}",
            hint="e.g. outscale=1.5; leave it out for the model's own scale",
        )
    return number


def check_run_arguments(
    *,
    patch_size: Any = None,
    padding: Any = None,
    batch_size: Any = None,
    outscale: Any = None,
) -> None:
    """Every numeric option of one run, each named as the user passed it."""
    check_whole("patch_size", patch_size, minimum=1)
    check_whole("padding", padding, minimum=0)
    check_whole("batch_size", batch_size, minimum=1)
    check_outscale(outscale)


def output_size(width: int, height: int, outscale: float) -> tuple[int, int]:
    """The (width, height) an ``outscale`` gives; a QueryError when it rounds to nothing.

    ``outscale=0.001`` of a 10x12 image is 0x0 pixels, which no image can be.
    """
    size = (round(width * outscale), round(height * outscale))
    if min(size) < 1:
        smallest = 1 / min(width, height)
        raise QueryError(
            f"{_names('outscale')} {outscale:g} turns this {width}x{height} image into "
            f"{size[0]}x{size[1]} pixels",
            hint=f"use an outscale of at least {smallest:.3g} for this image",
        )
    return size
