"""The one way into TensorFlow: its import, its thread pools and its precision, set once.

Why one module: TensorFlow fixes its thread pools and its graph optimiser's precision when
it runs its first op, so whatever imports TensorFlow must size both right then. Device
checks (:mod:`upscaler.runtime.device`), model loading (:mod:`upscaler.runtime.savedmodel`),
converters and training all come through :func:`require_tensorflow`; keeping the import
and what must follow it here lets those modules depend on this one and never on each
other.

Thread pools must be sized before TensorFlow runs its first op (after that they are fixed
for the life of the process), so :func:`configure_threads` runs right after TensorFlow is
imported: :func:`require_tensorflow` calls it when it is the one that imports TensorFlow,
before any model is loaded or converted. Later calls only report what is in effect.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from upscaler.errors import DependencyError
from upscaler.runtime.precision import apply_precision

log = logging.getLogger("upscaler.runtime.tf_setup")

__all__ = [
    "BFC_ALLOCATOR_ENV",
    "INSTALL_HINT",
    "ThreadSettings",
    "configure_threads",
    "cpu_cores",
    "require_tensorflow",
    "stderr_silenced",
    "thread_settings",
]

INSTALL_HINT = "pip install 'upscaler[cpu]'"


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (C++ writes bypass Python)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr descriptor (embedded interpreters)
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


BFC_ALLOCATOR_ENV = "TF_CPU_ALLOCATOR_USE_BFC"


def require_tensorflow() -> Any:
    """Import TensorFlow on first use; a missing install becomes a DependencyError.

    Returned as ``Any`` because TensorFlow ships no type information. TensorFlow's C++
    info chatter is silenced unless the user already chose a level, because it would
    otherwise drown the CLI's own output on every run. TensorFlow 2.21 prints its oneDNN
    notice through absl before any log level applies, so unless the user asked for info
    logs (``TF_CPP_MIN_LOG_LEVEL=0``) the import runs with the stderr descriptor pointed
    at ``/dev/null``: a user who set 3 to hear less must not hear more. Import errors
    still arrive as Python exceptions.

    The call that first imports TensorFlow also sizes its thread pools
    (:func:`configure_threads`): this is the one place every
    path into TensorFlow (loading, converting, device checks) passes before TensorFlow runs
    anything, and after its first op the pools can no longer change. Later calls (and
    calls in a process that imported TensorFlow itself) do not size them again. The
    precision (:mod:`upscaler.runtime.precision`) is applied at the same moment, for the
    same reason.
    """
    first = "tensorflow" not in sys.modules
    # The banner is info: hidden unless the user asked for info logs (level 0).
    quiet = first and os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2").strip() not in ("0", "")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if first:
        # TensorFlow 2.21's default CPU allocator keeps no statistics, which blinds the
        # runner's memory probe (windows then fall back to fixed 512-pixel cores and the
        # memory target is missed). The BFC allocator keeps them and was also faster here
        # (docs/performance.md). Read once, when TensorFlow starts; a user's own setting
        # wins.
        os.environ.setdefault(BFC_ALLOCATOR_ENV, "true")
    try:
        if not quiet:
            tf = importlib.import_module("tensorflow")
        else:
            with stderr_silenced():
                tf = importlib.import_module("tensorflow")
    except ImportError as exc:
        raise DependencyError(
            f"TensorFlow is needed to convert and run models but could not be imported ({exc})",
            hint=INSTALL_HINT,
        ) from exc
    if first:
        # No recursion: configure_threads calls back into require_tensorflow, which now
        # finds TensorFlow in sys.modules and returns it without coming here again.
        configure_threads()
        apply_precision(tf)
    return tf


def cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadSettings:
    """TensorFlow's thread pool sizes in effect, and whether this module set them."""

    intra_op: int
    inter_op: int
    configured: bool

    def as_dict(self) -> dict[str, int | bool]:
        """JSON-friendly form for describe()."""
        return {"intra_op": self.intra_op, "inter_op": self.inter_op, "configured": self.configured}


_state: dict[str, ThreadSettings] = {}
"""What :func:`configure_threads` set, once per process (thread pools cannot change)."""


def thread_settings() -> ThreadSettings:
    """The pool sizes in effect (TensorFlow's 0, "let the runtime choose", reads as all
    cores, which is what TensorFlow then uses)."""
    if "configured" in _state:
        return _state["configured"]
    tf = require_tensorflow()
    cores = cpu_cores()
    intra = int(tf.config.threading.get_intra_op_parallelism_threads()) or cores
    inter = int(tf.config.threading.get_inter_op_parallelism_threads()) or cores
    return ThreadSettings(intra_op=intra, inter_op=inter, configured=False)


def configure_threads(threads: int | None = None) -> ThreadSettings:
    """Size TensorFlow's intra- and inter-op pools to every core (or ``threads``), once.

    Why explicit: TensorFlow's "0 = choose" is right on a bare machine but not inside a
    container whose CPU quota or affinity is smaller than the host; the affinity mask is
    what this process may really use. Once TensorFlow has run anything the pools are fixed;
    then this logs at debug level and reports what is in effect rather than failing.
    """
    if "configured" in _state:
        return _state["configured"]
    tf = require_tensorflow()
    wanted = threads if threads is not None else cpu_cores()
    if wanted < 1:
        raise ValueError(f"threads must be >= 1, got {wanted}")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(wanted)
        tf.config.threading.set_inter_op_parallelism_threads(wanted)
    except RuntimeError as exc:  # "cannot be modified after initialization"
        log.debug("TensorFlow thread pools already fixed (%s); keeping them", exc)
        return thread_settings()
    settings = ThreadSettings(intra_op=wanted, inter_op=wanted, configured=True)
    _state["configured"] = settings
    log.debug("TensorFlow thread pools: %d intra-op, %d inter-op", wanted, wanted)
    return settings
