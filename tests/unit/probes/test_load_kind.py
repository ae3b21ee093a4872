"""The ``load`` kind against a real redis-server and real RQ and Celery workers: the figures
from the frameworks' own clocks, failures counted, a regression against a baseline named, and
nothing left behind."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

from jobcheck.attempts import attempt
from jobcheck.kinds import load
from jobcheck.kinds.base import KindContext
from jobcheck.metrics import Baseline, BaselineMode
from jobcheck.probes import load_driver
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

from .realparts import PASSWORD, CeleryWorker

JOBS = "tests.fixtures.rq_app.jobs"
FIGURES = {"p50_wait_s", "p95_wait_s", "p95_total_s", "throughput_per_s", "error_rate", "failed"}


class FixedBaseline:
    """A ``BaselineSource`` with one release's figures."""

    def __init__(self, figures: Mapping[str, float]) -> None:
        self.figures = dict(figures)
        self.asked: list[tuple[str, str]] = []

    def lookup(self, check_id: str, mode: BaselineMode) -> Baseline | None:
        self.asked.append((check_id, mode))
        return Baseline(self.figures, "v1.3.0", "v1.3.0, run 2026-12-01T10:00:00Z")


def run(options: dict[str, Any], baselines: FixedBaseline | None = None) -> Outcome:
    ctx = KindContext(
        check_id="queue-load",
        base_dir=Path.cwd(),
        env={},
        timeout_s=90.0,
        mask=Masker([PASSWORD]),
        baselines=baselines,
    )
    outcome = attempt(load.KIND, load.KIND.options.model_validate(options), ctx)
    assert PASSWORD not in outcome.message + str(outcome.details)
    return outcome


@pytest.fixture
def load_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the jobs the load enqueued, as the clean-up saw them."""
    seen: list[str] = []
    original = load_driver.clean_up

    def spy(book: load_driver.Load, adapter: Any, settle_s: float = load_driver.SETTLE_S) -> None:
        seen.extend(r.job_id for r in book.records)
        original(book, adapter, settle_s)

    monkeypatch.setattr(load, "clean_up", spy)
    return seen


def rq_left(url: str, ids: list[str]) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return [i for i in ids if client.exists(f"rq:job:{i}", f"rq:results:{i}")]
    finally:
        client.close()


def test_rq_load_passes_with_rqs_own_timestamps_and_removes_its_jobs(
    rq_worker: str, load_ids: list[str]
) -> None:
    outcome = run(
        {"via": "rq", "redis_url": rq_worker, "task": f"{JOBS}.add", "args": [1, 2],
         "count": 12, "concurrency": 3, "deadline": "60s", "baseline": "none"}
    )  # fmt: skip
    assert outcome.status == Status.PASS, outcome.message
    assert outcome.message.startswith("12/12 jobs finished via rq, throughput ")
    assert "not compared (baseline: none)" in outcome.message
    assert set(outcome.metrics) >= FIGURES
    assert outcome.metrics["failed"] == 0 and outcome.metrics["error_rate"] == 0
    assert 0 <= outcome.metrics["p50_wait_s"] <= outcome.metrics["p95_wait_s"]
    assert outcome.metrics["p95_wait_s"] <= outcome.metrics["p95_total_s"] + 1e-3
    assert outcome.details["timings"].startswith("RQ's own timestamps")
    assert outcome.details["cleanup"] == "12 jobs removed through the rq adapter"
    assert len(load_ids) == 12 and rq_left(rq_worker, load_ids) == []


def test_failing_jobs_fail_the_load_with_the_first_error(rq_worker: str) -> None:
    outcome = run(
        {"via": "rq", "redis_url": rq_worker, "task": f"{JOBS}.boom", "kwargs": {"message": "no"},
         "count": 4, "concurrency": 2, "max_failed": 1, "baseline": "none"}
    )  # fmt: skip
    assert outcome.status == Status.FAIL
    first = outcome.message.splitlines()[0]
    assert first.startswith("4 jobs failed, at most 1 may; first: "), first
    assert "no" in first
    assert outcome.metrics["error_rate"] == 1.0


def test_a_regression_against_the_baseline_fails_naming_before_and_after(rq_worker: str) -> None:
    # a release that was ten times faster: this run's p95 wait regresses against it
    baseline = FixedBaseline({"p95_wait_s": 0.0001, "throughput_per_s": 100000.0})
    outcome = run(
        {"via": "rq", "redis_url": rq_worker, "task": f"{JOBS}.sleep", "args": [0.2],
         "count": 6, "concurrency": 2, "tolerance": "25%"},
        baseline,
    )  # fmt: skip
    assert baseline.asked == [("queue-load", "release")]
    assert outcome.status == Status.FAIL
    lines = outcome.message.splitlines()
    assert lines[0].startswith("p95 wait 0.000s → "), lines[0]
    assert lines[0].endswith(" %, tolerance 25 %) against v1.3.0")
    assert any(
        line.startswith("throughput 100000.0/s → ") and "against v1.3.0" in line for line in lines
    )
    assert outcome.baseline == {
        "p95_wait_s": 0.0001,
        "throughput_per_s": 100000.0,
        "baseline_from": "v1.3.0, run 2026-12-01T10:00:00Z",
    }


def test_within_tolerance_of_the_baseline_passes_and_says_against_what(rq_worker: str) -> None:
    outcome = run(
        {"via": "rq", "redis_url": rq_worker, "task": f"{JOBS}.add", "args": [1, 1],
         "count": 4, "baseline": "last"},
        FixedBaseline({"p95_wait_s": 1000.0, "error_rate": 0.0}),
    )  # fmt: skip
    assert outcome.status == Status.PASS, outcome.message
    assert outcome.message.endswith("compared with v1.3.0 (tolerance 25 %)")


def test_a_budget_missed_fails_and_no_baseline_yet_is_said(rq_worker: str) -> None:
    ctx_baseline = FixedBaseline({})
    ctx_baseline.lookup = lambda check_id, mode: None  # type: ignore[method-assign]
    outcome = run(
        {"via": "rq", "redis_url": rq_worker, "task": f"{JOBS}.sleep", "args": [0.3],
         "count": 4, "concurrency": 4, "p95_total": "10ms", "min_throughput": 1000},
        ctx_baseline,
    )  # fmt: skip
    assert outcome.status == Status.FAIL
    lines = outcome.message.splitlines()
    assert lines[0].startswith("p95 total ") and lines[0].endswith("is over its budget 10ms")
    assert any(
        line.startswith("throughput ") and "under min_throughput 1000/s" in line for line in lines
    )
    assert lines[-1].startswith("no baseline yet: no earlier passing release")


def test_no_live_worker_leaves_nothing_queued(scratch_url: str) -> None:
    outcome = run(
        {"via": "rq", "redis_url": scratch_url, "task": f"{JOBS}.add", "args": [1, 2],
         "queue": "nobody-listens", "count": 5, "deadline": "1s", "baseline": "none"}
    )  # fmt: skip
    assert outcome.status == Status.FAIL
    assert outcome.message.splitlines()[0] == (
        "5 of 5 jobs not ended at the 1s deadline (5 still queued, 0 running)"
    )
    assert outcome.details["cleanup"] == "5 jobs removed through the rq adapter"
    client = redis.Redis.from_url(scratch_url)
    try:
        assert client.llen("rq:queue:nobody-listens") == 0
        assert list(client.scan_iter("rq:job:*")) == []
    finally:
        client.close()


def test_celery_load_uses_the_backends_date_done_and_forgets_its_results(
    celery_worker: CeleryWorker, load_ids: list[str]
) -> None:
    outcome = run(
        {"via": "celery", "broker_url": celery_worker.broker_url,
         "backend_url": celery_worker.backend_url, "task": "fixture.add", "args": [2, 3],
         "count": 8, "concurrency": 2, "deadline": "60s", "baseline": "none"}
    )  # fmt: skip
    assert outcome.status == Status.PASS, outcome.message
    assert outcome.details["timings"].startswith("Celery's result backend date_done")
    assert {"p95_total_s", "throughput_per_s"} <= set(outcome.metrics)
    cleanup = outcome.details["cleanup"]
    assert cleanup == "8 jobs removed through the celery adapter", outcome.details
    backend = redis.Redis.from_url(celery_worker.backend_url)
    try:
        assert len(load_ids) == 8
        assert [i for i in load_ids if backend.exists(f"celery-task-meta-{i}")] == []
    finally:
        backend.close()


def test_load_options_are_bounded() -> None:
    import pydantic

    base = {"via": "rq", "redis_url": "redis://127.0.0.1:6379/0", "task": "app.jobs.canary"}
    for bad in ({"count": 10_001}, {"count": 0}, {"concurrency": 65}, {"tolerance": "lots"}):
        with pytest.raises(pydantic.ValidationError):
            load.KIND.options.model_validate({**base, **bad})
    options = load.KIND.options.model_validate({**base, "tolerance": "10 %"})
    assert options.tolerance == 0.1 and options.baseline == "release"


def test_rq_job_states_carry_rqs_own_clock_in_one_batch(rq_worker: str) -> None:
    from jobcheck.probes import framework as fw
    from jobcheck.probes.rq_adapter import RQAdapter

    with RQAdapter(rq_worker, timeout_s=2.0) as adapter:
        job_id = adapter.enqueue(f"{JOBS}.add", [1, 2], queue="default")
        states: list[fw.JobState | None] = []
        for _ in range(100):
            states = fw.job_states(adapter, [job_id, "no-such-job"])
            if states[0] is not None and states[0].ended:
                break
            time.sleep(0.1)
        state, missing = states
        assert missing is None and state is not None and state.state == "finished"
        assert state.enqueued_at is not None and state.started_at is not None
        assert state.ended_at is not None
        assert state.enqueued_at <= state.started_at <= state.ended_at
        assert abs(state.enqueued_at - time.time()) < 60
        assert fw.remove_jobs(adapter, [job_id]) == 1
        assert adapter.job_state(job_id) is None
