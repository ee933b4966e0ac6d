"""Video path against image path, memory over a long clip, and the usual route.

Issue 28's targets, measured in one run on this machine:

- **Throughput.** The same decoded frames through the same ``Upscaler`` two ways: the
  image path (each frame as a numpy array, ``Upscaler.upscale``; decoding done before
  the clock starts) and the video path (:func:`upscaler.media.video.upscale_video`:
  decode, upscale, encode in segments, join). Frames per second of each and their
  ratio (target: video ≥ 0.9 × image, i.e. decode + encode cost ≤ 10 %). The video
  path runs twice, with the default x264 preset (medium) and a fast one, because on a
  machine whose cores the model already fills, the encoder's own CPU time is most of
  the difference.
- **Memory.** Peak and current RSS when frame 100 and the last frame of a long clip
  are done, in a fresh process (so nothing from the other sections counts), with a
  cheap model, since what is measured is the video path's own memory (target: the
  peak at the last frame within 10 % of the peak at frame 100).
- **The usual route.** The ``ncnn`` runtime on the same model's ncnn files, frames
  decoded and re-encoded with PyAV in one script (what wrappers of the ncnn binaries
  do), against our video path on the same clip; both times and the frame difference.

Rounds alternate the sides (image, video, ncnn) so a change of load on a shared machine
hits all alike; each side's figure is its best round. Nothing asserts; it prints tables.

    python benchmarks/video_throughput.py [--model realesrgan.animevideov3-x4] [--frames 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

RATE = 25


def make_clip(path: Path, frames: int, width: int, height: int) -> Path:
    """An H.264 clip (CRF 18) of ``frames`` photo-like frames, each different."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for number in range(frames):
            frame = av.VideoFrame.from_ndarray(
                common.sample_image(height, width, seed=number), format="rgb24"
            )
            frame.pts = number
            frame.time_base = Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def upscaler_for(model: str) -> Any:
    from upscaler import Upscaler

    return Upscaler(model=model)


def frame_upscaler(up: Any) -> Callable[[np.ndarray], np.ndarray]:
    """What the facade hands the media layer: one frame in, the upscaled frame out."""
    return lambda frame: np.asarray(up.upscale(frame, progress=False))


def ncnn_route(entry: Any, clip: Path, out: Path) -> Callable[[], object]:
    """Decode with PyAV, upscale each frame with ncnn, encode with PyAV (x264 CRF 18)."""
    import av
    from ncnn_peer import NcnnRunner

    runner = NcnnRunner(entry)

    def run() -> None:
        with av.open(str(clip)) as source, av.open(str(out), "w") as target:
            stream = None
            for frame in source.decode(video=0):
                result = runner.run(frame.to_ndarray(format="rgb24"))
                if stream is None:
                    stream = target.add_stream("libx264", rate=RATE, options={"crf": "18"})
                    stream.height, stream.width = result.shape[:2]
                    stream.pix_fmt = "yuv420p"
                encoded = av.VideoFrame.from_ndarray(result, format="rgb24")
                encoded.pts = frame.pts
                encoded.time_base = frame.time_base
                target.mux(stream.encode(encoded))
            if stream is not None:
                target.mux(stream.encode(None))

    return run


def section_throughput(args: argparse.Namespace, folder: Path) -> str:
    from upscaler.media.video import VideoOptions, upscale_video

    width, height = args.size
    clip = make_clip(folder / "clip.mp4", args.frames, width, height)
    frames = decode_all(clip)
    up = upscaler_for(args.model)
    upscale = frame_upscaler(up)
    upscale(frames[0])  # trace the model once, outside every clock
    options = VideoOptions(segment_seconds=args.segment_seconds)

    fast = VideoOptions(segment_seconds=args.segment_seconds, preset=args.fast_preset)
    sides: dict[str, Callable[[], object]] = {
        "image path": lambda: [upscale(f) for f in frames],
        "video path": lambda: upscale_video(clip, folder / "ours.mp4", upscale, options=options),
        f"video path, x264 {args.fast_preset}": lambda: upscale_video(
            clip, folder / "fast.mp4", upscale, options=fast
        ),
    }
    ncnn_note = ""
    try:
        import ncnn  # noqa: F401

        entry = common.catalog().get(args.model)
        if entry.weights is not None and entry.weights.format == "ncnn":
            sides["ncnn + PyAV"] = ncnn_route(entry, clip, folder / "ncnn.mp4")
        else:
            ncnn_note = f"\n\nncnn side skipped: {args.model} has no ncnn weights."
    except ImportError:
        ncnn_note = "\n\nncnn side skipped: `pip install ncnn` (a dev dependency)."
    best = {name: float("inf") for name in sides}
    for _ in range(max(1, args.rounds)):
        for name, run in sides.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    image = best["image path"]
    rows = [
        [name, f"{seconds:.1f}", f"{args.frames / seconds:.2f}", f"{image / seconds:.3f}"]
        for name, seconds in best.items()
    ]
    out = decode_all(folder / "ours.mp4")
    summary = (
        f"\n\nvideo / image throughput: **{image / best['video path']:.3f}×** "
        f"(decode + encode + join cost {100 * (best['video path'] / image - 1):.1f} % of the "
        f"image path's time); output frames {len(out)} of {len(frames)}, "
        f"{out[0].shape[1]}×{out[0].shape[0]}."
    )
    if "ncnn + PyAV" in best:
        theirs = decode_all(folder / "ncnn.mp4")
        pairs = list(zip(out, theirs, strict=False))
        largest = max(common.max_abs_diff(a, b) for a, b in pairs)
        mean = float(np.mean([np.abs(a.astype(float) - b).mean() for a, b in pairs]))
        summary += (
            f" Usual route / ours: {best['ncnn + PyAV'] / best['video path']:.2f}× the time."
            f" The two encoded outputs differ by {mean:.2f} grey levels on average, at most"
            f" {largest} (both H.264 CRF 18; ours tiles with a replicated border, ncnn runs"
            " the whole frame zero-padded)."
        )
    header = (
        f"### Throughput: {args.frames} frames of {width}×{height}, model {up.model.id} "
        f"(×{up.scale}), best of {args.rounds} interleaved rounds\n\n"
    )
    table = common.table(["side", "seconds", "frames/s", "relative to image path"], rows)
    return header + table + summary + ncnn_note


def rss_mib() -> tuple[float, float]:
    """(peak RSS, current RSS) of this process in MiB."""
    peak = common.peak_rss_bytes() / 2**20
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return peak, pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(args: argparse.Namespace) -> None:
    """Run in a fresh process: upscale a long clip, print RSS at the checkpoints."""
    from upscaler.media.video import VideoOptions, upscale_video

    width, height = args.size
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "long.mp4", args.memory_frames, width, height)
        up = upscaler_for(args.memory_model)
        upscale = frame_upscaler(up)
        upscale(np.zeros((height, width, 3), np.uint8))
        marks = {100, args.memory_frames}
        seen: dict[int, tuple[float, float]] = {}

        def progress(done: int, _total: int) -> None:
            if done in marks and done not in seen:
                seen[done] = rss_mib()

        upscale_video(
            clip,
            folder / "long-up.mp4",
            upscale,
            options=VideoOptions(segment_seconds=args.segment_seconds),
            progress=progress,
        )
        for done in sorted(seen):
            print(f"{done} {seen[done][0]:.1f} {seen[done][1]:.1f}")


def section_memory(args: argparse.Namespace) -> str:
    command = [
        sys.executable,
        __file__,
        "--memory-child",
        "--memory-frames",
        str(args.memory_frames),
        "--memory-model",
        args.memory_model,
        "--size",
        f"{args.size[0]}x{args.size[1]}",
        "--segment-seconds",
        str(args.segment_seconds),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or len(lines) < 2:
        return f"### Memory\n\nThe memory run failed:\n\n```\n{done.stderr[-2000:]}\n```"
    rows = [[n, peak, current] for n, peak, current in lines]
    first, last = float(lines[0][1]), float(lines[-1][1])
    header = (
        f"### Memory: {args.memory_frames} frames of {args.size[0]}×{args.size[1]} "
        f"through {args.memory_model}, fresh process\n\n"
    )
    table = common.table(["frames done", "peak RSS MiB", "current RSS MiB"], rows)
    return header + table + f"\n\npeak at the end / peak at frame 100: **{last / first:.3f}**"


def size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="realesrgan.animevideov3-x4")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=size, default=(160, 120), help="WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument(
        "--fast-preset",
        default="veryfast",
        help="x264 preset of the second video side, to show the encoder's share of the time",
    )
    parser.add_argument("--memory-frames", type=int, default=600)
    parser.add_argument("--memory-model", default="pixel-upsampler.x2")
    parser.add_argument("--sections", nargs="*", default=["throughput", "memory"])
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args)
        return 0
    import av

    print("## Video throughput\n")
    print(f"- machine: {common.machine()}")
    print(f"- cpu: {common.cpu_line()}")
    print(f"- PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}\n")
    with tempfile.TemporaryDirectory() as tmp:
        if "throughput" in args.sections:
            print(section_throughput(args, Path(tmp)), end="\n\n")
        if "memory" in args.sections:
            print(section_memory(args), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
