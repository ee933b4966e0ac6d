"""What a parser hands the writer, what the writer reports, and the wrapper around a
network: plain values of the converter, in a module of their own so that the format table
(:mod:`upscaler.convert.formats`), the parsers and the writer can all name them without
importing one another in a circle."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from upscaler.convert import ops
from upscaler.errors import ConversionError

CONVERTER_VERSION = "6"
"""Version of the conversion recipe; a change invalidates every cached SavedModel
(bump it in :mod:`upscaler.convert.writer`'s sense: whenever the bytes a conversion
writes change)."""


@dataclass(frozen=True)
class ConversionReport:
    """What a conversion produced, for logs, the CLI and cache bookkeeping."""

    output: Path
    seconds: float
    size_bytes: int
    parameters: int
    layer_counts: dict[str, int]
    scale: int
    channels: int
    value_range: tuple[float, float] | None
    converter_version: str = CONVERTER_VERSION
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedModel:
    """A source file parsed into the shared ops, before anything is built: what a
    converter writes as a SavedModel, and what an int8 variant is rebuilt from
    (:mod:`upscaler.convert.int8`). ``layer_counts`` are the source's own layer types,
    ``source`` its file names and hashes, ``where`` the name messages use."""

    graph: ops.Graph
    layer_counts: dict[str, int]
    source: dict[str, Any]
    where: str


@dataclass(frozen=True)
class Wrapper:
    """What a model's own runtime does around the network, as data.

    ``preupscale``: enlarge the input this many times by nearest neighbour before
    anything else (waifu2x-chainer's vgg7/resnet10 "scale" networks are 1:1 and were
    trained on a nearest-neighbour 2× input; with it the SavedModel maps H×W to 2H×2W
    like any other x2 model). ``prepad``: add this many pixels on every side of the
    (enlarged) input (ncnn waifu2x / Real-CUGAN and waifu2x-chainer wrappers; the
    network's valid convolutions and crops consume them). ``multiple``: pad H and W at
    the bottom/right up to a multiple of this, and crop the output back to
    scale·H × scale·W. ``pad_mode``: how both paddings are filled, by repeating the edge
    pixel (``"edge"``, waifu2x) or mirroring about it (``"reflect"``, Real-CUGAN: its
    wrappers and its PyTorch original reflect, and the network was trained seeing that).
    ``residual="nearest"``: add the nearest-neighbour ×scale upsample of the (unpadded)
    input to the output (Real-CUGAN x4's graph omits it). The defaults change nothing.
    """

    prepad: int = 0
    multiple: int = 1
    residual: Literal["none", "nearest"] = "none"
    preupscale: int = 1
    pad_mode: ops.PadMode = "edge"

    def __post_init__(self) -> None:
        for name in ("prepad", "multiple", "preupscale"):
            value = getattr(self, name)
            low = 0 if name == "prepad" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConversionError(f"wrapper {name} {value!r} must be an integer >= {low}")
        if self.residual not in ("none", "nearest"):
            raise ConversionError(
                f"wrapper residual {self.residual!r} is not supported", hint="none, nearest"
            )
        if self.pad_mode not in ops.PAD_MODES:
            raise ConversionError(
                f"wrapper pad_mode {self.pad_mode!r} is not supported",
                hint=", ".join(ops.PAD_MODES),
            )

    @property
    def needs_scale(self) -> bool:
        """The crop and the residual are sized by the model's scale."""
        return self.multiple > 1 or self.residual != "none"

    @property
    def identity(self) -> bool:
        """Nothing to do: no enlarging, no padding (so the pad mode is moot), no residual."""
        return self == Wrapper(pad_mode=self.pad_mode)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
