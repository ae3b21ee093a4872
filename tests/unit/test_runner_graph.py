"""The plan as a graph: the stack bring-up as a node, slots for work and for waiting, and
scheduling that costs what the plan holds (counted, not timed)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from jobcheck.attempts import uses_stack
from jobcheck.checklist import Check
from jobcheck.kinds.base import Kind, KindContext, KindOptions, StackInfo
from jobcheck.listeners import BaseListener
from jobcheck.plan import Plan, order, select
from jobcheck.results import AttemptDetail, CheckResult, Outcome, Status
from jobcheck.run_settings import RunSettings
from jobcheck.runner import Runner
from jobcheck.secrets import Masker
from jobcheck.stack_refs import StackRefs


class Options(KindOptions):
    seconds: float = 0.0


def _sleep(options: Options, ctx: KindContext) -> Outcome:
    ctx.sleep(options.seconds)
    return Outcome.passed(f"slept {options.seconds:g}s")


LOCAL = Kind(name="local", options=Options, run=_sleep)  # uses a CPU (the default)
WAITS = Kind(name="waits", options=Options, run=_sleep, waits=True)
DOCKER = Kind(name="docker", options=Options, run=_sleep, docker=True, waits=True)
PORTS = Kind(name="ports", options=Options, run=_sleep, uses_stack=True, waits=True)


def check(check_id: str, kind: Kind[Any] = LOCAL, seconds: float = 0.0, **kw: Any) -> Check:
    return Check(
        id=check_id,
        title=check_id,
        kind=kind.name,
        impl=kind,
        options=Options(seconds=seconds),
        owner="@a",
        source=Path("jobcheck.yaml"),
        line=1,
        timeout_s=30.0,
        **kw,
    )


class Events(BaseListener):
    """What the listeners saw, with the run clock of each event."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.seen: list[tuple[float, str, str]] = []

    def _note(self, what: str, name: str) -> None:
        self.seen.append((time.monotonic() - self.t0, what, name))

    def on_check_start(self, check: Check) -> None:
        self._note("start", check.id)

    def on_check_done(self, result: CheckResult) -> None:
        self._note("done", result.id)

    def on_stack_start(self, stack: StackInfo | None) -> None:
        self._note("stack-start", stack.project if stack else "")

    def on_stack_progress(self, line: str) -> None:
        self._note("stack-said", line)

    def on_stack_done(self, span: AttemptDetail, message: str) -> None:
        self._note("stack-done", message)

    def when(self, what: str, name: str = "") -> float:
        return next(t for t, w, n in self.seen if w == what and (not name or n == name))


def run(
    checks: Sequence[Check],
    *,
    jobs: int = 2,
    wait_jobs: int = 8,
    prepare: Callable[[threading.Event, Callable[[str], None]], str] | None = None,
    listeners: Sequence[BaseListener] = (),
    fail_fast: bool = False,
) -> tuple[dict[str, CheckResult], AttemptDetail | None]:
    settings = RunSettings(
        base_dir=Path.cwd(),
        env={},
        mask=Masker(),
        jobs=jobs,
        wait_jobs=wait_jobs,
        prepare=prepare,
        fail_fast=fail_fast,
        stack=StackInfo(compose=[], project="jc-sched-unit"),
    )
    result = Runner(select(checks), settings, listeners).run("graph")
    return {c.id: c for c in result.checks}, result.stack_up


def stack_taking(seconds: float, error: str = "") -> Callable[..., str]:
    def prepare(cancel: threading.Event, progress: Callable[[str], None]) -> str:
        progress("building images")
        cancel.wait(seconds)
        return error

    return prepare


# --- the stack as a node --------------------------------------------------------------------


def test_which_checks_use_the_stack() -> None:
    assert uses_stack(check("d", DOCKER)) and uses_stack(check("p", PORTS))
    assert not uses_stack(check("l", LOCAL)) and not uses_stack(check("w", WAITS))
    assert uses_stack(
        check("w", WAITS, stack_refs=StackRefs.find({"url": "http://${stack.api.8000}/"}))
    )


def test_local_checks_run_while_the_stack_comes_up_and_its_users_after() -> None:
    events = Events()
    checks = [check("lint", seconds=0.2), check("api", PORTS), check("worker", DOCKER)]
    results, span = run(checks, prepare=stack_taking(0.6), listeners=[events])
    assert span is not None and span.status == Status.PASS
    stack_end = span.start_s + span.duration_s
    lint = results["lint"]
    assert lint.status == Status.PASS and lint.started_s is not None
    # lint finished before the stack was up: it never waited for it
    assert lint.started_s + lint.duration_s < stack_end
    for user in ("api", "worker"):
        started = results[user].started_s
        assert results[user].status == Status.PASS and started is not None
        assert started >= stack_end
    assert events.when("done", "lint") < events.when("stack-done") < events.when("start", "api")
    assert events.when("stack-said") < events.when("stack-done")
    assert ("stack-said" in {w for _, w, _ in events.seen}) and events.seen[0][1] == "stack-start"


def test_a_failed_stack_up_ends_its_dependants_at_once_with_its_cause() -> None:
    cause = "the staging stack did not come up: `docker compose build` exited 1: no space left"
    events = Events()
    checks = [
        check("tests", seconds=1.5),
        check("api", PORTS),
        check("worker", DOCKER),
        check("canary", WAITS, needs=["worker"]),
    ]
    results, span = run(checks, prepare=stack_taking(0.2, cause), listeners=[events])
    assert span is not None and span.status == Status.ERROR
    for user in ("api", "worker"):
        assert (results[user].status, results[user].message) == (Status.ERROR, cause)
        assert results[user].attempts == 0 and results[user].started_s is None
    assert results["canary"].status == Status.SKIP
    assert results["canary"].message == "needs worker (error), which did not pass"
    assert results["tests"].status == Status.PASS  # a local check runs on
    # at once: the dependants ended when the stack did, long before the local check ended
    assert events.when("done", "worker") < events.when("done", "tests")
    assert events.when("done", "api") - events.when("stack-done") < 0.5


def test_fail_fast_after_a_failed_stack_up_stops_the_rest() -> None:
    checks = [check("api", PORTS), check("later", LOCAL, needs=["api"])]
    results, _ = run(checks, prepare=stack_taking(0.1, "the stack failed"), fail_fast=True)
    assert results["api"].status == Status.ERROR
    assert results["later"].status == Status.SKIP


def test_fail_fast_on_a_local_failure_cancels_the_bring_up() -> None:
    failing = Kind(name="fails", options=Options, run=lambda o, c: Outcome.failed("lint found 3"))
    checks = [check("lint", failing), check("api", PORTS)]

    def prepare(cancel: threading.Event, progress: Callable[[str], None]) -> str:
        return "" if not cancel.wait(30) else "cancelled"

    start = time.monotonic()
    results, span = run(checks, prepare=prepare, fail_fast=True)
    assert time.monotonic() - start < 10  # not the 30 s bring-up
    assert span is not None and span.status == Status.ERROR
    assert results["api"].status == Status.SKIP
    assert results["api"].message == "not run: --fail-fast stopped the run after `lint` failed"


def test_no_stack_node_without_a_bring_up() -> None:
    results, span = run([check("api", PORTS), check("lint")])
    assert span is None and {r.status for r in results.values()} == {Status.PASS}


# --- slots ----------------------------------------------------------------------------------


def overlapping(results: dict[str, CheckResult], ids: Sequence[str]) -> bool:
    """Every one of ``ids`` started before any of them ended: they ran at the same time."""
    spans = [(results[i].started_s or 0.0, results[i].duration_s) for i in ids]
    return max(s for s, _ in spans) < min(s + d for s, d in spans)


def test_waiting_checks_run_beside_the_cpu_slots() -> None:
    checks = [check("cpu", seconds=0.6), *(check(f"w{i}", WAITS, seconds=0.6) for i in range(3))]
    results, _ = run(checks, jobs=1, wait_jobs=3)
    assert overlapping(results, ["cpu", "w0", "w1", "w2"])


def test_wait_jobs_bounds_the_waiting_checks() -> None:
    checks = [check(f"w{i}", WAITS, seconds=0.4) for i in range(2)]
    results, _ = run(checks, jobs=4, wait_jobs=1)
    assert not overlapping(results, ["w0", "w1"])


def test_jobs_still_bounds_the_cpu_checks() -> None:
    checks = [check(f"c{i}", seconds=0.4) for i in range(2)]
    results, _ = run(checks, jobs=1, wait_jobs=8)
    assert not overlapping(results, ["c0", "c1"])


def test_the_builtin_kinds_declare_their_slot_and_stack_use() -> None:
    from jobcheck.kinds import get_kind

    waits = {n for n in ("http", "job", "queue", "service", "shutdown", "stop_config")}
    for name in ("command", "lint", "pytest", "env", "compose", "release", *waits):
        kind = get_kind(name)
        assert kind.waits == (name in waits), name
        assert (kind.docker or kind.uses_stack) == (name in waits), name


# --- cost that grows with the plan, counted ---------------------------------------------------


def lines_run(work: Callable[[], object], files: Sequence[str]) -> int:
    """Python lines executed in ``files`` by this thread while ``work`` runs."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if frame.f_code.co_filename.endswith(tuple(files)):
            if event == "line":
                count += 1
            return tracer
        return None

    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


SCHEDULER = ("jobcheck/runner.py", "jobcheck/attempts.py", "jobcheck/plan.py")


def instant(count: int, *, chain: bool = False, reverse: bool = False) -> list[Check]:
    checks = [check(f"c{i}", needs=[f"c{i - 1}"] if chain and i else []) for i in range(count)]
    return checks[::-1] if reverse else checks


def growth(make: Callable[[int], list[Check]], work: Callable[[list[Check]], object]) -> float:
    small, large = 200, 800
    return lines_run(lambda: work(make(large)), SCHEDULER) / lines_run(
        lambda: work(make(small)), SCHEDULER
    )


def test_ordering_costs_what_the_plan_holds() -> None:
    # 4 times the checks: about 4 times the work (a quadratic order would do 16 times)
    for reverse in (False, True):
        assert growth(lambda n, r=reverse: instant(n, chain=True, reverse=r), order) < 6
    assert growth(instant, order) < 6


def test_a_run_costs_what_the_plan_holds() -> None:
    def work(checks: list[Check]) -> object:
        return run(checks, jobs=4)

    assert growth(instant, work) < 6
    assert growth(lambda n: instant(n, chain=True), work) < 6


def test_a_chain_of_thousands_runs_and_a_failure_skips_down_it() -> None:
    checks = instant(3000, chain=True)
    failing = Kind(name="fails", options=Options, run=lambda o, c: Outcome.failed("no"))
    checks[0] = check("c0", failing)
    results, _ = run(checks)
    assert results["c0"].status == Status.FAIL
    assert results["c2999"].status == Status.SKIP
    assert results["c2999"].message == "needs c2998 (skip), which did not pass"


def test_the_plan_of_a_chain_keeps_its_order() -> None:
    checks = instant(3000, chain=True, reverse=True)
    plan: Plan = select(checks)
    assert [c.id for c in plan.run] == [f"c{i}" for i in range(3000)]
