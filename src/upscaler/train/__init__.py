"""Train our own models: ``upscaler train`` and its Python API.

Public API::

    TrainConfig(data=[...], scale=2, ...)       what to train (see upscaler.train.config)
    train(config, run_dir, progress=True)       train or resume; exports RUN/savedmodel
    export_savedmodel(run_dir, out=None)        a run's network as a SavedModel
    add_to_catalog(run_dir, family=, variant=, dataset=)   weights into the catalog
    REGISTRY / get_architecture(name)           the trainable architectures

Modules: :mod:`.data` (HR folders → LR/HR patch batches keyed by step),
:mod:`.architectures`, :mod:`.optim` (L1, Adam, cosine), :mod:`.checkpoint`,
:mod:`.network`, :mod:`.loop`, :mod:`.export`, :mod:`.catalog_entry`, :mod:`.measure`.
TensorFlow is imported only when a run starts, so importing this package stays cheap.
"""

from __future__ import annotations

from upscaler.train.architectures import REGISTRY, Architecture, get_architecture
from upscaler.train.catalog_entry import add_to_catalog
from upscaler.train.config import TrainConfig
from upscaler.train.export import export_savedmodel
from upscaler.train.loop import TrainResult, train

__all__ = [
    "REGISTRY",
    "Architecture",
    "TrainConfig",
    "TrainResult",
    "add_to_catalog",
    "export_savedmodel",
    "get_architecture",
    "train",
]
