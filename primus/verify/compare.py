"""Comparing this run's loss curve with another bundle's, step by step (``--against OTHER_BUNDLE``).

Default tolerance, chosen from what train/DONE records (device, threads per worker, versions):

- ``0.0`` (bit-for-bit equal losses) when both runs recorded device ``cpu`` and one thread per worker,
  both set ``debug.deterministic: true`` and, where both recorded them, the same torch/torchtitan/python
  versions: measured on CPU, such runs (and a run resumed from a checkpoint) reproduce every loss exactly;
- ``CPU_THREADED_TOLERANCE`` for the same but with several threads per worker (or an older DONE that did not
  record threads): OpenMP may split reductions differently from run to run. Measured on the 2-core CPU
  host: 9 runs of 50 steps on 2 threads gave 3 curves about 1e-7 apart (relative, issue 13); 3 runs of 20
  steps on 2 threads, and 2 on 1 thread, were bit-identical (2026-12-01). 1e-5 leaves a hundredfold margin;
- ``DEFAULT_RELATIVE_TOLERANCE`` otherwise: GPU kernels (atomics, split reductions), different hardware or
  versions change the last bits of each step, which compound over a run.
"""

from __future__ import annotations

import math

from primus.verify.metrics import MetricsLog
from primus.verify.settings import RunSettings
from primus.verify.verdict import Check

#: Relative tolerance |a - b| <= tol * max(|a|, |b|) used unless both runs are deterministic CPU runs.
DEFAULT_RELATIVE_TOLERANCE = 1e-2


#: Relative tolerance for deterministic CPU runs on several threads (see the module docstring).
CPU_THREADED_TOLERANCE = 1e-5


def default_tolerance(mine: RunSettings, other: RunSettings) -> float:
    """``0.0``, ``CPU_THREADED_TOLERANCE`` or ``DEFAULT_RELATIVE_TOLERANCE``, from the recorded facts."""
    runs = (mine, other)
    if not all(s.device == "cpu" and s.deterministic for s in runs):
        return DEFAULT_RELATIVE_TOLERANCE
    if mine.versions and other.versions and mine.versions != other.versions:
        return DEFAULT_RELATIVE_TOLERANCE
    if all(s.threads == 1 for s in runs):
        return 0.0
    return CPU_THREADED_TOLERANCE


def losses_match(a: float, b: float, tolerance: float) -> bool:
    """Equal within ``tolerance`` (relative); NaN matches NaN and an infinity matches the same infinity,
    since two runs that diverge identically are reproducing each other."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=0.0) if tolerance > 0 else False


def compare_losses(mine: MetricsLog, other: MetricsLog, *, tolerance: float, other_name: str) -> Check:
    """One ``against`` check: pass when both logs have the same steps and every pair of losses matches.

    ``tolerance`` is relative (0.0: exact equality). The message names the first step that differs, the
    two values and their relative difference, or the first step that only one run logged.
    """
    ours = {r.step: r.loss for r in mine.steps}
    theirs = {r.step: r.loss for r in other.steps}
    rule = "exact equality" if tolerance == 0 else f"relative tolerance {tolerance:g}"
    details: dict[str, object] = {"against": other_name, "tolerance": tolerance}
    largest, largest_step = 0.0, None
    for step in sorted(ours.keys() | theirs.keys()):
        if step not in theirs or step not in ours:
            presence = (
                f"logged here but not in {other_name}"
                if step in ours
                else f"logged in {other_name} but not here"
            )
            return Check(
                "against",
                "fail",
                f"runs differ first at step {step}: it is {presence} (compared with {rule})",
                {**details, "first_different_step": step},
            )
        a, b = ours[step], theirs[step]
        if not losses_match(a, b, tolerance):
            relative = _relative(a, b)
            return Check(
                "against",
                "fail",
                f"losses differ first at step {step}: {a!r} here, {b!r} in {other_name}"
                f" (relative difference {relative:.3g}; compared with {rule})",
                {**details, "first_different_step": step, "loss": str(a), "other_loss": str(b)},
            )
        relative = _relative(a, b)
        if relative > largest:
            largest, largest_step = relative, step
    count = len(ours)
    if not count:
        return Check("against", "fail", f"neither this run nor {other_name} logged a step", details)
    closest = "identical" if largest_step is None else f"largest relative difference {largest:.3g}"
    where = "" if largest_step is None else f" at step {largest_step}"
    return Check(
        "against",
        "pass",
        f"all {count} logged losses match {other_name} ({rule}; {closest}{where})",
        {**details, "largest_relative_difference": largest},
    )


def _relative(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0 if losses_match(a, b, 0.0) else math.inf
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0
