"""The ``primus-cli sweep plan`` table: each point's name, overrides, bundle and status.

Points that resolve to the same config share a bundle: the table names the first point with it
("same as NAME") and the head line counts points and distinct bundles.
"""

from __future__ import annotations

from typing import Any

from primus.sweep.plan import SweepPlan, status_of

_HEADER = ("point", "overrides", "bundle", "status")


def plan_rows(plan: SweepPlan) -> list[dict[str, Any]]:
    """One row per point (also the ``--format json`` output)."""
    return [
        {
            "point": p.name,
            "overrides": {s.key: s.value for s in p.point.settings},
            "bundle": str(p.bundle),
            "hash": p.key,
            "status": status_of(p.bundle),
            "same_as": p.same_as,
        }
        for p in plan.points
    ]


def format_plan(plan: SweepPlan) -> str:
    """The table as text: a head line, then aligned columns."""
    spec = plan.spec
    shared = len(plan.points) - len(plan.bundles)
    head = (
        f"sweep {spec.name} ({spec.file}): {len(plan.points)} point{'s' if len(plan.points) != 1 else ''}, "
        f"{len(plan.bundles)} bundle{'s' if len(plan.bundles) != 1 else ''}"
        + (f" ({shared} point{'s' if shared != 1 else ''} share another's)" if shared else "")
        + f"; base {spec.base}"
    )
    rows = [_HEADER]
    for p in plan.points:
        overrides = " ".join(s.shown() for s in p.point.settings) or "(base)"
        bundle = p.key + (f" (same as {p.same_as})" if p.same_as else "")
        bundle += " (assets not fetched yet)" if p.assets_pending else ""
        rows.append((p.name, overrides, bundle, status_of(p.bundle)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    exp_names = sorted({p.bundle.parent for p in plan.points})
    folders = ", ".join(str(folder) for folder in exp_names)
    return "\n".join([head, *lines, f"bundles under {folders}/"])
