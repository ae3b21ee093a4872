"""Parallel execution in dependency order: timeouts, retries, waivers, cancellation, events.

The runner never formats text: it emits events to listeners (the reporters), always from
the calling thread, so listeners need no locks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import heapq
import logging
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from jobcheck.checklist import Check
from jobcheck.kinds.base import Kind, KindContext, KindOptions, StackInfo
from jobcheck.metrics import BaselineSource
from jobcheck.outcomes import CheckEnded, CheckFailed
from jobcheck.plan import Plan
from jobcheck.results import (
    AttemptDetail,
    CheckResult,
    Outcome,
    RunOrigin,
    RunResult,
    Status,
)
from jobcheck.secrets import Masker, mask_data, shown

if TYPE_CHECKING:
    from jobcheck.result_cache import ResultCache

log = logging.getLogger("jobcheck")

# A kind that ignores its deadline gets this long past it before the runner gives up on it.
OVERRUN_GRACE_S = 5.0
RETRY_BACKOFF_S = 0.5
POLL_S = 0.1
INTERRUPT_WAIT_S = 10.0


class Listener(Protocol):
    def on_start(self, checks: Sequence[Check]) -> None: ...
    def on_check_start(self, check: Check) -> None: ...
    def on_check_retry(self, check: Check, attempt: int, outcome: Outcome) -> None: ...
    def on_check_done(self, result: CheckResult) -> None: ...
    def on_finish(self, run: RunResult) -> None: ...


class BaseListener:
    """A listener that ignores everything; subclass and override what you need.

    The staging stack's bring-up, a node of the plan but not a check of the checklist, has
    its own optional events: ``on_stack_start(stack)``, ``on_stack_progress(line)`` and
    ``on_stack_done(span, message)``; a listener without them simply does not see it. So is
    ``on_check_waited(check, why)``: right before ``on_check_start`` of a check that order
    alone held back (``after``, or a service a disruptive check shares with it)."""

    def on_start(self, checks: Sequence[Check]) -> None:
        pass

    def on_check_start(self, check: Check) -> None:
        pass

    def on_check_retry(self, check: Check, attempt: int, outcome: Outcome) -> None:
        pass

    def on_check_done(self, result: CheckResult) -> None:
        pass

    def on_finish(self, run: RunResult) -> None:
        pass

    def on_stack_start(self, stack: StackInfo | None) -> None:
        pass

    def on_stack_progress(self, line: str) -> None:
        pass

    def on_stack_done(self, span: AttemptDetail, message: str) -> None:
        pass


# What the stack's bring-up is given: the run's cancel event and where to say how it goes
# (one line at a time; the runner hands the lines to the listeners from its own thread).
# It returns "" when the stack is up, else the one-line reason its dependants end `error` with.
Prepare = Callable[[threading.Event, Callable[[str], None]], str]


@dataclass
class RunSettings:
    base_dir: Path
    env: Mapping[str, str]
    mask: Masker
    jobs: int = 4  # slots for checks that use a CPU (Kind.waits False)
    wait_jobs: int = 8  # slots for checks that mostly wait (Kind.waits True): --wait-jobs
    fail_fast: bool = False
    stack: StackInfo | None = None
    today: dt.date = field(default_factory=dt.date.today)
    # Brings the staging stack up, beside the checks that do not need it; the checks that do
    # (``uses_stack``) start when it is up, or end `error` with its reason when it is not.
    prepare: Prepare | None = None
    cache: ResultCache | None = None  # replays the passes of checks with `cache:`
    baselines: BaselineSource | None = None  # earlier runs' figures, for checks that measure


@dataclass
class _Attempted:
    outcome: Outcome
    attempts: int
    duration_s: float
    started_s: float | None = None  # from the run's start
    detail: list[AttemptDetail] = field(default_factory=list)
    cached_from: str = ""  # a replayed pass: the run that stored it


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
        self._active: set[threading.Event] = set()
        self._active_lock = threading.Lock()
        self._shared: dict[str, Any] = {}
        self._shared_lock = threading.Lock()
        self._stop_reason = ""
        self._t0 = time.monotonic()  # the run's clock: attempts are offsets from it
        self._running: dict[Future[_Attempted], Check] = {}
        # Every structure below is built once and touched once per check or per need: a run
        # of 10,000 checks or a chain of 5,000 costs what it holds, never its square.
        self._by_id = {c.id: c for c in [*plan.all, *plan.run]}
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
        self._stack_error = ""
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
        start = self._t0 = time.monotonic()
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

        if REACH_KEY in self._shared:
            close_forwards(self._shared)

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
            if self._stack_error:
                self._finish_now(check, Outcome.errored(self._stack_error))
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
                self._running[pool.submit(self._attempts, check)] = check

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

    def _stack_done(self, future: Future[str]) -> None:
        self._stack_future = None
        try:
            error = future.result()
        except Exception as exc:  # a bug in the bring-up ends its dependants, not the run
            log.debug("the stack bring-up raised", exc_info=True)
            error = f"the staging stack did not come up: {type(exc).__name__}: {exc}"
        self._stack_error = error
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

    def _complete(self, check: Check, future: Future[_Attempted]) -> None:
        self._busy[check.impl.waits] -= 1
        self._record(_finalize(check, future.result(), self.settings.today, self.settings.mask))
        self._settle([check.id])

    def _finish_now(self, check: Check, outcome: Outcome) -> None:
        """A result without an attempt (the stack it needs did not come up)."""
        attempted = _Attempted(outcome, 0, 0.0)
        self._record(_finalize(check, attempted, self.settings.today, self.settings.mask))

    def _record(self, result: CheckResult, *, emit: bool = True) -> None:
        if result.started_s is not None:
            result.waited_for = self._waited.get(result.id, "")
        self.results[result.id] = result
        self._unfinished.pop(result.id, None)
        if emit:
            self._emit("on_check_done", result)
        if self.settings.fail_fast and result.blocks and not self._stop_reason and emit:
            self._stop_reason = f"not run: --fail-fast stopped the run after `{result.id}` failed"

    # -- attempts (worker threads) -----------------------------------------------------

    def _attempts(self, check: Check) -> _Attempted:
        cache = self.settings.cache
        began = time.monotonic()
        hit = cache.replay(check) if cache is not None else None
        if hit is not None:
            took = time.monotonic() - began
            detail = [AttemptDetail(began - self._t0, took, Status.PASS)]
            return _Attempted(
                hit.outcome, hit.attempts, took, began - self._t0, detail, hit.cached_from
            )
        attempted = self._run_attempts(check)
        if cache is not None:
            cache.store(check, attempted.outcome, attempted.attempts, attempted.duration_s)
        return attempted

    def _run_attempts(self, check: Check) -> _Attempted:
        start = time.monotonic()
        attempts = 0
        allowed = 1 + (check.retries if check.retry_safe else 0)
        detail: list[AttemptDetail] = []
        while True:
            attempts += 1
            began = time.monotonic()
            outcome = self._one_attempt(check)
            ended = time.monotonic()
            detail.append(AttemptDetail(began - self._t0, ended - began, outcome.status))
            if outcome.status == Status.PASS or attempts >= allowed or self.cancel.is_set():
                return _Attempted(outcome, attempts, ended - start, detail[0].start_s, detail)
            live = shown(self.settings.mask)  # a live line: masked like the stack's
            said = dataclasses.replace(outcome, message=live(outcome.message), output="")
            self._events.put(("on_check_retry", (check, attempts, said)))
            self.cancel.wait(RETRY_BACKOFF_S * attempts)

    def _one_attempt(self, check: Check, timeout_s: float | None = None) -> Outcome:
        if self._stack_error and uses_stack(check):  # admitted before the stack failed
            return Outcome.errored(self._stack_error)
        cancel = threading.Event()
        timeout_s = check.timeout_s if timeout_s is None else timeout_s
        ctx = KindContext(
            check_id=check.id,
            base_dir=self.settings.base_dir,
            env=self.settings.env,
            timeout_s=timeout_s,
            mask=self.settings.mask,
            cancel=cancel,
            stack=self.settings.stack,
            shared=self._shared,
            shared_lock=self._shared_lock,
            baselines=self.settings.baselines,
        )
        if check.impl.recheck_option:
            ctx.recheck = functools.partial(self._recheck, caller=ctx)
        with self._active_lock:
            if self.cancel.is_set():
                return Outcome.errored("not run: the run was interrupted")
            self._active.add(cancel)
        box: list[Outcome] = []
        worker = threading.Thread(
            target=_call_kind, args=(check, ctx, box), name=f"check-{check.id}", daemon=True
        )
        worker.start()
        worker.join(timeout_s + OVERRUN_GRACE_S)
        with self._active_lock:
            self._active.discard(cancel)
        if box:
            return box[0]
        cancel.set()
        return Outcome.errored(
            f"timed out after {timeout_s:g}s (the {check.kind} check did not finish "
            "within its timeout); raise `timeout:` if this is expected to take longer"
        )

    def _recheck(
        self, ids: Sequence[str], *, caller: KindContext, within_s: float | None = None
    ) -> list[Outcome]:
        """Checks of the checklist run again for another (a rollback drill's ``recheck``), one
        attempt each in the caller's thread, within their timeouts, the caller's deadline and
        ``within_s``; a waiver applies as in the run. No event: they show in the caller's
        result."""
        until = caller.deadline if within_s is None else time.monotonic() + within_s
        outcomes = []
        for check_id in ids:
            check = self._by_id.get(check_id)
            left = min(until, caller.deadline) - time.monotonic()
            if check is None:  # the loader refuses unknown ids; a shard may lack one
                outcomes.append(Outcome.errored(f"`{check_id}` is not a check of this run"))
            elif caller.cancel.is_set() or left <= 0:
                outcomes.append(Outcome.errored("not run: out of time or interrupted"))
            else:
                outcome = self._one_attempt(check, min(check.timeout_s, left))
                outcomes.append(_apply_waiver(check, outcome, self.settings.today))
        return outcomes

    # -- interruption ------------------------------------------------------------------

    def _interrupt(self) -> None:
        """Stop everything: cancel running attempts, give them a moment, record the rest."""
        self.cancel.set()
        self._stack_cancel.set()
        if self._stack_future is not None and self.stack_up is None:
            self._record_stack(Status.ERROR, "interrupted while the stack was coming up")
        with self._active_lock:
            for event in self._active:
                event.set()
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
                attempted = _Attempted(Outcome.errored(stuck), 1, 0.0)
            if attempted.outcome.status == Status.PASS:
                self.results[check.id] = _finalize(
                    check, attempted, self.settings.today, self.settings.mask
                )
            else:
                self.results[check.id] = _finalize(
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
            _result(check, Outcome(Status.SKIP, reason), 0, 0.0, self.settings.mask), emit=emit
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


def uses_stack(check: Check) -> bool:
    """Whether ``check`` talks to the staging stack: a Docker-backed kind, a kind that declares
    it (``http``: the stack's published ports), or options naming ``${stack.SERVICE.PORT}``.
    When the run brings the stack up, such a check waits for it (and ends with its failure)."""
    return check.impl.docker or check.impl.uses_stack or check.stack_refs is not None


def _call_kind(check: Check, ctx: KindContext, box: list[Outcome]) -> None:
    refs = check.stack_refs
    if refs is None:
        box.append(run_kind(check.impl, check.options, ctx))
        return
    # lazy: the Docker engine probe, only for ${stack...} ports
    from jobcheck.stack_ports import noted, resolve

    try:  # the options of this attempt, with the stack's ports resolved now
        options = refs.options(check.options, lambda data: resolve(data, ctx))
    except CheckEnded as exc:
        box.append(Outcome(Status.ERROR, exc.message, exc.output, exc.details))
        return
    box.append(noted(run_kind(check.impl, options, ctx), ctx))  # the forwards it went through


def run_kind(kind: Kind[Any], options: KindOptions, ctx: KindContext) -> Outcome:
    """One attempt; CheckFailed, CheckError and any other exception become an outcome.
    Not masked: the finished result is (``masked``)."""
    try:
        outcome = kind.run(options, ctx)
    except CheckEnded as exc:
        status = Status.FAIL if isinstance(exc, CheckFailed) else Status.ERROR
        return Outcome(status, exc.message, exc.output, exc.details)
    except Exception as exc:  # a kind bug becomes an error result, never a crash of the run
        log.debug("kind %s raised", kind.name, exc_info=True)
        return Outcome.errored(
            f"the {kind.name} check crashed: {type(exc).__name__}: {_one_line(exc, ctx.mask)}",
            output="".join(traceback.format_exception(exc)[-3:]),
        )
    if not isinstance(outcome, Outcome):
        return Outcome.errored(f"the {kind.name} kind returned {type(outcome).__name__}")
    return outcome


CRASH_TEXT_CHARS = 300


def _one_line(exc: BaseException, mask: Callable[[str], str]) -> str:
    """An exception's text for a one-line message: its first line, or the last when it holds
    a traceback (where the error is said); whitespace collapsed, masked, then cut at
    CRASH_TEXT_CHARS (masked first: a cut must not leave a secret's head unmasked)."""
    lines = [ln.strip() for ln in mask(str(exc)).splitlines() if ln.strip()]
    if not lines:
        return ""
    text = " ".join(
        (lines[-1] if "Traceback (most recent call last)" in lines[0] else lines[0]).split()
    )
    return text if len(text) <= CRASH_TEXT_CHARS else text[: CRASH_TEXT_CHARS - 1] + "…"


def attempt(kind: Kind[Any], options: KindOptions, ctx: KindContext) -> Outcome:
    """One attempt outside a run (tests, tools): mapped as the runner maps it, and masked."""
    outcome = run_kind(kind, options, ctx)
    mask = ctx.mask
    return Outcome(
        outcome.status,
        mask(outcome.message),
        mask(outcome.output),
        mask_data(outcome.details, mask),
        metrics=dict(outcome.metrics),
        baseline=mask_data(dict(outcome.baseline), mask),
    )


def _result(
    check: Check,
    outcome: Outcome,
    attempts: int,
    duration_s: float,
    mask: Masker,
    *,
    started_s: float | None = None,
    detail: Sequence[AttemptDetail] = (),
) -> CheckResult:
    """The finished result, masked once here: no kind and no reporter can forget it."""
    result = CheckResult(
        **check.info(),
        status=outcome.status,
        message=outcome.message,
        attempts=attempts,
        duration_s=duration_s,
        output=outcome.output,
        details=dict(outcome.details),
        metrics=dict(outcome.metrics),
        baseline=mask_data(dict(outcome.baseline), mask),
        started_s=started_s,
        attempts_detail=list(detail),
    )
    # Every string it carries, masked and made safe to show (``secrets.shown``: a check's
    # output may hold terminal escapes, shown as ``\x1b``, never sent to a terminal).
    result.mask_shown(shown(mask), "message", "output", "tags", "details")
    return result


def _finalize(check: Check, attempted: _Attempted, today: dt.date, mask: Masker) -> CheckResult:
    outcome = attempted.outcome
    if outcome.status in (Status.FAIL, Status.ERROR) and attempted.attempts > 1:
        outcome.message += f" (after {attempted.attempts} attempts)"
    elif outcome.status in (Status.FAIL, Status.ERROR) and check.retries and not check.retry_safe:
        outcome.message += " (not retried: the check is not marked retry_safe)"
    outcome = _apply_waiver(check, outcome, today)
    result = _result(
        check,
        outcome,
        attempted.attempts,
        attempted.duration_s,
        mask,
        started_s=attempted.started_s,
        detail=attempted.detail,
    )
    result.cached, result.cached_from = bool(attempted.cached_from), attempted.cached_from
    return result


def _apply_waiver(check: Check, outcome: Outcome, today: dt.date) -> Outcome:
    waiver = check.waiver
    if waiver is None:
        return outcome
    label = f"waiver by {waiver.by} ({waiver.reason})"
    if waiver.until < today:
        return Outcome.failed(
            f"{label} expired on {waiver.until.isoformat()}; renew it or remove it "
            f"(the check itself ended {outcome.status}: {outcome.message})",
            output=outcome.output,
            details=outcome.details,
            metrics=outcome.metrics,
            baseline=outcome.baseline,
        )
    if outcome.status in (Status.FAIL, Status.ERROR):
        return Outcome(
            Status.WAIVED,
            f"{outcome.status} waived until {waiver.until.isoformat()}, {label}: {outcome.message}",
            outcome.output,
            outcome.details,
            outcome.metrics,
            outcome.baseline,
        )
    return outcome
