"""The shape of a run in time, as numbers: spans, the critical path, parallelism, axis ticks.

No HTML here (``html_timeline.py`` draws it): the HTML report and its tests share these, and a
run from an old report (schema 1, no ``started_s``) simply has no spans.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobcheck import kinds
from jobcheck.results import AttemptDetail, CheckResult, RunResult

# Axis steps a person reads easily, in seconds; the first that gives at most MAX_TICKS wins.
_STEPS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60)
_STEPS += (120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
MAX_TICKS = 8


@dataclass(frozen=True)
class Step:
    """From ``start_s`` on, ``running`` attempts ran at once (until the next step)."""

    start_s: float
    running: int


def has_timeline(run: RunResult) -> bool:
    return any(c.started_s is not None for c in run.checks)


def extent(run: RunResult) -> float:
    """The length of the shared time axis: the run, or the last attempt if it ended later."""
    ends = [run.duration_s]
    ends += [a.start_s + a.duration_s for c in run.checks for a in c.attempts_detail]
    ends += [c.started_s + c.duration_s for c in run.checks if c.started_s is not None]
    if run.stack_up is not None:
        ends.append(run.stack_up.start_s + run.stack_up.duration_s)
    return max(max(ends), 0.001)


# The critical path's name for the stack bring-up: not a check id (ids have no spaces).
STACK_UP = "staging stack up"


def waits_for_stack(kind_name: str) -> bool:
    """Whether checks of this kind wait for the stack bring-up when the run brings it up (the
    runner's rule, ``attempts.uses_stack``, read from the kind registry: a Docker-backed kind
    or one that declares ``uses_stack``). A kind this install does not know counts as not
    waiting; so does a check whose options name a stack port, which a report cannot tell."""
    try:
        kind = kinds.get_kind(kind_name)
    except (kinds.UnknownKind, ImportError):
        return False
    return bool(kind.docker or kind.uses_stack)


def critical_path(
    checks: Sequence[CheckResult],
    stack_up: AttemptDetail | None = None,
    waits: Callable[[str], bool] = waits_for_stack,
) -> list[str]:
    """The chain of ``needs`` (and of ``waited_for``: what order alone held a check back
    for) with the longest total duration, first check first.

    It bounds the run's wall time however many jobs run beside it. When the run brought the
    stack up (``stack_up``), the bring-up is one node of the graph (named STACK_UP) that
    every check of a kind that ``waits`` for it depends on. Ties go to the check that comes
    first in the report; a run where nothing took any time has no critical path."""
    by_id = {c.id: c for c in checks}
    length: dict[str, float] = {}
    via: dict[str, str | None] = {}
    if stack_up is not None:
        length[STACK_UP], via[STACK_UP] = stack_up.duration_s, None
    waited: dict[str, bool] = {}  # per kind: the registry is asked once
    for check in _needs_first(checks):
        needs = [n for n in check.before() if n in by_id]
        if stack_up is not None:
            if check.kind not in waited:
                waited[check.kind] = waits(check.kind)
            if waited[check.kind]:
                needs.append(STACK_UP)
        before = max(needs, key=lambda n: length[n], default=None)
        length[check.id] = check.duration_s + (length[before] if before else 0.0)
        via[check.id] = before
    ends = ([STACK_UP] if stack_up is not None else []) + list(by_id)  # report order
    end = max(ends, key=lambda i: length.get(i, 0.0), default=None)
    if end is None or length.get(end, 0.0) <= 0:
        return []
    path: list[str] = []
    node: str | None = end
    while node is not None:
        path.append(node)
        node = via[node]
    return path[::-1]


def critical_path_s(run: RunResult) -> float:
    """The length of the run's critical path, the stack bring-up counted as one node: the
    least wall time any scheduler could take for this run."""
    durations = {c.id: c.duration_s for c in run.checks}
    if run.stack_up is not None:
        durations[STACK_UP] = run.stack_up.duration_s
    return sum(durations[i] for i in critical_path(run.checks, run.stack_up))


def _needs_first(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """Report order where the needs allow; a need missing from the report is ignored (and a
    cycle, which the loader forbids, cannot hang this: its checks are left out).

    Kahn's algorithm by report position: a chain of thousands, in any order, costs what it
    holds (repeated passes over the report cost its square when the chain runs backwards)."""
    position = {c.id: i for i, c in enumerate(checks)}
    waiting = [0] * len(checks)
    dependants: list[list[int]] = [[] for _ in checks]
    for i, check in enumerate(checks):
        for need in {n for n in check.before() if n in position and n != check.id}:
            waiting[i] += 1
            dependants[position[need]].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[CheckResult] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(checks[i])
        for j in dependants[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    return order


def parallelism(checks: Sequence[CheckResult]) -> list[Step]:
    """How many attempts ran at once over time (a retry's backoff does not count)."""
    events: list[tuple[float, int]] = []
    for check in checks:
        for attempt in check.attempts_detail:
            events.append((attempt.start_s, 1))
            events.append((attempt.start_s + attempt.duration_s, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    steps: list[Step] = []
    running = 0
    for at, change in events:
        running += change
        if steps and steps[-1].start_s == at:
            steps[-1] = Step(at, running)
        else:
            steps.append(Step(at, running))
    return steps


def peak(steps: Sequence[Step]) -> int:
    return max((s.running for s in steps), default=0)


def ticks(total_s: float) -> list[float]:
    """Round times from 0 to ``total_s`` for the axis, at most MAX_TICKS + 1 of them."""
    step = next((s for s in _STEPS if total_s / s <= MAX_TICKS), _STEPS[-1])
    count = int(total_s / step + 1e-9)
    return [round(i * step, 3) for i in range(count + 1)]


def percent(seconds: float, total_s: float) -> str:
    """A CSS percentage of the axis, short and stable: ``12.5%``."""
    value = max(0.0, min(100.0, seconds / total_s * 100))
    return f"{value:.3f}".rstrip("0").rstrip(".") + "%"
