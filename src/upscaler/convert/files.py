"""Where a model's entry file and its companion files really are.

Converters are called two ways: with a real path (files beside it on disk), or with a
mapping from in-package posix paths (``"models/x2/model.json"``) to real files, for
example a fetched package whose files live in a content-addressed cache under hash
names. This class resolves companions (TF.js shards, the ncnn ``.bin``) the same way
for both, and refuses paths that climb out of the model's folder or package.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from upscaler.errors import ConversionError


def _clean_relative(path: str, where: str) -> str:
    if not isinstance(path, str) or not path:
        raise ConversionError(f"{where}: weights path {path!r} is invalid")
    if "://" in path or path.startswith("/") or "\\" in path:
        raise ConversionError(
            f"{where}: weights path {path!r} must be relative to the model's folder"
        )
    return path


class SourceFiles:
    """An entry file (``model.json``, ``x.param``) and the files it refers to.

    ``label`` is how messages and metadata name the entry: its in-package path when
    ``files`` is given, else the path as passed.
    """

    def __init__(
        self,
        entry: str | os.PathLike[str],
        files: Mapping[str, Any] | None,
        *,
        kind: str = "model.json",
    ) -> None:
        if files is None:
            self.path = Path(entry)
            self.label = str(entry)
            self._base: str | None = None
            self._files: dict[str, Path] = {}
            return
        self._files = {
            posixpath.normpath(str(k).replace("\\", "/")): Path(v) for k, v in files.items()
        }
        key = posixpath.normpath(str(entry).replace("\\", "/"))
        if key not in self._files:
            wanted = Path(entry)
            matches = [k for k, v in self._files.items() if v == wanted]
            if len(matches) != 1:
                raise ConversionError(
                    f"{kind} {str(entry)!r} is neither a key of files nor the path of "
                    "exactly one of them"
                )
            key = matches[0]
        self.path = self._files[key]
        self.label = key
        self._base = posixpath.dirname(key)

    def companion(self, path: str) -> Path:
        """The real file of ``path``, given relative to the entry file's folder."""
        rel = _clean_relative(path, self.label)
        if self._base is None:
            norm = posixpath.normpath(rel)
            if norm == ".." or norm.startswith("../"):
                raise ConversionError(
                    f"{self.label}: weights path {path!r} points outside the model's folder"
                )
            return self.path.parent / norm
        key = posixpath.normpath(posixpath.join(self._base, rel))
        if key == ".." or key.startswith("../"):
            raise ConversionError(f"{self.label}: weights path {path!r} points outside the package")
        if key not in self._files:
            raise ConversionError(
                f"{self.label}: weights file {key!r} is not among the given files",
                hint="pass every file of the package in files=",
            )
        return self._files[key]
