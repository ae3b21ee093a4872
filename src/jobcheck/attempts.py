"""A check's attempts and its finished result: the work the runner hands its worker threads.

``Attempts.of(check)`` makes one check's attempts: a pass the result cache replays, else up to
``1 + retries`` (``retry_safe`` checks) with a backoff, each in a thread of its own within the
check's deadline; there the options naming ``${stack.SERVICE.PORT}`` are resolved and the kind
is called (``run_kind``: ``CheckFailed``, ``CheckError`` and any other exception become an
outcome). ``finalize`` turns the attempts into the check's ``CheckResult``: the retry note, the
waiver, and every string masked once (``result_of``). ``attempt`` is one attempt outside a run
(tests, tools), mapped and masked the same way. The scheduling is the runner's (``runner.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobcheck.checklist import Check
from jobcheck.kinds.base import Kind, KindContext, KindOptions
from jobcheck.outcomes import CheckEnded, CheckFailed
from jobcheck.results import AttemptDetail, CheckResult, Outcome, Status
from jobcheck.run_settings import RunSettings
from jobcheck.secrets import Masker, mask_data, shown

log = logging.getLogger("jobcheck")

# A kind that ignores its deadline gets this long past it before the runner gives up on it.
OVERRUN_GRACE_S = 5.0
RETRY_BACKOFF_S = 0.5
CRASH_TEXT_CHARS = 300


@dataclass
class Attempted:
    outcome: Outcome
    attempts: int
    duration_s: float
    started_s: float | None = None  # from the run's start
    detail: list[AttemptDetail] = field(default_factory=list)
    cached_from: str = ""  # a replayed pass: the run that stored it


class Attempts:
    """The attempts of one run's checks, and what they share: the run's cancel event and clock,
    the attempts running now (an interrupt reaches each), the kinds' ``shared`` dict and the
    staging stack's failure."""

    def __init__(
        self,
        settings: RunSettings,
        checks: Mapping[str, Check],
        cancel: threading.Event,
        retried: Callable[[Check, int, Outcome], None],
    ) -> None:
        self.settings = settings
        self.cancel = cancel
        self.t0 = time.monotonic()  # the run's clock: attempts are offsets from it
        self.shared: dict[str, Any] = {}  # KindContext.shared
        self.stack_error = ""  # the stack did not come up: a check admitted before ends with it
        self._checks = checks  # by id, for a recheck
        self._retried = retried  # said from the worker thread; the runner tells the listeners
        self._shared_lock = threading.Lock()
        self._active: set[threading.Event] = set()
        self._active_lock = threading.Lock()

    def of(self, check: Check) -> Attempted:
        cache = self.settings.cache
        began = time.monotonic()
        hit = cache.replay(check) if cache is not None else None
        if hit is not None:
            took = time.monotonic() - began
            detail = [AttemptDetail(began - self.t0, took, Status.PASS)]
            return Attempted(
                hit.outcome, hit.attempts, took, began - self.t0, detail, hit.cached_from
            )
        attempted = self._run(check)
        if cache is not None:
            cache.store(check, attempted.outcome, attempted.attempts, attempted.duration_s)
        return attempted

    def _run(self, check: Check) -> Attempted:
        start = time.monotonic()
        attempts = 0
        allowed = 1 + (check.retries if check.retry_safe else 0)
        detail: list[AttemptDetail] = []
        while True:
            attempts += 1
            began = time.monotonic()
            outcome = self.one(check)
            ended = time.monotonic()
            detail.append(AttemptDetail(began - self.t0, ended - began, outcome.status))
            if outcome.status == Status.PASS or attempts >= allowed or self.cancel.is_set():
                return Attempted(outcome, attempts, ended - start, detail[0].start_s, detail)
            live = shown(self.settings.mask)  # a live line: masked like the stack's
            said = dataclasses.replace(outcome, message=live(outcome.message), output="")
            self._retried(check, attempts, said)
            self.cancel.wait(RETRY_BACKOFF_S * attempts)

    def one(self, check: Check, timeout_s: float | None = None) -> Outcome:
        """One attempt, in a thread of its own, within ``timeout_s`` (the check's by default)."""
        if self.stack_error and uses_stack(check):  # admitted before the stack failed
            return Outcome.errored(self.stack_error)
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
            shared=self.shared,
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
            check = self._checks.get(check_id)
            left = min(until, caller.deadline) - time.monotonic()
            if check is None:  # the loader refuses unknown ids; a shard may lack one
                outcomes.append(Outcome.errored(f"`{check_id}` is not a check of this run"))
            elif caller.cancel.is_set() or left <= 0:
                outcomes.append(Outcome.errored("not run: out of time or interrupted"))
            else:
                outcome = self.one(check, min(check.timeout_s, left))
                outcomes.append(_apply_waiver(check, outcome, self.settings.today))
        return outcomes

    def stop_running(self) -> None:
        """Cancel every attempt running now (the run's ``cancel`` keeps new ones from starting)."""
        with self._active_lock:
            for event in self._active:
                event.set()


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
    Not masked: the finished result is (``result_of``)."""
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


def result_of(
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


def finalize(check: Check, attempted: Attempted, today: dt.date, mask: Masker) -> CheckResult:
    outcome = attempted.outcome
    if outcome.status in (Status.FAIL, Status.ERROR) and attempted.attempts > 1:
        outcome.message += f" (after {attempted.attempts} attempts)"
    elif outcome.status in (Status.FAIL, Status.ERROR) and check.retries and not check.retry_safe:
        outcome.message += " (not retried: the check is not marked retry_safe)"
    outcome = _apply_waiver(check, outcome, today)
    result = result_of(
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
