"""Self-ensemble: a model run on the 8 flips and rotations of its input, averaged.

The "+" of the super-resolution literature (EDSR+, Lim et al., "Enhanced Deep Residual
Networks for Single Image Super-Resolution", CVPRW 2017, section 4.4; first as one of
Timofte et al., "Seven ways to improve example-based single image super resolution",
CVPR 2016). A network trained on randomly flipped and rotated patches should give the
same picture for every orientation of its input, but does not exactly: each orientation
gets other rounding of its learnt filters. Running all eight elements of the dihedral
group D4 (four quarter turns, each with and without a mirror), undoing each on its
output and averaging cancels part of those errors: about +0.1 dB PSNR for 8 times the
time (the papers' numbers; the catalog holds ours).

Why it averages the model's float outputs: the runner returns float32 pixels in [0, 1]
when given float32 pixels, which costs nothing extra, so the image is mapped to [0, 1]
once, every pass stays float, and the mean is rounded once at the end. Averaging 8
already-rounded uint8 outputs would add up to half a grey level of rounding per pass
before the mean.

Memory: besides each pass's float32 output, one float32 accumulator the size of the
output is held (4 bytes per output value), whatever the pixels' dtype.

Pure numpy: the transforms are views (``np.rot90`` and a mirrored slice), copied only
where the runner needs contiguous pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DIHEDRAL_X8", "EnsemblePass", "Transform", "from_unit", "self_ensemble", "to_unit"]

Pixels = npt.NDArray[Any]
Unit = npt.NDArray[np.float32]
EnsemblePass = Callable[[int, Unit], Unit]
"""One model pass: (index of the transform, float32 HxWxC pixels in [0, 1]) -> the
upscaled float32 pixels in [0, 1]."""


@dataclass(frozen=True)
class Transform:
    """One element of D4 on HxW(xC) arrays: mirror left-right (``flip``), then turn by
    ``quarter_turns`` quarters counter-clockwise (``np.rot90``'s direction)."""

    quarter_turns: int
    flip: bool

    def forward(self, pixels: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The transformed pixels (a view)."""
        mirrored = pixels[:, ::-1] if self.flip else pixels
        return np.rot90(mirrored, self.quarter_turns, axes=(0, 1))

    def inverse(self, pixels: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Undo :meth:`forward` (a view): turn back first, then mirror back.

        Applied to a model's output, it puts the output of the transformed image back in
        the original orientation; the scale does not matter, since flips and quarter
        turns commute with any upscale that treats rows and columns alike.
        """
        turned = np.rot90(pixels, -self.quarter_turns, axes=(0, 1))
        return turned[:, ::-1] if self.flip else turned

    @property
    def transposes(self) -> bool:
        """Whether height and width swap (odd quarter turns)."""
        return self.quarter_turns % 2 == 1

    def __str__(self) -> str:
        turn = f"rot{90 * self.quarter_turns}"
        return f"flip+{turn}" if self.flip else turn


DIHEDRAL_X8: tuple[Transform, ...] = tuple(
    Transform(turns, flip) for flip in (False, True) for turns in range(4)
)
"""The 8 transforms, identity first (so the first pass is the plain model run)."""


def _white(dtype: np.dtype[Any]) -> float:
    """The value of full intensity: the largest unsigned integer, or 1.0 for floats."""
    if dtype.kind == "u":
        return float(np.iinfo(dtype).max)
    return 1.0


def to_unit(pixels: Pixels) -> Unit:
    """uint8 / uint16 / float pixels as float32 in [0, 1] (floats are passed on as they
    are: the runner clips them and refuses NaN)."""
    if pixels.dtype.kind == "u":
        unit: Unit = pixels.astype(np.float32)
        unit /= np.float32(_white(pixels.dtype))
        return unit
    return np.asarray(pixels, dtype=np.float32)


def from_unit(unit: Unit, dtype: np.dtype[Any]) -> Pixels:
    """float32 pixels in [0, 1] as ``dtype``: integers rounded once, half to even (as the
    runner rounds), floats clipped to [0, 1]. Works in place on ``unit``."""
    np.clip(unit, np.float32(0.0), np.float32(1.0), out=unit)
    if dtype.kind != "u":
        return unit.astype(dtype, copy=False)
    unit *= np.float32(_white(dtype))
    np.rint(unit, out=unit)
    return unit.astype(dtype)


def self_ensemble(
    run: EnsemblePass, pixels: Pixels, transforms: Sequence[Transform] = DIHEDRAL_X8
) -> Pixels:
    """The mean of ``run`` over ``transforms`` of ``pixels``, each output transformed back;
    the dtype of ``pixels`` out (see the module docstring for why the mean is of floats).

    ``run`` gets C-contiguous float32 HxWxC pixels in [0, 1] (W x H for the transforms
    that turn by a quarter) and returns the upscaled pixels the same way.
    """
    if not transforms:
        raise ValueError("a self-ensemble needs at least one transform")
    unit = to_unit(pixels)
    total: Unit | None = None
    for index, transform in enumerate(transforms):
        output = run(index, np.ascontiguousarray(transform.forward(unit)))
        back = transform.inverse(output)
        if total is None:
            total = np.array(back, dtype=np.float32, order="C")
        elif back.shape != total.shape:
            raise ValueError(
                f"pass {index} ({transform}) gave {list(back.shape)} once turned back, not "
                f"{list(total.shape)}: the model does not treat rows and columns alike"
            )
        else:
            total += back
        del output, back
    assert total is not None
    total /= np.float32(len(transforms))
    return from_unit(total, pixels.dtype)
