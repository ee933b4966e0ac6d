"""Image in, image out: accept what users pass, give back the same kind, lose nothing.

Everything becomes an HxWxC array (C in 1..4; uint8, uint16 or float32 in [0, 1]) before
it meets a model, and is turned back into the caller's kind afterwards: a PIL image for
PIL, path and bytes input, a numpy array of the input's dtype for numpy input. EXIF
orientation is applied on the way in; ICC profile and EXIF travel to the output.

PIL has no 16-bit colour mode, so 16-bit colour PNGs are read with pypng and 16-bit
TIFFs with tifffile; such results come back as uint16 numpy arrays (documented in
docs/images.md), and :func:`save` writes them as 16-bit PNG or TIFF.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from upscaler import settings
from upscaler.errors import ImageError

InputKind = Literal["pil", "numpy", "path", "bytes"]
Pixels = npt.NDArray[Any]
SUPPORTED_DTYPES = ("uint8", "uint16", "float32")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")

logger = logging.getLogger("upscaler")
_PIL_LIMIT_LOCK = threading.Lock()
_PIL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # UnidentifiedImageError is one
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
)
"""What Pillow raises on a file it cannot read (its own size limit is lifted while it
opens, so DecompressionBombError cannot arise)."""


@dataclass(frozen=True)
class DecodedImage:
    """The pixels plus what is needed to hand the result back in the caller's form."""

    pixels: Pixels
    kind: InputKind
    mode: str
    squeeze: bool = False
    input_dtype: str = "uint8"
    info: dict[str, Any] = field(default_factory=dict)
    adaptations: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        """1 gray, 2 gray+alpha, 3 RGB, 4 RGBA."""
        return int(self.pixels.shape[2])


def white_of(dtype: np.dtype[Any]) -> float:
    """The value of full intensity for a pixel dtype."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    return 1.0


# -- numpy -----------------------------------------------------------------------------------


def _from_numpy(array: npt.NDArray[Any]) -> tuple[Pixels, bool, str]:
    if array.size == 0 or 0 in array.shape:
        raise ImageError(f"the image array is empty (shape {list(array.shape)})")
    if array.ndim not in (2, 3):
        raise ImageError(
            f"expected an HxW or HxWxC array, got {array.ndim} dimensions "
            f"(shape {list(array.shape)})",
            hint="pass one image, not a batch",
        )
    squeeze = array.ndim == 2
    pixels = array[:, :, np.newaxis] if squeeze else array
    if pixels.shape[2] > 4:
        raise ImageError(
            f"images may have at most 4 channels, this one has {pixels.shape[2]}",
            hint="pass gray, gray+alpha, RGB or RGBA (channels last: HxWxC)",
        )
    dtype = str(array.dtype)
    if array.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(pixels), squeeze, dtype
    if np.issubdtype(array.dtype, np.floating):
        floats = pixels.astype(np.float32)
        if not np.all(np.isfinite(floats)):
            raise ImageError(
                "the image contains NaN or infinite values",
                hint="replace them (np.nan_to_num) before upscaling",
            )
        lo, hi = float(floats.min()), float(floats.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageError(
                f"float images must lie in [0, 1]; this one spans [{lo:g}, {hi:g}]",
                hint="divide by 255 (or 65535), or pass uint8/uint16 pixels",
            )
        return np.ascontiguousarray(floats), squeeze, dtype
    raise ImageError(
        f"unsupported pixel dtype {array.dtype}",
        hint="pass uint8, uint16, or floats in [0, 1]",
    )


# -- files and PIL ---------------------------------------------------------------------------


def _check_pixels(width: int, height: int, what: str, max_pixels: int | None) -> None:
    """Refuse an image with no pixels, or more than the decompression-bomb limit, from
    its header alone (before any pixel is decoded)."""
    if width < 1 or height < 1:
        raise ImageError(
            f"{what} declares {width}x{height} pixels: an image with no pixels",
            hint="the file is damaged; pass a PNG, JPEG, WebP, BMP or TIFF file",
        )
    limit = settings.max_pixels() if max_pixels is None else max_pixels
    if width * height > limit:
        raise ImageError(
            f"{what} is {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{limit:,} (a guard against decompression bombs)",
            hint="pass max_pixels=N to upscale(), or set UPSCALER_MAX_PIXELS",
        )


def _check_frames(count: int, what: str) -> None:
    """Refuse animations and multi-page files where one still image is expected, rather
    than silently keep their first frame: an animation in memory (a PIL image, bytes)
    has no output file to be written as an animation; ``upscale_file`` (and the CLI)
    write animated GIF, APNG and WebP files whole (docs/animations.md)."""
    if count > 1:
        raise ImageError(
            f"{what} has {count} frames (an animation or a multi-page file); upscale() "
            "takes one still image",
            hint="write animated GIF/APNG/WebP files with upscale_file(src, dst) or "
            "`upscaler upscale IN -o OUT`, which keep every frame; for a multi-page TIFF, "
            "upscale each page as its own image",
        )


def max_file_bytes(max_pixels: int | None) -> int:
    """The largest file that can hold an image within the pixel limit: 16 bytes a pixel
    (RGBA float32, uncompressed) plus 64 MiB of metadata. A bigger file is refused by
    its size before it is read, as a sparse 3 GB ``.png`` would otherwise be."""
    limit = settings.max_pixels() if max_pixels is None else max_pixels
    return 16 * limit + (64 << 20)


def open_regular_file(path: Path, max_pixels: int | None = None) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (symlinks to one are followed).

    Opened without blocking and checked with fstat before anything is read, so a FIFO
    cannot hang the run and ``/dev/zero`` cannot fill the memory; a device, socket or
    folder is an ImageError naming what it is, and so is a file larger than any image
    within the pixel limit.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImageError(f"no such image file: {path}", hint="check the path") from None
    except PermissionError:
        raise ImageError(
            f"cannot read {path}: permission denied", hint="check the file's permissions"
        ) from None
    except OSError as exc:
        raise ImageError(
            f"cannot open {path}: {exc.strerror or exc}", hint="check the path"
        ) from None
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ImageError(
                f"{path} is a folder, not an image file",
                hint=f"upscale a folder tree with: upscaler batch {path} OUT",
            )
        raise ImageError(
            f"{path} is a {file_kind(mode)}, not a regular file",
            hint="pass an image file; pipes, devices and sockets are never read",
        )
    if info.st_size > max_file_bytes(max_pixels):
        os.close(fd)
        raise ImageError(
            f"{path} is {info.st_size / 1e6:,.0f} MB, more than any image within the pixel "
            f"limit can take ({max_file_bytes(max_pixels) / 1e6:,.0f} MB)",
            hint="pass max_pixels=N to upscale(), or set UPSCALER_MAX_PIXELS, for larger images",
        )
    return os.fdopen(fd, "rb")


def _read_regular_file(path: Path, max_pixels: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file (see :func:`open_regular_file`)."""
    with open_regular_file(path, max_pixels) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise ImageError(
                f"cannot read {path}: {exc.strerror or exc}", hint="check the file"
            ) from None


def file_kind(mode: int) -> str:
    """A file-system entry's kind in words (for messages and batch skip reports)."""
    kinds = (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISLNK, "symlink"),
    )
    for test, name in kinds:
        if test(mode):
            return name
    return "special file"


def _sixteen_bit_png(data: bytes) -> bool:
    # IHDR: bit depth at byte 24, colour type at 25 (2 = RGB, 6 = RGBA, 4 = gray+alpha)
    return (
        data[:8] == _PNG_SIGNATURE and len(data) > 25 and data[24] == 16 and data[25] in (2, 4, 6)
    )


def _read_png16(data: bytes, what: str, max_pixels: int | None) -> tuple[Pixels, str]:
    import png

    try:
        width, height, rows, meta = png.Reader(bytes=data).asDirect()
        _check_pixels(width, height, what, max_pixels)
        planes = int(meta["planes"])
        pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    except (png.Error, zlib.error, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(
            f"cannot decode {what} as a 16-bit PNG ({exc})",
            hint="the file is damaged; pass a PNG, JPEG, WebP, BMP or TIFF file",
        ) from None
    pixels = pixels.reshape(height, width, planes)
    return np.ascontiguousarray(pixels), {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[planes]


def _read_tiff(data: bytes, what: str, max_pixels: int | None) -> tuple[Pixels, str] | None:
    """Deep or float TIFFs via tifffile; None lets PIL handle ordinary 8-bit TIFFs."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            _check_frames(len(tif.pages), what)
            page = tif.pages.first
            if page.dtype is None or np.dtype(page.dtype) == np.uint8:
                return None
            shape = page.shape
            _check_pixels(int(shape[1]), int(shape[0]), what, max_pixels)
            array = page.asarray()
    except ImageError:
        raise
    except (tifffile.TiffFileError, ValueError, IndexError, KeyError, OSError, struct.error) as exc:
        raise ImageError(
            f"cannot decode {what} as a TIFF ({exc or type(exc).__name__})",
            hint="the file is damaged or not a TIFF; pass a PNG, JPEG, WebP, BMP or TIFF file",
        ) from None
    pixels, _, _ = _from_numpy(np.asarray(array))
    return pixels, f"TIFF;{pixels.dtype}"


def _from_pil(image: Any) -> tuple[Pixels, str, tuple[str, ...]]:
    """Convert any PIL mode into gray / gray+alpha / RGB / RGBA arrays, saying what changed."""
    mode = str(image.mode)
    notes: list[str] = []
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image, dtype=np.uint16)[:, :, np.newaxis].copy(), "I;16", ()
    if mode == "I":
        array = np.asarray(image)
        if array.min() >= 0 and array.max() <= 65535:
            return (
                array.astype(np.uint16)[:, :, np.newaxis],
                "I;16",
                ("32-bit gray read as 16-bit",),
            )
    if mode == "F":
        array = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        return array[:, :, np.newaxis], "F", ("float gray clipped to [0, 1]",)
    if mode in ("RGB", "RGBA", "L", "LA"):
        target = mode
    elif mode in ("PA",) or (mode == "P" and "transparency" in image.info):
        target = "RGBA"
    elif mode == "1":
        target = "L"
    else:  # P, CMYK, YCbCr, LAB, HSV, I (out of range) ...
        target = "RGB"
    if target != mode:
        notes.append(f"{mode} converted to {target}")
        image = image.convert(target)
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return np.ascontiguousarray(pixels), target, tuple(notes)


def _carried_info(image: Any) -> dict[str, Any]:
    """ICC profile and EXIF (orientation reset to 1) to write into the output."""
    from PIL import Image

    info: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc:
        info["icc_profile"] = icc
    try:
        # A TIFF's getexif() is its own layout IFD (strips, compression): not EXIF to copy.
        exif = None if image.format == "TIFF" else image.getexif()
    except (AttributeError, ValueError, OSError):
        exif = None
    if exif:
        copy = Image.Exif()
        copy.load(exif.tobytes())
        copy[0x0112] = 1  # orientation already applied to the pixels
        info["exif"] = copy.tobytes()
    return info


@contextlib.contextmanager
def _pil_unlimited() -> Iterator[None]:
    """Pillow's own limit lifted for the duration (DecompressionBombError above 2 x 89 MP,
    even in open()): ours, UPSCALER_MAX_PIXELS, is checked on the header before any
    decoding. The limit is a global, so openers take turns while it is lifted: a thread
    must never restore it under another's open()."""
    from PIL import Image

    with _PIL_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _open_checked(handle: Any, what: str, max_pixels: int | None) -> Any:
    """Open with Pillow (header only) and refuse too many pixels or frames."""
    from PIL import Image

    image = Image.open(handle)
    _check_pixels(image.width, image.height, what, max_pixels)
    _check_frames(int(getattr(image, "n_frames", 1)), what)
    return image


def check_image_file(
    path: Path, max_pixels: int | None = None, *, label: str | None = None
) -> None:
    """Refuse, from its header alone, a path that is not an image we would decode: not a
    regular file, not an image, too many pixels or frames. Milliseconds, so the CLI runs
    it for every input before any model work, and the explorer for every upload.

    ``label`` names the image in messages instead of ``path`` (an upload is known to its
    sender by its own file name, not by the server's temp path)."""
    what = label or str(path)
    with open_regular_file(path, max_pixels) as handle:
        try:
            if handle.read(4) in _TIFF_SIGNATURES:
                return  # tifffile reads TIFFs Pillow cannot (float, many channels)
            handle.seek(0)
            with _pil_unlimited():
                _open_checked(handle, what, max_pixels).close()
        except ImageError:
            raise
        except _PIL_ERRORS as exc:
            raise ImageError(
                f"cannot decode {what} as an image ({exc})",
                hint="pass a PNG, JPEG, WebP, BMP or TIFF file",
            ) from None


def _decode_bytes(data: bytes, what: str, kind: InputKind, max_pixels: int | None) -> DecodedImage:
    if _sixteen_bit_png(data):
        pixels, mode = _read_png16(data, what, max_pixels)
        return DecodedImage(pixels, kind, mode, input_dtype="uint16")
    if data[:4] in _TIFF_SIGNATURES:
        deep = _read_tiff(data, what, max_pixels)
        if deep is not None:
            return DecodedImage(deep[0], kind, deep[1], input_dtype=str(deep[0].dtype))
    from PIL import Image, ImageOps

    with _pil_unlimited():
        try:
            image: Image.Image = _open_checked(io.BytesIO(data), what, max_pixels)
            image.load()
        except ImageError:
            raise
        except _PIL_ERRORS as exc:
            raise ImageError(
                f"cannot decode {what} as an image ({exc})",
                hint="pass a PNG, JPEG, WebP, BMP or TIFF file",
            ) from None
    notes: tuple[str, ...] = ()
    orientation = image.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        image = ImageOps.exif_transpose(image)
        notes = (f"EXIF orientation {orientation} applied",)
    info = _carried_info(image)
    pixels, mode, converted = _from_pil(image)
    return DecodedImage(
        pixels, kind, mode, input_dtype=str(pixels.dtype), info=info, adaptations=notes + converted
    )


def decode(image: Any, *, max_pixels: int | None = None) -> DecodedImage:
    """Turn a path, bytes, PIL image or numpy array into pixels (see module docstring)."""
    if isinstance(image, np.ndarray):
        pixels, squeeze, dtype = _from_numpy(image)
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
        return DecodedImage(pixels, "numpy", mode, squeeze, input_dtype=dtype)
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        data = _read_regular_file(path, max_pixels)
        return _decode_bytes(data, str(path), "path", max_pixels)
    if isinstance(image, bytes | bytearray | memoryview):
        return _decode_bytes(bytes(image), "the given bytes", "bytes", max_pixels)
    from PIL import Image

    if isinstance(image, Image.Image):
        buffer_kind: InputKind = "pil"
        info = _carried_info(image)
        pixels, mode, notes = _from_pil(image)
        return DecodedImage(
            pixels, buffer_kind, mode, input_dtype=str(pixels.dtype), info=info, adaptations=notes
        )
    raise ImageError(
        f"cannot upscale a {type(image).__name__}",
        hint="pass a file path, bytes, a PIL.Image or a numpy array",
    )


# -- back out ----------------------------------------------------------------------------------


def to_dtype(pixels: Pixels, dtype: str) -> Pixels:
    """Cast between uint8 / uint16 / float32 pixel scales, rounding half-to-even."""
    if str(pixels.dtype) == dtype:
        return pixels
    source = white_of(pixels.dtype)
    target_dtype = np.dtype(dtype)
    target = white_of(target_dtype)
    scaled = pixels.astype(np.float64) * (target / source)
    if np.issubdtype(target_dtype, np.integer):
        return np.rint(np.clip(scaled, 0, target)).astype(target_dtype)
    return np.clip(scaled, 0.0, 1.0).astype(target_dtype)


def encode(pixels: Pixels, like: DecodedImage) -> Any:
    """Hand the result back in the caller's kind (numpy for numpy, else PIL when possible)."""
    if like.kind == "numpy":
        out = to_dtype(pixels, like.input_dtype)
        return out[:, :, 0] if like.squeeze else out
    return to_pil(pixels, like.info)


def to_pil(pixels: Pixels, info: dict[str, Any]) -> Any:
    """A PIL image of ``pixels`` carrying ``info`` (ICC, EXIF); 16-bit or float colour,
    which PIL cannot hold, stays an array."""
    from PIL import Image

    channels = pixels.shape[2]
    if pixels.dtype == np.uint16 and channels == 1:
        return Image.fromarray(pixels[:, :, 0].astype("<u2"))
    if pixels.dtype != np.uint8:
        if channels > 1:
            return pixels  # PIL has no 16-bit or float colour mode: hand back the array
        pixels = to_dtype(pixels, "uint8")
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels)
    if image.mode != mode:  # a same-mode convert() is a whole second copy of the output
        image = image.convert(mode)
    image.info.update(info)
    return image


OUTPUT_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
"""Output suffixes and their formats: only formats that keep the whole image.

Pillow can write many more (ICO, GIF, PCX, TGA, ...), but they shrink the image (an
ICO is at most 256x256), drop colours (GIF's palette) or channels; an upscaler that
silently writes a 128x64 icon has lost the result. JPEG keeps everything but alpha,
which it cannot hold (a warning says so); 16-bit results need PNG or TIFF."""

_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383}
"""The largest width or height each format can store (the rest: no practical limit)."""

_PIL_SAVE_MODES = {
    "BMP": ("1", "L", "P", "RGB"),
    "JPEG": ("L", "RGB", "RGBA", "LA"),
    "WEBP": ("L", "RGB", "RGBA", "LA"),
}
"""Result modes each format keeps (RGBA/LA to JPEG: alpha dropped with a warning; BMP
has none: Pillow writes RGBA BMPs that read back as RGB)."""

_FORMAT_LIST = "png, jpg, webp, tif or bmp"


def output_format(target: Path) -> str:
    """The format an output path asks for, or an ImageError naming the ones allowed."""
    suffix = target.suffix.lower()
    fmt = OUTPUT_FORMATS.get(suffix)
    if fmt is None:
        what = f"the format {suffix}" if suffix else "a name without a suffix"
        raise ImageError(
            f"cannot write {target.name!r}: {what} is not an output format that keeps the "
            f"whole image; allowed: {_FORMAT_LIST}",
            hint="name the output with .png (lossless, alpha, 16-bit), .jpg, .webp, .tif or .bmp",
        )
    return fmt


def check_output_path(src: Path, target: Path) -> str:
    """Refuse an output that cannot be written or would destroy the input; its format.

    Checked before any work: the folder must exist, the name must not be a folder, the
    suffix must be an allowed format, and the output must not be the input itself under
    any name (the same path, a symlink or a hard link to it).
    """
    if target.is_dir():
        raise ImageError(
            f"the output {target} is a folder",
            hint=f"name an output file inside it, e.g. {target / src.name}",
        )
    if not target.parent.is_dir():
        raise ImageError(f"output folder {target.parent} does not exist", hint="create it first")
    fmt = output_format(target)
    refuse_overwriting_input(src, target)
    return fmt


def refuse_overwriting_input(src: Path, target: Path) -> None:
    """An ImageError when ``target`` is ``src`` under any name: the same path spelt
    otherwise, a symlink or a hard link to it (same device and inode)."""
    try:
        same = target.exists() and target.samefile(src)
    except OSError:
        same = False
    if same:
        raise ImageError(
            f"the output {target} is the input {src} itself; writing it would replace the input",
            hint=f"write to another name, e.g. {target.stem}.upscaled{target.suffix}",
        )


def save(result: Any, target: Path, info: dict[str, Any], *, quality: int | None = None) -> None:
    """Write ``result`` (PIL image or array) to ``target``; the format follows the suffix.

    Only :data:`OUTPUT_FORMATS` are written, and only results they can hold: a mode or
    size the format would change is an ImageError, not a silently different file.
    Callers pass a temp path and rename it afterwards: this function does not guard
    against partial files itself.
    """
    fmt = output_format(target)
    suffix = target.suffix.lower()
    if isinstance(result, np.ndarray):
        _save_array(result, target, suffix)
        return
    check_fits(fmt, result.width, result.height, target)
    if result.mode not in _PIL_SAVE_MODES.get(fmt, (result.mode,)):
        depth = "a 16-bit" if result.mode.startswith("I") else f"a {result.mode}"
        raise ImageError(
            f"{depth} result cannot be saved as {suffix} without losing part of it",
            hint="use .png or .tif, which keep every channel and bit depth",
        )
    if fmt == "JPEG" and result.mode in ("RGBA", "LA"):
        logger.warning("JPEG has no alpha channel: %s is written without it", target.name)
        result = result.convert("RGB" if result.mode == "RGBA" else "L")
    params: dict[str, Any] = {}
    if quality is not None and fmt in ("JPEG", "WEBP"):
        params["quality"] = quality
    for key in ("icc_profile", "exif"):
        if key in info and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
            params[key] = info[key]
    result.save(target, format=fmt, **params)


def save_pixels(
    pixels: Pixels, target: Path, info: dict[str, Any], *, quality: int | None = None
) -> None:
    """Write an upscaled HxWxC array to ``target`` as :func:`save` would write its PIL image.

    A PNG of uint8 or uint16 pixels is written from the array itself, a band of rows at a
    time (:mod:`upscaler.runtime.png_write`): a PIL copy of an RGB result is a third larger
    than the result, and holding both took a 12000x8000 CLI run past its memory bound
    (issue 29). Other formats go through Pillow, whose encoders need the whole image.
    """
    if output_format(target) == "PNG" and pixels.dtype in (np.uint8, np.uint16):
        from upscaler.runtime.png_write import write_png

        with target.open("wb") as handle:
            write_png(pixels, handle, icc_profile=info.get("icc_profile"), exif=info.get("exif"))
        return
    save(to_pil(pixels, info), target, info, quality=quality)


def check_savable(fmt: str, decoded: DecodedImage, target: Path) -> None:
    """Refuse, before any work, a result the output format could not hold: 16-bit or
    float colour and 16-bit gray need PNG or TIFF; BMP has no alpha channel."""
    deep = decoded.pixels.dtype == np.uint16 or (
        decoded.pixels.dtype != np.uint8 and decoded.channels > 1
    )
    if deep and fmt not in ("PNG", "TIFF"):
        raise ImageError(
            f"a {decoded.pixels.dtype} image cannot be saved as {target.suffix} without "
            "losing bit depth",
            hint="use .png or .tif, which keep 16-bit and float pixels",
        )
    if fmt == "BMP" and decoded.channels in (2, 4):
        raise ImageError(
            f"an image with alpha cannot be saved as {target.suffix} without losing it",
            hint="use .png, .webp or .tif, which keep the alpha channel",
        )


def check_fits(fmt: str, width: int, height: int, target: Path) -> None:
    """A result larger than its format can store is an error, not a cropped file."""
    limit = _MAX_SIDE.get(fmt)
    if limit is not None and max(width, height) > limit:
        raise ImageError(
            f"a {width}x{height} result is too large for {target.suffix} (at most {limit} "
            "pixels a side)",
            hint="write .png or .tif, or use a smaller --outscale",
        )


def _save_array(pixels: Pixels, target: Path, suffix: str) -> None:
    """16-bit or float colour (which PIL cannot hold): TIFF keeps it, PNG as 16-bit."""
    if suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(target, pixels, photometric="rgb" if pixels.shape[2] >= 3 else None)
        return
    if suffix == ".png":
        from upscaler.runtime.png_write import write_png

        with target.open("wb") as handle:
            write_png(to_dtype(pixels, "uint16"), handle)
        return
    raise ImageError(
        f"a {pixels.dtype} colour result cannot be saved as {suffix or 'that file'}",
        hint="use .png or .tif for 16-bit output",
    )
