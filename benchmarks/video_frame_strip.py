"""A before/after frame strip for docs/video.md: a short clip through the video path.

The clip is made here: a slow pan across the gallery's cat crop (scikit-image's CC0
``data.chelsea()``), downscaled, encoded as H.264 with PyAV. It goes through
``Upscaler.upscale_file`` exactly as a user's video does (decode, the tiled runner,
encode, join), and four frames of the input (enlarged by nearest neighbour, so its real
pixels stay visible) are set above the same frames of the output.

    python benchmarks/video_frame_strip.py -o docs/assets/video-strip.png
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from contact_sheet import contact_sheet, labelled_tile

from upscaler import Upscaler
from upscaler.gallery.crops import low_resolution, sample_crops

FRAMES = 24
WINDOW = (72, 64)  # width, height of the clip, in LR pixels


def make_clip(path: Path, scale: int) -> None:
    """A pan across the LR cat crop, one LR pixel a frame, as H.264 at 12 fps."""
    import av

    crop = next(c for c in sample_crops() if c.kind == "photo")
    lr = np.ascontiguousarray(low_resolution(crop, scale))
    width, height = WINDOW
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for number in range(FRAMES):
            window = np.ascontiguousarray(lr[4 : 4 + height, number : number + width])
            frame = av.VideoFrame.from_ndarray(window, format="rgb24")
            frame.pts = number
            frame.time_base = Fraction(1, 12)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def frames_of(path: Path, wanted: list[int]) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [every[i] for i in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--model", default="span.ch48-x2")
    args = parser.parse_args(argv)
    upscaler = Upscaler(model=args.model)
    scale = upscaler.scale
    wanted = [0, 8, 16, 23]
    with tempfile.TemporaryDirectory() as folder:
        clip, out = Path(folder) / "pan.mp4", Path(folder) / "pan-x.mp4"
        make_clip(clip, scale)
        upscaler.upscale_file(clip, out, progress=False)
        before, after = frames_of(clip, wanted), frames_of(out, wanted)
    media = upscaler.describe().runtime.media or {}
    rows = []
    enlarged = [np.repeat(np.repeat(f, scale, axis=0), scale, axis=1) for f in before]
    for label, frames in ((f"input (nearest x{scale})", enlarged), (args.model, after)):
        tiles = [
            labelled_tile(pixels, f"{label}, frame {number}")
            for number, pixels in zip(wanted, frames, strict=True)
        ]
        rows.append(tiles)
    strip = contact_sheet(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.output, optimize=True)
    print(f"wrote {args.output}: {FRAMES} frames, {media.get('codec')} {media.get('crf')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
