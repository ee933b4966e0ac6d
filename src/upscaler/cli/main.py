"""The `upscaler` command: argument parsing, dispatch, and error → one line + exit code.

argparse (standard library) keeps `upscaler --help` instant; every subcommand imports
what it needs only when it runs. The only place in the package that prints. Each
command module registers its own subcommands; the options several share live in
:mod:`upscaler.cli.options`, so this module only assembles and dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence

from upscaler import __version__
from upscaler.errors import UpscalerError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (kept in one place so --help shows it all)."""
    from upscaler.cli import (
        batch_cmds,
        catalog_cmds,
        eval_cmds,
        explore_cmds,
        export_cmds,
        inspect_cmds,
        models_cmds,
        run_cmds,
        train_cmds,
    )

    parser = argparse.ArgumentParser(
        prog="upscaler",
        description="AI image super-resolution with models chosen by what they are.",
    )
    parser.add_argument("--version", action="version", version=f"upscaler {__version__}")
    _add_global_options(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    models_cmds.register(sub)
    catalog_sub = catalog_cmds.register(sub)
    run_cmds.register(sub)
    batch_cmds.register(sub)
    eval_cmds.register(sub)
    train_cmds.register(sub, catalog_sub)
    explore_cmds.register(sub)
    inspect_cmds.register(sub)
    export_cmds.register(sub)
    for _path, command in _command_tree(parser):
        if command is not parser:
            # -q and --debug anywhere on the line; SUPPRESS keeps the top level's value
            _add_global_options(command, default=argparse.SUPPRESS)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                action.required = False  # a bare command prints its help (see main)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks and debug logs"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="only errors on stderr"
    )


def _command_tree(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command parser with its path, the top level first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _command_tree(sub, (*path, name))


def _command_of(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[tuple[str, ...], argparse.ArgumentParser]:
    """The deepest (sub)command the words of ``argv`` name, and its path."""
    path: tuple[str, ...] = ()
    for word in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and word in subs[0].choices:
            parser = subs[0].choices[word]
            path = (*path, word)
    return path, parser


def _unknown_arguments(
    parser: argparse.ArgumentParser, argv: Sequence[str], extras: Sequence[str]
) -> int:
    """One `error:` line naming what was not understood, and a `hint:` with the nearest
    option of that command (argparse itself says neither which command nor what was
    meant)."""
    import difflib

    path, command = _command_of(parser, argv)
    name = " ".join(("upscaler", *path))
    flags = [e for e in extras if e.startswith("-")]
    if flags:
        bad = flags[0].split("=", 1)[0]
        options = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
        close = difflib.get_close_matches(bad, options, n=1, cutoff=0.6)
        print(f"error: unknown option {bad} for `{name}`", file=sys.stderr)
        guess = f"did you mean {close[0]}? " if close else ""
        print(f"hint: {guess}(`{name} --help` lists every option)", file=sys.stderr)
    else:
        print(f"error: unexpected argument {extras[0]!r} for `{name}`", file=sys.stderr)
        print(f"hint: `{name} --help` shows what it takes", file=sys.stderr)
    return EXIT_USAGE


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
    words = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(words)
    _configure_logging(args.debug, args.quiet)
    if extras:
        return _unknown_arguments(parser, words, extras)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:  # `upscaler`, `upscaler models`: what can I do here?
        _command_of(parser, words)[1].print_help()
        return 0
    try:
        return handler(args)
    except UpscalerError as exc:
        if args.debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        hint = exc.cli_hint or exc.hint
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
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
