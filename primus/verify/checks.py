"""The checks on one run's metrics. Each takes what it needs and returns a ``Check``; none writes anything.

Loss and throughput numbers in messages use 4 significant digits: enough to see a trend, short enough to
read in a table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from primus.verify.metrics import MetricsLog, StepMetrics
from primus.verify.settings import RunSettings
from primus.verify.verdict import Check

#: Fewer logged steps than this and a "loss went down" judgement is noise (each tenth would be one point).
MIN_STEPS_FOR_TREND = 20


def steps_completed(settings: RunSettings, log: MetricsLog) -> Check:
    """Every step TorchTitan should have logged (step 1 and each multiple of ``metrics.log_freq`` up to
    ``training.steps``) has a record; the message names the missing ones as ranges."""
    expected = settings.expected_steps()
    logged = {record.step for record in log.steps}
    missing = [step for step in expected if step not in logged]
    last = log.steps[-1].step if log.steps else 0
    details = {
        "steps_configured": settings.steps,
        "last_step": last,
        "missing_steps": format_ranges(missing),
    }
    which = (
        "steps" if settings.log_freq == 1 else f"logged steps (step 1 and multiples of {settings.log_freq})"
    )
    if not missing:
        return Check(
            "steps_completed", "pass", f"all {len(expected)} {which} of {settings.steps} are present", details
        )
    if not logged:
        message = f"no step was logged; training.steps is {settings.steps}"
    else:
        message = (
            f"{len(missing)} of {len(expected)} {which} missing: {format_ranges(missing)}"
            f" (last logged step {last}, training.steps is {settings.steps})"
        )
    return Check("steps_completed", "fail", message, details)


def loss_finite(log: MetricsLog) -> Check:
    """Every logged loss is a finite number; the message names the first step where it was not."""
    if not log.steps:
        return Check("loss_finite", "fail", "no loss was logged")
    bad = [record for record in log.steps if not math.isfinite(record.loss)]
    if not bad:
        return Check("loss_finite", "pass", f"all {len(log.steps)} logged losses are finite")
    first = bad[0]
    return Check(
        "loss_finite",
        "fail",
        f"loss is {first.loss} at step {first.step} (first non-finite loss;"
        f" {len(bad)} of {len(log.steps)} logged losses are non-finite)",
        {"first_bad_step": first.step, "first_bad_value": str(first.loss), "non_finite_count": len(bad)},
    )


def loss_decreased(log: MetricsLog) -> Check:
    """The mean loss of the last tenth of the logged steps is below that of the first tenth.

    Skipped for runs with fewer than ``MIN_STEPS_FOR_TREND`` logged steps, and when a loss is not finite
    (``loss_finite`` already fails then; a mean over NaN says nothing more).
    """
    count = len(log.steps)
    if count < MIN_STEPS_FOR_TREND:
        return Check(
            "loss_decreased",
            "skip",
            f"not judged: {count} logged steps, a trend needs {MIN_STEPS_FOR_TREND} or more",
            {"steps_logged": count},
        )
    if not all(math.isfinite(loss) for loss in log.losses()):
        return Check("loss_decreased", "skip", "not judged: some losses are not finite (see loss_finite)")
    tenth = count // 10
    head, tail = log.steps[:tenth], log.steps[-tenth:]
    first_mean, last_mean = _mean(r.loss for r in head), _mean(r.loss for r in tail)
    details = {
        "first_tenth_mean": first_mean,
        "last_tenth_mean": last_mean,
        "first_tenth_steps": _span(head),
        "last_tenth_steps": _span(tail),
    }
    numbers = (
        f"{first_mean:.4g} over the first tenth (steps {_span(head)})"
        f" and {last_mean:.4g} over the last tenth (steps {_span(tail)})"
    )
    if last_mean < first_mean:
        return Check("loss_decreased", "pass", f"mean loss fell: {numbers}", details)
    return Check("loss_decreased", "fail", f"mean loss did not fall: {numbers}", details)


def throughput_recorded(log: MetricsLog) -> Check:
    """Every record carries a finite, positive ``tokens_per_second``."""
    if not log.steps:
        return Check("throughput_recorded", "fail", "no step was logged, so no throughput either")
    missing = [r.step for r in log.steps if r.tokens_per_second is None]
    bad = [
        r for r in log.steps if r.tokens_per_second is not None and not _positive_finite(r.tokens_per_second)
    ]
    if missing:
        return Check(
            "throughput_recorded",
            "fail",
            f"tokens_per_second missing at {len(missing)} of {len(log.steps)} steps:"
            f" {format_ranges(missing)}",
            {"missing_steps": format_ranges(missing)},
        )
    if bad:
        return Check(
            "throughput_recorded",
            "fail",
            f"tokens_per_second is {bad[0].tokens_per_second} at step {bad[0].step}; it must be positive",
            {"first_bad_step": bad[0].step},
        )
    rates = [r.tokens_per_second for r in log.steps if r.tokens_per_second is not None]
    mean = _mean(rates)
    return Check(
        "throughput_recorded",
        "pass",
        f"tokens_per_second recorded at all {len(rates)} steps (mean {mean:.4g} tokens/s)",
        {"mean_tokens_per_second": mean},
    )


def format_ranges(steps: Sequence[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"``; beyond 10 ranges, the rest are counted."""
    ranges: list[str] = []
    start = previous = None
    for step in [*steps, None]:
        if start is not None and (step is None or step != previous + 1):
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if step is not None and start is None:
            start = step
        previous = step
    if len(ranges) > 10:
        return ", ".join(ranges[:10]) + f" and {len(ranges) - 10} more ranges"
    return ", ".join(ranges)


def _span(records: Sequence[StepMetrics]) -> str:
    first, last = records[0].step, records[-1].step
    return str(first) if first == last else f"{first}-{last}"


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return math.fsum(values) / len(values)


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0
