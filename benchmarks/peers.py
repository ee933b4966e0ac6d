"""Ours against other runtimes on the same images and weights, side by side in one run.

A peer's figure from another day is not a comparison: the load on a shared machine moves
single timings by a third. So every peer here runs in the same run as ours, on the same
input and the same weights, in alternating rounds (ours, then each peer, round after
round), so a change of load hits every side alike; each side's figure is its best round
and the table gives the ratios. Nothing asserts; it prints tables.

Peers:

- **UpscalerJS 1.0** in Node, on its own model packages (the npm tarballs our catalog
  converts, checked file by file by sha256), with the native TensorFlow backend
  (``tfjs-node``) and the wasm backend. It needs the UpscalerJS peer harness (a folder
  with UpscalerJS and its model packages installed by ``npm ci``, and for ``tfjs-node``
  its ``build_tfjs_node.sh`` run): ``--upscalerjs DIR`` or ``UPSCALERJS_PEER=DIR``.
  Without one the table says why and the run goes on. Each backend is one warm Node
  process per model (``upscalerjs_peer.mjs``), so its model is loaded and traced once,
  as ours is.
- **ncnn** (the ``ncnn`` PyPI runtime) on the ncnn models: :mod:`ncnn_peer`.

What is timed, alike on both sides: one upscale of an already decoded image, whole image
in one model call (UpscalerJS's default, no ``patchSize``), from pixels in memory to the
result in memory. Ours: uint8 in, uint8 out; UpscalerJS: an int32 tensor in, its float
result read back (``tensor.data()``), plus a pipe round trip of a few bytes to the Node
process; no PNG decode or encode on either side. Ours is also timed through the default
tiled runner (what ``Upscaler`` runs: replicated 16-pixel border, tiles by memory).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import _common as common
import numpy as np
from ceiling import Measured

UPSCALERJS_ENV = "UPSCALERJS_PEER"
"""Environment variable naming the UpscalerJS peer harness (``--upscalerjs`` wins)."""

UPSCALERJS_MODELS = {
    "esrgan-slim.x2": "esrgan-slim/2x",
    "esrgan-slim.x3": "esrgan-slim/3x",
    "esrgan-slim.x4": "esrgan-slim/4x",
    "esrgan-slim.x8": "esrgan-slim/8x",
    "esrgan-legacy.div2k-x2": "esrgan-legacy/div2k/2x",
    "esrgan-legacy.div2k-x3": "esrgan-legacy/div2k/3x",
    "esrgan-legacy.div2k-x4": "esrgan-legacy/div2k/4x",
    "esrgan-legacy.psnr-small-x2": "esrgan-legacy/psnr-small",
    "esrgan-legacy.gans-x4": "esrgan-legacy/gans",
}
"""Catalog id -> the harness's model name, for the packages the harness installs
(``@upscalerjs/default-model`` is byte for byte ``esrgan-slim.x2``)."""

UPSCALERJS_DEFAULT = ["esrgan-slim.x2", "esrgan-slim.x4", "esrgan-legacy.gans-x4"]
"""The default model, its x4 sibling, and the 154-layer GAN: small to large."""

BACKENDS = ("tensorflow", "wasm")
BACKEND_LABEL = {"tensorflow": "tfjs-node", "wasm": "wasm", "cpu": "tfjs cpu"}
SERVER = Path(__file__).resolve().with_name("upscalerjs_peer.mjs")
TFJS_NODE_ADDON = Path("node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node")


class PeerError(RuntimeError):
    """The Node process failed; the message carries the end of its stderr."""


def find_harness(option: str | None) -> tuple[Path | None, str]:
    """The harness folder, or None and why not (printed in place of the table)."""
    raw = option or os.environ.get(UPSCALERJS_ENV)
    if not raw:
        return None, f"no UpscalerJS harness given (`--upscalerjs DIR` or `{UPSCALERJS_ENV}=DIR`)"
    folder = Path(raw).expanduser().resolve()
    if not (folder / "node_modules" / "upscaler" / "package.json").is_file():
        return None, f"{folder.name}/ has no node_modules/upscaler: run `npm ci` in the harness"
    if shutil.which("node") is None:
        return None, "`node` is not on PATH"
    return folder, ""


def usable_backends(harness: Path, wanted: list[str]) -> tuple[list[str], list[str]]:
    """(backends that can run, a note for each that cannot)."""
    usable, notes = [], []
    for backend in wanted:
        if backend == "tensorflow" and not (harness / TFJS_NODE_ADDON).is_file():
            notes.append("tfjs-node: not built (run the harness's `build_tfjs_node.sh`)")
        else:
            usable.append(backend)
    return usable, notes


def same_weights(entry: Any, harness: Path) -> str:
    """Whether the harness's model files are the catalog's, by sha256 ("yes" or a reason)."""
    package = entry.weights.source.npm
    for wanted in entry.weights.files:
        path = harness / "node_modules" / package / wanted.path
        if not path.is_file():
            return f"no: {wanted.path} missing"
        if hashlib.sha256(path.read_bytes()).hexdigest() != wanted.sha256:
            return f"no: {wanted.path} differs"
    return "yes"


class UpscalerJSPeer:
    """One warm Node process running UpscalerJS on one backend and model."""

    def __init__(self, harness: Path, backend: str, name: str, scratch: Path) -> None:
        self.scratch = scratch
        # closed in close(); kept in a file so a chatty library cannot fill a pipe
        self.stderr: IO[str] = tempfile.TemporaryFile("w+", dir=scratch)  # noqa: SIM115
        self.process = subprocess.Popen(
            ["node", str(SERVER), str(harness), backend, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.info = self._reply()

    def _reply(self) -> dict[str, Any]:
        """The next JSON line on stdout (other lines, e.g. library banners, are skipped)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                answer = json.loads(line)
                if isinstance(answer, dict):
                    if "error" in answer:
                        raise PeerError(answer["error"].splitlines()[0])
                    return answer
        self.stderr.seek(0)
        tail = self.stderr.read().strip().splitlines()[-3:]
        raise PeerError(f"the Node process ended: {' / '.join(tail) or 'no message'}")

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def set_input(self, pixels: np.ndarray) -> None:
        path = self.scratch / "input.rgb"
        path.write_bytes(np.ascontiguousarray(pixels, np.uint8).tobytes())
        self.ask(op="input", path=str(path), height=pixels.shape[0], width=pixels.shape[1])

    def run(self) -> None:
        self.ask(op="run")

    def output(self) -> np.ndarray:
        """One more upscale, read back as uint8 the way its PNG writer rounds (half to
        even, clamped), for the agreement column."""
        path = self.scratch / "output.f32"
        shape = self.ask(op="save", path=str(path))["shape"]
        result = np.fromfile(path, np.float32).reshape(shape)
        return np.clip(np.rint(result), 0, 255).astype(np.uint8)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


def section_upscalerjs(
    models: list[str], size: int, rounds: int, harness_option: str | None, backends: list[str]
) -> tuple[str, list[Measured]]:
    """Markdown: ours against UpscalerJS 1.0 per backend, and our whole-image timings."""
    from upscaler.runtime.device import cpu_cores

    title = f"### Against UpscalerJS 1.0 in Node, side by side, {size}x{size} input\n\n"
    harness, why = find_harness(harness_option)
    if harness is None:
        return title + f"Skipped: {why}.", []
    usable, notes = usable_backends(harness, backends)
    if not usable:
        return title + "Skipped: " + "; ".join(notes) + ".", []
    skipped = [m for m in models if m not in UPSCALERJS_MODELS]
    if skipped:
        notes.append(f"not in the harness's packages: {', '.join(skipped)}")
    pixels = common.sample_image(size, size)
    rows, measured, facts = [], [], {}
    for model_id in (m for m in models if m in UPSCALERJS_MODELS):
        entry, model = common.load_model(model_id)
        name = UPSCALERJS_MODELS[model_id]
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            peers = {}
            for backend in usable:
                peer = UpscalerJSPeer(harness, backend, name, Path(tmp))
                stack.callback(peer.close)
                peer.set_input(pixels)
                peers[backend] = peer
                facts[backend] = peer.info
            ours = common.our_sides(entry, model, pixels)
            variants = variant_sides(model_id, pixels)
            sides = {**ours, **variants, **{b: p.run for b, p in peers.items()}}
            best = common.interleaved(sides, rounds)
            reference = ours["whole"]()
            diffs = {b: common.max_abs_diff(reference, p.output()) for b, p in peers.items()}
        print(f"  upscalerjs {model_id}: {best}", flush=True, file=sys.stderr)
        measured.append(Measured(model_id, model, size, size, best["whole"]))
        out = size * entry.scale
        rows.append(
            [
                model_id,
                f"{size}² → {out}²",
                same_weights(entry, harness),
                *(f"{best[b] * 1000:.0f}" for b in usable),
                f"{best['whole'] * 1000:.0f}",
                f"{best['tiled'] * 1000:.0f}",
                *(f"{best[b] / best['whole']:.2f}×" for b in usable),
                *(f"{best[b] / best['tiled']:.2f}×" for b in usable[:1]),
                " / ".join(str(diffs[b]) for b in usable),
            ]
        )
        for variant in variants:  # tiled runner only: its ratio goes in the tiled column
            rows.append(
                [
                    variant,
                    f"{size}² → {out}²",
                    f"built from {model_id}'s",
                    *(f"{best[b] * 1000:.0f}" for b in usable),
                    "",
                    f"{best[variant] * 1000:.0f}",
                    *("" for b in usable),
                    *(f"{best[b] / best[variant]:.2f}×" for b in usable[:1]),
                    "",
                ]
            )
    labels = [BACKEND_LABEL[b] for b in usable]
    headers = [
        "model",
        "input → output",
        "same weight files",
        *(f"UpscalerJS {label} ms" for label in labels),
        "ours whole ms",
        "ours tiled ms",
        *(f"{label} ÷ ours whole" for label in labels),
        *(f"{label} ÷ ours tiled" for label in labels[:1]),
        f"max \\|Δ\\| grey levels vs ours whole ({' / '.join(labels)})",
    ]
    threads = {
        BACKEND_LABEL[b]: "every core"
        if b == "tensorflow"
        else f"{info.get('wasm_threads') or 1} thread"
        for b, info in facts.items()
    }
    lines = [
        f"- UpscalerJS 1.0, tfjs {next(iter(facts.values()), {}).get('tfjs', '?')}; "
        + ", ".join(f"{k}: {v}" for k, v in threads.items())
        + f"; ours: TensorFlow, {cpu_cores()} threads, float32",
        f"- best of {rounds} interleaved rounds after one warm-up each",
        *(f"- {note}" for note in notes),
    ]
    return title + "\n".join(lines) + "\n\n" + common.table(headers, rows), measured


def variant_sides(model_id: str, pixels: np.ndarray) -> dict[str, Any]:
    """The catalog's variants derived from ``model_id`` at its scale (int8, pruned), each
    as one more side of the same interleaved run: one upscale through the default tiled
    runner, as ``Upscaler(model=variant)`` runs it. Timing them here, beside the peer and
    their parent, is what makes a "variant ÷ peer" ratio a measurement."""
    cat = common.catalog()
    parent = cat.get(model_id)
    sides: dict[str, Any] = {}
    for entry in cat.entries:
        # A self-ensemble runs the parent's own model 8 times: no runtime to set beside a peer.
        if entry.derived_from == model_id and entry.scale == parent.scale and not entry.ensemble:
            _, model = common.load_model(entry.id)
            sides[entry.id] = common.our_sides(entry, model, pixels)["tiled"]
    return sides


def section_peers(
    models: list[str] | None,
    size: int,
    rounds: int,
    *,
    peers: list[str],
    harness_option: str | None = None,
    backends: list[str] | None = None,
) -> tuple[str, list[Measured]]:
    """Every requested peer's table, and our whole-image timings from all of them.

    ``models``: catalog ids; each goes to the peers that can run it (UpscalerJS: its npm
    packages; ncnn: the ncnn-format entries). None: each peer's default list.
    """
    from ncnn_peer import NCNN_MODELS, section_ncnn

    parts, measured = [], []
    if "upscalerjs" in peers:
        chosen = UPSCALERJS_DEFAULT if models is None else models
        text, got = section_upscalerjs(
            chosen, size, rounds, harness_option, list(backends or BACKENDS)
        )
        parts.append(text)
        measured += got
    if "ncnn" in peers:
        cat = common.catalog()
        chosen = NCNN_MODELS if models is None else models
        chosen = [m for m in chosen if cat.get(m).weights and cat.get(m).weights.format == "ncnn"]
        if chosen:
            text, got = section_ncnn(chosen, size, rounds)
            parts.append(text)
            measured += got
    return "\n\n".join(parts), measured
