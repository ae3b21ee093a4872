"""Shared by the checks that measure (``load``, ``http`` under load): the baseline options and
the comparison of this run's figures with an earlier run's (``metrics.py``, DESIGN.md §8).

``baseline: release`` (the default) compares with the newest passing gate of ``jobcheck
release``, ``last`` with the newest passing run, ``none`` with nothing; ``tolerance`` (25 % by
default) is how much worse a figure may get. No baseline yet is a pass that says so.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator

from jobcheck.kinds.base import KindContext, KindOptions
from jobcheck.metrics import (
    DEFAULT_TOLERANCE,
    BaselineMode,
    parse_tolerance,
    regressions,
)
from jobcheck.results import Outcome


class BaselineOptions(KindOptions):
    baseline: BaselineMode = Field(
        "release",
        description="Compare with the last passing `jobcheck release` (release), the last "
        "passing run (last), or nothing (none)",
    )
    tolerance: float = Field(
        DEFAULT_TOLERANCE,
        description="How much worse a figure may get than its baseline: a percentage, 25%",
    )

    @field_validator("tolerance", mode="before")
    @classmethod
    def _percent(cls, value: object) -> float:
        return parse_tolerance(value)


@dataclass
class Comparison:
    """What the baseline said: its figures (for the report), regressions, and a note."""

    baseline: dict[str, Any] = field(default_factory=dict)
    regressions: list[str] = field(default_factory=list)
    note: str = ""


def compare(
    metrics: Mapping[str, float],
    compared: Sequence[str],
    options: BaselineOptions,
    ctx: KindContext,
) -> Comparison:
    """This run's ``metrics`` against the baseline the options ask for."""
    if options.baseline == "none":
        return Comparison(note="not compared (baseline: none)")
    if ctx.baselines is None:
        return Comparison(note="no baseline: this run keeps no history")
    found = ctx.baselines.lookup(ctx.check_id, options.baseline)
    if found is None:
        which = "release (`jobcheck release`)" if options.baseline == "release" else "run"
        return Comparison(
            note=f"no baseline yet: no earlier passing {which} measured this check; "
            "these figures become one"
        )
    lines = regressions(metrics, found, compared, options.tolerance)
    note = f"compared with {found.label} (tolerance {options.tolerance * 100:g} %)"
    return Comparison(found.as_dict(), lines, note)


class CpuClock:
    """This process's CPU time (user + system) from ``getrusage``: what the measurement itself
    costs. Process-wide: checks running beside this one count too."""

    def __init__(self) -> None:
        self.start = self._now()

    @staticmethod
    def _now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def per(self, count: int) -> float:
        """Milliseconds of CPU per item since this clock started."""
        return round((self._now() - self.start) * 1000 / max(count, 1), 3)


def judged(
    summary: str,
    findings: Sequence[str],
    comparison: Comparison,
    metrics: Mapping[str, float],
    details: Mapping[str, Any],
) -> Outcome:
    """Pass with the figures, or fail with the first thing wrong on the first line (what a
    table shows), then the figures and the rest; regressions are findings too."""
    wrong = [*findings, *comparison.regressions]
    note = [comparison.note] if comparison.note else []
    kw: dict[str, Any] = {
        "details": dict(details),
        "metrics": dict(metrics),
        "baseline": comparison.baseline,
    }
    if not wrong:
        return Outcome.passed("\n".join([summary, *note]), **kw)
    return Outcome.failed("\n".join([wrong[0], summary, *wrong[1:], *note]), **kw)
