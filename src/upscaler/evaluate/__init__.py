"""Measured quality: the standard super-resolution protocol (PSNR/SSIM on Y).

``upscaler eval`` runs it; :func:`evaluate` is the library entry point. See
docs/evaluation.md for the protocol and the published numbers it reproduces.
"""

from __future__ import annotations

from upscaler.evaluate.datasets import EvalSet, load_set, load_sets
from upscaler.evaluate.imresize import imresize
from upscaler.evaluate.metrics import psnr, ssim
from upscaler.evaluate.protocol import PROTOCOL_ID
from upscaler.evaluate.runner import (
    EvalResult,
    bicubic_method,
    bicubic_y_method,
    evaluate,
    upscaler_method,
)

__all__ = [
    "PROTOCOL_ID",
    "EvalResult",
    "EvalSet",
    "bicubic_method",
    "bicubic_y_method",
    "evaluate",
    "imresize",
    "load_set",
    "load_sets",
    "psnr",
    "ssim",
    "upscaler_method",
]
