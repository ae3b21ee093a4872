"""A bounded load on a job queue: ``count`` jobs enqueued by ``concurrency`` threads, followed
until each ended or the deadline passed, then their timings (for the ``load`` kind).

Timings come from the framework's own clock where it keeps one (``JobState.enqueued_at``,
``started_at``, ``ended_at``: RQ stamps all three; Celery's result backend only ``date_done``;
via http, the same three names in the status answer when the API shows them), else from
polling: when this process first saw the job started or ended (as precise as the poll
interval). Each enqueuer has its own channel and adapter: no client is shared across threads.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobcheck.kinds.base import KindContext
from jobcheck.metrics import spread
from jobcheck.outcomes import CheckEnded, CheckError
from jobcheck.probes import framework as fw
from jobcheck.probes.canary import AdapterChannel, Channel, HttpChannel, dotted

BATCH = 200  # job states read per round trip
JOIN_S = 10.0  # how long the enqueuers get to notice the stop
SETTLE_S = 5.0  # after the removal, how long jobs a worker took meanwhile get to end
SETTLE_POLL_S = 0.5


@dataclass
class JobRecord:
    """One job of the load: when it went in, what became of it, and the clocks that say so."""

    job_id: str
    enqueued_mono: float  # this process's clock, when the enqueue call returned
    enqueued_wall: float  # epoch seconds: the framework's enqueued_at, else ours
    state: str | None = "queued"  # queued, started, finished, failed; None: vanished
    seen_started: float | None = None  # monotonic, when polling first saw it started
    seen_ended: float | None = None
    started_at: float | None = None  # the framework's clock (epoch seconds)
    ended_at: float | None = None
    framework_enqueued: bool = False  # enqueued_wall is the framework's own
    failure: str = ""

    @property
    def ended(self) -> bool:
        return self.state in ("finished", "failed", None)

    def note(self, state: str | None, times: Mapping[str, float | None], failure: str) -> None:
        now = time.monotonic()
        self.state = state
        self.failure = failure or self.failure
        if state == "started" and self.seen_started is None:
            self.seen_started = now
        if state in ("finished", "failed") and self.seen_ended is None:
            self.seen_ended = now
        enqueued = times.get("enqueued_at")
        if enqueued is not None and not self.framework_enqueued:
            self.enqueued_wall, self.framework_enqueued = enqueued, True
        self.started_at = times.get("started_at") or self.started_at
        self.ended_at = times.get("ended_at") or self.ended_at

    @property
    def wait(self) -> float | None:
        """Enqueued → started: the framework's clock, else polled (unknown when polling
        never saw the job running)."""
        if self.started_at is not None:
            return max(0.0, self.started_at - self.enqueued_wall)
        if self.seen_started is not None:
            return self.seen_started - self.enqueued_mono
        return None

    @property
    def run(self) -> float | None:
        if self.started_at is not None and self.ended_at is not None:
            return max(0.0, self.ended_at - self.started_at)
        if self.seen_started is not None and self.seen_ended is not None:
            return self.seen_ended - self.seen_started
        return None

    @property
    def total(self) -> float | None:
        if self.ended_at is not None:
            return max(0.0, self.ended_at - self.enqueued_wall)
        if self.seen_ended is not None:
            return self.seen_ended - self.enqueued_mono
        return None

    @property
    def end_wall(self) -> float | None:
        total = self.total
        return None if total is None else self.enqueued_wall + total


@dataclass
class Load:
    """The load's book: what was enqueued, what failed to go in, and why enqueuing stopped."""

    count: int
    records: list[JobRecord] = field(default_factory=list)
    enqueue_errors: list[str] = field(default_factory=list)
    stopped_by: CheckEnded | None = None  # a setup problem that stops the load (CheckError)
    started: float = field(default_factory=time.monotonic)
    clock: str = "polled"  # whose timestamps: "rq", "celery date_done", "api", "polled"
    removed: int | None = None
    left_running: int = 0
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        """One more job to enqueue? (each enqueuer asks before each job)"""
        with self._lock:
            if self._next >= self.count or self.stopped_by is not None:
                return False
            self._next += 1
            return True

    def add(self, record: JobRecord) -> None:
        with self._lock:
            self.records.append(record)

    def error(self, message: str) -> None:
        with self._lock:
            self.enqueue_errors.append(message)

    def stop(self, problem: CheckEnded) -> None:
        with self._lock:
            self.stopped_by = self.stopped_by or problem

    def snapshot(self) -> list[JobRecord]:
        with self._lock:
            return list(self.records)

    # --- figures -------------------------------------------------------------------------------

    @property
    def finished(self) -> list[JobRecord]:
        return [r for r in self.records if r.state == "finished"]

    @property
    def failed(self) -> list[JobRecord]:
        return [r for r in self.records if r.state == "failed"]

    @property
    def unfinished(self) -> list[JobRecord]:
        return [r for r in self.records if not r.ended]

    @property
    def vanished(self) -> list[JobRecord]:
        return [r for r in self.records if r.state is None]

    def metrics(self) -> dict[str, float]:
        """The figures, the unit in each name. Times of the jobs that finished."""
        done = self.finished
        figures: dict[str, float] = {}
        figures |= spread("wait_", [w for r in done if (w := r.wait) is not None])
        runs = spread("run_", [x for r in done if (x := r.run) is not None])
        figures |= {k: v for k, v in runs.items() if k in ("p50_run_s", "p95_run_s")}
        figures |= spread("total_", [t for r in done if (t := r.total) is not None])
        throughput = self.throughput()
        if throughput is not None:
            figures["throughput_per_s"] = round(throughput, 3)
        attempted = len(self.records) + len(self.enqueue_errors)
        bad = len(self.failed) + len(self.enqueue_errors)
        figures["failed"] = float(bad)
        if attempted:
            figures["error_rate"] = round(bad / attempted, 4)
        return figures

    def throughput(self) -> float | None:
        """Jobs finished per second, from the first enqueue to the last end."""
        done = self.finished
        ends = [e for r in done if (e := r.end_wall) is not None]
        if not ends:
            return None
        span = max(ends) - min(r.enqueued_wall for r in self.records)
        return len(done) / span if span > 0 else None


def enqueuers(
    load: Load,
    concurrency: int,
    new_channel: Callable[[], tuple[Channel, fw.Adapter | None]],
    until: float,
    cancel: threading.Event,
    max_errors: int,
) -> list[threading.Thread]:
    """Start ``concurrency`` threads that enqueue until the load is complete, ``until``
    (monotonic) passed, the run was cancelled, or more than ``max_errors`` enqueues failed."""

    def work() -> None:
        try:
            channel, adapter = new_channel()
        except CheckEnded as exc:
            load.stop(exc)
            return
        went_in = False
        try:
            while time.monotonic() < until and not cancel.is_set() and load.take():
                # until one job went in, each asks the workers (does any know the task?)
                went_in = _enqueue_one(load, channel, max_errors, checked=went_in) or went_in

        finally:
            if adapter is not None:
                adapter.close()

    threads = [
        threading.Thread(target=work, name=f"jobcheck load: enqueuer {n}", daemon=True)
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    return threads


def _enqueue_one(load: Load, channel: Channel, max_errors: int, *, checked: bool) -> bool:
    """One job in: True when it went in (the next may skip the workers' check)."""
    wall = time.time()
    try:
        if checked and isinstance(channel, AdapterChannel):
            job_id = fw.enqueue_known(
                channel.adapter, channel.task, channel.args, channel.kwargs,
                queue=channel.queue, job_timeout_s=channel.job_timeout_s,
            )  # fmt: skip
        else:
            job_id = channel.enqueue()
    except CheckError as exc:
        load.stop(exc)
        return False
    except CheckEnded as exc:
        load.error(exc.message)
        if len(load.enqueue_errors) > max_errors:
            load.stop(exc)
        return False
    load.add(JobRecord(job_id, time.monotonic(), wall))
    return True


def follow_all(
    load: Load,
    channel: Channel,
    threads: Sequence[threading.Thread],
    ctx: KindContext,
    until: float,
    interval: float,
) -> None:
    """Poll every job not yet ended until all ended (and every enqueuer is done), ``until``
    passed, or the run was cancelled; then stop the enqueuers."""
    while True:
        enqueuing = any(t.is_alive() for t in threads)
        pending = [r for r in load.snapshot() if not r.ended]
        _poll(load, channel, pending)
        left = until - time.monotonic()
        if (not enqueuing and not any(not r.ended for r in pending)) or left <= 0:
            break
        if not ctx.sleep(min(interval, left)):
            break
    for thread in threads:
        thread.join(JOIN_S)


def _poll(load: Load, channel: Channel, pending: Sequence[JobRecord]) -> None:
    if isinstance(channel, AdapterChannel):
        for start in range(0, len(pending), BATCH):
            chunk = pending[start : start + BATCH]
            states = fw.job_states(channel.adapter, [r.job_id for r in chunk])
            for record, state in zip(chunk, states, strict=True):
                _note_state(load, record, state, channel.adapter.framework)
        return
    for record in pending:
        word = channel.status(record.job_id)
        normal = channel.vocabulary.state(word)
        document = channel.document if isinstance(channel, HttpChannel) else None
        times = _api_times(document)
        if times:
            load.clock = "api"
        failure = channel.failure(record.job_id) if normal == "failed" else ""
        record.note(normal, times, failure)


def _note_state(load: Load, record: JobRecord, state: fw.JobState | None, framework: str) -> None:
    if state is None:
        record.note(None, {}, "")
        return
    times = {
        "enqueued_at": state.enqueued_at,
        "started_at": state.started_at,
        "ended_at": state.ended_at,
    }
    if state.started_at is not None:
        load.clock = framework
    elif state.ended_at is not None and load.clock == "polled":
        load.clock = f"{framework} (end only)"
    record.note(state.state, times, state.failure)


def _api_times(document: Any) -> dict[str, float | None]:
    """``enqueued_at``, ``started_at``, ``ended_at`` of a status answer, when it has them
    (ISO 8601; without a zone, UTC)."""
    times: dict[str, float | None] = {}
    for name in ("enqueued_at", "started_at", "ended_at"):
        value = dotted(document, name) if document is not None else None
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            times[name] = moment.timestamp()
    return times if times.get("enqueued_at") is not None else {}


def clean_up(load: Load, adapter: fw.Adapter | None, settle_s: float = SETTLE_S) -> None:
    """Remove every job of the load where the adapter can (queued ones leave the queue, ended
    ones their results), then look again for ``settle_s``: a job a worker took between the
    last poll and its removal comes back when it ends (a revoked Celery job as REVOKED), and
    is removed then. What still runs after that is left to end (RQ expires it with its result
    TTL) and counted."""
    if adapter is None or not load.records:
        load.left_running = sum(r.state == "started" for r in load.records)
        return
    ids = [r.job_id for r in load.records]
    if _remove(adapter, ids) is None:
        load.left_running = sum(r.state == "started" for r in load.records)
        return
    until = time.monotonic() + settle_s
    # a job not ended at the removal may come back: RQ's when its worker ends it, Celery's
    # when a worker writes REVOKED for it; ended ones are done once their results are gone
    watched = {r.job_id for r in load.records if not r.ended}
    left = ids
    while True:
        states = _states(adapter, left)
        ended = [i for i, st in zip(left, states, strict=True) if st is not None and st.ended]
        if ended:
            _remove(adapter, ended)
            watched -= set(ended)
        left = [
            i
            for i, st in zip(left, states, strict=True)
            if st is not None and not st.ended and (st.state == "started" or i in watched)
        ]
        if not left or time.monotonic() >= until:
            break
        time.sleep(SETTLE_POLL_S)
    running = [
        i
        for i, st in zip(left, _states(adapter, left), strict=True)
        if st and st.state == "started"
    ]
    load.removed, load.left_running = len(ids) - len(running), len(running)


def _remove(adapter: fw.Adapter, ids: Sequence[str]) -> int | None:
    removed = 0
    for start in range(0, len(ids), BATCH):
        done = fw.remove_jobs(adapter, ids[start : start + BATCH])
        if done is None:
            return None
        removed += done
    return removed


def _states(adapter: fw.Adapter, ids: Sequence[str]) -> list[fw.JobState | None]:
    states: list[fw.JobState | None] = []
    for start in range(0, len(ids), BATCH):
        states += fw.job_states(adapter, ids[start : start + BATCH])
    return states


# --- requests under load (the ``http`` kind) ---------------------------------------------------


@dataclass
class Hit:
    """One call of a load: how long it took, and what was wrong ("" when nothing)."""

    latency_s: float
    problem: str = ""


def hammer(
    call: Callable[[], Hit],
    requests: int,
    concurrency: int,
    until: float,
    cancel: threading.Event,
) -> tuple[list[Hit], float]:
    """``requests`` calls from ``concurrency`` threads, until ``until`` (monotonic) or a
    cancel; the hits in the order they ended, and the seconds it took."""
    load = Load(requests)
    hits: list[Hit] = []
    lock = threading.Lock()

    def work() -> None:
        while time.monotonic() < until and not cancel.is_set() and load.take():
            hit = call()
            with lock:
                hits.append(hit)

    start = time.monotonic()
    threads = [
        threading.Thread(target=work, name=f"jobcheck load: caller {n}", daemon=True)
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, until - time.monotonic()) + JOIN_S)
    with lock:
        return list(hits), time.monotonic() - start
