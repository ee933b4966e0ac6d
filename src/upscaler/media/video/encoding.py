"""From the source's description and the user's options to one encoder's exact settings.

Resolved once by the planner (:func:`resolve_options`) into a complete
:class:`~upscaler.media.video.options.VideoOptions`, so that every segment, in this
process or on a Ray worker, derives the very same :class:`Encoding` from it and the
segments join into one stream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from upscaler.errors import MediaError
from upscaler.media.video.info import VideoInfo
from upscaler.media.video.options import (
    CODECS,
    DEFAULT_SEGMENT_SECONDS,
    FOLLOW_INPUT,
    VideoOptions,
    encoder_pixel_formats,
)


@dataclass(frozen=True)
class Encoding:
    """Everything one segment's encoder needs, derived from resolved options.

    ``frame_format`` is what the model gets and gives back (``rgb24`` or ``rgba`` for
    8-bit sources, ``rgb48le``/``rgba64le`` above 8 bits); ``multiple`` the (width,
    height) step the pixel format allows (2 for 4:2:0 chroma).
    """

    codec: str
    pixel_format: str
    crf: int | None
    preset: str | None
    lossless: bool
    av_options: tuple[tuple[str, str], ...]
    frame_format: str
    multiple: tuple[int, int]
    keep_alpha: bool
    notes: tuple[str, ...] = ()

    @property
    def dtype_bits(self) -> int:
        return 16 if self.frame_format in ("rgb48le", "rgba64le") else 8


def _format(name: str) -> Any:
    from upscaler.media.video._av import require_av

    return require_av().VideoFormat(name)


def _depth(name: str) -> int:
    return max(int(c.bits) for c in _format(name).components)


def _has_alpha(name: str) -> bool:
    return any(c.is_alpha for c in _format(name).components)


def _chroma_steps(name: str) -> tuple[int, int]:
    """How many luma pixels share one chroma sample across and down (1, 2 or 4)."""
    fmt = _format(name)
    if fmt.is_rgb or not any(c.is_chroma for c in fmt.components):
        return 1, 1
    return 64 // max(1, fmt.chroma_width(64)), 64 // max(1, fmt.chroma_height(64))


def _plain(name: str) -> str:
    """``yuvj420p`` → ``yuv420p``: the deprecated full-range names mean the same samples
    with a range tag, which is carried separately."""
    return name.replace("yuvj", "yuv", 1) if name.startswith("yuvj") else name


def _nearest_pixel_format(source: str, supported: list[str]) -> str:
    """The supported format closest to ``source``: same chroma layout and depth, else
    the same chroma at the highest depth up to the source's, else 4:2:0."""
    plain = _plain(source)
    if plain in supported:
        return plain
    want_steps = _chroma_steps(plain)
    want_depth = _depth(plain)
    want_alpha = _has_alpha(plain)
    best: tuple[int, str] | None = None
    for name in supported:
        fmt = _format(name)
        if fmt.is_rgb or fmt.is_big_endian or name.startswith(("nv", "yuvj", "gray")):
            continue
        if _chroma_steps(name) != want_steps or _has_alpha(name) != want_alpha:
            continue
        depth = _depth(name)
        if depth <= max(8, want_depth) and (best is None or depth > best[0]):
            best = (depth, name)
    if best is not None:
        return best[1]
    if want_depth > 8 and "yuv420p10le" in supported:
        return "yuv420p10le"
    return "yuv420p" if "yuv420p" in supported else supported[0]


def _lossless_pixel_format(codec: str, info: VideoInfo, supported: list[str]) -> str:
    """RGB for FFV1 (no colour conversion at all, so frames return bit for bit), 4:4:4
    YUV for the others, at the source's depth where the encoder has it."""
    depth = info.bit_depth
    if codec == "ffv1":
        if info.has_alpha:
            candidates = ["bgra"] if depth <= 8 else ["gbrap10le", "gbrap12le", "gbrap16le"]
        else:
            candidates = ["bgr0"] if depth <= 8 else ["gbrp10le", "gbrp12le", "gbrp16le"]
        for name in candidates:
            if name in supported and _depth(name) >= min(depth, 16):
                return name
        return candidates[-1]
    for name in ("yuv444p10le", "yuv444p12le") if depth > 8 else ("yuv444p",):
        if name in supported:
            return name
    return "yuv444p" if "yuv444p" in supported else supported[0]


def default_codec(info: VideoInfo, options: VideoOptions) -> str:
    """The encoder when none is named: FFV1 for lossless, else the source's family."""
    if options.codec is not None:
        return options.codec
    if options.lossless:
        return "ffv1"
    return FOLLOW_INPUT.get(info.codec.removeprefix("lib"), "libx264")


def resolve_options(
    info: VideoInfo, options: VideoOptions, *, codec: str | None = None
) -> tuple[VideoOptions, tuple[str, ...]]:
    """``options`` with every choice made for ``info`` (codec, crf, pixel format, segment
    length), and notes on what differs from the source. ``codec`` overrides the
    follow-the-source default (the planner passes the container's choice)."""
    chosen = codec or default_codec(info, options)
    spec = CODECS[chosen]
    notes: list[str] = []
    if options.lossless and spec.lossless_options is None:
        raise MediaError(
            f"{chosen} has no lossless mode in this build",
            hint="use codec='ffv1' (or libx264/libx265/libvpx-vp9) with lossless=True",
        )
    supported = encoder_pixel_formats(chosen)
    if options.pixel_format is not None:
        if options.pixel_format not in supported:
            raise MediaError(
                f"{chosen} cannot write pixel format {options.pixel_format}",
                hint=f"it can write {', '.join(supported)}",
            )
        pixel_format = options.pixel_format
    elif options.lossless:
        pixel_format = _lossless_pixel_format(chosen, info, supported)
    else:
        pixel_format = _nearest_pixel_format(info.pixel_format, supported)
        if pixel_format != _plain(info.pixel_format):
            notes.append(
                f"pixel format {info.pixel_format} → {pixel_format}: "
                f"{chosen} in this build cannot write {info.pixel_format}"
            )
    if _depth(pixel_format) < info.bit_depth and options.pixel_format is None:
        notes.append(
            f"{info.bit_depth}-bit source written at {_depth(pixel_format)} bits: "
            f"{chosen} here has no deeper format (libx265 or libsvtav1 keep 10-bit)"
        )
    crf = options.crf
    if crf is None and not options.lossless:
        crf = spec.default_crf
    seconds = options.segment_seconds
    if options.segment_frames is None and seconds is None:
        seconds = DEFAULT_SEGMENT_SECONDS
    resolved = dataclasses.replace(
        options,
        codec=chosen,
        crf=crf,
        pixel_format=pixel_format,
        segment_seconds=seconds,
    )
    return resolved, tuple(notes)


def encoding_for(info: VideoInfo, options: VideoOptions) -> Encoding:
    """The encoder settings for resolved ``options`` (see :func:`resolve_options`);
    unresolved fields are resolved here the same way."""
    if options.codec is None or options.pixel_format is None:
        options, _ = resolve_options(info, options)
    assert options.codec is not None and options.pixel_format is not None
    spec = CODECS[options.codec]
    av_options: dict[str, str] = dict(spec.base_options)
    if options.lossless and spec.lossless_options:
        for key, value in spec.lossless_options.items():
            if key in av_options and key.endswith("-params"):
                av_options[key] = f"{av_options[key]}:{value}"
            else:
                av_options[key] = value
    if options.crf is not None and not options.lossless:
        av_options["crf"] = str(options.crf)
    if options.preset is not None and spec.preset_option is not None:
        av_options[spec.preset_option] = options.preset
    av_options.update(options.extra_encoder_options())
    keep_alpha = info.has_alpha and _has_alpha(options.pixel_format)
    notes: list[str] = []
    if info.has_alpha and not keep_alpha:
        notes.append(
            f"alpha dropped: {options.pixel_format} has no alpha plane "
            "(ffv1, or libvpx-vp9 with yuva420p, keep it)"
        )
    if keep_alpha:
        frame_format = "rgba64le" if info.high_bit_depth else "rgba"
    else:
        frame_format = "rgb48le" if info.high_bit_depth else "rgb24"
    return Encoding(
        codec=options.codec,
        pixel_format=options.pixel_format,
        crf=options.crf,
        preset=options.preset,
        lossless=options.lossless,
        av_options=tuple(sorted(av_options.items())),
        frame_format=frame_format,
        multiple=_chroma_steps(options.pixel_format),
        keep_alpha=keep_alpha,
        notes=tuple(notes),
    )
