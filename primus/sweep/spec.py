"""The sweep file: a base experiment and axes of dotted keys, expanded into named points.

```yaml
base: ../torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml   # relative to this file (or a name)
overrides:                  # every point (optional)
  training.steps: 3
grid:                       # cartesian product of every axis
  optimizer.lr: [1.0e-4, 3.0e-4]
  debug.seed: [1, 2]
zip:                        # lists of equal length, taken together (one more axis of the product)
  lr_scheduler.warmup_steps: [1, 2]
  training.max_norm: [0.5, 1.0]
points:                     # explicit combinations, after the product
  - name: long-warmup
    lr_scheduler.warmup_steps: 2
metric: final_loss          # the report's best point: final_loss (default), lowest_loss, tokens_per_second
max_points: 10000           # refuse larger sweeps unless raised here
```

Like Hydra's multirun (``a=1,2 b=x,y`` is the product) with W&B's explicit value lists and Snakemake
Paramspace's one-row-per-point view. Every key is checked here with its file:line (unknown top-level keys
and axis keys with a did-you-mean, empty axes, ``zip:`` lists of unequal length, a key in two axes, a point
name used twice, the size limit); values are checked later, point by point, by the validate stage
(``primus.sweep.plan``). Reading writes nothing and never imports torch.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus.config.paths import display_path
from primus.config.yaml_io import LineDict, LineList, kind_of, read_yaml_mapping, to_plain
from primus.errors import (
    ConfigErrors,
    ConfigKeyError,
    ConfigTypeError,
    ConfigValueError,
    PrimusError,
    did_you_mean,
    suggest,
    unknown_key_message,
)

#: Top-level keys of a sweep file.
SWEEP_KEYS = ("base", "name", "overrides", "grid", "zip", "points", "metric", "max_points")
#: Metrics the report may rank points by, and whether lower or higher is better.
METRICS = {"final_loss": "lower", "lowest_loss": "lower", "tokens_per_second": "higher"}
DEFAULT_METRIC = "final_loss"
#: Largest sweep accepted unless the file raises ``max_points``.
DEFAULT_MAX_POINTS = 10_000
#: Name of the one point of a sweep without axes (how a single run is planned).
BASE_POINT = "base"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,=+-]*")


@dataclass(frozen=True)
class Setting:
    """One value a point gives a dotted key, and where the sweep file wrote it."""

    key: str
    value: Any
    file: str
    line: int
    axis: str  # "grid", "zip", "overrides", "points[N]"

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def override(self) -> str:
        """The setting as a command-line override (JSON is YAML, so the value keeps its type)."""
        return f"--{self.key}={json.dumps(self.value)}"

    def shown(self) -> str:
        return f"{self.key}={format_value(self.value)}"


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its name, the line that defines it and its settings (axis values)."""

    name: str
    line: int
    settings: tuple[Setting, ...]

    def overrides(self) -> list[str]:
        return [setting.override() for setting in self.settings]


@dataclass(frozen=True)
class SweepSpec:
    """A sweep file read and checked; ``points`` in order (the product first, then the named points)."""

    path: Path | None  # None for a single run planned as a sweep of one point
    name: str
    base: Path
    base_line: int
    overrides: tuple[Setting, ...]
    axes: tuple[str, ...]  # the swept keys, in file order (the report's columns)
    points: tuple[Point, ...]
    metric: str = DEFAULT_METRIC
    max_points: int = DEFAULT_MAX_POINTS

    @property
    def file(self) -> str:
        return display_path(self.path) if self.path else str(self.base)


def format_value(value: Any) -> str:
    """A value as it reads in a point name or a table (``0.0003``, ``true``, ``abc``, ``[1, 2]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return format(value, "g")
    if isinstance(value, str):
        return value
    return json.dumps(value)


def single_run(experiment: Path, overrides: Sequence[str] = ()) -> SweepSpec:
    """One experiment as a sweep of one point (no axes): how the workflow plans a plain run."""
    settings = tuple(Setting("", text, "<command line>", 0, "overrides") for text in overrides)
    return SweepSpec(
        path=None,
        name=Path(experiment).stem,
        base=Path(experiment),
        base_line=0,
        overrides=settings,
        axes=(),
        points=(Point(BASE_POINT, 0, ()),),
    )


def read_sweep(path: str | Path, *, platform: str = "MI300X", root: Path = Path()) -> SweepSpec:
    """Read and check the sweep file at ``path``; raises ConfigErrors with every problem found.

    ``base`` is a path relative to the sweep file (or to the working directory), else an experiment name
    looked up like ``--config exp=NAME`` on ``platform`` under ``root/examples``.
    """
    path = Path(path)
    shown = display_path(path)
    if not path.is_file():
        from primus.errors import ConfigFileNotFoundError

        raise ConfigFileNotFoundError(
            f"sweep file {'is a folder' if path.is_dir() else 'does not exist'}",
            file=shown,
            hint="give the path of a sweep YAML, e.g. examples/sweeps/llama3_debugmodel-lr.yaml",
        )
    document = read_yaml_mapping(path, shown)
    reader = _Reader(shown, document)
    reader.check_top_level()
    base, base_line = reader.base(path, platform=platform, root=root)
    overrides = reader.settings_of("overrides")
    grid = reader.axes("grid")
    zipped = reader.axes("zip")
    zip_ok = reader.check_zip_lengths(zipped)
    reader.check_repeated_keys(overrides, grid, zipped)
    named = reader.named_points()
    metric = reader.metric()
    max_points = reader.max_points()
    count = math.prod(len(values) for _, values in grid) * (len(zipped[0][1]) if zipped else 1)
    count = (count if grid or zipped or not named else 0) + len(named)
    if max_points is not None and count > max_points:
        reader.problem(
            ConfigValueError,
            f"the sweep has {count:,} points, more than max_points ({max_points:,})",
            key="max_points" if "max_points" in document else None,
            line=document.line_of("max_points") if "max_points" in document else 1,
            hint=f"shrink an axis, or raise the limit in the sweep file: max_points: {count}",
        )
    points: list[Point] = []
    if zip_ok and (max_points is None or count <= max_points):
        points = [*_product_points(grid, zipped), *named] if (grid or zipped or not named) else named
        reader.problems += _repeated_names(shown, points)
    reader.raise_problems()
    name = _sweep_name(shown, document, path)
    return SweepSpec(
        path=path,
        name=name,
        base=base,
        base_line=base_line,
        overrides=tuple(overrides),
        axes=tuple(dict.fromkeys([k for k, _ in grid] + [k for k, _ in zipped] + _named_keys(named))),
        points=tuple(points),
        metric=metric,
        max_points=max_points or DEFAULT_MAX_POINTS,
    )


def _sweep_name(file: str, document: LineDict, path: Path) -> str:
    """``name:``, else the file's stem: it names the report folder, so it must be a plain name."""
    name = document.get("name", path.stem)
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    raise ConfigValueError(
        f"the sweep name {name!r} is not a plain name",
        file=file,
        line=document.line_of("name") if "name" in document else 1,
        key="name",
        hint="name: lr-sweep  (letters, digits and _ . , = + -; it names runs/.sweeps/<name>/)",
    )


def _named_keys(points: list[Point]) -> list[str]:
    return [setting.key for point in points for setting in point.settings]


AxisValues = tuple[str, list[Setting]]


def _product_points(grid: list[AxisValues], zipped: list[AxisValues]) -> Iterator[Point]:
    """Every combination: the grid's product, the zip lists as one more axis taken together."""
    axes: list[list[tuple[Setting, ...]]] = [[(s,) for s in values] for _, values in grid]
    if zipped:
        axes.append([tuple(column) for column in zip(*(values for _, values in zipped), strict=True)])
    names = _short_names([k for k, _ in grid] + [k for k, _ in zipped])
    line = min((values[0].line for _, values in grid + zipped), default=0)
    for combination in itertools.product(*axes):
        settings = tuple(s for group in combination for s in group)
        if not settings:
            yield Point(BASE_POINT, 0, ())
            continue
        name = ",".join(f"{names[s.key]}={format_value(s.value)}" for s in settings)
        yield Point(name, line, settings)


def _short_names(keys: list[str]) -> dict[str, str]:
    """The last part of each dotted key, or the whole key where two axes share that last part."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: (tail if last.count(tail) == 1 else key) for key, tail in zip(keys, last, strict=True)}


def _repeated_names(file: str, points: list[Point]) -> list[PrimusError]:
    seen: dict[str, Point] = {}
    problems: list[PrimusError] = []
    for point in points:
        if point.name in seen:
            first = seen[point.name]
            where = f"line {first.line}" if first.line else "the grid"
            problems.append(
                ConfigValueError(
                    f"point name '{point.name}' is used twice (first at {where})",
                    file=file,
                    line=point.line,
                    key="points.name",
                    value=point.name,
                    hint="give each point a name of its own",
                )
            )
        else:
            seen[point.name] = point
    return problems


class _Reader:
    """Checks of one sweep document; collects every problem, raised together by ``raise_problems``."""

    def __init__(self, file: str, document: LineDict) -> None:
        self.file = file
        self.document = document
        self.problems: list[PrimusError] = []

    def problem(self, kind: type[PrimusError], message: str, *, line: int, key: str | None = None, **extra):
        self.problems.append(kind(message, file=self.file, line=line, key=key, **extra))

    def raise_problems(self) -> None:
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise ConfigErrors(self.problems)

    def check_top_level(self) -> None:
        for key in self.document:
            if key not in SWEEP_KEYS:
                close = suggest(str(key), list(SWEEP_KEYS), count=1)
                self.problem(
                    ConfigKeyError,
                    unknown_key_message(str(key), "the sweep file", close[0] if close else None),
                    line=self.document.line_of(key),
                    key=str(key),
                    hint=f"valid keys: {', '.join(SWEEP_KEYS)}",
                )
        if "base" not in self.document:
            self.problem(
                ConfigKeyError,
                "the sweep file names no base experiment",
                line=1,
                key="base",
                hint="add `base: PATH/TO/EXPERIMENT.yaml` (relative to the sweep file)",
            )

    def base(self, sweep: Path, *, platform: str, root: Path) -> tuple[Path, int]:
        raw = self.document.get("base")
        line = self.document.line_of("base")
        if raw is None:
            return Path(), line
        if not isinstance(raw, str) or not raw.strip():
            self.problem(
                ConfigTypeError,
                f"must be the path or name of an experiment, got a {kind_of(raw)}",
                line=line,
                key="base",
                hint="base: ../torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml",
            )
            return Path(), line
        from primus.errors import ExperimentNotFoundError
        from primus.workflow import find_experiment, is_path_like

        beside = sweep.parent / raw
        if beside.is_file():
            return Path(display_path(beside)), line
        try:
            if is_path_like(raw) and not Path(raw).is_file():
                raise ExperimentNotFoundError(f"experiment file {raw} does not exist")
            return find_experiment(raw, platform=platform, root=root), line
        except ExperimentNotFoundError as error:
            self.problem(
                ConfigKeyError,
                f"base experiment: {error.message}",
                line=line,
                key="base",
                hint=error.hint or "a path is taken relative to the sweep file",
            )
            return Path(), line

    def _known_key(self, key: str, line: int, where: str) -> bool:
        from primus.validate import known_keys

        keys = known_keys()
        if key in keys:
            return True
        close = suggest(key, sorted(keys), count=3)
        self.problem(
            ConfigKeyError,
            unknown_key_message(key, where, close[0] if close else None),
            line=line,
            key=key,
            hint=did_you_mean(close) or "see `primus-cli resolve CONFIG` for every key of an experiment",
        )
        return False

    def settings_of(self, section: str, node: Any = None, *, axis: str | None = None) -> list[Setting]:
        """The dotted-key settings of a mapping (nested mappings are flattened to dotted keys)."""
        node = self.document.get(section) if node is None else node
        if node is None:
            return []
        if not isinstance(node, LineDict):
            self.problem(
                ConfigTypeError,
                f"must be a mapping of dotted keys to values, got a {kind_of(node)}",
                line=getattr(node, "line", 0) or self.document.line_of(section),
                key=section,
                hint=f"{section}:\n    training.steps: 3",
            )
            return []
        found: list[Setting] = []
        for key, value, line in _flatten(node):
            if key == "name" and axis is not None:
                continue
            if self._known_key(key, line, f"the config ({section}:)"):
                found.append(Setting(key, to_plain(value), self.file, line, axis or section))
        return found

    def axes(self, section: str) -> list[AxisValues]:
        node = self.document.get(section)
        if node is None:
            return []
        if not isinstance(node, LineDict):
            self.problem(
                ConfigTypeError,
                f"must be a mapping of dotted keys to lists of values, got a {kind_of(node)}",
                line=self.document.line_of(section),
                key=section,
                hint=f"{section}:\n    optimizer.lr: [1.0e-4, 3.0e-4]",
            )
            return []
        if not node:
            self.problem(
                ConfigValueError,
                f"{section}: has no axes",
                line=self.document.line_of(section),
                key=section,
                hint=f"add an axis (optimizer.lr: [1.0e-4, 3.0e-4]) or remove `{section}:`",
            )
        found: list[AxisValues] = []
        for key, values, line in _flatten(node):
            if not self._known_key(key, line, f"the config (an axis of {section}:)"):
                continue
            if not isinstance(values, LineList):
                self.problem(
                    ConfigTypeError,
                    f"an axis is a list of values, got a {kind_of(values)}",
                    line=line,
                    key=key,
                    hint=f"{key}: [{format_value(to_plain(values))}]  (a value for every point goes under "
                    "overrides:)",
                )
                continue
            if not values:
                self.problem(
                    ConfigValueError,
                    "empty axis: a sweep over no values has no points",
                    line=line,
                    key=key,
                    hint=f"give {key} at least one value, or remove the axis",
                )
                continue
            lines = values.item_lines or [line] * len(values)
            settings = [
                Setting(key, to_plain(value), self.file, item_line or line, section)
                for value, item_line in zip(values, lines, strict=False)
            ]
            found.append((key, settings))
        return found

    def check_zip_lengths(self, zipped: list[AxisValues]) -> bool:
        """True when every zip: list has the same length (else a problem is recorded)."""
        lengths = {len(values) for _, values in zipped}
        if len(lengths) > 1:
            detail = ", ".join(f"{key} has {len(values)} (line {values[0].line})" for key, values in zipped)
            self.problem(
                ConfigValueError,
                f"lists must have equal length: {detail}",
                line=self.document.line_of("zip"),
                key="zip",
                hint="zip: takes the i-th value of every list together; use grid: for every combination",
            )
        return len(lengths) <= 1

    def check_repeated_keys(self, overrides: list[Setting], *sections: list[AxisValues]) -> None:
        first: dict[str, tuple[str, int]] = {s.key: ("overrides", s.line) for s in overrides}
        for name, section in zip(("grid", "zip"), sections, strict=True):
            for key, values in section:
                if key in first:
                    where, line = first[key]
                    self.problem(
                        ConfigKeyError,
                        f"the same key is in two axes: {where}: (line {line}) and {name}:",
                        line=values[0].line,
                        key=key,
                        hint="keep the key in one place; a zip: list pairs it with other keys",
                    )
                else:
                    first[key] = (f"{name}", values[0].line)

    def named_points(self) -> list[Point]:
        node = self.document.get("points")
        if node is None:
            return []
        line = self.document.line_of("points")
        if not isinstance(node, LineList) or not node:
            self.problem(
                ConfigTypeError if not isinstance(node, LineList) else ConfigValueError,
                "must be a non-empty list of points (mappings of dotted keys to values, with a name)",
                line=line,
                key="points",
                hint="points:\n  - name: long\n    training.steps: 10",
            )
            return []
        points: list[Point] = []
        lines = node.item_lines or [line] * len(node)
        for index, (item, item_line) in enumerate(zip(node, lines, strict=False)):
            axis = f"points[{index}]"
            if not isinstance(item, LineDict):
                self.problem(
                    ConfigTypeError,
                    f"a point is a mapping of dotted keys to values, got a {kind_of(item)}",
                    line=item_line,
                    key=axis,
                    hint="- name: long\n    training.steps: 10",
                )
                continue
            name = item.get("name", f"point-{index + 1}")
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                self.problem(
                    ConfigValueError,
                    f"point name {name!r} is not a plain name",
                    line=item.line_of("name"),
                    key=f"{axis}.name",
                    hint="letters, digits and _ . , = + - (starting with a letter or digit)",
                )
                continue
            settings = self.settings_of("points", item, axis=axis)
            points.append(Point(name, item.line_of("name") if "name" in item else item_line, tuple(settings)))
        return points

    def metric(self) -> str:
        value = self.document.get("metric", DEFAULT_METRIC)
        if value in METRICS:
            return str(value)
        close = suggest(str(value), list(METRICS), count=1)
        self.problem(
            ConfigValueError,
            f"unknown metric {value!r}",
            line=self.document.line_of("metric"),
            key="metric",
            hint=" ".join(part for part in (did_you_mean(close), f"one of: {', '.join(METRICS)}") if part),
        )
        return DEFAULT_METRIC

    def max_points(self) -> int | None:
        value = self.document.get("max_points", DEFAULT_MAX_POINTS)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        self.problem(
            ConfigTypeError,
            f"must be a whole number of points >= 1, got {value!r}",
            line=self.document.line_of("max_points"),
            key="max_points",
            hint=f"max_points: {DEFAULT_MAX_POINTS}",
        )
        return None


def _flatten(node: LineDict, prefix: str = "") -> Iterator[tuple[str, Any, int]]:
    """``(dotted key, value, line)`` of every leaf; a nested mapping continues the dotted key."""
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, LineDict) and value:
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value, node.line_of(key)
