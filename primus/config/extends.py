"""One load's file reading: parse (cached), ``${VAR}`` substitution, ``extends:`` chains (cycles refused)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from primus.config.interpolate import interpolate
from primus.config.merge import merge_annotated
from primus.config.paths import (
    display_path,
    list_yaml_files,
)
from primus.config.yaml_io import LineDict, LineList, kind_of, read_yaml_cached, to_plain
from primus.errors import (
    ConfigFileNotFoundError,
    ConfigTypeError,
    ConfigValueError,
    ExtendsCycleError,
    did_you_mean,
    suggest,
)


class LoadSession:
    """State of one load: environment, variables consumed, files read."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.consumed: dict[str, str | None] = {}
        self.inputs: list[Path] = []
        self._real: dict[str, Path] = {}
        self._shown: dict[str, str] = {}

    def realpath(self, path: Path) -> Path:
        """``path.resolve()``, memoised for this load (resolve costs one lstat per path component)."""
        key = os.path.abspath(path)
        real = self._real.get(key)
        if real is None:
            real = self._real[key] = Path(os.path.realpath(key))
        return real

    def shown(self, path: Path) -> str:
        """:func:`display_path`, memoised for this load."""
        key = os.path.abspath(path)
        text = self._shown.get(key)
        if text is None:
            text = self._shown[key] = display_path(path)
        return text

    def read(self, path: Path) -> LineDict:
        """One file, parsed (cached per process) and interpolated (per load: it depends on ``env``)."""
        resolved = self.realpath(path)
        raw, has_placeholders = read_yaml_cached(resolved, self.shown(path))
        if resolved not in self.inputs:
            self.inputs.append(resolved)
        return interpolate(raw, self.env, self.consumed) if has_placeholders else raw

    def chain(self, path: Path, stack: tuple[Path, ...] = ()) -> list[LineDict]:
        """The documents of ``path``'s ``extends:`` chain in merge order; ``path``'s own body is last.

        Every returned document is without its ``extends`` key. ``stack`` holds the files being loaded above
        this one (to detect cycles).
        """
        resolved = self.realpath(path)
        document = self.read(path)
        documents: list[LineDict] = []
        for entry, line in _extends_entries(document):
            target = Path(entry)
            if not target.is_absolute():
                target = path.parent / target
            target_resolved = self.realpath(target)
            loading = (*stack, resolved)
            if target_resolved in loading:
                start = loading.index(target_resolved)
                cycle = [self.shown(item) for item in loading[start:]] + [self.shown(target_resolved)]
                raise ExtendsCycleError(
                    "extends cycle: " + " -> ".join(cycle),
                    file=document.file,
                    line=line,
                    cycle=cycle,
                    hint="remove one of these extends entries",
                )
            if not target.is_file():
                raise _missing_extends(entry, target, document.file, line)
            documents.extend(self.chain(target, loading))
        body = LineDict(document.file, document.line)
        for key, value in document.items():
            if key != "extends":
                body[key] = value
                body.origins[key] = document.origin_of(key)
        documents.append(body)
        return documents

    def merged(self, path: Path) -> LineDict:
        """``path`` with its whole ``extends:`` chain merged into one document (keys keep their file:line)."""
        documents = self.chain(path)
        merged = documents[0]
        for document in documents[1:]:
            merged = merge_annotated(merged, document)
        return merged


#: Most entries one ``extends:`` list may name (Primus's presets name one or two).
MAX_EXTENDS = 64


def _extends_entries(document: LineDict) -> list[tuple[str, int]]:
    """``(entry, line)`` for each ``extends:`` entry (a string or a list of strings; null means none)."""
    if "extends" not in document:
        return []
    value = document["extends"]
    line = document.line_of("extends")
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, line)]
    if isinstance(value, LineList) and all(isinstance(item, str) for item in value):
        if len(value) > MAX_EXTENDS:
            raise ConfigValueError(
                f"extends lists {len(value)} files; at most {MAX_EXTENDS} are read",
                file=document.file,
                line=line,
                key="extends",
                hint="a preset extends a few others; merge the rest into fewer files",
            )
        return list(zip(value, value.item_lines, strict=True))
    raise ConfigTypeError(
        f"extends must be a file name or a list of file names, got a {kind_of(value)}",
        file=document.file,
        line=line,
        key="extends",
        value=to_plain(value),
        hint="extends: [../module_base.yaml, quantize.yaml]",
    )


def _missing_extends(entry: str, target: Path, file: str, line: int) -> ConfigFileNotFoundError:
    matches = suggest(target.name, list_yaml_files(target.parent))  # that folder only, never a tree walk
    hint = did_you_mean(matches) if matches else "paths are relative to the declaring file"
    return ConfigFileNotFoundError(
        f"extends target '{entry}' not found (looked for {display_path(target)})",
        file=file,
        line=line,
        key="extends",
        value=entry,
        hint=hint,
    )
