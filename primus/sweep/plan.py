"""Planning a sweep: every point through the validate stage, its bundle path and its status. No writes.

A point is the base experiment with the sweep's ``overrides:`` and the point's own values applied as
command-line overrides (later wins: workflow overrides, then the sweep's, then the point's). Each point is
validated; every problem of every point is collected and reported at once, a problem caused by a sweep value
located at that value's file:line and naming the point and its axis. Points whose resolved config is equal
have the same content hash, so they share one bundle (``PlannedPoint.same_as``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from primus import stages
from primus.bundle import layout
from primus.config.model import ResolvedExperiment
from primus.config.overrides import COMMAND_LINE
from primus.errors import AssetCacheError, ConfigError, ConfigErrors, PrimusError
from primus.sweep.spec import Point, Setting, SweepSpec

#: A bundle's progress through the stages, from the files the stages write last.
STATUSES = ("new", "frozen", "trained", "verified")


@dataclass(frozen=True)
class PlannedPoint:
    """One validated point: where it freezes to, and the earlier point it shares that bundle with."""

    point: Point
    validated: stages.Validated
    bundle: Path  # for the runtime planned (the host bundle unless an image ID was given)
    overrides: tuple[str, ...]  # everything given to the loader after the base experiment
    same_as: str | None = None  # name of the first point with the same bundle
    #: a Hub repository it reads is not fetched yet: ``bundle`` is then named by the config-only hash, and
    #: the real one (its pins are part of the hash) is known after ``primus-cli assets fetch``
    assets_pending: bool = False

    @property
    def name(self) -> str:
        return self.point.name

    @property
    def key(self) -> str:
        return self.bundle.name


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    points: tuple[PlannedPoint, ...]
    #: validation warnings of the points, each once, located and named like the errors
    warnings: tuple[PrimusError, ...] = ()

    @property
    def bundles(self) -> list[Path]:
        """Each distinct bundle once, in point order."""
        return list(dict.fromkeys(p.bundle for p in self.points))


def plan_sweep(
    spec: SweepSpec,
    *,
    runs_dir: Path,
    base_overrides: Sequence[str] = (),
    configs_root: Path | None = None,
    image_id: str | None = None,
    strict: bool = False,
) -> SweepPlan:
    """Validate every point of ``spec`` and compute its bundle; ConfigErrors with every problem found.

    ``strict``: validation warnings are errors (as ``primus-cli validate --strict``)."""
    from primus.config import with_overrides

    shared = [*base_overrides, *_overrides(spec.overrides)]
    base = _load_base(spec, shared, configs_root, strict)
    planned: list[PlannedPoint] = []
    problems: dict[tuple, tuple[PrimusError, list[str]]] = {}
    warnings: dict[tuple, tuple[PrimusError, list[str]]] = {}
    first_of_bundle: dict[Path, str] = {}
    for point in spec.points:
        overrides = (*shared, *point.overrides())
        try:
            # The base is loaded once; each point only adds its own values (command-line layers).
            validated = stages.validate_resolved(with_overrides(base, point.overrides()), strict=strict)
        except ConfigError as error:
            if spec.path is None:
                raise  # a single run: its problems exactly as primus-cli reports them
            _collect(problems, _problems_of(error), point, spec)
            continue
        _collect(warnings, validated.warnings, point, spec)
        try:
            bundle, pending = validated.bundle(runs_dir=runs_dir, image_id=image_id), False
        except AssetCacheError:
            bundle, pending = validated.bundle(runs_dir=runs_dir, image_id=image_id, assets=[]), True
        same_as = first_of_bundle.setdefault(bundle, point.name)
        planned.append(
            PlannedPoint(
                point, validated, bundle, overrides, None if same_as == point.name else same_as, pending
            )
        )
    if problems:
        raise ConfigErrors([_named(error, names) for error, names in problems.values()])
    return SweepPlan(spec, tuple(planned), tuple(_named(w, names) for w, names in warnings.values()))


def _collect(
    found: dict[tuple, tuple[PrimusError, list[str]]], problems, point: Point, spec: SweepSpec
) -> None:
    """Each problem once (located at the sweep value that caused it), with the points it concerns."""
    for problem in problems:
        located = _locate(problem, point, spec)
        key = (located.location, located.key, located.message)
        found.setdefault(key, (located, []))[1].append(point.name)


def _overrides(settings: Sequence[Setting]) -> list[str]:
    """Sweep-level settings as overrides; a single run's settings are its command-line overrides as given."""
    return [s.value if s.file == COMMAND_LINE else s.override() for s in settings]


def _load_base(
    spec: SweepSpec, overrides: Sequence[str], configs_root: Path | None, strict: bool
) -> ResolvedExperiment:
    """The base experiment with the sweep's overrides, loaded once for every point.

    It must load, and be valid on its own (one report, not one per point), unless the first point's values
    make it valid (a base that needs an axis value). Problems of the sweep's own ``overrides:`` are shown
    at their lines in the sweep file. A single run's problems are its own, as ``primus-cli`` reports them.
    """
    from primus.config import load_experiment, with_overrides

    try:
        base = load_experiment(spec.base, overrides, configs_root=configs_root)
        if spec.path is not None:
            try:
                stages.validate_resolved(base, strict=strict)
            except ConfigError:
                if not (spec.points and spec.points[0].settings):
                    raise
                first = with_overrides(base, spec.points[0].overrides())
                stages.validate_resolved(first, strict=strict)
    except ConfigError as error:
        if spec.path is None:
            raise
        head = ConfigError(
            f"the base experiment {spec.base} is invalid (problems below)",
            file=spec.file,
            line=spec.base_line,
            key="base",
            hint="fix the experiment (or the sweep's overrides:) first; "
            "`primus-cli validate EXPERIMENT` shows the same",
        )
        by_key = {s.key: s for s in spec.overrides}
        rest = [
            _at_setting(p, by_key[p.key]) if _from_command_line(p, by_key) else p for p in _problems_of(error)
        ]
        raise ConfigErrors([head, *rest]) from None
    return base


def _problems_of(error: ConfigError) -> list[PrimusError]:
    return list(error.errors) if isinstance(error, ConfigErrors) else [error]


def _from_command_line(problem: PrimusError, settings: dict[str, Setting]) -> bool:
    return problem.file == COMMAND_LINE and problem.key in settings


def _at_setting(problem: PrimusError, setting: Setting, prefix: str = "") -> PrimusError:
    moved = copy.copy(problem)
    moved.file, moved.line = setting.file, setting.line
    moved.message = f"{prefix}{problem.message}"
    return moved


def _locate(problem: PrimusError, point: Point, spec: SweepSpec) -> PrimusError:
    """A point's problem at the sweep value that caused it (``point 'x', axis grid: ...``)."""
    settings = {s.key: s for s in (*spec.overrides, *point.settings)}
    if _from_command_line(problem, settings):
        setting = settings[problem.key]
        return _at_setting(problem, setting, f"axis {setting.axis}: ")
    moved = copy.copy(problem)
    return moved


def _named(problem: PrimusError, names: list[str]) -> PrimusError:
    """Prefix the message with the point (or points) it concerns."""
    named = copy.copy(problem)
    if len(names) == 1:
        who = f"point '{names[0]}'"
    else:
        shown = ", ".join(f"'{name}'" for name in names[:3])
        who = f"points {shown}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    named.message = f"{who}: {problem.message}"
    return named


def status_of(bundle: Path) -> str:
    """new / frozen / trained / verified: the last stage that finished for ``bundle``."""

    if (bundle / layout.VERDICT_PATH).is_file():
        return "verified"
    if (bundle / layout.DONE_PATH).is_file():
        return "trained"
    if (bundle / layout.MANIFEST).is_file():
        return "frozen"
    return "new"
