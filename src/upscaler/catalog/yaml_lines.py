"""YAML reading that remembers where every value came from.

Contributors fix errors faster when they see ``catalog/models/x.yaml:42: ...``. ruamel's
round-trip loader keeps line information on every mapping and sequence, which pydantic's
error locations can then be mapped onto.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError


class YamlSyntaxError(Exception):
    """A file that is not valid YAML at all; carries the 1-based line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


MAX_FILE_BYTES = 1 << 20
"""Largest catalog file read (1 MiB; the biggest shipped family is about 11 KB): a
contributed file of 10 MB of junk is refused by its size, not parsed for minutes."""

MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences (a family file needs about 6); 5,000 levels
would exhaust the parser's and the converter's recursion."""


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, max(0, position)) + 1


def read_text(path: Path) -> str:
    """A catalog file's text: at most :data:`MAX_FILE_BYTES`, strict UTF-8, or a
    YamlSyntaxError with the line of the first bad byte.

    Opened without blocking and read only when it is a regular file, so a FIFO or a
    looping symlink named ``x.yaml`` is a problem at line 1, not a hang or a traceback.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise YamlSyntaxError(1, f"cannot read the file: {exc.strerror or exc}") from None
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    if not regular:
        os.close(fd)
        raise YamlSyntaxError(1, "not a regular file (a FIFO, device or folder)")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YamlSyntaxError(
            1,
            f"the file is larger than {MAX_FILE_BYTES >> 20} MiB, the most a catalog file may "
            "be (a family file is a few KB); it was not parsed",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(
            line,
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8",
        ) from None


def _check_structure(yaml: YAML, text: str) -> None:
    """Refuse aliases and deep nesting from the event stream, before anything is built.

    The event parser is a loop, not a recursion, so even 5,000 levels cost nothing here;
    an alias (``*name``) is refused outright: nine lines of them ("billion laughs")
    expand to gigabytes once turned into plain containers, and a catalog file never
    needs one (write the value again).
    """
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent

    depth = 0
    for event in yaml.parse(text):
        if isinstance(event, AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else 1
            raise YamlSyntaxError(
                line,
                f"alias *{event.anchor} is not allowed in catalog files (aliases can expand "
                "without bound); write the value out instead",
            )
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark is not None else 1
                raise YamlSyntaxError(
                    line, f"mappings and lists are nested too deep (more than {MAX_DEPTH} levels)"
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def checked_text(path: Path) -> str:
    """A catalog file's text after every check :func:`read_yaml` makes before parsing
    (size, UTF-8, characters, aliases, depth), for callers that parse it their own way
    (the round-trip editors); a CatalogError with file:line otherwise."""
    from upscaler.errors import CatalogError

    try:
        text = read_text(path)
        _check_structure(YAML(typ="rt"), text)
    except YamlSyntaxError as exc:
        raise CatalogError([f"{path}:{exc.line}: {exc.message}"]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1) if mark is not None else 1
        raise CatalogError([f"{path}:{line}: {exc.problem or exc.context}"]) from None
    except (ReaderError, YAMLError) as exc:
        raise CatalogError([f"{path}:1: not valid YAML ({type(exc).__name__})"]) from None
    return text


def read_yaml(path: Path) -> Any:
    """Parse a YAML file into ruamel's commented (line-aware) containers.

    Hostile files fail with a YamlSyntaxError carrying a line, never a traceback: too
    large, not UTF-8, control characters, aliases, nesting beyond :data:`MAX_DEPTH`.
    """
    text = read_text(path)
    yaml = YAML(typ="rt")
    try:
        _check_structure(yaml, text)
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1) if mark is not None else 1
        message = " ".join(f"{exc.problem or exc.context}".split())
        if len(message) > 200:
            message = message[:197] + "..."
        raise YamlSyntaxError(line, message) from exc
    except ReaderError as exc:  # a control character or another unprintable one
        code = exc.character if isinstance(exc.character, int) else 0
        raise YamlSyntaxError(
            _line_at(text, exc.position),
            f"unacceptable character U+{code:04X} ({exc.reason}); catalog files hold "
            "printable text only",
        ) from None
    except (YAMLError, RecursionError) as exc:
        raise YamlSyntaxError(1, f"not valid YAML ({type(exc).__name__})") from None


def to_plain(node: Any) -> Any:
    """Convert ruamel containers into plain dicts/lists for pydantic."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


def line_of(root: Any, loc: Sequence[str | int]) -> int:
    """The 1-based line of the deepest node along ``loc`` that exists in the document.

    pydantic locations may include union-member tags (e.g. ``NpmSource``) that are not
    keys in the YAML; those are skipped.
    """
    node = root
    line = 1
    for part in loc:
        lc = getattr(node, "lc", None)
        if isinstance(node, dict) and part in node:
            if lc is not None:
                with contextlib.suppress(KeyError, TypeError):
                    line = lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            if lc is not None:
                with contextlib.suppress(KeyError, TypeError):
                    line = lc.item(part)[0] + 1
            node = node[part]
        else:
            continue
    return line
