"""Sweeps: a sweep file (base experiment + axes of dotted keys) expands to named points; each point is one
run through the same stages (validate -> freeze -> train -> verify) and one bundle; identical points share it.

- ``spec``: reading and checking the sweep file (``read_sweep``), and a single run as a sweep of one point;
- ``plan``: every point validated and hashed, with its status (``plan_sweep``, ``status_of``);
- ``table``: the ``primus-cli sweep plan`` table;
- ``report``: the sweep report (Markdown, HTML, PNG of the overlaid loss curves).

Torch-free: the Snakefile imports this at parse time.
"""

from primus.sweep.plan import STATUSES, PlannedPoint, SweepPlan, plan_sweep, status_of
from primus.sweep.spec import (
    BASE_POINT,
    DEFAULT_MAX_POINTS,
    DEFAULT_METRIC,
    METRICS,
    Point,
    Setting,
    SweepSpec,
    read_sweep,
    single_run,
)

__all__ = [
    "BASE_POINT",
    "DEFAULT_MAX_POINTS",
    "DEFAULT_METRIC",
    "METRICS",
    "STATUSES",
    "PlannedPoint",
    "Point",
    "Setting",
    "SweepPlan",
    "SweepSpec",
    "plan_sweep",
    "read_sweep",
    "single_run",
    "status_of",
]
