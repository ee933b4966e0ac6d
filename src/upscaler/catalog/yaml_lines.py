"""YAML reading that remembers where every value came from.

Contributors fix errors faster when they see ``catalog/models/x.yaml:42: ...``. ruamel's
round-trip loader keeps line information on every mapping and sequence, which pydantic's
error locations can then be mapped onto.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError


class YamlSyntaxError(Exception):
    """A file that is not valid YAML at all; carries the 1-based line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read_yaml(path: Path) -> Any:
    """Parse a YAML file into ruamel's commented (line-aware) containers."""
    yaml = YAML(typ="rt")
    try:
        with path.open("r", encoding="utf-8") as handle:
            return yaml.load(handle)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1) if mark is not None else 1
        text = " ".join(f"{exc.problem or exc.context}".split())
        if len(text) > 200:
            text = text[:197] + "..."
        raise YamlSyntaxError(line, text) from exc


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
