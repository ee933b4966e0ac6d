"""Load a SavedModel and hold it to the serving contract every runner relies on.

The contract: a ``serving_default`` signature with exactly one float32 input of shape
``[batch, height, width, C]`` (height and width may be fixed or ``None``; C is 3 for RGB,
1 for luma and 4 for RGBA models, see :data:`CHANNELS`) and exactly one float32 output of
rank 4 with as many channels as the input: the runners write a model's output into an
image of the input's kind, and the pipeline splits RGBA results into colour and alpha.
Converters write models that honour it; this module checks it once at load time so that
a wrong model fails with a message naming what was found, instead of with a TensorFlow
stack trace halfway through an image.

TensorFlow is imported lazily (:func:`~upscaler.runtime.tf_setup.require_tensorflow`,
re-exported here for its many callers) so that the catalog, resolver and CLI work, and
start fast, without it. No TensorFlow exception leaves this module: load
problems become :class:`~upscaler.errors.ModelLoadError`, problems with the pixels fed
in become :class:`~upscaler.errors.ImageError`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError, ModelLoadError
from upscaler.runtime.tf_setup import INSTALL_HINT, require_tensorflow

log = logging.getLogger("upscaler.runtime.savedmodel")

__all__ = [  # INSTALL_HINT and require_tensorflow re-exported: callers import them from here
    "CHANNELS",
    "INPUT_NAME",
    "INSTALL_HINT",
    "METADATA_FILE",
    "OUTPUT_NAME",
    "POOLED_SERVE_KEY",
    "POOL_COLS",
    "POOL_COUNT",
    "POOL_ROWS",
    "POOL_STATS_KEY",
    "POOL_SUM",
    "SIGNATURE_KEY",
    "LoadedModel",
    "TensorInfo",
    "load_savedmodel",
    "pool_name",
    "pool_partial_key",
    "read_metadata",
    "require_tensorflow",
]

SIGNATURE_KEY = "serving_default"
"""Signature every upscaler SavedModel serves (TensorFlow Serving's default key)."""

INPUT_NAME = "input"
"""Input name the converters give the signature (loading accepts any single name)."""

OUTPUT_NAME = "output"
"""Output name the converters give the signature (loading accepts any single name)."""

METADATA_FILE = "upscaler.json"
"""Side file the converters write into the SavedModel folder (value range, scale...)."""

POOL_STATS_KEY = "global_pool_stats"
"""Signature of a model with global pooling that returns, for an input, the pooled vector
of every global-average-pooling layer (outputs :func:`pool_name` ``(i)``, in graph order)."""

POOLED_SERVE_KEY = "serving_with_pool"
"""Signature of a model with global pooling that runs the network with every pooling
layer's result replaced by given vectors (inputs :data:`INPUT_NAME` and
:func:`pool_name` ``(i)``), so tiles can share one image's statistics."""


POOL_ROWS, POOL_COLS = "rows", "cols"
"""Inputs of a partial-sum signature: per image, the ``[begin, end)`` positions (rows,
columns) of the pooled feature map to sum."""

POOL_SUM, POOL_COUNT = "sum", "count"
"""Outputs of a partial-sum signature: per image, the sum over those positions and how
many positions that was."""


def pool_name(index: int) -> str:
    """Name of the ``index``-th pooled vector in the global-pool signatures."""
    return f"pool_{index}"


def pool_partial_key(index: int) -> str:
    """Signature of a model with global pooling that sums, over given positions, the
    feature map its ``index``-th pooling layer averages, with the first ``index`` pooled
    vectors given: a tile's share of that average, so a runner can build the whole
    image's statistics from tiles, one pooling layer at a time."""
    return f"global_pool_partial_{index}"


CHANNELS = (1, 3, 4)
"""Input channel counts a served model may take: luma (Y), RGB and RGBA."""

_CONTRACT = (
    f"a {SIGNATURE_KEY!r} signature with one float32 input of shape "
    "[batch, height, width, channels] (channels 3 for RGB, 1 for luma, 4 for RGBA models) "
    "and one float32 output of rank 4 with as many channels as the input"
)


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a signature as describe() reports it."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for describe() and the CLI."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class LoadedModel:
    """A SavedModel whose serving signature passed the contract check.

    ``metadata`` is the converter's ``upscaler.json`` when the folder has one (value range,
    scale, converter version...) and ``{}`` for SavedModels made elsewhere.
    """

    path: Path
    input: TensorInfo
    output: TensorInfo
    metadata: dict[str, Any] = field(default_factory=dict)
    signature_key: str = SIGNATURE_KEY
    _function: Any = field(default=None, repr=False, compare=False)
    _root: Any = field(default=None, repr=False, compare=False)
    _pool_stats: Any = field(default=None, repr=False, compare=False)
    _pooled: Any = field(default=None, repr=False, compare=False)
    _partials: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    runs_in_tensorflow: ClassVar[bool] = True
    """Whether ``_function`` is a TensorFlow function a runner may wrap and trace (False
    for a model with its own engine, which a runner calls through :meth:`predict`)."""

    @property
    def runtime(self) -> str:
        """The engine that runs the model (describe() names it)."""
        return "tensorflow-savedmodel"

    @property
    def precision(self) -> str | None:
        """The model's own arithmetic when it fixes one (a stored bfloat16 variant, whose
        ``upscaler.json`` says ``compute``); None: the process's precision (float32, or
        bfloat16 when chosen)."""
        compute = self.metadata.get("compute")
        return compute if isinstance(compute, str) and compute != "float32" else None

    @property
    def global_pool(self) -> bool:
        """The model pools over its whole input and serves the two global-pool signatures
        (:data:`POOL_STATS_KEY`, :data:`POOLED_SERVE_KEY`) that let tiles share one set of
        statistics."""
        return self._pool_stats is not None and self._pooled is not None

    @property
    def pool_count(self) -> int:
        """How many pooled vectors the global-pool signatures take and return."""
        if not self.global_pool:
            return 0
        _, kwargs = self._pooled.structured_input_signature
        return len(kwargs or {}) - 1

    @property
    def pool_grids(self) -> list[Any] | None:
        """Per pooling layer, where the positions of the feature map it averages lie in the
        input (``[rows, cols]``, each ``{"step", "offset", "reach"}`` as fraction strings,
        see :mod:`upscaler.convert.geometry`), when the model also serves the partial-sum
        signatures that let a runner sum that average over tiles; else None."""
        info = self.metadata.get("global_pool")
        grids = info.get("grids") if isinstance(info, dict) else None
        if not self.global_pool or not isinstance(grids, list):
            return None
        if len(grids) != self.pool_count or len(self._partials) != self.pool_count:
            return None
        return grids

    @property
    def tile_alignment(self) -> int:
        """Window origins of a tiled run must be multiples of this (the network's shift
        period and its wrapper's size multiple, recorded by the converter; 1 for a
        SavedModel made elsewhere)."""
        value = self.metadata.get("tile_alignment", 1)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1

    @property
    def channels(self) -> int:
        """Channels the model takes and returns (3 when the signature leaves them free:
        every model made before luma and RGBA ones was RGB)."""
        return self.input.shape[-1] or 3

    @property
    def input_name(self) -> str:
        """Name of the signature's input (the keyword the signature is called with)."""
        return self.input.name

    @property
    def output_name(self) -> str:
        """Name of the signature's output in the returned dict."""
        return self.output.name

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """Declared input shape, ``None`` for free dimensions."""
        return self.input.shape

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """Declared output shape, ``None`` for free dimensions."""
        return self.output.shape

    @property
    def input_dtype(self) -> str:
        """Declared input dtype (always float32 once loaded)."""
        return self.input.dtype

    @property
    def output_dtype(self) -> str:
        """Declared output dtype (always float32 once loaded)."""
        return self.output.dtype

    def describe(self) -> dict[str, Any]:
        """Signature and converter facts in one JSON-friendly dict."""
        return {
            "path": str(self.path),
            "signature": self.signature_key,
            "input": self.input.as_dict(),
            "output": self.output.as_dict(),
            "metadata": dict(self.metadata),
        }

    def predict(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """Run the signature on a float32 NHWC batch and return its float32 output.

        The batch is checked here, before TensorFlow sees it, so that a wrong array gives
        an ImageError saying what shape was expected rather than a graph error.
        """
        array = self._check_batch(batch)
        tf = require_tensorflow()
        try:
            outputs = self._function(**{self.input.name: tf.constant(array)})
            result = outputs[self.output.name].numpy()
        except tf.errors.ResourceExhaustedError as exc:
            raise ImageError(
                f"ran out of memory running {self.path.name} on a batch of shape "
                f"{list(array.shape)}",
                hint="upscale a smaller image or use tiling",
            ) from exc
        except tf.errors.InvalidArgumentError as exc:
            raise ImageError(
                f"model {self.path.name} rejected a batch of shape {list(array.shape)}: "
                f"{_first_line(exc)}"
            ) from exc
        except tf.errors.OpError as exc:
            raise ModelLoadError(
                f"model {self.path.name} failed while running: {_first_line(exc)}"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise ImageError(
                f"a batch of shape {list(array.shape)} does not fit the input of "
                f"{self.path.name} (expected {self._shape_text(self.input.shape)}): {exc}"
            ) from exc
        out = np.asarray(result)
        if out.dtype != np.float32:
            out = out.astype(np.float32)
        if out.ndim != 4 or out.shape[0] != array.shape[0]:
            raise ModelLoadError(
                f"model {self.path.name} returned shape {list(out.shape)} for a batch of "
                f"{array.shape[0]}; expected [batch, height, width, channels]"
            )
        return out

    def _check_batch(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        if not isinstance(batch, np.ndarray):
            raise ImageError(f"expected a numpy array, got {type(batch).__name__}")
        if batch.dtype.kind not in "fiu":
            raise ImageError(f"expected a float32 array, got dtype {batch.dtype}")
        expected = self._shape_text(self.input.shape)
        if batch.ndim != 4:
            raise ImageError(
                f"expected a batch of shape {expected}, got an array of shape {list(batch.shape)}"
            )
        for axis, (got, want) in enumerate(zip(batch.shape, self.input.shape, strict=True)):
            if got == 0:
                raise ImageError(f"batch of shape {list(batch.shape)} is empty")
            if want is not None and axis > 0 and got != want:
                raise ImageError(f"expected a batch of shape {expected}, got {list(batch.shape)}")
        return np.ascontiguousarray(batch, dtype=np.float32)

    @staticmethod
    def _shape_text(shape: tuple[int | None, ...]) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def load_savedmodel(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a SavedModel folder and check the serving contract.

    Raises ModelLoadError when the folder is not a SavedModel or when its signature
    differs from the contract; the message says what was found and what is expected.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelLoadError(f"SavedModel folder {folder} does not exist or is not a folder")
    if not (folder / "saved_model.pb").is_file() and not (folder / "saved_model.pbtxt").is_file():
        raise ModelLoadError(
            f"{folder} is not a SavedModel: it holds no saved_model.pb",
            hint="convert the model first (upscaler models convert)",
        )
    tf = require_tensorflow()
    try:
        root = tf.saved_model.load(str(folder))
    except Exception as exc:  # TensorFlow raises many unrelated types here
        raise ModelLoadError(
            f"TensorFlow could not load the SavedModel at {folder}: {_first_line(exc)}"
        ) from exc
    signatures = dict(getattr(root, "signatures", {}) or {})
    if SIGNATURE_KEY not in signatures:
        found = ", ".join(repr(k) for k in sorted(signatures)) or "none"
        raise ModelLoadError(
            f"SavedModel {folder} has no {SIGNATURE_KEY!r} signature (signatures found: "
            f"{found}); expected {_CONTRACT}"
        )
    function = signatures[SIGNATURE_KEY]
    input_info = _input_info(folder, function, tf)
    output_info = _output_info(folder, function, tf)
    declared = (input_info.shape[-1], output_info.shape[-1])
    if None not in declared and declared[0] != declared[1]:
        raise ModelLoadError(
            f"SavedModel {folder}: input has {declared[0]} channels but output "
            f"{output_info.name!r} has {declared[1]}; expected {_CONTRACT}"
        )
    metadata = read_metadata(folder)
    pool_stats, pooled = signatures.get(POOL_STATS_KEY), signatures.get(POOLED_SERVE_KEY)
    if metadata.get("global_pool") and (pool_stats is None or pooled is None):
        raise ModelLoadError(
            f"SavedModel {folder} pools globally but lacks the {POOL_STATS_KEY!r} and "
            f"{POOLED_SERVE_KEY!r} signatures that tiling it needs",
            hint="convert it again with this version of upscaler",
        )
    partials = []
    for index in range(len(signatures)):
        partial = signatures.get(pool_partial_key(index))
        if partial is None:
            break
        partials.append(partial)
    log.debug("loaded %s: input %s, output %s", folder, input_info, output_info)
    return LoadedModel(
        path=folder,
        input=input_info,
        output=output_info,
        metadata=metadata,
        _function=function,
        _root=root,
        _pool_stats=pool_stats if pooled is not None else None,
        _pooled=pooled if pool_stats is not None else None,
        _partials=tuple(partials),
    )


def _input_info(folder: Path, function: Any, tf: Any) -> TensorInfo:
    args, kwargs = function.structured_input_signature
    specs: dict[str, Any] = dict(kwargs or {})
    for index, spec in enumerate(args or ()):
        specs[getattr(spec, "name", None) or f"arg{index}"] = spec
    if len(specs) != 1:
        listing = ", ".join(f"{n} {_spec_text(s)}" for n, s in specs.items()) or "none"
        raise ModelLoadError(
            f"SavedModel {folder}: signature {SIGNATURE_KEY!r} has {len(specs)} inputs "
            f"({listing}); expected {_CONTRACT}"
        )
    name, spec = next(iter(specs.items()))
    info = _tensor_info(name, spec)
    problems = []
    if spec.dtype != tf.float32:
        problems.append(f"dtype {info.dtype}")
    if len(info.shape) != 4:
        problems.append(f"rank {len(info.shape)}")
    elif info.shape[-1] is not None and info.shape[-1] not in CHANNELS:
        problems.append(f"{info.shape[-1]} channels")
    if problems:
        raise ModelLoadError(
            f"SavedModel {folder}: input {name!r} is {_spec_text(spec)} ({', '.join(problems)}); "
            f"expected {_CONTRACT}"
        )
    return info


def _output_info(folder: Path, function: Any, tf: Any) -> TensorInfo:
    outputs = function.structured_outputs
    if not isinstance(outputs, dict):
        outputs = {OUTPUT_NAME: outputs} if hasattr(outputs, "dtype") else {}
    if len(outputs) != 1:
        listing = ", ".join(f"{n} {_spec_text(s)}" for n, s in outputs.items()) or "none"
        raise ModelLoadError(
            f"SavedModel {folder}: signature {SIGNATURE_KEY!r} has {len(outputs)} outputs "
            f"({listing}); expected {_CONTRACT}"
        )
    name, spec = next(iter(outputs.items()))
    info = _tensor_info(name, spec)
    if spec.dtype != tf.float32 or len(info.shape) != 4:
        raise ModelLoadError(
            f"SavedModel {folder}: output {name!r} is {_spec_text(spec)}; expected {_CONTRACT}"
        )
    return info


def _tensor_info(name: str, spec: Any) -> TensorInfo:
    shape = spec.shape
    dims: tuple[int | None, ...] = () if shape.rank is None else tuple(shape.as_list())
    return TensorInfo(name=str(name), shape=dims, dtype=str(spec.dtype.name))


def _spec_text(spec: Any) -> str:
    try:
        shape = spec.shape
        dims = "unknown rank" if shape.rank is None else str(shape.as_list())
        return f"{spec.dtype.name} {dims}"
    except AttributeError:
        return type(spec).__name__


def read_metadata(folder: Path) -> dict[str, Any]:
    """A model folder's ``upscaler.json`` (``{}`` without one); unreadable JSON or anything
    but an object is a :class:`ModelLoadError`."""
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        return {}
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{meta_path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{meta_path} must hold a JSON object")
    return data


def _first_line(exc: BaseException) -> str:
    """The line of a TensorFlow message that says what went wrong.

    Graph errors start with "Graph execution error:" and a Python traceback of where the
    failing node was defined; users need the sentence after that, not the dump.
    """
    text = str(getattr(exc, "message", None) or exc).strip()
    for raw in text.splitlines():
        line = raw.strip()
        if (
            not line
            or line.startswith(
                ("Graph execution error", "Detected at node", "File ", "[[", "<stack traces")
            )
            or line.endswith("(most recent call last):")
        ):
            continue
        return re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", line)
    return text.splitlines()[0] if text else type(exc).__name__
