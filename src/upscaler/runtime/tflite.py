"""Run an int8 TFLite model behind the same interface as a SavedModel.

int8 variants (:mod:`upscaler.convert.int8`) are TFLite flatbuffers run by TensorFlow's
own TFLite interpreter with its default XNNPACK delegate, which computes int8
convolutions on the CPU; TensorFlow's SavedModel runtime has no int8 kernels worth
using there. :class:`LoadedTFLite` is a :class:`~upscaler.runtime.savedmodel.LoadedModel`,
so the tiled runner, the whole-image path and describe() take it unchanged: ``predict``
maps a float32 NHWC batch to its float32 output.

A TFLite interpreter plans its memory for one input shape, and re-planning (and
re-preparing the delegate) costs more than a small tile. The tiled runner uses one
window shape per image, so interpreters are kept per shape (the few most recent), each
prepared once. Threads: the runner's (TensorFlow's intra-op pool size, which the
process sized to the cores it may use).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError, ModelLoadError
from upscaler.runtime.savedmodel import (
    INPUT_NAME,
    METADATA_FILE,
    OUTPUT_NAME,
    LoadedModel,
    TensorInfo,
    load_savedmodel,
)
from upscaler.runtime.tf_setup import require_tensorflow, stderr_silenced, thread_settings

log = logging.getLogger("upscaler.runtime.tflite")

TFLITE_FILE = "model.tflite"
"""The model file of an int8 variant's folder (beside ``upscaler.json``)."""

KEPT_SHAPES = 4
"""Interpreters kept per model, one per input shape (most recently used)."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """TensorFlow 2.21 warns that ``tf.lite.Interpreter`` moves to another package, and
    XNNPACK prints a line on stderr when it starts; neither is the user's business.
    Kept unless the user asked for TensorFlow's info logs."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2").strip() in ("0", ""):
        yield
        return
    with warnings.catch_warnings(), stderr_silenced():
        warnings.simplefilter("ignore")
        yield


def interpreter(model: bytes, *, threads: int) -> Any:
    """A TFLite interpreter of ``model`` with the default op resolver, which applies the
    XNNPACK delegate (int8 included) when tensors are allocated."""
    tf = require_tensorflow()
    with _quiet():
        return tf.lite.Interpreter(model_content=model, num_threads=threads)


@dataclass(frozen=True)
class LoadedTFLite(LoadedModel):
    """An int8 TFLite model (see the module docstring); ``metadata`` is its
    ``upscaler.json``."""

    _blob: bytes = field(default=b"", repr=False, compare=False)
    _threads: int = field(default=1, repr=False, compare=False)
    _cache: OrderedDict[tuple[int, ...], Any] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    runs_in_tensorflow: ClassVar[bool] = False

    @property
    def runtime(self) -> str:
        """The engine that runs it (describe() names it)."""
        return str(self.metadata.get("runtime", "tflite-xnnpack"))

    @property
    def precision(self) -> str | None:
        return str(self.metadata.get("quantization", "int8"))

    def describe(self) -> dict[str, Any]:
        facts = super().describe()
        facts["runtime"] = self.runtime
        facts["quantization"] = self.metadata.get("quantization", "int8")
        facts["threads"] = self._threads
        return facts

    def predict(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """Run a float32 NHWC batch (image by image: the model's batch is 1)."""
        array = self._check_batch(batch)
        with self._lock:
            outputs = [self._invoke(array[i : i + 1]) for i in range(array.shape[0])]
        return np.concatenate(outputs, axis=0) if len(outputs) > 1 else outputs[0]

    def _interpreter(self, shape: tuple[int, ...]) -> Any:
        found = self._cache.get(shape)
        if found is not None:
            self._cache.move_to_end(shape)
            return found
        it = interpreter(self._blob, threads=self._threads)
        index = it.get_input_details()[0]["index"]
        try:
            with _quiet():
                it.resize_tensor_input(index, list(shape), strict=False)
                it.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ImageError(
                f"model {self.path.name} cannot take a batch of shape {list(shape)}: {exc}"
            ) from None
        self._cache[shape] = it
        while len(self._cache) > KEPT_SHAPES:
            self._cache.popitem(last=False)
        return it

    def _invoke(self, one: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        it = self._interpreter(tuple(one.shape))
        try:
            it.set_tensor(it.get_input_details()[0]["index"], one)
            it.invoke()
            out = it.get_tensor(it.get_output_details()[0]["index"])
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(f"model {self.path.name} failed while running: {exc}") from None
        return np.asarray(out, dtype=np.float32)


def load_tflite(path: str | os.PathLike[str]) -> LoadedTFLite:
    """Load an int8 variant's folder (``model.tflite`` + ``upscaler.json``)."""
    folder = Path(path)
    model_file = folder / TFLITE_FILE
    try:
        blob = model_file.read_bytes()
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the int8 model in {folder}: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{folder / METADATA_FILE} must hold a JSON object")
    channels = int(metadata.get("channels", 3))
    shape = (None, None, None, channels)
    threads = thread_settings().intra_op
    model = LoadedTFLite(
        path=folder,
        input=TensorInfo(INPUT_NAME, shape, "float32"),
        output=TensorInfo(OUTPUT_NAME, shape, "float32"),
        metadata=metadata,
        _blob=blob,
        _threads=threads,
    )
    model._interpreter((1, 8, 8, channels))  # a model that cannot load fails here
    log.debug("loaded %s (%s, %d threads)", folder, model.runtime, threads)
    return model


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """The model in a cache folder, whichever runtime it needs: an int8 TFLite variant
    (a folder with ``model.tflite``) or a SavedModel."""
    folder = Path(path)
    if (folder / TFLITE_FILE).is_file():
        return load_tflite(folder)
    return load_savedmodel(folder)
