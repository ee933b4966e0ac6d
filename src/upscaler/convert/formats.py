"""Every weights format, listed once: how to recognise it, read it and make it ready.

Why one table: the catalog's schema (which ``format:`` values exist, which files each
needs), materialization (convert, copy or refuse), models given by path (which suffix is
which format) and the public converters all ask the same questions about a format. When
each kept its own list they drifted; now they read :func:`weights_formats`. Adding a
format is its parser module (a reader returning the shared
:class:`~upscaler.convert.writer.ParsedModel`), one :class:`WeightsFormat` row in
:data:`BUILTIN` (or a :func:`register` call, which is how tests add one) and its tests.

How a format is made ready (:data:`Ready`):

``parse``
    A reader turns the files into the shared ops; the one writer builds and saves the
    SavedModel. Only these formats can have int8 or bfloat16 variants: those are rebuilt
    from the parsed network (:attr:`WeightsFormat.derivable`).
``copy``
    The files already are a SavedModel (models trained here): the catalog copies them into
    its cache so they get the manifest check, a folder given by path runs in place.
``load``
    A framework loads the file and exports it (Keras). Only for models given by path: a
    catalog conversion must come from verified bytes through our own parser, and loading
    runs the framework's deserialisation.

Importing this module imports no parser, numpy or TensorFlow: the catalog validates
against it on every load. Readers, checks and loaders are therefore named by
``"module:function"`` strings and imported on first use (a callable works too).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from upscaler.errors import ConversionError, nearest

if TYPE_CHECKING:
    from upscaler.convert.parsed import ConversionReport, ParsedModel, Wrapper

Ready = Literal["parse", "copy", "load"]
"""How a format's files become a runnable SavedModel (see the module docstring)."""

FileMap = Mapping[str, str | os.PathLike[str]]
"""In-package posix path → real file, as fetched
(see :class:`~upscaler.convert.files.SourceFiles`)."""

Reader = Callable[[str | os.PathLike[str], FileMap | None], "ParsedModel"]
"""``reader(entry_file, files)``: the source parsed into the shared ops, nothing built."""

FileRule = Callable[[Sequence[str]], None]
"""Checks a catalog entry's file list (raises ValueError, which the catalog reports with
its file:line)."""

FilesOf = Callable[[Path], list[Path]]
"""The files a model given by path is made of (for its content key): its entry file and
the companions it names."""

Facts = Callable[[Path], dict[str, Any]]
"""What a model file given by path says about itself before conversion (``scale``,
``input_channels``, ``value_range``, ``architecture``, ``params``, ``description``):
formats whose files carry no scale (PyTorch checkpoints) answer it from the weights."""


@dataclass(frozen=True)
class Expected:
    """What the caller knows about a model beyond its files (the catalog entry's facts),
    for formats whose files must agree with it: a weights-only format cannot say its
    architecture or the padding its network consumes, so the catalog does."""

    architecture: str | None = None
    wrapper: Wrapper | None = None


Check = Callable[["ParsedModel", Expected], None]
"""Raises ConversionError when the parsed files disagree with :class:`Expected`."""


class Loader(Protocol):
    """A ``load`` format's export: the file at ``path`` saved as a SavedModel at
    ``out_dir`` (value range and scale already checked; ``started`` times the whole
    conversion)."""

    def __call__(
        self,
        path: Path,
        out_dir: Path,
        *,
        value_range: tuple[float, float] | None,
        scale: int | None,
        overwrite: bool,
        started: float,
    ) -> ConversionReport: ...


def _resolve(ref: str | Callable[..., Any]) -> Any:
    """A ``"module:function"`` reference imported now (or the callable itself)."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class WeightsFormat:
    """One weights format: a row of the table.

    ``suffixes``: the endings of the file a conversion starts from (the entry file; a
    catalog entry's :attr:`~upscaler.catalog.schema.Weights.entry_point`, the suffix a
    model given by path is recognised by). ``folder_marker``: the file that makes a
    folder one of these (formats that are folders). ``local``: how a user names it by
    path in messages, with its article (``"a TF.js model.json"``); None when a path of
    this format is not accepted, because its published models need facts (a wrapper's
    padding, an architecture) that only a catalog entry gives. ``facts``: reads, from a
    file given by path, what the format's files say about the model (:data:`Facts`).
    """

    name: str
    title: str
    ready: Ready
    suffixes: tuple[str, ...] = ()
    reader: str | Reader | None = None
    check: str | Check | None = None
    loader: str | Loader | None = None
    files_of: str | FilesOf | None = None
    file_rule: FileRule | None = None
    folder_marker: str | None = None
    local: str | None = None
    facts: str | Facts | None = None

    def __post_init__(self) -> None:
        needs = {"parse": ("reader", self.reader), "load": ("loader", self.loader)}
        role, given = needs.get(self.ready, ("", True))
        if given is None:
            raise ConversionError(
                f"weights format {self.name!r} is made ready by {self.ready}: give its {role}"
            )
        if self.ready != "parse" and self.reader is not None:
            raise ConversionError(
                f"weights format {self.name!r}: only a parse format has a reader (it is what "
                "int8 and bfloat16 variants are rebuilt from)"
            )

    @property
    def derivable(self) -> bool:
        """int8 and bfloat16 variants can be rebuilt from it: it has a reader."""
        return self.reader is not None

    def read(
        self,
        entry: str | os.PathLike[str],
        files: FileMap | None = None,
        expected: Expected | None = None,
    ) -> ParsedModel:
        """The files parsed into the shared ops and checked against ``expected``."""
        if self.reader is None:
            raise ConversionError(f"{self.name} weights have no reader")
        parsed: ParsedModel = _resolve(self.reader)(entry, files)
        if self.check is not None:
            _resolve(self.check)(parsed, expected or Expected())
        return parsed

    def loader_function(self) -> Loader:
        """The loader of a ``load`` format, imported now."""
        if self.loader is None:
            raise ConversionError(f"{self.name} weights have no loader")
        loader: Loader = _resolve(self.loader)
        return loader

    def entry_point(self, paths: Sequence[str]) -> str:
        """The file among ``paths`` a conversion starts from: the first with one of the
        format's suffixes, else the first."""
        for path in paths:
            if path.endswith(self.suffixes):
                return path
        return paths[0]

    def check_files(self, paths: Sequence[str]) -> None:
        """Refuse a file list this format cannot be read from (ValueError)."""
        if self.file_rule is not None:
            self.file_rule(paths)

    def model_files(self, path: Path) -> list[Path]:
        """The files a model at ``path`` is made of (the entry file alone by default)."""
        if self.files_of is None:
            return [path]
        files_of: FilesOf = _resolve(self.files_of)
        return files_of(path)

    def local_facts(self, path: Path) -> dict[str, Any]:
        """What a model at ``path`` says about itself (empty when the format cannot say)."""
        if self.facts is None:
            return {}
        facts: Facts = _resolve(self.facts)
        return facts(path)

    def holds(self, path: Path) -> bool:
        """True when ``path`` is a model of this format, judged by its name or marker."""
        if path.is_dir():
            return self.folder_marker is not None and (path / self.folder_marker).is_file()
        return path.suffix in self.suffixes


# --------------------------------------------------------------------------- file rules


def _one_topology(paths: Sequence[str]) -> None:
    jsons = [p for p in paths if p.endswith(".json")]
    if len(jsons) != 1:
        raise ValueError(
            f"tfjs-layers weights need exactly one .json topology file, found {len(jsons)}"
        )


def _param_and_bin(paths: Sequence[str]) -> None:
    params = [p for p in paths if p.endswith(".param")]
    bins = {p for p in paths if p.endswith(".bin")}
    if len(params) != 1 or len(paths) != 2:
        raise ValueError(
            "ncnn weights need exactly two files, one .param graph and its .bin weights"
        )
    if params[0].removesuffix(".param") + ".bin" not in bins:
        raise ValueError(f"ncnn weights: {params[0]} needs its .bin beside it")


def _one_archive(paths: Sequence[str]) -> None:
    if len(paths) != 1 or not paths[0].endswith(".npz"):
        raise ValueError("npz weights need exactly one file, the .npz archive")


# --------------------------------------------------------------------------- the table

BUILTIN = (
    WeightsFormat(
        name="tfjs-layers",
        title="TF.js layers model",
        ready="parse",
        suffixes=(".json",),
        reader="upscaler.convert.tfjs:read_tfjs_layers",
        files_of="upscaler.convert.tfjs:model_files",
        file_rule=_one_topology,
        local="a TF.js model.json",
    ),
    WeightsFormat(
        name="ncnn",
        title="ncnn model",
        ready="parse",
        suffixes=(".param",),
        reader="upscaler.convert.ncnn:read_ncnn",
        file_rule=_param_and_bin,
    ),
    WeightsFormat(
        name="npz",
        title="waifu2x-chainer npz",
        ready="parse",
        suffixes=(".npz",),
        reader="upscaler.convert.npz:read_npz_model",
        check="upscaler.convert.npz:check_npz_model",
        file_rule=_one_archive,
    ),
    WeightsFormat(
        name="savedmodel",
        title="SavedModel",
        ready="copy",
        folder_marker="saved_model.pb",
        local="a SavedModel folder",
    ),
    WeightsFormat(
        name="keras",
        title="Keras model",
        ready="load",
        suffixes=(".keras", ".h5", ".hdf5"),
        loader="upscaler.convert.keras_file:load_keras_file",
        local="a .keras/.h5 file",
    ),
    WeightsFormat(
        name="pytorch",
        title="PyTorch checkpoint",
        ready="parse",
        suffixes=(".pth", ".pt", ".ckpt"),
        reader="upscaler.convert.architectures.checkpoint:read_checkpoint",
        facts="upscaler.convert.architectures.checkpoint:checkpoint_facts",
        local="a PyTorch .pth/.pt/.ckpt checkpoint",
    ),
    WeightsFormat(
        name="safetensors",
        title="safetensors file",
        ready="parse",
        suffixes=(".safetensors",),
        reader="upscaler.convert.architectures.checkpoint:read_checkpoint",
        facts="upscaler.convert.architectures.checkpoint:checkpoint_facts",
        local="a .safetensors file",
    ),
)
"""The formats this package reads, in the order the catalog's JSON schema lists them."""

_TABLE: dict[str, WeightsFormat] = {}


def register(fmt: WeightsFormat) -> WeightsFormat:
    """Add a row. Names and entry suffixes are unique, so a ``format:`` value and a
    path's suffix each name one format. The catalog's schema reads the table once, at its
    import: a row registered later serves models given by path and the converters."""
    if fmt.name in _TABLE:
        raise ConversionError(f"weights format {fmt.name!r} is already registered")
    for other in _TABLE.values():
        shared = set(fmt.suffixes) & set(other.suffixes)
        if shared:
            raise ConversionError(
                f"weights format {fmt.name!r}: suffix {sorted(shared)[0]} is {other.name}'s"
            )
    _TABLE[fmt.name] = fmt
    return fmt


def unregister(name: str) -> None:
    """Remove a row (a test's trial format); unknown names are ignored."""
    _TABLE.pop(name, None)


for _row in BUILTIN:
    register(_row)


def weights_formats() -> tuple[WeightsFormat, ...]:
    """Every registered format, built-in ones first in :data:`BUILTIN` order."""
    return tuple(_TABLE.values())


def format_names(formats: Iterable[WeightsFormat] | None = None) -> tuple[str, ...]:
    """The names of ``formats`` (default: all registered)."""
    return tuple(f.name for f in (weights_formats() if formats is None else formats))


def derivable_formats() -> tuple[str, ...]:
    """Names of the formats int8 and bfloat16 variants can be rebuilt from."""
    return format_names(f for f in weights_formats() if f.derivable)


def weights_format(name: str) -> WeightsFormat:
    """The row named ``name``, or a ConversionError naming the nearest one."""
    try:
        return _TABLE[name]
    except KeyError:
        close = nearest(name, list(_TABLE))
        raise ConversionError(
            f"unknown weights format {name!r}",
            hint=f"did you mean {close[0]}?" if close else f"known: {', '.join(_TABLE)}",
        ) from None


def local_formats() -> tuple[WeightsFormat, ...]:
    """Formats a model given by path may have: folders first, then files."""
    accepted = [f for f in weights_formats() if f.local is not None]
    return tuple(sorted(accepted, key=lambda f: f.folder_marker is None))


def accepted_locally(formats: Sequence[WeightsFormat] | None = None) -> str:
    """``"a SavedModel folder, a TF.js model.json, or a .keras/.h5 file"``: how messages
    list ``formats`` (default: every one accepted by path)."""
    phrases = [f.local or f.title for f in (local_formats() if formats is None else formats)]
    if len(phrases) < 3:
        return " or ".join(phrases)
    return f"{', '.join(phrases[:-1])}, or {phrases[-1]}"
