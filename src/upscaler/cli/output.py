"""Printing helpers shared by the subcommands (JSON and plain tables)."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def print_json(data: Any) -> None:
    """Stable, indented JSON on stdout (sorted keys would reorder attributes; we keep order)."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its header, and whether it holds numbers (aligned
    right, so digits line up)."""

    key: str
    header: str = ""
    numeric: bool = False

    @property
    def title(self) -> str:
        """The header as printed."""
        return self.header or self.key.upper()


def terminal_width() -> int:
    """The width to fit tables to, or 0 for no limit.

    ``COLUMNS`` when set, else the terminal's width when stdout is one; output that goes
    to a pipe or a file is not cut (a script that wants every column uses ``--json``).
    """
    return shutil.get_terminal_size(fallback=(0, 0)).columns


def print_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str | Column],
    *,
    fit: bool = False,
) -> None:
    """A plain aligned table, for humans; scripts use --json.

    ``columns`` come in priority order. With ``fit``, columns are dropped from the end
    until the table fits :func:`terminal_width`, the first column is cut (with "…") only
    when it alone is too wide, and a note says what was hidden.
    """
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    cells = [[_cell(r.get(c.key)) for c in cols] for r in rows]
    widths = [max([len(c.title), *(len(row[i]) for row in cells)]) for i, c in enumerate(cols)]
    limit = terminal_width() if fit else 0
    shown = len(cols)
    if limit:
        while shown > 1 and sum(widths[:shown]) + 2 * (shown - 1) > limit:
            shown -= 1
        widths[0] = min(widths[0], limit - sum(widths[1:shown]) - 2 * (shown - 1))
    lines = [[c.title for c in cols[:shown]], *(row[:shown] for row in cells)]
    for line in lines:
        parts = [
            _pad(_cut(value, widths[i]), widths[i], cols[i].numeric) for i, value in enumerate(line)
        ]
        print("  ".join(parts).rstrip())
    hidden = [c.title.lower() for c in cols[shown:]]
    if hidden:
        note = (
            f"({len(hidden)} columns hidden to fit {limit} characters: {', '.join(hidden)}; "
            "a wider terminal or --json shows them)"
        )
        print(textwrap.fill(note, width=max(limit, 20)))


def human_size(size: int) -> str:
    """Bytes in binary units with one decimal (``2.9 KiB``, ``13.4 MiB``), as people read
    sizes; exact byte counts are in ``--json``."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: max(width - 1, 0)] + "…"


def _pad(value: str, width: int, right: bool) -> str:
    return value.rjust(width) if right else value.ljust(width)
