"""The recipes behind the degradation protocols: what happens to a ground truth before the
model sees it.

The classic protocol (:mod:`upscaler.evaluate.protocol`) shrinks a clean photo with
MATLAB's bicubic. People bring web JPEGs, noisy phone shots and images that went through
several apps; a model made for those inputs is only measured fairly on them. Each recipe
here starts from the same mod-cropped 8-bit HR image and returns the 8-bit LR input of
exactly ``HR / scale`` pixels, so the rest of the protocol (Y, shave, PSNR/SSIM) is shared.

Randomness is seeded per image from the protocol id, the scale and the image's pixels
(:func:`image_seed`), so a rerun, another machine or another order of images gives the
same inputs, and two protocols never share noise. What was drawn is returned as a record
(``--json`` prints it per image).

The encoder is Pillow's libjpeg, at the protocol's quality with 4:2:0 chroma subsampling,
baseline, no optimisation: what ``Image.save("x.jpg", quality=q)`` writes. Another libjpeg
build may round a few coefficients differently; the JPEG library version is part of a
run's provenance (:func:`encoder_version`).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.catalog.protocols import ProtocolSpec
from upscaler.evaluate.imresize import imresize, round_uint8
from upscaler.evaluate.protocol import make_lr

Image8 = npt.NDArray[np.uint8]
Record = dict[str, Any]
Rng = np.random.Generator

#: Pillow's ``subsampling`` code for 4:2:0, the default of Pillow and of most encoders.
SUBSAMPLING_420 = 2


def encoder_version() -> str:
    """The JPEG library Pillow was built with (``libjpeg-turbo 3.0.4``), for provenance."""
    from PIL import features

    turbo = features.version("libjpeg_turbo")
    return f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {features.version('jpg')}"


def image_seed(protocol_id: str, scale: int, hr: Image8) -> int:
    """A 64-bit seed from the protocol, the scale and the pixels (not the file name)."""
    digest = hashlib.sha256()
    digest.update(f"{protocol_id}|x{scale}|{hr.shape}|".encode())
    digest.update(np.ascontiguousarray(hr).tobytes())
    return int.from_bytes(digest.digest()[:8], "little")


def jpeg(image: Image8, quality: int) -> Image8:
    """Encode and decode through Pillow at ``quality`` (4:2:0, baseline)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(
        buffer, "JPEG", quality=int(quality), subsampling=SUBSAMPLING_420, optimize=False
    )
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8).copy()


def gaussian_noise(image: Image8, sigma: float, rng: Rng, *, gray: bool = False) -> Image8:
    """Add N(0, sigma²) (0..255 units) per pixel, to every channel or (``gray``) the same
    draw to all three, round and clip."""
    shape = image.shape[:2] + ((1,) if gray else (image.shape[2],))
    noise = rng.normal(0.0, sigma, size=shape)
    return round_uint8(image.astype(np.float64) + noise)


def bicubic_lr(hr: Image8, scale: int, spec: ProtocolSpec) -> tuple[Image8, Record]:
    """The classic LR, then the protocol's single degradation (JPEG or noise) if any."""
    lr = make_lr(hr, scale)
    if spec.jpeg_quality is not None:
        return jpeg(lr, spec.jpeg_quality), {"jpeg_quality": spec.jpeg_quality}
    if spec.noise_sigma is not None:
        rng = np.random.default_rng(image_seed(spec.id, scale, hr))
        return gaussian_noise(lr, spec.noise_sigma, rng), {"noise_sigma": spec.noise_sigma}
    return lr, {}


# --- the blind real-world mix --------------------------------------------------------------
#
# After Real-ESRGAN's second-order degradation (Wang et al., ICCVW 2021, section 3 and the
# training options of its x4 model): each round blurs, resizes and adds noise, the first
# ends with JPEG, the second with a resize to the LR size, a sinc filter and JPEG in random
# order. The ranges below are the paper's; the kernels, resamplers and encoder are ours.


def _odd_size(rng: Rng, low: int = 7, high: int = 21) -> int:
    return int(rng.choice(np.arange(low, high + 1, 2)))


def _grid(size: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    half = size // 2
    axis = np.arange(-half, half + 1, dtype=np.float64)
    return np.meshgrid(axis, axis, indexing="xy")


def gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float, angle: float, *, beta: float = 2.0
) -> npt.NDArray[np.float64]:
    """A rotated (generalised, ``beta != 2``) Gaussian kernel, normalised to sum 1."""
    x, y = _grid(size)
    cos, sin = math.cos(angle), math.sin(angle)
    u = (cos * x + sin * y) / sigma_x
    v = (-sin * x + cos * y) / sigma_y
    kernel: npt.NDArray[np.float64] = np.exp(-0.5 * (u * u + v * v) ** (beta / 2.0))
    return kernel / float(kernel.sum())


def sinc_kernel(size: int, cutoff: float) -> npt.NDArray[np.float64]:
    """A circular low-pass (jinc) kernel: the ringing and overshoot of sharpened images."""
    x, y = _grid(size)
    radius = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * _bessel_j1(cutoff * radius) / (2.0 * math.pi * radius)
    kernel[size // 2, size // 2] = cutoff * cutoff / (4.0 * math.pi)
    return kernel / float(kernel.sum())


def _bessel_j1(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """J1 by its integral form (no scipy): J1(x) = 1/pi * int_0^pi cos(t - x sin t) dt."""
    t = np.linspace(0.0, math.pi, 257)
    values = np.cos(t[None, :] - x.reshape(-1, 1) * np.sin(t)[None, :])
    integral = np.trapezoid(values, t, axis=1) / math.pi
    return integral.reshape(x.shape)


def convolve(image: npt.NDArray[np.float64], kernel: npt.NDArray[np.float64]) -> Any:
    """2-D convolution of each channel with reflect padding (same size), through the FFT."""
    pad = kernel.shape[0] // 2
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    height, width = padded.shape[:2]
    spectrum = np.fft.rfft2(padded, axes=(0, 1))
    kernel_f = np.fft.rfft2(kernel, s=(height, width))
    full = np.fft.irfft2(spectrum * kernel_f[:, :, None], s=(height, width), axes=(0, 1))
    size = kernel.shape[0]
    return full[size - 1 : size - 1 + image.shape[0], size - 1 : size - 1 + image.shape[1]]


def _random_blur(rng: Rng, sigma_range: tuple[float, float], record: Record, key: str) -> Any:
    size = _odd_size(rng)
    draw = rng.random()
    if draw < 0.1:  # sinc, as Real-ESRGAN's first-order kernels may be
        cutoff = float(rng.uniform(math.pi / 3 if size < 13 else math.pi / 5, math.pi))
        record[key] = {"kernel": "sinc", "size": size, "cutoff": round(cutoff, 4)}
        return sinc_kernel(size, cutoff)
    kind = "iso" if draw < 0.55 else "aniso" if draw < 0.85 else "generalised"
    sigma_x = float(rng.uniform(*sigma_range))
    sigma_y = sigma_x if kind == "iso" else float(rng.uniform(*sigma_range))
    angle = 0.0 if kind == "iso" else float(rng.uniform(-math.pi, math.pi))
    beta = float(rng.uniform(0.5, 4.0)) if kind == "generalised" else 2.0
    record[key] = {
        "kernel": kind,
        "size": size,
        "sigma": [round(sigma_x, 4), round(sigma_y, 4)],
        "angle": round(angle, 4),
        "beta": round(beta, 4),
    }
    return gaussian_kernel(size, sigma_x, sigma_y, angle, beta=beta)


_RESAMPLERS = ("area", "bilinear", "bicubic")


def resize_float(image: npt.NDArray[np.float64], shape: tuple[int, int], mode: str) -> Any:
    """Resize a float image (0..1) to ``shape`` (rows, cols) with one of three resamplers."""
    if mode == "bicubic":
        return imresize(image, output_shape=shape)
    from PIL import Image

    resample = Image.Resampling.BOX if mode == "area" else Image.Resampling.BILINEAR
    planes = [
        np.asarray(
            Image.fromarray(image[:, :, c].astype(np.float32), mode="F").resize(
                (shape[1], shape[0]), resample
            ),
            dtype=np.float64,
        )
        for c in range(image.shape[2])
    ]
    return np.stack(planes, axis=2)


def _random_resize(
    image: Any, rng: Rng, probs: tuple[float, float], ranges: tuple[float, float], record: Record
) -> Any:
    draw = rng.random()
    if draw < probs[0]:
        factor = float(rng.uniform(1.0, ranges[1]))
    elif draw < probs[0] + probs[1]:
        factor = float(rng.uniform(ranges[0], 1.0))
    else:
        factor = 1.0
    mode = str(rng.choice(_RESAMPLERS))
    shape = (max(4, round(image.shape[0] * factor)), max(4, round(image.shape[1] * factor)))
    record["resize"] = {"factor": round(factor, 4), "mode": mode, "size": list(shape)}
    return resize_float(image, shape, mode)


def _random_noise(
    image: Any, rng: Rng, sigma_range: tuple[float, float], poisson_range: tuple[float, float]
) -> tuple[Any, Record]:
    gray = bool(rng.random() < 0.4)
    if rng.random() < 0.5:
        sigma = float(rng.uniform(*sigma_range))
        shape = image.shape[:2] + ((1,) if gray else (image.shape[2],))
        noisy = image + rng.normal(0.0, sigma / 255.0, size=shape)
        return noisy, {"noise": "gaussian", "sigma": round(sigma, 4), "gray": gray}
    strength = float(rng.uniform(*poisson_range))
    clipped = np.clip(image, 0.0, 1.0)
    if gray:
        luma = clipped.mean(axis=2, keepdims=True)
        shot = rng.poisson(luma * 255.0) / 255.0 - luma
    else:
        shot = rng.poisson(clipped * 255.0) / 255.0 - clipped
    return image + strength * shot, {"noise": "poisson", "scale": round(strength, 4), "gray": gray}


def _to_uint8(image: Any) -> Image8:
    return round_uint8(np.clip(image, 0.0, 1.0) * 255.0)


def _jpeg_float(image: Any, rng: Rng, record: Record, key: str) -> Any:
    quality = int(rng.integers(30, 96))
    record[key] = quality
    return jpeg(_to_uint8(image), quality).astype(np.float64) / 255.0


def real_world_lr(hr: Image8, scale: int, spec: ProtocolSpec) -> tuple[Image8, Record]:
    """The blind two-round mix; every draw is seeded per image and returned."""
    rng = np.random.default_rng(image_seed(spec.id, scale, hr))
    target = (hr.shape[0] // scale, hr.shape[1] // scale)
    image: Any = hr.astype(np.float64) / 255.0
    first: Record = {}
    image = convolve(image, _random_blur(rng, (0.2, 3.0), first, "blur"))
    image = _random_resize(image, rng, (0.2, 0.7), (0.15, 1.5), first)
    image, first["noise"] = _random_noise(image, rng, (1.0, 30.0), (0.05, 3.0))
    image = _jpeg_float(image, rng, first, "jpeg_quality")
    second: Record = {}
    if rng.random() < 0.8:
        image = convolve(image, _random_blur(rng, (0.2, 1.5), second, "blur"))
    # the second resize is relative to the final size, so the image ends near LR scale
    factor = float(rng.uniform(0.3, 1.2)) if rng.random() < 0.7 else 1.0
    shape = (max(4, round(target[0] * factor)), max(4, round(target[1] * factor)))
    mode = str(rng.choice(_RESAMPLERS))
    second["resize"] = {"factor": round(factor, 4), "mode": mode, "size": list(shape)}
    image = resize_float(image, shape, mode)
    image, second["noise"] = _random_noise(image, rng, (1.0, 25.0), (0.05, 2.5))
    final_mode = str(rng.choice(_RESAMPLERS))
    sinc = rng.random() < 0.8
    cutoff = float(rng.uniform(math.pi / 3, math.pi))
    sinc_size = _odd_size(rng)
    jpeg_first = bool(rng.random() < 0.5)
    final: Record = {"mode": final_mode, "jpeg_first": jpeg_first}
    if sinc:
        final["sinc"] = {"size": sinc_size, "cutoff": round(cutoff, 4)}

    def resize_and_filter(pixels: Any) -> Any:
        pixels = resize_float(pixels, target, final_mode)
        return convolve(pixels, sinc_kernel(sinc_size, cutoff)) if sinc else pixels

    if jpeg_first:
        image = resize_and_filter(_jpeg_float(image, rng, final, "jpeg_quality"))
        lr = _to_uint8(image)
    else:
        quality = int(rng.integers(30, 96))
        final["jpeg_quality"] = quality
        lr = jpeg(_to_uint8(resize_and_filter(image)), quality)
    return lr, {"first": first, "second": second, "final": final}


Recipe = Callable[[Image8, int, ProtocolSpec], tuple[Image8, Record]]

RECIPES: dict[str, Recipe] = {
    "bicubic": bicubic_lr,
    "jpeg": bicubic_lr,
    "noise": bicubic_lr,
    "real-world": real_world_lr,
}


def degraded_lr(hr: Image8, scale: int, spec: ProtocolSpec) -> tuple[Image8, Record]:
    """The LR input of ``spec`` for a mod-cropped HR image, and what was drawn."""
    lr, record = RECIPES[spec.kind](hr, scale, spec)
    expected = (hr.shape[0] // scale, hr.shape[1] // scale, 3)
    assert lr.shape == expected, (lr.shape, expected)
    return lr, record
