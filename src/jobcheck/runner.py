"""Parallel execution in dependency order: timeouts, retries, waivers, cancellation, events.

The runner never formats text: it emits events to listeners (the reporters), always from
the calling thread, so listeners need no locks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
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
from jobcheck.outcomes import CheckEnded, CheckError, CheckFailed
from jobcheck.plan import Plan
from jobcheck.results import (
    AttemptDetail,
    CheckResult,
    Outcome,
    RunResult,
    Status,
    WaiverNote,
)
from jobcheck.secrets import Masker
from jobcheck.textsafe import plain_text

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
    """A listener that ignores everything; subclass and override what you need."""

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


@dataclass
class RunSettings:
    base_dir: Path
    env: Mapping[str, str]
    mask: Masker
    jobs: int = 4
    fail_fast: bool = False
    stack: StackInfo | None = None
    today: dt.date = field(default_factory=dt.date.today)
    # Runs once before any check (bringing the staging stack up, say); returns "" when all is
    # well, else a one-line reason that every Docker check then ends `error` with.
    prepare: Callable[[threading.Event], str] | None = None
    cache: ResultCache | None = None  # replays the passes of checks with `cache:`


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
        self._events: queue.Queue[tuple[Check, int, Outcome]] = queue.Queue()
        self._active: set[threading.Event] = set()
        self._active_lock = threading.Lock()
        self._shared: dict[str, Any] = {}
        self._shared_lock = threading.Lock()
        self._stop_reason = ""
        self._prepare_error = ""
        self._pending: list[Check] = critical_first(plan.run)
        self._running: dict[Future[_Attempted], Check] = {}
        self._t0 = time.monotonic()  # the run's clock: attempts are offsets from it

    # -- the run -----------------------------------------------------------------------

    def run(self, checklist_name: str) -> RunResult:
        started_at = dt.datetime.now(dt.UTC)
        start = self._t0 = time.monotonic()
        if self.settings.cache is not None:
            self.settings.cache.begin(started_at)
        interrupted = False
        stack_up: AttemptDetail | None = None
        try:
            if self.settings.prepare is not None:
                self._prepare_error = self.settings.prepare(self.cancel)
                status = Status.ERROR if self._prepare_error else Status.PASS
                stack_up = AttemptDetail(0.0, time.monotonic() - start, status)
            self._emit("on_start", self.plan.run)
            self._schedule()
        except KeyboardInterrupt:
            interrupted = True
            self._interrupt()
        result = RunResult(
            checklist=checklist_name,
            started_at=started_at,
            duration_s=time.monotonic() - start,
            checks=self._ordered_results(),
            interrupted=interrupted,
            deselected=dict(self.plan.deselected),
            stack_up=stack_up,
        )
        self._emit("on_finish", result)
        return result

    def _schedule(self) -> None:
        # Deselected checks (--only, --skip, --failed) end `skip` in the report, as the
        # contract says, without an event: the live view shows only what runs.
        for check_id, reason in self.plan.deselected.items():
            self._finish_skipped(check_id, reason, emit=False)
        pending = self._pending
        running = self._running
        pool = ThreadPoolExecutor(max_workers=max(1, self.settings.jobs))
        try:
            while pending or running:
                self._start_ready(pending, running, pool)
                if not running:
                    break
                done, _ = wait(list(running), timeout=POLL_S, return_when=FIRST_COMPLETED)
                self._drain_events()
                for future in done:
                    self._complete(running.pop(future), future)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for check in pending:
            self._finish_skipped(check.id, self._stop_reason or "not run")

    def _start_ready(
        self,
        pending: list[Check],
        running: dict[Future[_Attempted], Check],
        pool: ThreadPoolExecutor,
    ) -> None:
        for check in list(pending):
            if self._stop_reason:
                return
            if len(running) >= self.settings.jobs:
                return
            states = [self.results.get(n) for n in check.needs if n in self.plan.ids]
            if any(s is None for s in states):
                continue
            pending.remove(check)
            blocked = [s for s in states if s is not None and s.status not in _SATISFIED]
            if blocked:
                names = ", ".join(f"{b.id} ({b.status})" for b in blocked)
                self._finish_skipped(check.id, f"needs {names}, which did not pass")
                continue
            self._emit("on_check_start", check)
            running[pool.submit(self._attempts, check)] = check

    def _complete(self, check: Check, future: Future[_Attempted]) -> None:
        attempted = future.result()
        result = _finalize(check, attempted, self.settings.today, self.settings.mask)
        self.results[check.id] = result
        self._emit("on_check_done", result)
        if self.settings.fail_fast and result.blocks and not self._stop_reason:
            self._stop_reason = f"not run: --fail-fast stopped the run after `{check.id}` failed"

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
            self._events.put((check, attempts, outcome))
            self.cancel.wait(RETRY_BACKOFF_S * attempts)

    def _one_attempt(self, check: Check) -> Outcome:
        if self._prepare_error and (check.impl.docker or check.deferred is not None):
            return Outcome.errored(self._prepare_error)
        cancel = threading.Event()
        ctx = KindContext(
            check_id=check.id,
            base_dir=self.settings.base_dir,
            env=self.settings.env,
            timeout_s=check.timeout_s,
            mask=self.settings.mask,
            cancel=cancel,
            stack=self.settings.stack,
            shared=self._shared,
            shared_lock=self._shared_lock,
        )
        with self._active_lock:
            if self.cancel.is_set():
                return Outcome.errored("not run: the run was interrupted")
            self._active.add(cancel)
        box: list[Outcome] = []
        worker = threading.Thread(
            target=_call_kind, args=(check, ctx, box), name=f"check-{check.id}", daemon=True
        )
        worker.start()
        worker.join(check.timeout_s + OVERRUN_GRACE_S)
        with self._active_lock:
            self._active.discard(cancel)
        if box:
            return box[0]
        cancel.set()
        return Outcome.errored(
            f"timed out after {check.timeout_s:g}s (the {check.kind} check did not finish "
            "within its timeout); raise `timeout:` if this is expected to take longer"
        )

    # -- interruption ------------------------------------------------------------------

    def _interrupt(self) -> None:
        """Stop everything: cancel running attempts, give them a moment, record the rest."""
        self.cancel.set()
        with self._active_lock:
            for event in self._active:
                event.set()
        running = self._running
        deadline = time.monotonic() + INTERRUPT_WAIT_S
        for future, check in running.items():
            try:
                attempted = future.result(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                attempted = _Attempted(Outcome.errored("interrupted"), 1, 0.0)
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
                            "interrupted while running: " + attempted.outcome.message,
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
        check = next(c for c in self._all_checks() if c.id == check_id)
        result = _result(check, Outcome(Status.SKIP, reason), 0, 0.0, self.settings.mask)
        self.results[check_id] = result
        if emit:
            self._emit("on_check_done", result)

    def _all_checks(self) -> list[Check]:
        return self.plan.all

    def _ordered_results(self) -> list[CheckResult]:
        return [self.results[c.id] for c in self.plan.all if c.id in self.results]

    def _drain_events(self) -> None:
        while True:
            try:
                check, attempt, outcome = self._events.get_nowait()
            except queue.Empty:
                return
            self._emit("on_check_retry", check, attempt, outcome)

    def _emit(self, name: str, *args: Any) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, name)(*args)
            except Exception:  # a broken reporter must not break the gate
                log.exception("reporter %s failed in %s", type(listener).__name__, name)


_SATISFIED = (Status.PASS, Status.WAIVED)


def critical_first(checks: Sequence[Check]) -> list[Check]:
    """Checks with the longest chain of dependants first, so the critical path starts early.

    Iterative (dependants before the checks they need), so a chain of thousands is fine."""
    ids = {c.id for c in checks}
    dependants: dict[str, list[str]] = {c.id: [] for c in checks}
    waiting = {c.id: 0 for c in checks}
    for check in checks:
        for need in check.needs:
            if need in ids:
                dependants[need].append(check.id)
                waiting[need] += 1
    height: dict[str, int] = {}
    needs = {c.id: [n for n in c.needs if n in ids] for c in checks}
    ready = [c.id for c in checks if waiting[c.id] == 0]
    while ready:
        check_id = ready.pop()
        height[check_id] = 1 + max((height[d] for d in dependants[check_id]), default=0)
        for need in needs[check_id]:
            waiting[need] -= 1
            if waiting[need] == 0:
                ready.append(need)
    position = {c.id: i for i, c in enumerate(checks)}
    return sorted(checks, key=lambda c: (-height.get(c.id, 1), position[c.id]))


def _call_kind(check: Check, ctx: KindContext, box: list[Outcome]) -> None:
    try:
        options = options_for(check, ctx)
    except CheckEnded as exc:
        box.append(Outcome(Status.ERROR, exc.message, exc.output, exc.details))
        return
    box.append(run_kind(check.impl, options, ctx))


def options_for(check: Check, ctx: KindContext) -> KindOptions:
    """The options of this attempt: as loaded, or with their `${stack.SERVICE.PORT}` resolved
    from the running stack now (and validated again, as at load time)."""
    if check.deferred is None:
        return check.options
    from pydantic import ValidationError

    from jobcheck.stack_ports import resolve

    resolved = resolve(check.deferred, ctx)
    try:
        options: KindOptions = check.impl.options.model_validate(resolved)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CheckError(f"with the stack's ports filled in, `{where}`: {first['msg']}") from None
    return options


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
            f"the {kind.name} check crashed: {type(exc).__name__}: {exc}",
            output="".join(traceback.format_exception(exc)[-3:]),
        )
    if not isinstance(outcome, Outcome):
        return Outcome.errored(f"the {kind.name} kind returned {type(outcome).__name__}")
    return outcome


def attempt(kind: Kind[Any], options: KindOptions, ctx: KindContext) -> Outcome:
    """One attempt outside a run (tests, tools): mapped as the runner maps it, and masked."""
    outcome = run_kind(kind, options, ctx)
    mask = ctx.mask
    return Outcome(
        outcome.status,
        mask(outcome.message),
        mask(outcome.output),
        _mask_tree(outcome.details, mask),
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
        started_s=started_s,
        attempts_detail=list(detail),
    )
    return masked(result, mask)


def masked(result: CheckResult, masker: Masker) -> CheckResult:
    """Every string a result carries, masked and made safe to show: its message, output,
    details and metadata (a check's output may hold terminal escapes: screen clears, window
    titles, clipboard writes; they are shown as ``\x1b``, never sent to a terminal)."""
    mask = _shown(masker)
    for name in ("title", "owner", "expect", "rollback", "runbook", "message", "output"):
        setattr(result, name, mask(getattr(result, name)))
    result.tags = [mask(t) for t in result.tags]
    result.details = _mask_tree(result.details, mask)
    if result.waiver is not None:
        waiver = result.waiver
        result.waiver = WaiverNote(mask(waiver.reason), waiver.until, mask(waiver.by))
    return result


def _shown(mask: Masker) -> Callable[[str], str]:
    return lambda text: plain_text(mask(text))


def _mask_tree(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _mask_tree(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_tree(v, mask) for v in value]
    return value


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
        )
    if outcome.status in (Status.FAIL, Status.ERROR):
        return Outcome(
            Status.WAIVED,
            f"{outcome.status} waived until {waiver.until.isoformat()}, {label}: {outcome.message}",
            outcome.output,
            outcome.details,
        )
    return outcome
