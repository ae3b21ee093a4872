"""The RQ adapter against a real redis-server and a real RQ worker."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import cast

import pytest
import redis

from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.probes import framework as fw
from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.probes.rq_adapter import RQAdapter

from .realparts import (
    PASSWORD,
    RQ_DB,
    RQ_WORKER,
    RedisServer,
    descendants,
    free_port,
    hard_kill,
    poll,
    running,
    start_rq_worker,
    stop,
)

JOBS = "tests.fixtures.rq_app.jobs"


def ended(state: fw.JobState | None) -> bool:
    return state is not None and state.ended


def unique(prefix: str) -> str:
    """A queue name of its own, so tests sharing the worker's database do not mix counts."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_job_runs_to_finished(rq: RQAdapter) -> None:
    job_id = rq.enqueue(f"{JOBS}.add", [2, 3], queue="default")
    state = poll(lambda: rq.job_state(job_id), ended)
    assert state == fw.JobState(job_id, "finished", "finished", "", RQ_WORKER)
    assert rq.was_started(job_id)


def test_a_failing_job_is_failed_with_its_error(rq: RQAdapter) -> None:
    before = rq.failed_count("default")
    job_id = rq.enqueue(f"{JOBS}.boom", kwargs={"message": "kaput"}, queue="default")
    state = poll(lambda: rq.job_state(job_id), ended)
    assert (state.state, state.raw, state.failure) == ("failed", "failed", "ValueError: kaput")
    assert rq.failed_count("default") == before + 1
    placement = rq.placement(job_id, "default")
    assert placement.failed and not placement.abandoned and not placement.started


def test_a_running_job_is_started(rq: RQAdapter) -> None:
    job_id = rq.enqueue(f"{JOBS}.sleep", [2], queue="canary", job_timeout_s=30)
    state = poll(lambda: rq.job_state(job_id), lambda s: s is not None and s.state != "queued")
    assert (state.state, state.raw, state.worker) == ("started", "started", RQ_WORKER)
    assert rq.was_started(job_id)
    placement = rq.placement(job_id, "canary")
    assert placement.started and not placement.started_expired and not placement.queued
    assert poll(lambda: rq.job_state(job_id), ended).state == "finished"


def test_depth_and_workers_of_a_queue_no_worker_consumes(rq: RQAdapter) -> None:
    queue = unique("backlog")
    ids = [rq.enqueue(f"{JOBS}.add", [i, i], queue=queue) for i in range(3)]
    assert rq.depth(queue) == 3
    assert rq.live_workers(queue) == ()
    assert rq.live_workers("default") == (RQ_WORKER,)
    assert rq.job_state(ids[0]) == fw.JobState(ids[0], "queued", "queued")
    assert not rq.was_started(ids[0])
    assert rq.placement(ids[0], queue).queued
    assert fw.read_queue(rq, queue) == fw.QueueReading(queue, 3, 0, ())


def test_an_unknown_job_is_none(rq: RQAdapter) -> None:
    assert rq.job_state("no-such-job") is None
    assert not rq.was_started("no-such-job")


def test_redis_settings_are_read_live(rq: RQAdapter, redis_server: RedisServer) -> None:
    admin = redis_server.client(RQ_DB)
    try:
        admin.config_set("maxmemory-policy", "allkeys-lru")
        assert rq.maxmemory_policy() == "allkeys-lru"
        admin.config_set("maxmemory-policy", "noeviction")
        assert rq.maxmemory_policy() == "noeviction"
    finally:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.close()
    # The fixture's server runs with --save '' and --appendonly no.
    persistence = rq.broker_persistence()
    assert (persistence.appendonly, persistence.save, persistence.durable) == (False, "", False)


def test_a_celery_queue_is_refused_not_read_as_empty(scratch_url: str) -> None:
    # Celery's real layout, made by kombu: a list named like the queue and a binding key.
    with CeleryAdapter(scratch_url) as celery:
        celery.send("fixture.add", [1, 2], queue="default")
        celery.send("fixture.add", [1, 2], queue="default", priority=6)
    with RQAdapter(scratch_url) as rq:
        sentence = rq.framework_mismatch("default")
        assert "has no RQ keys (rq:queue:default)" in sentence
        assert "a list 'default' with 2 Celery messages" in sentence
        assert sentence.endswith("this looks like a Celery queue, set framework: celery")
        for read in (rq.depth, rq.live_workers, rq.failed_count):
            with pytest.raises(CheckError, match="set framework: celery"):
                read("default")
        with pytest.raises(CheckError, match="set framework: celery"):
            rq.enqueue(f"{JOBS}.add", [1, 2], queue="default")


def test_an_idle_celery_queue_is_refused_by_its_binding(
    scratch: redis.Redis, scratch_url: str
) -> None:
    scratch.sadd("_kombu.binding.default", "default\x06\x16\x06\x16default")
    with RQAdapter(scratch_url) as rq:
        assert "kombu's binding key '_kombu.binding.default'" in rq.framework_mismatch("default")


def test_an_empty_redis_is_no_mismatch(scratch_url: str) -> None:
    with RQAdapter(scratch_url) as rq:
        assert rq.framework_mismatch("default") == ""
        assert rq.depth("default") == 0


def test_a_wrong_password_is_an_error(redis_server: RedisServer) -> None:
    url = redis_server.url(RQ_DB, password="not-the-password")
    with RQAdapter(url) as rq, pytest.raises(CheckError) as caught:
        rq.depth("default")
    message = str(caught.value)
    assert message.startswith(f"Redis at 127.0.0.1:{redis_server.port}/1 rejected the password")
    assert "not-the-password" not in message


def test_redis_down_is_a_failure_in_one_line() -> None:
    port = free_port()
    start = time.monotonic()
    with RQAdapter(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", timeout_s=1.0) as rq:
        with pytest.raises(CheckFailed) as caught:
            rq.depth("default")
        assert str(caught.value) == f"Redis at 127.0.0.1:{port}/0 refused the connection"
        with pytest.raises(CheckFailed, match="refused the connection"):
            rq.enqueue(f"{JOBS}.add", [1, 2], queue="default")
    assert time.monotonic() - start < 3


def test_a_function_without_a_module_is_an_error(rq: RQAdapter) -> None:
    with pytest.raises(CheckError, match="dotted name"):
        rq.enqueue("add", [1, 2], queue="default")


def test_a_hard_killed_workers_job_is_stuck_then_abandoned(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    queue = unique("drill")
    client = redis_server.client(RQ_DB)
    url = redis_server.url(RQ_DB)
    process = start_rq_worker(url, f"jc-rq-{queue}", [queue], tmp_path / "worker.log", client)
    try:
        with RQAdapter(url) as rq:
            job_id = rq.enqueue(f"{JOBS}.sleep", [30], queue=queue, job_timeout_s=60)
            started = poll(lambda: rq.job_state(job_id), lambda s: s and s.state == "started")
            assert started.state == "started"
            horses = descendants(process.pid)
            assert horses, "the job runs in a work horse forked by the worker"
            hard_kill(process)
            assert not any(running(pid) for pid in horses)

            placement = rq.placement(job_id, queue)
            assert placement.started and not placement.started_expired and not placement.stuck

            # RQ's entry outlives a heartbeat by 60 s; age it instead of waiting a minute.
            key = f"rq:wip:{queue}"
            (entry,) = cast(list[bytes], client.zrange(key, 0, -1))
            client.zadd(key, {entry: time.time() - 1}, xx=True)
            assert rq.placement(job_id, queue).stuck

            # What a live worker's maintenance does with an expired entry.
            from rq.registry import StartedJobRegistry

            StartedJobRegistry(queue, connection=client).cleanup()
            placement = rq.placement(job_id, queue)
            assert placement.failed and placement.abandoned and not placement.started
            assert "AbandonedJobError" in placement.failure
            assert rq.job_state(job_id) == fw.JobState(
                job_id, "failed", "failed", placement.failure, f"jc-rq-{queue}"
            )
    finally:
        stop(process)
        client.close()
