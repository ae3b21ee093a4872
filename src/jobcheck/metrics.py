"""Measured figures and their baselines: percentiles, names, and before → after.

A check that measures (``load``, ``http`` under load) returns ``metrics``: name → number, the
unit in the name (``p95_wait_s``, ``throughput_per_s``, ``error_rate``). It compares some of
them with the figures of an earlier run (``baseline``), found by a ``BaselineSource`` the
pipeline hands in through the kind's context (the run history lives floors above the kinds).

Which way is worse: a time or an error rate going up, a throughput going down. A change beyond
the tolerance is a regression, unless it is smaller than the noise floor (``NOISE``): 10 ms on a
time, one point of error rate, 0.05 jobs/s of throughput.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

if TYPE_CHECKING:
    from jobcheck.results import CheckResult

BaselineMode = Literal["release", "last", "none"]
BASELINE_FROM: Final = "baseline_from"
DEFAULT_TOLERANCE: Final = 0.25

# name -> what people call it, in messages and tables
LABELS: Final[dict[str, str]] = {
    "p50_wait_s": "p50 wait",
    "p95_wait_s": "p95 wait",
    "p99_wait_s": "p99 wait",
    "max_wait_s": "max wait",
    "p50_run_s": "p50 run",
    "p95_run_s": "p95 run",
    "p50_total_s": "p50 total",
    "p95_total_s": "p95 total",
    "p99_total_s": "p99 total",
    "max_total_s": "max total",
    "throughput_per_s": "throughput",
    "error_rate": "error rate",
    "failed": "failed",
    "p50_s": "p50",
    "p95_s": "p95",
    "p99_s": "p99",
    "max_s": "max",
    "cpu_per_job_ms": "jobcheck CPU per job",
    "cpu_per_request_ms": "jobcheck CPU per request",
}
HIGHER_IS_BETTER: Final = frozenset({"throughput_per_s"})
# Below these absolute changes a difference is noise on a shared machine, never a regression.
NOISE: Final[dict[str, float]] = {"_s": 0.010, "error_rate": 0.01, "throughput_per_s": 0.05}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), interpolated between the two nearest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(prefix: str, values: Sequence[float]) -> dict[str, float]:
    """``p50_PREFIX_s``, ``p95_...``, ``p99_...``, ``max_...`` of ``values`` (none if empty)."""
    if not values:
        return {}
    figures = {f"p{q}_{prefix}s": percentile(values, q) for q in (50, 95, 99)}
    figures[f"max_{prefix}s"] = max(values)
    return {name: round(value, 4) for name, value in figures.items()}


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def shown(name: str, value: float) -> str:
    """``0.42s``, ``412.3/s``, ``1.5 %``: a figure as a person reads it."""
    if name.endswith("_ms"):
        return f"{value:.2f} ms"
    if name.endswith("_per_s"):
        return f"{value:.1f}/s"
    if name.endswith("_s"):
        return f"{value:.3f}s" if value < 0.1 else f"{value:.2f}s"
    if name == "error_rate":
        return f"{value * 100:.1f} %"
    return f"{value:g}"


def change_percent(before: float, after: float) -> float | None:
    """The change in percent of ``before``; None when there is nothing to divide by."""
    if before == 0:
        return None
    return (after - before) / before * 100


def before_after(name: str, before: float, after: float) -> str:
    """``0.42s → 0.88s (+110 %)``."""
    change = change_percent(before, after)
    text = f"{shown(name, before)} → {shown(name, after)}"
    return text if change is None else f"{text} ({change:+.0f} %)"


@dataclass(frozen=True)
class Baseline:
    """Figures an earlier run measured for one check, and where they came from."""

    figures: Mapping[str, float]
    label: str  # "v1.3.0" (a release) or "the run of 2026-12-07T04:12:00Z"
    origin: str  # the run: "v1.3.0, run 2026-12-07T04:12:00Z, commit 1a2b3c4d5e6f"

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.figures.items()}, BASELINE_FROM: self.origin}


class BaselineSource(Protocol):
    """Finds the figures a check is compared against (``run_history.HistoryBaselines``)."""

    def lookup(self, check_id: str, mode: BaselineMode) -> Baseline | None: ...


def noise(name: str) -> float:
    if name in NOISE:
        return NOISE[name]
    return NOISE["_s"] if name.endswith("_s") else 0.0


def regression(name: str, before: float, after: float, tolerance: float) -> bool:
    """``after`` is worse than ``before`` by more than ``tolerance`` (0.25: 25 %) and the noise."""
    worse = before - after if name in HIGHER_IS_BETTER else after - before
    if worse <= noise(name):
        return False
    if before == 0:
        return True  # from nothing to something above the noise: no percentage can excuse it
    return worse / before > tolerance


def regressions(
    metrics: Mapping[str, float],
    baseline: Baseline,
    compared: Sequence[str],
    tolerance: float,
) -> list[str]:
    """One line per compared metric that regressed: ``p95 wait 0.42s → 0.88s (+110 %,
    tolerance 25 %) against v1.3.0``."""
    lines = []
    for name in compared:
        if name not in metrics or name not in baseline.figures:
            continue
        before, after = baseline.figures[name], metrics[name]
        if regression(name, before, after, tolerance):
            change = change_percent(before, after)
            pct = f"{change:+.0f} %, " if change is not None else ""
            lines.append(
                f"{label(name)} {shown(name, before)} → {shown(name, after)} "
                f"({pct}tolerance {tolerance * 100:g} %) against {baseline.label}"
            )
    return lines


def parse_tolerance(value: object) -> float:
    """``25%``, ``"25 %"`` or 25 → 0.25. A number is a percentage."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage such as 25%, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().removesuffix("%").strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a percentage such as 25%, got {value!r}") from None
    else:
        raise ValueError(f"expected a percentage such as 25%, got {value!r}")
    if not 0 <= number <= 1000 or math.isnan(number):
        raise ValueError(f"expected a percentage from 0% to 1000%, got {value!r}")
    return number / 100


def metric_rows(checks: Iterable[CheckResult]) -> list[list[str]]:
    """One row per metric of every check that measured: check, metric, baseline, this run,
    change (``-`` where there is no baseline figure)."""
    rows = []
    for check in checks:
        for name, value in check.metrics.items():
            before = check.baseline.get(name)
            if isinstance(before, int | float) and not isinstance(before, bool):
                change = change_percent(float(before), value)
                was = shown(name, float(before))
                delta = "-" if change is None else f"{change:+.0f} %"
            else:
                was, delta = "-", "-"
            rows.append([check.id, label(name), was, shown(name, value), delta])
    return rows
