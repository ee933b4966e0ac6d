"""Export a user's Keras ``.keras`` / ``.h5`` model as a contract-honouring SavedModel.

Users bring their own Keras models; the runners only know SavedModels with one float32
NHWC RGB input and one float32 output (see :mod:`upscaler.runtime.savedmodel`). Wrapping
the loaded model in a ``tf.function`` with that signature keeps Keras out of the run
path: the saved graph loads with TensorFlow alone.

Keras 3 reads ``.keras`` archives and Keras-2 ``.h5`` files whose layers are built in.
Files that need ``custom_objects`` or unsafe ``Lambda`` deserialisation are refused
with a ConversionError; that is deliberate, since loading them would execute code
from the file.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from upscaler.convert.writer import (
    CONVERTER_VERSION,
    ConversionReport,
    convert_weights,
    probe_scale,
    save_module,
)
from upscaler.errors import ConversionError, DependencyError
from upscaler.runtime.savedmodel import (
    INPUT_NAME,
    INSTALL_HINT,
    OUTPUT_NAME,
    SIGNATURE_KEY,
    require_tensorflow,
)

log = logging.getLogger("upscaler.convert.keras_file")

_SUFFIXES = {".keras": "keras", ".h5": "h5", ".hdf5": "h5"}
_MAGIC = {"keras": b"PK\x03\x04", "h5": b"\x89HDF\r\n\x1a\n"}


def _require_keras() -> Any:
    require_tensorflow()  # Keras must run on the TensorFlow backend to export a graph
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        keras = importlib.import_module("keras")
    except ImportError as exc:
        raise DependencyError(
            f"Keras is needed to read .keras/.h5 files but could not be imported ({exc})",
            hint=INSTALL_HINT,
        ) from exc
    backend = str(keras.backend.backend())
    if backend != "tensorflow":
        raise DependencyError(
            f"Keras runs on the {backend!r} backend; exporting a SavedModel needs 'tensorflow'",
            hint="set KERAS_BACKEND=tensorflow",
        )
    return keras


def _sniff(path: Path) -> str:
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConversionError(
            f"{path.name}: unknown model file type {path.suffix or '(no suffix)'!r}",
            hint="Keras models must end in .keras or .h5",
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        raise ConversionError(f"model file {path} does not exist") from None
    except OSError as exc:
        raise ConversionError(f"cannot read model file {path}: {exc}") from exc
    if not head.startswith(_MAGIC[kind]):
        expected = "a zip archive" if kind == "keras" else "an HDF5 file"
        raise ConversionError(
            f"{path.name} is not a Keras {path.suffix} file (expected {expected})"
        )
    return kind


def _dims(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape)


convert_keras_file = partial(convert_weights, "keras")
"""``convert_keras_file(path, out_dir, *, value_range=None, scale=None, overwrite=False)``:
a ``.keras``/``.h5`` model as a SavedModel, through
:func:`~upscaler.convert.writer.convert_weights`. The model must take one rank-4 RGB input
(last dimension 3 or free) and return one rank-4 output; ``scale`` is measured with a
probe image and must agree when given. Writing is atomic, as for every format."""


def load_keras_file(
    src: Path,
    out_dir: Path,
    *,
    value_range: tuple[float, float] | None,
    scale: int | None,
    overwrite: bool,
    started: float,
) -> ConversionReport:
    """The ``keras`` row's loader (:class:`~upscaler.convert.formats.Loader`). Keras
    loads the file and a ``tf.function`` with the serving signature wraps it, so the saved
    graph runs with TensorFlow alone; the arguments arrive checked by
    :func:`~upscaler.convert.writer.convert_weights`."""
    kind = _sniff(src)
    tf = require_tensorflow()
    keras = _require_keras()
    try:
        model = keras.saving.load_model(src, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for unreadable files
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(
            f"Keras {keras.__version__} cannot load {src.name}: {text}",
            hint="only models built from standard Keras layers can be imported",
        ) from exc
    inputs, outputs = list(model.inputs or []), list(model.outputs or [])
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConversionError(
            f"{src.name}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
            "expected one image in, one image out"
        )
    in_shape, out_shape = _dims(inputs[0]), _dims(outputs[0])
    if len(in_shape) != 4 or in_shape[-1] not in (3, None):
        raise ConversionError(
            f"{src.name}: the model input has shape {list(in_shape)}; expected "
            "[batch, height, width, 3] (an RGB image)"
        )
    if len(out_shape) != 4:
        raise ConversionError(
            f"{src.name}: the model output has shape {list(out_shape)}; expected "
            "[batch, height, width, channels]"
        )
    input_dtype = str(getattr(inputs[0], "dtype", "float32") or "float32")

    module = tf.Module(name="upscaler_keras")
    module.model = model
    signature = [tf.TensorSpec([None, in_shape[1], in_shape[2], 3], tf.float32, name=INPUT_NAME)]

    @tf.function(input_signature=signature, autograph=False)  # type: ignore[untyped-decorator]
    def serve(x: Any) -> dict[str, Any]:
        y = model(tf.cast(x, input_dtype), training=False)
        return {OUTPUT_NAME: tf.identity(tf.cast(y, tf.float32), name=OUTPUT_NAME)}

    module.serve = serve
    probe = (in_shape[1] or 16, in_shape[2] or 16)
    measured_scale, channels = probe_scale(tf, serve, scale, src.name, size=probe)
    parameters = int(model.count_params())
    counts = dict(sorted(Counter(type(layer).__name__ for layer in model.layers).items()))
    metadata: dict[str, Any] = {
        "format": "upscaler-savedmodel",
        "source_format": kind,
        "converter_version": CONVERTER_VERSION,
        "tensorflow_version": str(tf.__version__),
        "keras_version": str(keras.__version__),
        "value_range": list(value_range) if value_range is not None else None,
        "scale": measured_scale,
        "channels": channels,
        "input_channels": 3,
        "parameters": parameters,
        "layer_counts": counts,
        "source": {"file": src.name},
        "signature": {"key": SIGNATURE_KEY, "input": INPUT_NAME, "output": OUTPUT_NAME},
    }

    return save_module(
        tf,
        module,
        out_dir,
        metadata,
        where=src.name,
        started=started,
        overwrite=overwrite,
        parameters=parameters,
        layer_counts=counts,
        value_range=value_range,
    )
