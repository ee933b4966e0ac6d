"""Image in, image out: accept what users pass, give back the same kind.

Everything becomes an HxWxC uint8 array with C in {1, 3, 4} before it meets a model, and
is turned back into the caller's kind afterwards (PIL for PIL, path and bytes; numpy for
numpy). Problems are reported as :class:`~upscaler.errors.ImageError` naming the fix.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError

InputKind = Literal["pil", "numpy", "path", "bytes"]


@dataclass(frozen=True)
class DecodedImage:
    """The pixels plus what is needed to hand the result back in the caller's form."""

    pixels: npt.NDArray[np.uint8]
    kind: InputKind
    mode: str
    squeeze: bool = False


def _open_pil(source: Any, what: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(source)
        image.load()
    except FileNotFoundError:
        raise ImageError(f"no such image file: {what}", hint="check the path") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"cannot decode {what} as an image ({exc})",
            hint="pass a PNG, JPEG, WebP or TIFF file",
        ) from None
    return image


def _from_pil(image: Any) -> tuple[npt.NDArray[np.uint8], str]:
    mode = str(image.mode)
    if mode in ("RGB", "RGBA", "L"):
        target = mode
    elif mode in ("LA", "PA") or (mode == "P" and "transparency" in image.info):
        target = "RGBA"
    else:
        target = "RGB"
    converted = image if target == mode else image.convert(target)
    pixels = np.asarray(converted, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return np.ascontiguousarray(pixels), target


def _from_numpy(array: npt.NDArray[Any]) -> tuple[npt.NDArray[np.uint8], bool]:
    if array.size == 0:
        raise ImageError(f"the image array is empty (shape {list(array.shape)})")
    if array.dtype != np.uint8:
        raise ImageError(
            f"numpy images must be uint8 for now, got {array.dtype}",
            hint="convert with (array * 255).round().astype('uint8') for floats in [0, 1]",
        )
    if array.ndim == 2:
        return array[:, :, np.newaxis], True
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"expected an HxW or HxWxC array with C in 1, 3, 4; got shape {list(array.shape)}",
            hint="pass RGB (HxWx3), RGBA (HxWx4) or gray (HxW)",
        )
    return np.ascontiguousarray(array), False


def decode(image: Any) -> DecodedImage:
    """Turn a path, bytes, PIL image or numpy array into uint8 pixels."""
    if isinstance(image, np.ndarray):
        pixels, squeeze = _from_numpy(image)
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
        return DecodedImage(pixels, "numpy", mode, squeeze)
    if isinstance(image, str | os.PathLike):
        pil = _open_pil(Path(image), str(image))
        pixels, mode = _from_pil(pil)
        return DecodedImage(pixels, "path", mode)
    if isinstance(image, bytes | bytearray | memoryview):
        pil = _open_pil(io.BytesIO(bytes(image)), "the given bytes")
        pixels, mode = _from_pil(pil)
        return DecodedImage(pixels, "bytes", mode)
    from PIL import Image

    if isinstance(image, Image.Image):
        pixels, mode = _from_pil(image)
        return DecodedImage(pixels, "pil", mode)
    raise ImageError(
        f"cannot upscale a {type(image).__name__}",
        hint="pass a file path, bytes, a PIL.Image or a uint8 numpy array",
    )


def encode(pixels: npt.NDArray[np.uint8], like: DecodedImage) -> Any:
    """Hand the result back in the caller's kind (numpy for numpy, else PIL)."""
    if like.kind == "numpy":
        return pixels[:, :, 0] if like.squeeze else pixels
    from PIL import Image

    if pixels.shape[2] == 1:
        return Image.fromarray(pixels[:, :, 0], "L")
    return Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB")
