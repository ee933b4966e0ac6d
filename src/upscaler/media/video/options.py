"""How the upscaled video is encoded: the user's options, checked when they are made,
and the codec table that turns them into one encoder's settings.

Only encoders that ship inside PyAV's wheel and that every common container can hold
are offered (H.264, H.265, VP9, AV1 and the lossless FFV1), each with a default quality
close to "visually the same as the source": the upscaled frames are new pictures and are
encoded once, so the usual generation-loss worry applies to this one encode only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from upscaler.errors import MediaError, nearest

X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


@dataclass(frozen=True)
class CodecSpec:
    """One encoder: its quality scale, speed presets and how it is made lossless.

    ``default_crf`` follows each encoder's own guidance for "visually lossless"-ish
    results rather than its speed-oriented default (x264's documentation calls 18
    visually lossless; x265 is about 2 CRF more efficient; libvpx-vp9 and SVT-AV1 use a
    0–63 scale where low 30s are the commonly advised high-quality range).
    """

    encoder: str
    family: str
    crf_range: tuple[int, int] | None
    default_crf: int | None
    presets: tuple[str, ...] | None
    preset_option: str | None
    lossless_options: Mapping[str, str] | None
    base_options: Mapping[str, str] = field(default_factory=dict)


CODECS: dict[str, CodecSpec] = {
    "libx264": CodecSpec("libx264", "h264", (0, 51), 18, X26X_PRESETS, "preset", {"qp": "0"}),
    "libx265": CodecSpec(
        "libx265",
        "hevc",
        (0, 51),
        20,
        X26X_PRESETS,
        "preset",
        {"x265-params": "lossless=1"},
        {"x265-params": "log-level=error"},
    ),
    "libvpx-vp9": CodecSpec(
        "libvpx-vp9",
        "vp9",
        (0, 63),
        31,
        tuple(str(i) for i in range(9)),
        "cpu-used",
        {"lossless": "1"},
        {"b": "0", "row-mt": "1"},
    ),
    "libsvtav1": CodecSpec(
        "libsvtav1", "av1", (1, 63), 30, tuple(str(i) for i in range(14)), "preset", None
    ),
    "ffv1": CodecSpec("ffv1", "ffv1", None, None, None, None, {}, {"level": "3"}),
}
"""The encoders offered, by FFmpeg encoder name."""

ALIASES = {
    "h264": "libx264",
    "avc": "libx264",
    "x264": "libx264",
    "hevc": "libx265",
    "h265": "libx265",
    "x265": "libx265",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "svtav1": "libsvtav1",
    "svt-av1": "libsvtav1",
}
"""Everyday names for the encoders (``codec="h265"``)."""

FOLLOW_INPUT = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}
"""The default encoder for each source codec (decoder name); any other source codec,
FFV1 included (a lossless source is usually an intermediate), is written as H.264."""

DEFAULT_SEGMENT_SECONDS = 10.0
"""Segments of about ten seconds: a kill loses at most that much work, and each segment
starts with a keyframe, as players and editors like every few seconds anyway."""

OddSize = Literal["pad", "crop"]


def codec_name(value: str) -> str:
    """The encoder for a user's codec name (``"h265"`` → ``"libx265"``), or a MediaError
    listing the encoders offered."""
    key = value.strip().lower()
    key = ALIASES.get(key, key)
    if key not in CODECS:
        choices = sorted([*CODECS, *ALIASES])
        close = nearest(value, choices)
        raise MediaError(
            f"unknown video codec {value!r}",
            hint=(f"did you mean {' or '.join(close)}? " if close else "")
            + f"choose one of {', '.join(sorted(CODECS))} (or h264, h265, vp9, av1)",
        )
    return key


def _freeze_options(
    value: Mapping[str, Any] | Iterable[tuple[str, Any]],
) -> tuple[tuple[str, str], ...]:
    pairs = value.items() if isinstance(value, Mapping) else value
    out = []
    for key, item in pairs:
        if not isinstance(key, str) or not key:
            raise MediaError(f"encoder option names must be non-empty strings, not {key!r}")
        out.append((key, str(item)))
    return tuple(sorted(out))


@dataclass(frozen=True)
class VideoOptions:
    """How to write the upscaled video. Every field is checked here, so a bad value fails
    when the options are made, not an hour into a run.

    * ``codec``: ``libx264``/``h264``, ``libx265``/``h265``/``hevc``, ``libvpx-vp9``/
      ``vp9``, ``libsvtav1``/``av1`` or ``ffv1``; ``None`` follows the source (H.264 →
      H.264, H.265 → H.265, VP9 → VP9, AV1 → AV1, anything else → H.264), or the
      output container's own choice when it cannot hold that codec (``.webm`` → VP9).
    * ``crf``: constant-quality level (lower is better; ``None`` = the codec's default
      in :data:`CODECS`). ``preset``: the encoder's speed/size trade-off (x264/x265
      names, SVT-AV1 ``"0"``–``"13"``, VP9 ``cpu-used`` ``"0"``–``"8"``).
    * ``pixel_format``: FFmpeg's name (``yuv420p10le``); ``None`` keeps the source's
      where the encoder has it (10-bit stays 10-bit), else the nearest it has.
    * ``lossless``: FFV1 in RGB by default (frames come back bit for bit), or the
      chosen encoder's lossless mode in 4:4:4.
    * ``segment_frames`` / ``segment_seconds``: the length of the resumable segments
      (at most one of them; default :data:`DEFAULT_SEGMENT_SECONDS`).
    * ``odd_size``: when the model's output size is not a multiple the pixel format
      needs (4:2:0 needs even sizes), ``"pad"`` repeats the last row/column, ``"crop"``
      drops it; the report says which happened.
    * ``copy_audio`` / ``copy_subtitles`` / ``copy_data``: copy those streams packet for
      packet (data includes attachments and extra video streams such as cover art);
      ``drop_streams``: source stream indices (as ``ffprobe`` numbers them) to leave out.
    * ``encoder_options``: extra FFmpeg encoder options (``{"tune": "animation"}``),
      applied last.
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pixel_format: str | None = None
    lossless: bool = False
    segment_frames: int | None = None
    segment_seconds: float | None = None
    odd_size: OddSize = "pad"
    copy_audio: bool = True
    copy_subtitles: bool = True
    copy_data: bool = True
    drop_streams: tuple[int, ...] = ()
    encoder_options: Mapping[str, str] | tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.codec is not None:
            object.__setattr__(self, "codec", codec_name(self.codec))
        spec = CODECS.get(self.codec) if self.codec else None
        self._check_crf(spec)
        self._check_preset(spec)
        self._check_segments()
        if self.odd_size not in ("pad", "crop"):
            raise MediaError(
                f"odd_size must be 'pad' or 'crop', not {self.odd_size!r}",
                hint="'pad' repeats the edge pixels, 'crop' drops them",
            )
        for name in ("lossless", "copy_audio", "copy_subtitles", "copy_data"):
            if not isinstance(getattr(self, name), bool):
                raise MediaError(f"{name} must be True or False, not {getattr(self, name)!r}")
        drops = []
        for index in self.drop_streams:
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise MediaError(
                    f"drop_streams holds {index!r}; it takes stream numbers (0, 1, ...)",
                    hint="ffprobe, or describe(), lists the streams with their numbers",
                )
            drops.append(index)
        object.__setattr__(self, "drop_streams", tuple(sorted(set(drops))))
        object.__setattr__(self, "encoder_options", _freeze_options(self.encoder_options))
        if self.pixel_format is not None:
            self._check_pixel_format(self.pixel_format)

    def _check_crf(self, spec: CodecSpec | None) -> None:
        if self.crf is None:
            return
        if isinstance(self.crf, bool) or not isinstance(self.crf, int):
            raise MediaError(f"crf must be a whole number, not {self.crf!r}")
        if self.lossless:
            raise MediaError(
                "crf and lossless=True contradict each other",
                hint="drop crf for a lossless encode, or lossless for a crf one",
            )
        if spec is not None and spec.crf_range is None:
            raise MediaError(
                f"{spec.encoder} is lossless and takes no crf",
                hint="drop crf, or choose libx264/libx265/libvpx-vp9/libsvtav1",
            )
        low, high = spec.crf_range if spec and spec.crf_range else (0, 63)
        if not low <= self.crf <= high:
            which = spec.encoder if spec else "any codec"
            raise MediaError(
                f"crf {self.crf} is outside {low}–{high} for {which}",
                hint=f"choose a crf from {low} to {high} (lower is better quality)",
            )

    def _check_preset(self, spec: CodecSpec | None) -> None:
        if self.preset is None:
            return
        if not isinstance(self.preset, str):
            object.__setattr__(self, "preset", str(self.preset))
        if spec is None:
            return
        if spec.presets is None:
            raise MediaError(f"{spec.encoder} has no speed presets", hint="drop preset")
        if self.preset not in spec.presets:
            close = nearest(self.preset, spec.presets)
            raise MediaError(
                f"unknown preset {self.preset!r} for {spec.encoder}",
                hint=(f"did you mean {' or '.join(close)}? " if close else "")
                + f"choose one of {', '.join(spec.presets)}",
            )

    def _check_segments(self) -> None:
        if self.segment_frames is not None and self.segment_seconds is not None:
            raise MediaError(
                "give segment_frames or segment_seconds, not both",
                hint="segments are cut by one measure only",
            )
        frames = self.segment_frames
        if frames is not None and (
            isinstance(frames, bool) or not isinstance(frames, int) or frames < 1
        ):
            raise MediaError(f"segment_frames must be a whole number ≥ 1, not {frames!r}")
        seconds = self.segment_seconds
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise MediaError(f"segment_seconds must be a number > 0, not {seconds!r}")

    def _check_pixel_format(self, name: str) -> None:
        from upscaler.media.video._av import require_av

        av = require_av()
        try:
            av.VideoFormat(name)
        except (ValueError, TypeError):
            raise MediaError(
                f"unknown pixel format {name!r}",
                hint="use FFmpeg's names, e.g. yuv420p, yuv420p10le, yuv444p",
            ) from None
        if self.codec is not None:
            supported = encoder_pixel_formats(self.codec)
            if name not in supported:
                raise MediaError(
                    f"{self.codec} cannot write pixel format {name}",
                    hint=f"it can write {', '.join(supported)}",
                )

    def extra_encoder_options(self) -> dict[str, str]:
        """``encoder_options`` as a dict (it is stored as sorted pairs, to stay hashable)."""
        return dict(self.encoder_options)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for the resume state, describe() and JSON)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "drop_streams":
                value = list(value)
            elif item.name == "encoder_options":
                value = dict(value)
            out[item.name] = value
        return out


def encoder_pixel_formats(encoder: str) -> list[str]:
    """The pixel formats this build's ``encoder`` accepts (PyAV's wheel decides)."""
    from upscaler.media.video._av import require_av

    av = require_av()
    try:
        codec = av.codec.Codec(encoder, "w")
    except Exception as exc:  # the wheel was built without it
        raise MediaError(
            f"this PyAV build has no {encoder} encoder ({exc})",
            hint=f"choose another codec: {', '.join(sorted(CODECS))}",
        ) from None
    return [fmt.name for fmt in (codec.video_formats or ())]
