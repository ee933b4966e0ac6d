"""The options a user passes to one run: each defined once, checked once, at the boundary.

``Upscaler(...)`` (``border``), ``Upscaler.upscale`` / ``upscale_file`` and the CLI's
``RunOptions`` (``patch_size``, ``padding``, ``batch_size``, ``outscale``, ``alpha``)
check here, so a bad value is a :class:`~upscaler.errors.QueryError` (exit code 2) that
names the argument as the user spelled it (``patch_size`` and ``--patch-size``) before any
model is loaded, instead of a ``ValueError`` from deep inside the tiler worded in its
internal names (``tile``, ``context``) or a Pillow traceback. What comes out
(:class:`RunArguments`, a :data:`Border`, an :data:`AlphaMode`) is trusted downstream:
the runner and the pipeline do not look again. ``device`` is parsed at the same boundary
by :func:`upscaler.runtime.device.parse_device`, next to the device checks that need
TensorFlow.

This module imports nothing heavy: the catalog's schema and the CLI read its tables too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from upscaler.errors import QueryError, nearest

Border = Literal["replicate", "zero"]
"""How the image is extended beyond its border: its edge pixels, or the model's own zeros
(see :mod:`upscaler.runtime.tiled`)."""

BORDERS: tuple[Border, ...] = get_args(Border)
"""Every :data:`Border`, in the order help texts list them (the default first)."""

DEFAULT_BORDER: Border = "replicate"
"""The border of a model whose catalog entry measured none: replicated edges spare
zero-padding models a pale frame."""

AlphaMode = Literal["model", "bicubic"]
"""How an alpha channel is upscaled: by the model, or bicubically."""

ALPHA_MODES: tuple[AlphaMode, ...] = get_args(AlphaMode)
"""Every :data:`AlphaMode` (the default first)."""

MAX_OUTSCALE = 64.0
"""Largest ``outscale``: beyond it an output is a memory bomb, not an upscale."""


def _names(name: str) -> str:
    """``patch_size (--patch-size)``: the Python and the CLI spelling of one argument."""
    return f"{name} (--{name.replace('_', '-')})"


def check_border(value: Any) -> Border | None:
    """``value`` as a :data:`Border`; None passes (each model's own border applies)."""
    if value is None:
        return None
    for border in BORDERS:
        if value == border:
            return border
    close = nearest(value, BORDERS)
    raise QueryError(
        f"border must be one of {', '.join(BORDERS)}, got {value!r}",
        hint=f"did you mean {close[0]}?" if close else "replicate (default) or zero",
    )


def check_alpha(value: Any) -> AlphaMode:
    """``value`` as an :data:`AlphaMode`."""
    for mode in ALPHA_MODES:
        if value == mode:
            return mode
    raise QueryError(
        f"alpha must be one of {', '.join(ALPHA_MODES)}, got {value!r}",
        hint="--alpha model runs the model on the alpha channel; bicubic resizes it",
    )


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


@dataclass(frozen=True)
class RunArguments:
    """One run's options as checked, in the user's names; None: the default applies.

    Only :func:`check_run_arguments` makes them, so whoever holds one need not check again.
    The tiler calls ``patch_size`` its ``tile`` and ``padding`` its ``context``.
    """

    patch_size: int | None = None
    padding: int | None = None
    batch_size: int | None = None
    outscale: float | None = None
    alpha: AlphaMode = "model"


RUN_ARGUMENTS: tuple[str, ...] = tuple(f.name for f in fields(RunArguments))
"""The keyword names of one run's options (what :func:`check_run_arguments` takes)."""


def check_run_arguments(
    *,
    patch_size: Any = None,
    padding: Any = None,
    batch_size: Any = None,
    outscale: Any = None,
    alpha: Any = "model",
) -> RunArguments:
    """Every option of one run, each named as the user passed it (``alpha`` first)."""
    return RunArguments(
        alpha=check_alpha(alpha),
        patch_size=check_whole("patch_size", patch_size, minimum=1),
        padding=check_whole("padding", padding, minimum=0),
        batch_size=check_whole("batch_size", batch_size, minimum=1),
        outscale=check_outscale(outscale),
    )


def output_size(width: int, height: int, outscale: float) -> tuple[int, int]:
    """The (width, height) an ``outscale`` gives; a QueryError when it rounds to nothing.

    The one place this is computed: the boundary calls it to refuse a size before any
    model work, the pipeline to resize the model's output to it. ``outscale=0.001`` of a
    10x12 image is 0x0 pixels, which no image can be.
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
