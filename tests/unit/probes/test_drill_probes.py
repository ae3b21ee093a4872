"""What the worker_limits, scheduler and broker_restart drills read, against a real
redis-server, real RQ code and a real Celery worker (tests/unit/probes/conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.scheduler import RQScheduler

from jobcheck.kinds import broker_restart, worker_limits
from jobcheck.probes import framework as fw
from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.probes.rq_adapter import RQAdapter

from .realparts import (
    PASSWORD,
    START_S,
    CeleryWorker,
    answers,
    free_port,
    redis_binary,
    stop,
    wait_until,
)


def test_rq_job_limits_are_read_from_the_job_hashes(scratch: redis.Redis, scratch_url: str) -> None:
    queue = Queue("limits", connection=scratch)
    queue.enqueue_call("os.getcwd", timeout=-1, result_ttl=60, failure_ttl=120)
    queue.enqueue_call("os.getpid", timeout=45)
    with RQAdapter(scratch_url) as rq:
        jobs = sorted(rq.job_limits("limits", 10), key=lambda j: j.function)
    assert [(j.function, j.timeout, j.result_ttl, j.failure_ttl) for j in jobs] == [
        ("os.getcwd", -1.0, 60.0, 120.0),
        ("os.getpid", 45.0, None, None),
    ]
    options = worker_limits.Options(
        framework="rq", redis_url=scratch_url, time_limit="required", result_ttl="required"
    )
    found = [f.text for f in worker_limits.rq_findings(options, jobs)]
    assert found == [
        "timeout none (-1), expected one on 1 job (os.getcwd)",
        "result_ttl not set (the worker's default applies, which RQ does not publish), "
        "expected one on 1 job (os.getpid)",
    ]
    assert worker_limits.rq_summary("limits", jobs) == (
        "2 jobs of 'limits' read: timeout 45s (and none), result_ttl 60s (and none), "
        "failure_ttl 2m (and none)"
    )


def test_rq_job_limits_leave_out_the_jobs_jobcheck_enqueued(
    scratch: redis.Redis, scratch_url: str
) -> None:
    """A canary or drill job of jobcheck's own carries jobcheck's limits, not the service's:
    in a gate, the drills' jobs made `job-limits` fail on TTLs the service does set."""
    Queue("own", connection=scratch).enqueue_call("os.getpid", timeout=30, result_ttl=60)
    with RQAdapter(scratch_url) as rq:
        own = rq.enqueue("os.getcwd", queue="own")
        jobs = rq.job_limits("own", 10)
    assert scratch.hget(f"rq:job:{own}", "description") == b"jobcheck canary: os.getcwd"
    assert [(j.function, j.timeout, j.result_ttl) for j in jobs] == [("os.getpid", 30.0, 60.0)]


def test_rq_scheduler_locks_name_their_holder(scratch: redis.Redis, scratch_url: str) -> None:
    scheduler = RQScheduler(["alpha", "beta"], connection=scratch)
    assert scheduler.acquire_locks() == {"alpha", "beta"}
    scheduler.register_birth()
    with RQAdapter(scratch_url) as rq:
        locks = rq.scheduler_locks()
    assert [(lock.queue, lock.holder) for lock in locks] == [
        ("alpha", scheduler.name),
        ("beta", scheduler.name),
    ]
    assert {lock.hostname for lock in locks} == {scheduler.hostname}
    assert {lock.pid for lock in locks} == {str(scheduler.pid)}


def test_celery_worker_limits_come_from_the_running_worker(
    celery: CeleryAdapter, celery_worker: CeleryWorker
) -> None:
    (seen,) = celery.worker_limits("celery")
    # tests/fixtures/celery_app: no time limits, prefetch multiplier 1; the worker: -c 2.
    assert seen == fw.WorkerLimits(
        worker=celery_worker.name,
        time_limit=None,
        soft_time_limit=None,
        max_tasks_per_child=None,
        max_memory_per_child=None,
        prefetch_multiplier=1,
        concurrency=2,
        prefetch_count=2,
    )
    options = worker_limits.Options(
        framework="celery",
        broker_url=celery_worker.broker_url,
        time_limit="required",
        max_prefetch=1,
    )
    assert [f.text for f in worker_limits.celery_findings(options, seen)] == [
        f"{celery_worker.name}: time limit unset (task_time_limit is None: a stuck task holds "
        "its worker process forever), expected one"
    ]


def test_celery_delivery_reads_the_queue_and_the_delivery_mode(celery: CeleryAdapter) -> None:
    assert celery.delivery("celery") == (True, "persistent")


def test_a_renamed_config_command_is_said_never_guessed(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "redis.log"
    command = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--requirepass", PASSWORD, "--dir", str(tmp_path), "--logfile", str(log)]
    command += ["--rename-command", "CONFIG", ""]
    process = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        wait_until(f"redis-server on port {port}", lambda: answers(port), START_S, log)
        url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
        options = broker_restart.Options(redis_url=url, task="app.jobs.canary")
        with RQAdapter(url) as rq:
            kept = broker_restart.persistence_of(rq, options)
    finally:
        stop(process)
    assert kept == broker_restart.Persistence(
        None,
        "Redis's persistence could not be told (CONFIG GET was refused: renamed or disabled "
        "in this deployment)",
    )


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"framework": "rq", "redis_url": "redis://127.0.0.1/0", "max_prefetch": 1},
            "max_prefetch: Celery's setting",
        ),
        (
            {"framework": "celery", "broker_url": "redis://127.0.0.1/0", "result_ttl": "1h"},
            "result_ttl: RQ's setting",
        ),
        ({"framework": "celery", "broker_url": "redis://127.0.0.1/0"}, "nothing to check"),
        ({"framework": "rq", "time_limit": "required"}, "framework rq needs redis_url"),
    ],
)
def test_worker_limits_options_that_cannot_work_are_load_errors(
    options: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        worker_limits.Options.model_validate(options)


def test_broker_restart_sends_its_canary_and_sleep_job_with_their_arguments(
    rq_worker: str, tmp_path: Path
) -> None:
    """A real RQ worker runs what the drill enqueues: the app's own task with its arguments,
    and the sleep task with ``{seconds}`` filled in only where the checklist put it."""
    from rq.job import Job as RQJob

    from jobcheck.kinds.base import KindContext
    from jobcheck.secrets import Masker

    options = broker_restart.Options(
        redis_url=rq_worker,
        task="tests.fixtures.rq_app.jobs.add",
        args=[2],
        kwargs={"b": 3},
        sleep_task="tests.fixtures.rq_app.jobs.sleep",
        sleep_kwargs={"seconds": "{seconds}"},
        seconds=0.2,
    )
    assert options.sleep_call() == ([], {"seconds": 0.2})
    plain = broker_restart.Options(redis_url=rq_worker, task="a.b", sleep_task="a.c", seconds=4)
    assert plain.sleep_call() == ([4.0], {})  # nothing asked: the seconds as its argument
    ctx = KindContext(check_id="t", base_dir=Path.cwd(), env={}, timeout_s=30, mask=Masker([]))
    with RQAdapter(rq_worker, timeout_s=2.0) as rq:
        ids = [
            broker_restart.send_canary(rq, options, ctx, until=0.0),
            broker_restart.send_waiting(rq, options),
            rq.enqueue(options.sleep_task or "", *options.sleep_call(), queue="default"),
        ]
        client = redis.Redis.from_url(rq_worker)
        jobs = [RQJob.fetch(i, connection=client) for i in ids]
        wait_until(
            "the jobs to finish",
            lambda: all(j.get_status(refresh=True) == "finished" for j in jobs),
            20,
            tmp_path / "none.log",
        )
    assert [j.return_value() for j in jobs] == [5, 5, 0.2]
    assert jobs[2].kwargs == {"seconds": 0.2}


def test_broker_restart_sleep_arguments_need_the_sleep_task() -> None:
    with pytest.raises(ValueError, match="sleep_args and sleep_kwargs are sleep_task's"):
        broker_restart.Options(redis_url="redis://127.0.0.1/0", task="a.b", sleep_args=[1])
    options = broker_restart.Options(
        redis_url="redis://127.0.0.1/0",
        task="a.b",
        sleep_task="a.c",
        sleep_args=["{seconds}", "for {seconds}s", {"n": ["{seconds}"]}],
        seconds="1.5s",
    )
    assert options.sleep_call() == ([1.5, "for 1.5s", {"n": [1.5]}], {})
