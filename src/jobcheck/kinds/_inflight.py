"""The rollback drill's jobs in flight: enqueued the new release's way while its workers are
stopped, then followed until each ended on the previous release's workers (or the deadline).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from pydantic import Field

from jobcheck.durations import format_duration
from jobcheck.kinds._canary import CanaryOptions
from jobcheck.kinds.base import CheckFailed, KindContext
from jobcheck.probes import canary
from jobcheck.probes.framework import Adapter


class Inflight(CanaryOptions):
    """The `job` kind's enqueue options, and how many jobs."""

    count: int = Field(3, ge=1, le=1000, description="How many jobs to enqueue")


@dataclass
class Batch:
    """The jobs of one drill and their channel."""

    channel: canary.Channel
    traces: list[canary.Trace]
    adapter: Adapter | None
    unanswered: str = ""  # the last status poll's failure: the API is being replaced

    def failure(self, trace: canary.Trace) -> str:
        """The error a failed job ended with: the API's answer, else the framework's."""
        said = self.channel.failure(trace.job_id)
        if said or self.adapter is None or self.channel.via != "http":
            return said
        state = self.adapter.job_state(trace.job_id)  # the API's ids are the framework's
        return state.failure if state is not None else ""


@dataclass
class _Published(canary.AdapterChannel):
    """Jobs published without asking the workers first: the new release's are stopped, and
    Celery's enqueue, which asks them, would refuse (so would a task they do not know)."""

    def enqueue(self) -> str:
        send = getattr(self.adapter, "send", None)
        if send is None:
            return super().enqueue()
        kwargs = {"queue": self.queue, "time_limit_s": self.job_timeout_s}
        return str(send(self.task, self.args, self.kwargs, **kwargs))


def enqueue(options: Inflight, ctx: KindContext, adapter: Adapter | None) -> Batch:
    channel = options.channel(ctx, adapter)
    if isinstance(channel, canary.AdapterChannel):
        channel = _Published(
            channel.adapter, channel.task, channel.args, channel.kwargs, channel.queue,
            channel.job_timeout_s, channel.via,
        )  # fmt: skip
    traces = []
    for _ in range(options.count):
        traces.append(canary.Trace(channel.enqueue(), time.monotonic(), channel.vocabulary))
    return Batch(channel, traces, adapter)


def follow(batch: Batch, ctx: KindContext, until: float, interval: float) -> None:
    """Poll every unfinished job until all ended, ``until`` (monotonic) or cancellation. A
    status that does not answer is asked again: the rollback may be replacing the API."""
    while True:
        batch.unanswered = ""
        for trace in batch.traces:
            if trace.done:
                continue
            try:
                trace.note(batch.channel.status(trace.job_id))
            except CheckFailed as exc:
                batch.unanswered = exc.message
        left = until - time.monotonic()
        if all(t.done for t in batch.traces) or left <= 0 or not ctx.sleep(min(interval, left)):
            return


def verdict(batch: Batch, deadline_s: float, queue: str | None) -> str:
    """'' when every job finished, else one sentence per way they did not."""
    traces = batch.traces
    total = len(traces)
    problems = []
    failed = [t for t in traces if t.status == "failed"]
    if failed:
        errors = Counter(batch.failure(t) or t.shown for t in failed)
        shown = "; ".join(
            error if n == len(failed) else f"{error} ({n})" for error, n in errors.most_common(3)
        )
        problems.append(
            f"{len(failed)} of {total} jobs enqueued on the new release failed on the "
            f"previous one: {shown}"
        )
    lost = [t for t in traces if t.status is None]
    if lost:
        problems.append(
            f"{len(lost)} of {total} jobs enqueued on the new release were lost after the "
            "rollback (no such job any more)"
        )
    waiting = [t for t in traces if not t.done]
    if waiting:
        states = Counter(t.shown for t in waiting)
        words = ", ".join(f"{n} {state}" for state, n in states.most_common())
        note = canary.workers_note(batch.adapter, queue)
        if batch.unanswered:
            note += f"; their status did not answer: {batch.unanswered}"
        problems.append(
            f"{len(waiting)} of {total} jobs enqueued on the new release did not finish within "
            f"the {format_duration(deadline_s)} deadline after the rollback ({words}; {note})"
        )
    return "; ".join(problems)


def finished_words(batch: Batch) -> str:
    """'5 jobs enqueued on the new release finished on the previous one'."""
    total = len(batch.traces)
    plural = "job" if total == 1 else "jobs"
    return f"{total} {plural} enqueued on the new release finished on the previous one"


def details(batch: Batch) -> list[dict[str, object]]:
    return [t.as_details() for t in batch.traces]
