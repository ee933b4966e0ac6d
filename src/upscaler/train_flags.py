"""The `upscaler train` flag of each training option.

Outside the ``upscaler.train`` package on purpose: the CLI builds its parser from this
table at start-up, and importing the training package would cost it a third of a second.
"""

from __future__ import annotations

FLAGS: dict[str, str] = {
    "val_holdout": "--val-holdout",
    "scale": "--scale",
    "channels": "--channels",
    "architecture": "--architecture",
    "patch": "--patch",
    "batch": "--batch",
    "steps": "--steps",
    "lr": "--lr",
    "lr_min": "--lr-min",
    "warmup": "--warmup",
    "loss": "--loss",
    "seed": "--seed",
    "degradation": "--degradation",
    "teacher": "--teacher",
    "init": "--init-from",
    "val_every": "--val-every",
    "checkpoint_every": "--checkpoint-every",
    "keep": "--keep",
    "threads": "--threads",
}
"""The `upscaler train` flag of each option, in the order the recorded command writes
them: one table for the CLI that parses them and the export that writes the command
back, so a new option cannot reach one and miss the other."""
