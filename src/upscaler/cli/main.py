"""The `upscaler` command: argument parsing, dispatch, and error → one line + exit code.

argparse (standard library) keeps `upscaler --help` instant; every subcommand imports
what it needs only when it runs. The only place in the package that prints.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence

from upscaler import __version__
from upscaler.errors import UpscalerError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


def add_query_options(parser: argparse.ArgumentParser) -> None:
    """The model-choice options shared by every command that picks a model."""
    group = parser.add_argument_group("model choice")
    group.add_argument(
        "--model",
        help="a model id (family.variant), or a local model path with a / (./mine)",
    )
    group.add_argument("--query", help='attributes as one string, e.g. "dataset=DIV2K scale=2"')
    for name in ("dataset", "architecture", "implementation", "pruning", "quantization"):
        group.add_argument(f"--{name}")
    group.add_argument("--objective", help="fidelity (pixel-accurate) or perceptual (GAN-sharp)")
    group.add_argument("--degradation", help="bicubic (clean inputs) or real-world")
    group.add_argument("--scale", help="output scale: 2, 3, 4, 8, ...")
    group.add_argument("--channels", help="1 (gray), 3 (RGB) or 4 (RGBA)")
    group.add_argument(
        "--prefer",
        default="balanced",
        choices=("balanced", "fast", "accurate"),
        help="how to rank several exact matches (default: balanced)",
    )
    group.add_argument("--strict", action="store_true", help="fail instead of adapting")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (kept in one place so --help shows it all)."""
    from upscaler.cli import (
        batch_cmds,
        catalog_cmds,
        eval_cmds,
        explore_cmds,
        models_cmds,
        run_cmds,
    )

    parser = argparse.ArgumentParser(
        prog="upscaler",
        description="AI image super-resolution with models chosen by what they are.",
    )
    parser.add_argument("--version", action="version", version=f"upscaler {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    models_cmds.register(sub)
    catalog_cmds.register(sub)
    run_cmds.register(sub, add_query_options)
    batch_cmds.register(sub)
    eval_cmds.register(sub)
    explore_cmds.register(sub)
    return parser


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("upscaler")
    root.handlers[:] = [h for h in root.handlers if isinstance(h, logging.NullHandler)]
    root.addHandler(handler)
    root.setLevel(level)


def _tolerant_streams() -> None:
    """Print file names that are not valid UTF-8 (which Python holds surrogate-escaped)
    as ``\\udcXX`` escapes instead of failing with UnicodeEncodeError mid-report."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `upscaler` console script."""
    _tolerant_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug, args.quiet)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UpscalerError as exc:
        if args.debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `upscaler models list | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        print("hint: check the path and permissions; --debug shows a traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
