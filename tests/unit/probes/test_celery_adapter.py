"""The Celery adapter against a real redis-server and a real Celery worker."""

from __future__ import annotations

import time

import pytest
import redis

from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.probes import framework as fw
from jobcheck.probes import key_shapes
from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.probes.redis_broker import Persistence
from jobcheck.probes.rq_adapter import RQAdapter

from .realparts import BACKEND_DB, CELERY_DB, PASSWORD, CeleryWorker, RedisServer, free_port, poll

TASKS = ("fixture.add", "fixture.boom", "fixture.sleep", "fixture.sleep_tracked")


def ended(state: fw.JobState) -> bool:
    return state.ended


def running(state: fw.JobState) -> bool:
    return state.state != "queued"


def test_live_workers_are_named_and_filtered_by_queue(
    celery: CeleryAdapter, celery_worker: CeleryWorker
) -> None:
    assert celery_worker.name.startswith("jc-celery-1@")
    assert celery.live_workers("celery") == (celery_worker.name,)
    assert celery.live_workers("canary") == (celery_worker.name,)
    assert celery.live_workers("nobody-consumes-this") == ()


def test_a_task_runs_to_finished(celery: CeleryAdapter) -> None:
    job_id = celery.enqueue("fixture.add", [2, 3], queue="celery")
    assert poll(lambda: celery.job_state(job_id), ended) == fw.JobState(
        job_id, "finished", "SUCCESS"
    )
    assert celery.was_started(job_id)


def test_a_failing_task_is_failed_with_its_error(celery: CeleryAdapter) -> None:
    job_id = celery.enqueue("fixture.boom", kwargs={"message": "kaput"}, queue="celery")
    state = poll(lambda: celery.job_state(job_id), ended)
    assert (state.state, state.raw, state.failure) == ("failed", "FAILURE", "ValueError: kaput")
    assert celery.failed_count("celery") is None  # Celery keeps no failed list


def test_started_comes_from_inspect_active_when_tracking_is_off(
    celery: CeleryAdapter, celery_worker: CeleryWorker
) -> None:
    job_id = celery.enqueue("fixture.sleep", [3], queue="canary")
    state = poll(lambda: celery.job_state(job_id), running, 10)
    # The backend still says PENDING: only the worker's active list knows it runs.
    assert (state.state, state.raw, state.worker) == ("started", "PENDING", celery_worker.name)
    assert celery.was_started(job_id)
    assert poll(lambda: celery.job_state(job_id), ended).state == "finished"


def test_started_comes_from_the_backend_when_tracking_is_on(celery: CeleryAdapter) -> None:
    job_id = celery.enqueue("fixture.sleep_tracked", [4], queue="canary")  # room under load
    # The worker lists the task as active a moment before it writes STARTED to the backend, so
    # the first "started" may come from inspect (raw PENDING); the backend's follows within the
    # task's 4 s, before it ends.
    state = poll(lambda: celery.job_state(job_id), lambda s: s.raw != "PENDING", 10)
    assert (state.state, state.raw) == ("started", "STARTED")
    assert celery.was_started(job_id)
    assert poll(lambda: celery.job_state(job_id), ended).raw == "SUCCESS"


def test_an_unknown_id_reads_as_queued(celery: CeleryAdapter) -> None:
    assert celery.job_state("no-such-task") == fw.JobState("no-such-task", "queued", "PENDING")
    assert not celery.was_started("no-such-task")


def test_an_unknown_task_is_an_error_listing_the_registered_ones(celery: CeleryAdapter) -> None:
    with pytest.raises(CheckError) as caught:
        celery.enqueue("fixture.nope", queue="celery")
    assert str(caught.value) == (
        f"no worker on queue 'celery' knows task 'fixture.nope' (registered: {', '.join(TASKS)})"
    )


def test_a_queue_nobody_consumes_has_no_live_workers(
    celery: CeleryAdapter, celery_worker: CeleryWorker
) -> None:
    with pytest.raises(fw.NoLiveWorkers) as caught:
        celery.enqueue("fixture.add", [1, 2], queue="nobody-consumes-this")
    assert isinstance(caught.value, CheckFailed)
    assert str(caught.value) == (
        f"none of the 1 live Celery workers ({celery_worker.name}) consumes queue "
        f"'nobody-consumes-this' on {celery.where}"
    )
    assert caught.value.alive == (celery_worker.name,)


def test_no_live_worker_at_all_is_its_own_failure(scratch_url: str) -> None:
    with CeleryAdapter(scratch_url) as celery, pytest.raises(fw.NoLiveWorkers) as caught:
        celery.enqueue("fixture.add", [1, 2], queue="celery")
    assert str(caught.value) == (
        f"no live Celery worker answered a ping within 1s on {celery.where}: "
        "nothing would take a job from queue 'celery'"
    )
    assert caught.value.alive == ()


def test_depth_counts_every_priority_list(scratch: redis.Redis, scratch_url: str) -> None:
    # No worker consumes this broker: messages stay where kombu put them.
    with CeleryAdapter(scratch_url) as celery:
        for priority in (None, 0, 3, 5, 6, 9, 9):
            celery.send("fixture.add", [1, 1], queue="backlog", priority=priority)
        assert celery.depth("backlog") == 7
        assert fw.read_queue(celery, "backlog") == fw.QueueReading("backlog", 7, None, ())
    lists = {k: scratch.llen(k) for k in key_shapes.kombu_queue_keys("backlog") if scratch.llen(k)}
    # kombu rounds a priority down to its steps 0, 3, 6, 9: LLEN backlog alone says 2.
    assert lists == {
        "backlog": 2,
        "backlog\x06\x163": 2,
        "backlog\x06\x166": 1,
        "backlog\x06\x169": 2,
    }


def test_an_rq_queue_is_refused(scratch: redis.Redis, scratch_url: str) -> None:
    with RQAdapter(scratch_url) as rq:
        rq.enqueue("tests.fixtures.rq_app.jobs.add", [1, 2], queue="default")
    with CeleryAdapter(scratch_url) as celery:
        sentence = celery.framework_mismatch("default")
        assert "no Celery list or binding but RQ keys (rq:queue:default" in sentence
        assert sentence.endswith("this looks like an RQ queue, set framework: rq")
        for read in (celery.depth, celery.live_workers):
            with pytest.raises(CheckError, match="set framework: rq"):
                read("default")
        with pytest.raises(CheckError, match="set framework: rq"):
            celery.enqueue("fixture.add", [1, 2], queue="default")
        assert celery.framework_mismatch("celery") == ""


def test_rq_workers_alone_mark_an_rq_queue(scratch: redis.Redis, scratch_url: str) -> None:
    scratch.sadd("rq:workers:emails", "rq:worker:w1")
    with CeleryAdapter(scratch_url) as celery:
        assert "rq:workers:emails" in celery.framework_mismatch("emails")


def test_redis_settings(celery: CeleryAdapter) -> None:
    assert celery.maxmemory_policy() == "noeviction"
    assert celery.broker_persistence() == Persistence(False, "", "everysec")


def test_a_wrong_password_is_an_error(redis_server: RedisServer) -> None:
    url = redis_server.url(CELERY_DB, password="not-the-password")
    with CeleryAdapter(url) as celery, pytest.raises(CheckError) as caught:
        celery.live_workers("celery")
    message = str(caught.value)
    assert message.startswith(f"Redis at 127.0.0.1:{redis_server.port}/2 rejected the password")
    assert "not-the-password" not in message


def test_redis_down_is_a_failure_in_one_line() -> None:
    port = free_port()
    start = time.monotonic()
    with CeleryAdapter(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", timeout_s=1.0) as celery:
        for call in (
            lambda: celery.depth("celery"),
            lambda: celery.live_workers("celery"),
            lambda: celery.enqueue("fixture.add", queue="celery"),
        ):
            with pytest.raises(CheckFailed) as caught:
                call()
            assert str(caught.value) == f"Redis at 127.0.0.1:{port}/0 refused the connection"
    assert time.monotonic() - start < 5


def test_a_backend_that_is_down_is_a_failure(celery_worker: CeleryWorker) -> None:
    port = free_port()
    backend = f"redis://:{PASSWORD}@127.0.0.1:{port}/{BACKEND_DB}"
    with (
        CeleryAdapter(celery_worker.broker_url, backend_url=backend, timeout_s=1.0) as celery,
        pytest.raises(CheckFailed) as caught,
    ):
        celery.job_state("any")
    assert str(caught.value) == f"Redis at 127.0.0.1:{port}/3 refused the connection"


def test_following_a_job_needs_the_backend(celery_worker: CeleryWorker) -> None:
    with (
        CeleryAdapter(celery_worker.broker_url) as celery,
        pytest.raises(CheckError, match="set backend_url"),
    ):
        celery.job_state("any")


def test_an_amqp_broker_that_is_down_is_a_failure() -> None:
    port = free_port()
    url = f"amqp://guest:amqp-secret@127.0.0.1:{port}//"
    start = time.monotonic()
    with CeleryAdapter(url, timeout_s=1.0) as celery:
        assert celery.framework_mismatch("celery") == ""  # RQ never lives in RabbitMQ
        assert celery.maxmemory_policy() is None
        assert celery.broker_persistence() is None
        with pytest.raises(CheckFailed) as caught:
            celery.depth("celery")
    assert str(caught.value) == f"AMQP broker at 127.0.0.1:{port} (vhost /) refused the connection"
    assert time.monotonic() - start < 5


def test_library_errors_never_carry_the_password() -> None:
    from jobcheck.probes.celery_client import broker_trouble

    error = OSError("Error connecting with redis://:hunter22@h:1/0: unreachable network")
    ended = broker_trouble("Redis at h:1/0", error, 1.0, ["hunter22"])
    assert isinstance(ended, CheckFailed)
    assert str(ended) == (
        "Redis at h:1/0 is unreachable: Error connecting with redis://:***@h:1/0: "
        "unreachable network"
    )
