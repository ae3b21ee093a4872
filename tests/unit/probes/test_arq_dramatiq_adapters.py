"""The arq and Dramatiq adapters' readings against a real redis-server (the ``scratch``
database), with the frameworks' records laid out by the frameworks' own code (arq's serializer,
Dramatiq's broker) and no worker: what a worker would do is played on the keys by hand."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import dramatiq as dramatiq_lib
import pytest
import redis
from arq.jobs import serialize_result
from arq.worker import JobExecutionFailed
from dramatiq.results.backends.redis import RedisBackend

from jobcheck.outcomes import CheckError
from jobcheck.probes import key_shapes
from jobcheck.probes.arq_adapter import ArqAdapter, health_age
from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.probes.dramatiq_adapter import HEARTBEATS, DramatiqAdapter, amqp_url
from jobcheck.probes.rq_adapter import RQAdapter

QUEUE = "arq:queue"


def _result(job_id: str, success: bool, value: object) -> bytes:
    now = int(time.time() * 1000)
    data = serialize_result(
        "send_email", (), {}, 1, now, success, value, now, now, job_id, QUEUE, job_id
    )
    assert data is not None
    return data


# --- arq ----------------------------------------------------------------------------------------


def test_arq_job_goes_queued_started_finished(scratch_url: str, scratch: redis.Redis) -> None:
    with ArqAdapter(scratch_url) as arq:
        job_id = arq.enqueue("send_email", ["a@b.c"], {"subject": "s"}, queue=QUEUE)
        assert job_id.startswith("jobcheck-")
        assert (arq.depth(QUEUE), arq.deferred(QUEUE)) == (1, 0)
        state = arq.job_state(job_id)
        assert state is not None and (state.state, state.raw) == ("queued", "queued")
        assert not arq.was_started(job_id)
        # A worker takes it: arq sets the in-progress key and leaves the job in the sorted set.
        scratch.psetex(f"arq:in-progress:{job_id}", 20_000, b"1")
        assert arq.depth(QUEUE) == 0
        state = arq.job_state(job_id)
        assert state is not None and (state.state, state.raw) == ("started", "in_progress")
        assert "arq:in-progress" in arq.whereabouts(job_id, QUEUE)[0]
        scratch.delete(f"arq:in-progress:{job_id}")
        scratch.zrem(QUEUE, job_id)
        scratch.set(f"arq:result:{job_id}", _result(job_id, True, {"status": "sent"}))
        state = arq.job_state(job_id)
        assert state is not None and state.state == "finished"
        assert arq.whereabouts(job_id, QUEUE) == (
            "out of the queue, its job or result record still there",
            False,
        )


def test_arq_failed_job_and_unknown_function(scratch_url: str, scratch: redis.Redis) -> None:
    with ArqAdapter(scratch_url) as arq:
        failing = arq.enqueue("fail", queue=QUEUE)
        scratch.set(f"arq:result:{failing}", _result(failing, False, RuntimeError("boom")))
        state = arq.job_state(failing)
        assert state is not None and state.state == "failed"
        assert state.failure == "RuntimeError('boom')"
        unknown = arq.enqueue("nope", queue=QUEUE)
        lost = JobExecutionFailed("function 'nope' not found")
        scratch.set(f"arq:result:{unknown}", _result(unknown, False, lost))
        with pytest.raises(CheckError, match=r"no such function.*WorkerSettings\.functions"):
            arq.job_state(unknown)
        assert arq.job_state("jobcheck-never-sent") is None


def test_arq_deferred_jobs_are_apart_and_workers_come_from_the_health_check(
    scratch_url: str, scratch: redis.Redis
) -> None:
    scratch.zadd(QUEUE, {"later": time.time() * 1000 + 60_000, "now": time.time() * 1000})
    stamp = f"{datetime.now():%b-%d %H:%M:%S}"
    with ArqAdapter(scratch_url) as arq:
        assert (arq.depth(QUEUE), arq.deferred(QUEUE)) == (1, 1)
        assert arq.live_workers(QUEUE) == ()
        scratch.psetex(f"{QUEUE}:health-check", 6000, f"{stamp} j_complete=3 j_failed=1 queued=1")
        (seen,) = arq.live_workers(QUEUE)
        assert seen.startswith(f"health check {QUEUE}:health-check (")
        assert seen.endswith("j_complete=3 j_failed=1 queued=1")
        health = arq.health(QUEUE)
        assert health is not None and health.counts["j_failed"] == 1
        assert arq.failed_count(QUEUE) is None


def test_health_age_reads_arqs_stamp() -> None:
    now = datetime(2026, 12, 7, 5, 0, 10)
    assert health_age("Dec-07 05:00:00 j_complete=0", now) == 10.0
    assert health_age("Dec-31 23:59:50 j_complete=0", datetime(2027, 1, 1, 0, 0, 0)) == 10.0
    assert health_age("garbage", now) is None


def test_arq_refuses_an_amqp_broker() -> None:
    with pytest.raises(CheckError, match="framework: arq needs a Redis URL"):
        ArqAdapter("amqp://u:p@127.0.0.1:5672//")


# --- one framework's queue read as another's ------------------------------------------------------


def test_an_arq_queue_read_as_rq_celery_or_dramatiq_says_arq(
    scratch_url: str, scratch: redis.Redis
) -> None:
    scratch.zadd(QUEUE, {"job-1": 1.0})
    for adapter in (RQAdapter(scratch_url), CeleryAdapter(scratch_url)):
        with adapter:
            sentence = adapter.framework_mismatch(QUEUE)
            assert "a sorted set 'arq:queue' with 1 arq job ids" in sentence
            assert sentence.endswith("this looks like an arq queue, set framework: arq")
    with (
        DramatiqAdapter(scratch_url) as dramatiq,
        pytest.raises(CheckError, match="framework: arq"),
    ):
        dramatiq.depth(QUEUE)


def test_a_dramatiq_queue_read_as_arq_says_dramatiq(scratch_url: str) -> None:
    with DramatiqAdapter(scratch_url) as dramatiq:
        dramatiq.enqueue("send_email", ["a@b.c"], queue="default")
    with ArqAdapter(scratch_url) as arq:
        sentence = arq.framework_mismatch("default")
        assert "has no arq sorted set 'default' but Dramatiq keys (dramatiq:default" in sentence
        with pytest.raises(CheckError, match="set framework: dramatiq"):
            arq.enqueue("send_email", queue="default")


def test_no_framework_keys_is_no_mismatch(scratch: redis.Redis) -> None:
    for framework in key_shapes.TRACERS:
        assert key_shapes.mismatch(scratch, "empty", framework, "Redis") == ""


# --- Dramatiq -------------------------------------------------------------------------------------


def test_dramatiq_message_queued_delivered_acked(scratch_url: str, scratch: redis.Redis) -> None:
    with DramatiqAdapter(scratch_url) as dramatiq:
        job_id = dramatiq.enqueue("send_email", ["a@b.c"], queue="default", job_timeout_s=30)
        assert dramatiq.counts("default") == (1, 0, 0)
        state = dramatiq.job_state(job_id)
        assert state is not None and (state.state, state.raw) == ("queued", "enqueued")
        body = json.loads(next(iter(scratch.hvals("dramatiq:default.msgs"))))
        assert body["actor_name"] == "send_email" and body["options"]["time_limit"] == 30_000
        # A worker fetches it: the id leaves the list, the body stays until the ack.
        scratch.lpop("dramatiq:default")
        state = dramatiq.job_state(job_id)
        assert state is not None and (state.state, state.raw) == ("started", "delivered, not acked")
        assert "not acked" in dramatiq.whereabouts(job_id, "default")[0]
        scratch.delete("dramatiq:default.msgs")  # the ack
        state = dramatiq.job_state(job_id)
        assert state is not None and (state.state, state.raw) == ("finished", "acked")


def _dead_letter(scratch: redis.Redis, job_id: str, retries: int) -> dict[str, object]:
    """What Dramatiq's Redis broker does to a nacked message: its body to the dead-letter
    hash and set, out of the queue. The body, as the worker had it."""
    (field,) = [
        f for f, v in scratch.hgetall("dramatiq:default.msgs").items() if job_id.encode() in v
    ]
    body: dict[str, object] = json.loads(scratch.hget("dramatiq:default.msgs", field) or b"{}")
    body["options"]["retries"] = retries  # type: ignore[index]
    scratch.hset("dramatiq:default.XQ.msgs", field, json.dumps(body))
    scratch.zadd("dramatiq:default.XQ", {field: time.time() * 1000})
    scratch.hdel("dramatiq:default.msgs", field)
    scratch.lrem("dramatiq:default", 0, field)
    return body


def test_dramatiq_dead_letters(scratch_url: str, scratch: redis.Redis) -> None:
    with DramatiqAdapter(scratch_url) as dramatiq:
        retried = dramatiq.enqueue("fail", queue="default")
        never = dramatiq.enqueue("nope", queue="default")
        for job_id, retries in ((retried, 3), (never, 0)):
            _dead_letter(scratch, job_id, retries)
        state = dramatiq.job_state(retried)
        assert state is not None and state.state == "failed"
        assert state.failure == "failed 4 times (max_retries)"
        with pytest.raises(CheckError, match="no actor of that name"):
            dramatiq.job_state(never)
        assert dramatiq.failed_count("default") == 2


def test_a_failure_stored_just_after_the_dead_letter_is_the_jobs_result(
    scratch_url: str, scratch: redis.Redis
) -> None:
    """Dramatiq's Results middleware stores a failure in ``after_nack``: after the broker
    dead-lettered the message. A reading between the two still ends with the exception, not
    with "no actor of that name" (seen in CI on a loaded machine)."""
    with DramatiqAdapter(scratch_url, backend_url=scratch_url) as dramatiq:
        job_id = dramatiq.enqueue("fail", queue="default")
        body = _dead_letter(scratch, job_id, retries=0)
        message = dramatiq_lib.Message.decode(json.dumps(body).encode())
        store = threading.Timer(
            0.3,
            lambda: RedisBackend(client=scratch).store_exception(
                message, ValueError("boom"), 60_000
            ),
        )
        store.start()
        try:
            state = dramatiq.job_state(job_id)
        finally:
            store.join(5)
        assert state is not None and (state.state, state.failure) == ("failed", "ValueError: boom")


def test_dramatiq_workers_are_recent_heartbeats_not_jobchecks_own(
    scratch_url: str, scratch: redis.Redis
) -> None:
    now_ms = time.time() * 1000
    scratch.zadd(HEARTBEATS, {"worker-a": now_ms, "gone": now_ms - 120_000})
    with DramatiqAdapter(scratch_url) as dramatiq:
        dramatiq.enqueue("canary", queue="default")  # heartbeats jobcheck's own broker id
        assert dramatiq.live_workers("default") == ("broker worker-a",)
    assert scratch.zcard(HEARTBEATS) == 3


def test_dramatiq_follows_only_messages_of_this_run(scratch_url: str) -> None:
    with DramatiqAdapter(scratch_url) as dramatiq, pytest.raises(CheckError, match="this run"):
        dramatiq.job_state("0000-unknown")


def test_amqp_url_bounds_pikas_connection() -> None:
    url = amqp_url("amqp://u:p@127.0.0.1:5672/%2F?heartbeat=30", 2.0)
    assert url.startswith("amqp://u:p@127.0.0.1:5672/%2F?heartbeat=30&connection_attempts=1")
    assert "socket_timeout=2.0" in url and "retry_delay=0" in url
    assert amqp_url("pyamqp://h//", 1.0).startswith("amqp://h//?")


def test_dramatiq_on_rabbitmq_says_it_cannot_see_a_message_in_progress() -> None:
    with DramatiqAdapter("amqp://u:p@127.0.0.1:1/%2F") as amqp:
        assert amqp.running_unseen.startswith("cannot tell on RabbitMQ without a view")
    with DramatiqAdapter("redis://127.0.0.1:1/0") as on_redis:
        assert on_redis.running_unseen == ""
