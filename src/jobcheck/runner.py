"""Parallel execution in dependency order: slots, the staging stack, fail-fast, interrupts.

The runner schedules a run's checks by the plan's graph (``plan.Graph``), critical path first;
each check's attempts (timeouts, retries, the waiver, the masked result) are ``attempts.py``'s,
on the runner's worker threads. The runner never formats text: it emits events to listeners
(``listeners.py``, the reporters), always from the calling thread, so listeners need no locks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import logging
import queue
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from jobcheck.attempts import (
    OVERRUN_GRACE_S,
    Attempted,
    Attempts,
    finalize,
    result_of,
    uses_stack,
)
from jobcheck.checklist import Check
from jobcheck.listeners import Listener
from jobcheck.plan import Plan
from jobcheck.results import AttemptDetail, CheckResult, Outcome, RunOrigin, RunResult, Status
from jobcheck.run_settings import RunSettings
from jobcheck.secrets import shown

log = logging.getLogger("jobcheck")

POLL_S = 0.1
INTERRUPT_WAIT_S = 10.0


class Runner:
    def __init__(
        self, plan: Plan, settings: RunSettings, listeners: Sequence[Listener] = ()
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.listeners = list(listeners)
        self.cancel = threading.Event()
        self.results: dict[str, CheckResult] = {}
        self._events: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()
        self._stop_reason = ""
        self._t0 = time.monotonic()  # the run's clock: attempts are offsets from it
        self._running: dict[Future[Attempted], Check] = {}
        # Every structure below is built once and touched once per check or per need: a run
        # of 10,000 checks or a chain of 5,000 costs what it holds, never its square.
        self._by_id = {c.id: c for c in [*plan.all, *plan.run]}
        self._attempts = Attempts(settings, self._by_id, self.cancel, self._retried)
        self._unfinished: dict[str, Check] = {}  # planned, no result yet; critical first
        self._rank: dict[str, int] = {}
        self._needs: dict[str, list[str]] = {}  # the planned needs of each check, once each
        self._unresolved: dict[str, int] = {}  # of those, how many have no result yet
        self._dependants: dict[str, list[str]] = {}
        self._waited: dict[str, str] = {}  # why a check waited: the order-only edge it waited on
        self._ready: tuple[list[tuple[int, str]], list[tuple[int, str]]] = ([], [])  # by slot
        self._busy = [0, 0]  # running checks by slot: [uses a CPU, mostly waits]
        self._plan_graph()
        # the staging stack's bring-up: a node the checks that use it need
        self._stack_future: Future[str] | None = None
        self._stack_began = 0.0
        self._stack_cancel = threading.Event()
        self._gated: list[Check] = []  # ready, waiting for the stack
        self.stack_up: AttemptDetail | None = None

    def _plan_graph(self) -> None:
        """From the plan's graph: each check's needs, how many of the checks it waits for
        (needs, ``after``, a service's users) have no result yet, and its dependants."""
        graph = self.plan.graph
        for rank, check in enumerate(graph.critical_first()):
            self._unfinished[check.id] = check
            self._rank[check.id] = rank
            self._needs[check.id] = graph.needs[check.id]
            self._unresolved[check.id] = len(graph.before(check.id))
            self._dependants[check.id] = graph.dependants[check.id]

    # -- the run -----------------------------------------------------------------------

    def run(self, checklist_name: str, origin: RunOrigin | None = None) -> RunResult:
        started_at = dt.datetime.now(dt.UTC)
        start = self._t0 = self._attempts.t0 = time.monotonic()
        if self.settings.cache is not None:
            self.settings.cache.begin(started_at)
        interrupted = False
        try:
            self._emit("on_start", self.plan.run)
            self._schedule()
        except KeyboardInterrupt:
            interrupted = True
            self._interrupt()
        finally:
            self._close_forwards()
        result = RunResult(
            checklist=checklist_name,
            started_at=started_at,
            duration_s=time.monotonic() - start,
            checks=self._ordered_results(),
            interrupted=interrupted,
            deselected=dict(self.plan.deselected),
            stack_up=self.stack_up,
            **(origin or RunOrigin()).fields(),
        )
        self._emit("on_finish", result)
        return result

    def _close_forwards(self) -> None:
        """Forwards through the engine (``${stack.SERVICE.PORT}`` of an unpublished port) last
        as long as the run: listeners closed, their containers removed."""
        if "jobcheck.stack_ports" not in sys.modules:
            return  # only its `resolve` opens forwards: none, and the engine probe stays unloaded
        # lazy: the Docker engine probe, only for ${stack...} ports
        from jobcheck.stack_ports import REACH_KEY, close_forwards

        if REACH_KEY in self._attempts.shared:
            close_forwards(self._attempts.shared)

    def _schedule(self) -> None:
        # Deselected checks (--only, --skip, --failed) end `skip` in the report, as the
        # contract says, without an event: the live view shows only what runs.
        for check_id, reason in self.plan.deselected.items():
            self._finish_skipped(check_id, reason, emit=False)
        running = self._running
        pool = ThreadPoolExecutor(max_workers=max(1, self.settings.jobs) + self._wait_slots())
        stack_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stack")
        try:
            self._start_stack(stack_pool)
            for check_id in [c for c, n in self._unresolved.items() if n == 0]:
                self._settle(self._admit(self._unfinished[check_id]))
            while True:
                self._start_ready(pool)
                if self._stop_reason:
                    self._stack_cancel.set()  # --fail-fast: nothing more will use the stack
                waiting: list[Future[Any]] = list(running)
                if self._stack_future is not None:
                    waiting.append(self._stack_future)
                if not waiting:
                    break
                done, _ = wait(waiting, timeout=POLL_S, return_when=FIRST_COMPLETED)
                self._drain_events()
                for future in done:
                    if future is self._stack_future:
                        self._stack_done(future)
                    else:
                        self._complete(running.pop(future), future)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            stack_pool.shutdown(wait=False, cancel_futures=True)
        for check in list(self._unfinished.values()):
            self._finish_skipped(check.id, self._stop_reason or "not run")

    def _wait_slots(self) -> int:
        return max(1, self.settings.wait_jobs)

    def _admit(self, check: Check) -> list[str]:
        """``check``'s needs all have a result: queue it for a slot, for the stack, or end it
        now when a need did not pass. Returns the ids that got a result here."""
        states = [self.results[n] for n in self._needs[check.id]]
        blocked = [s for s in states if s.status not in _SATISFIED]
        if blocked:
            names = ", ".join(f"{b.id} ({b.status})" for b in blocked)
            self._finish_skipped(check.id, f"needs {names}, which did not pass")
            return [check.id]
        if self.settings.prepare is not None and uses_stack(check):
            if self._attempts.stack_error:
                self._finish_now(check, Outcome.errored(self._attempts.stack_error))
                return [check.id]
            if self.stack_up is None:
                self._gated.append(check)
                return []
        heapq.heappush(self._ready[check.impl.waits], (self._rank[check.id], check.id))
        return []

    def _settle(self, finished: list[str]) -> None:
        """These checks have a result: admit the dependants whose needs now all have one.
        A worklist, not recursion: a skip runs down a chain of thousands."""
        todo = list(finished)
        while todo and not self._stop_reason:
            ended = todo.pop()
            for dependant in self._dependants.get(ended, ()):
                self._unresolved[dependant] -= 1
                if self._unresolved[dependant] == 0:
                    self._note_wait(dependant, ended)
                    todo += self._admit(self._unfinished[dependant])

    def _note_wait(self, check_id: str, last: str) -> None:
        """The check was held back last by ``last``: when by order alone (``after``, a
        service it shares with a disruptive check), say so (live view, report, timeline)."""
        wait = self.plan.graph.wait_for(check_id, last)
        if wait is not None and self.results[last].started_s is not None:
            self._waited[check_id] = wait.words()

    def _start_ready(self, pool: ThreadPoolExecutor) -> None:
        limits = (max(1, self.settings.jobs), self._wait_slots())
        for slot in (0, 1):
            ready = self._ready[slot]
            while ready and self._busy[slot] < limits[slot] and not self._stop_reason:
                check = self._unfinished[heapq.heappop(ready)[1]]
                self._busy[slot] += 1
                if check.id in self._waited:
                    self._emit("on_check_waited", check, self._waited[check.id])
                self._emit("on_check_start", check)
                self._running[pool.submit(self._attempts.of, check)] = check

    # -- the staging stack -------------------------------------------------------------

    def _start_stack(self, pool: ThreadPoolExecutor) -> None:
        prepare = self.settings.prepare
        if prepare is None:
            return
        self._stack_began = time.monotonic()
        self._emit("on_stack_start", self.settings.stack)
        self._stack_future = pool.submit(prepare, self._stack_cancel, self._stack_said)

    def _stack_said(self, line: str) -> None:  # the stack's thread
        self._events.put(("on_stack_progress", (shown(self.settings.mask)(line),)))

    def _retried(self, check: Check, attempt: int, outcome: Outcome) -> None:  # a worker thread
        self._events.put(("on_check_retry", (check, attempt, outcome)))

    def _stack_done(self, future: Future[str]) -> None:
        self._stack_future = None
        try:
            error = future.result()
        except Exception as exc:  # a bug in the bring-up ends its dependants, not the run
            log.debug("the stack bring-up raised", exc_info=True)
            error = f"the staging stack did not come up: {type(exc).__name__}: {exc}"
        self._attempts.stack_error = error
        self._record_stack(Status.ERROR if error else Status.PASS, error or "the stack is up")
        gated, self._gated = self._gated, []
        if self._stop_reason:  # --fail-fast cancelled it: they end `skip` with that reason
            return
        for check in gated:
            if error:
                self._finish_now(check, Outcome.errored(error))
                self._settle([check.id])
            else:
                heapq.heappush(self._ready[check.impl.waits], (self._rank[check.id], check.id))

    def _record_stack(self, status: Status, message: str) -> None:
        took = time.monotonic() - self._stack_began
        self.stack_up = AttemptDetail(self._stack_began - self._t0, took, status)
        self._emit("on_stack_done", self.stack_up, shown(self.settings.mask)(message))

    def _complete(self, check: Check, future: Future[Attempted]) -> None:
        self._busy[check.impl.waits] -= 1
        self._record(finalize(check, future.result(), self.settings.today, self.settings.mask))
        self._settle([check.id])

    def _finish_now(self, check: Check, outcome: Outcome) -> None:
        """A result without an attempt (the stack it needs did not come up)."""
        attempted = Attempted(outcome, 0, 0.0)
        self._record(finalize(check, attempted, self.settings.today, self.settings.mask))

    def _record(self, result: CheckResult, *, emit: bool = True) -> None:
        if result.started_s is not None:
            result.waited_for = self._waited.get(result.id, "")
        self.results[result.id] = result
        self._unfinished.pop(result.id, None)
        if emit:
            self._emit("on_check_done", result)
        if self.settings.fail_fast and result.blocks and not self._stop_reason and emit:
            self._stop_reason = f"not run: --fail-fast stopped the run after `{result.id}` failed"

    # -- interruption ------------------------------------------------------------------

    def _interrupt(self) -> None:
        """Stop everything: cancel running attempts, give them a moment, record the rest."""
        self.cancel.set()
        self._stack_cancel.set()
        if self._stack_future is not None and self.stack_up is None:
            self._record_stack(Status.ERROR, "interrupted while the stack was coming up")
        self._attempts.stop_running()
        running = self._running
        deadline = time.monotonic() + INTERRUPT_WAIT_S
        # A kind that puts the stack back (``Kind.restores``) is waited for: its report says
        # whether it could.
        restoring = [c.timeout_s + OVERRUN_GRACE_S for c in running.values() if c.impl.restores]
        deadline = max([deadline, *(time.monotonic() + s for s in restoring)])
        for future, check in running.items():
            try:
                attempted = future.result(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:  # still running at the deadline
                stuck = f"it had not stopped {INTERRUPT_WAIT_S:g}s after the interrupt"
                attempted = Attempted(Outcome.errored(stuck), 1, 0.0)
            if attempted.outcome.status == Status.PASS:
                self.results[check.id] = finalize(
                    check, attempted, self.settings.today, self.settings.mask
                )
            else:
                self.results[check.id] = finalize(
                    check,
                    dataclasses.replace(
                        attempted,
                        outcome=Outcome.errored(
                            f"the run was interrupted (Ctrl-C or SIGTERM) while the {check.kind} "
                            f"check was running: {attempted.outcome.message}",
                            output=attempted.outcome.output,
                        ),
                    ),
                    self.settings.today,
                    self.settings.mask,
                )
        for check in self.plan.run:
            if check.id not in self.results:
                self._finish_skipped(check.id, "not run: the run was interrupted", emit=False)

    # -- helpers -----------------------------------------------------------------------

    def _finish_skipped(self, check_id: str, reason: str, *, emit: bool = True) -> None:
        check = self._by_id[check_id]
        self._record(
            result_of(check, Outcome(Status.SKIP, reason), 0, 0.0, self.settings.mask), emit=emit
        )

    def _ordered_results(self) -> list[CheckResult]:
        return [self.results[c.id] for c in self.plan.all if c.id in self.results]

    def _drain_events(self) -> None:
        while True:
            try:
                name, args = self._events.get_nowait()
            except queue.Empty:
                return
            self._emit(name, *args)

    def _emit(self, name: str, *args: Any) -> None:
        for listener in self.listeners:
            handler = getattr(listener, name, None)
            if handler is None:  # an optional event (the stack's) this listener does not take
                continue
            try:
                handler(*args)
            except Exception:  # a broken reporter must not break the gate
                log.exception("reporter %s failed in %s", type(listener).__name__, name)


_SATISFIED = (Status.PASS, Status.WAIVED)
