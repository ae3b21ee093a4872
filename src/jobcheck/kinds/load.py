"""``load``: the job system under a bounded load, measured, and compared with the last release.

``count`` jobs (at most 10,000) go in through the ``job`` kind's channels (the service's API, or
the framework's adapter) from ``concurrency`` enqueuers, and are followed until each ended or
the ``deadline`` passed. Per job: wait (enqueued → started), run (started → finished) and total,
from the framework's own timestamps where it keeps them, else polled (``probes.load_driver``).
The figures (p50/p95/p99/max, throughput, error rate) are held to the budgets and to a baseline
(``kinds._measure``). Afterwards the load's jobs are removed through the adapter (queued ones
leave the queue, ended ones their results; running ones are left to end and counted).
"""

from __future__ import annotations

import time
from typing import Final

from pydantic import Field, model_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds._canary import CanaryOptions
from jobcheck.kinds._measure import BaselineOptions, CpuClock, compare, judged
from jobcheck.kinds.base import CheckError, Kind, KindContext
from jobcheck.metrics import shown
from jobcheck.probes import engine
from jobcheck.probes import framework as fw
from jobcheck.probes.canary import Channel
from jobcheck.probes.load_driver import Load, clean_up, enqueuers, follow_all
from jobcheck.results import Outcome

MAX_COUNT: Final = 10_000
MAX_CONCURRENCY: Final = 64
CLEANUP_RESERVE_S: Final = 15.0
# Compared with the baseline (the rest are shown beside it): the budgets' figures.
COMPARED: Final = ("p95_wait_s", "p95_total_s", "throughput_per_s", "error_rate")
CLOCKS: Final = {
    "rq": "RQ's own timestamps (enqueued_at, started_at, ended_at)",
    "celery (end only)": "Celery's result backend date_done for the end, polled for the start",
    "api": "the API's enqueued_at / started_at / ended_at",
    "polled": "polled",
}


class Options(CanaryOptions, BaselineOptions):
    count: int = Field(100, ge=1, le=MAX_COUNT, description="Jobs to enqueue (at most 10,000)")
    concurrency: int = Field(
        4, ge=1, le=MAX_CONCURRENCY, description="Enqueuers working at once (at most 64)"
    )
    deadline: Duration = Field(120.0, description="Every job must have ended within this")
    p95_wait: Duration | None = Field(None, description="Budget: p95 of enqueued → started")
    p95_total: Duration | None = Field(None, description="Budget: p95 of enqueued → finished")
    min_throughput: float | None = Field(
        None, gt=0, description="Budget: jobs finished per second, at least"
    )
    max_failed: int = Field(0, ge=0, description="Jobs that may fail (or fail to enqueue)")

    @model_validator(mode="after")
    def _positive(self) -> Options:
        if self.deadline <= 0:
            raise ValueError("deadline must be more than 0")
        return self


def _new_channel(options: Options, ctx: KindContext) -> tuple[Channel, fw.Adapter | None]:
    adapter = options.adapter()
    return options.channel(ctx, adapter, job_timeout_s=max(options.deadline, 30.0)), adapter


def check(options: Options, ctx: KindContext) -> Outcome:
    cpu = CpuClock()
    # the removal of the load's jobs comes after the deadline, within the check's timeout
    deadline = min(options.deadline, max(1.0, ctx.remaining() - CLEANUP_RESERVE_S))
    load = Load(options.count)
    until = load.started + deadline
    channel, adapter = _new_channel(options, ctx)
    try:
        threads = enqueuers(
            load,
            options.concurrency,
            lambda: _new_channel(options, ctx),
            until,
            ctx.cancel,
            options.max_failed,
        )
        follow_all(load, channel, threads, ctx, until, options.interval)
        elapsed = time.monotonic() - load.started
        clean_up(load, adapter)
    finally:
        if adapter is not None:
            adapter.close()
    if load.stopped_by is not None and isinstance(load.stopped_by, CheckError):
        raise load.stopped_by
    metrics = load.metrics()
    metrics["cpu_per_job_ms"] = cpu.per(len(load.records))
    return verdict(options, ctx, load, metrics, deadline, elapsed)


def verdict(
    options: Options,
    ctx: KindContext,
    load: Load,
    metrics: dict[str, float],
    deadline: float,
    elapsed: float,
) -> Outcome:
    findings = _findings(options, load, metrics, deadline)
    comparison = compare(metrics, COMPARED, options, ctx)
    return judged(_summary(options, load, metrics, elapsed), findings, comparison, metrics,
                  _details(options, load))  # fmt: skip


def _summary(options: Options, load: Load, metrics: dict[str, float], elapsed: float) -> str:
    parts = [f"{len(load.finished)}/{options.count} jobs finished via {options.via}"]
    parts += [
        f"{label} {shown(name, metrics[name])}"
        for name, label in (
            ("throughput_per_s", "throughput"),
            ("p95_wait_s", "p95 wait"),
            ("p95_total_s", "p95 total"),
        )
        if name in metrics
    ]
    parts.append(f"{int(metrics['failed'])} failed")
    return ", ".join(parts) + f" in {elapsed:.1f}s"


def _findings(
    options: Options, load: Load, metrics: dict[str, float], deadline: float
) -> list[str]:
    findings = []
    enqueued = len(load.records)
    if load.stopped_by is not None and not load.enqueue_errors:
        findings.append(f"enqueuing stopped: {load.stopped_by.message}")
    failed = int(metrics["failed"])
    if failed > options.max_failed:
        first = load.enqueue_errors[:1] or [r.failure for r in load.failed if r.failure][:1]
        why = f"; first: {first[0]}" if first else ""
        findings.append(f"{failed} jobs failed, at most {options.max_failed} may{why}")
    if enqueued + len(load.enqueue_errors) < options.count and load.stopped_by is None:
        findings.append(
            f"only {enqueued} of {options.count} jobs enqueued within the "
            f"{format_duration(deadline)} deadline"
        )
    unfinished = load.unfinished
    if unfinished:
        queued = sum(r.state == "queued" for r in unfinished)
        findings.append(
            f"{len(unfinished)} of {enqueued} jobs not ended at the {format_duration(deadline)} "
            f"deadline ({queued} still queued, {len(unfinished) - queued} running)"
        )
    if load.vanished:
        findings.append(f"{len(load.vanished)} jobs vanished (no such job any more)")
    findings += _budgets(options, metrics)
    return findings


def _budgets(options: Options, metrics: dict[str, float]) -> list[str]:
    findings = []
    budgets = (
        ("p95_wait_s", "p95 wait", options.p95_wait),
        ("p95_total_s", "p95 total", options.p95_total),
    )
    for name, label, budget in budgets:
        if budget is None:
            continue
        if name not in metrics:
            raise CheckError(
                f"{label}: no job's {label.split()[1]} could be measured (no job finished, or "
                f"polling never saw one running: lower interval), so the budget "
                f"{format_duration(budget)} cannot be judged"
            )
        if metrics[name] > budget:
            findings.append(
                f"{label} {shown(name, metrics[name])} is over its budget {format_duration(budget)}"
            )
    throughput = metrics.get("throughput_per_s")
    if options.min_throughput is not None and (throughput or 0) < options.min_throughput:
        seen = shown("throughput_per_s", throughput) if throughput is not None else "none"
        findings.append(f"throughput {seen} is under min_throughput {options.min_throughput:g}/s")
    return findings


def _details(options: Options, load: Load) -> dict[str, object]:
    if load.removed is not None:
        removed = f"{load.removed} jobs removed through the {options.framework_name} adapter"
    elif options.url and options.framework_name:
        removed = (
            f"not removed: the {options.framework_name} adapter cannot remove jobs; "
            "they stay as long as the framework keeps ended jobs"
        )
    else:
        removed = (
            "not removed: give redis_url (rq) or broker_url (celery) to remove the load's jobs"
        )
    return {
        "via": options.via,
        "count": options.count,
        "enqueued": len(load.records),
        "finished": len(load.finished),
        "failed_jobs": len(load.failed),
        "enqueue_errors": len(load.enqueue_errors),
        "unfinished": len(load.unfinished),
        "concurrency": options.concurrency,
        "timings": CLOCKS.get(load.clock, load.clock)
        + ("" if load.clock != "polled" else f" every {format_duration(options.interval)}"),
        "cleanup": removed
        + (f"; {load.left_running} still running, left to end" if load.left_running else ""),
    }


def run(options: Options, ctx: KindContext) -> Outcome:
    engine.require_engine_for_stack(ctx)
    return check(options, ctx)


KIND = Kind(
    name="load",
    options=Options,
    run=run,
    waits=True,
    uses_workers=True,
    cacheable=False,
    summary="the job system under a bounded load: wait, run and total times, throughput, "
    "failures, against budgets and the last release",
    docker=True,
    example={
        "via": "rq",
        "redis_url": "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
        "task": "app.jobs.canary",
        "count": 200,
        "concurrency": 4,
        "deadline": "60s",
        "p95_wait": "2s",
        "min_throughput": 20,
    },
)
