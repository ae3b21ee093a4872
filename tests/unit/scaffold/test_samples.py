"""``jobcheck init`` on the sample projects (tests/fixtures/projects/): the checklist it writes
loads, says the right things, and none of the wrong guesses of the past come back."""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import takewhile
from pathlib import Path
from typing import Any

import yaml

from jobcheck.loading import load_checklist
from jobcheck.scaffold import Setting, capabilities, detect, init_checklist, render

Sample = Callable[[str], Path]
CELERY_KINDS = {
    "queue": {"framework", "broker_url"},
    "job": {"task", "args", "kwargs", "broker_url", "backend_url", "form", "body", "id_field"},
    "shutdown": {"task", "args", "kwargs", "broker_url", "backend_url"},
}
SECRETS = ("Zq8vN2rT5kLw9pXe4HsA", "hT7uK3mQ9zR2vB8nW5yC", "pR4sW8nL2kQ6vT1mY9xB")


def init(root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """Write the checklist as on a machine with only docker-compose; validate it through the
    real loader; return its text and its checks by id."""
    path = init_checklist(root, force=False, environ={}, compose_cli=lambda: "docker-compose")
    load_checklist(path, {})
    text = path.read_text(encoding="utf-8")
    return text, {c["id"]: c for c in yaml.safe_load(text)["checks"]}


def with_celery_kinds() -> dict[str, frozenset[str]]:
    """This jobcheck's kinds, as they will be once they take Celery's options (DESIGN §7)."""
    kinds = dict(capabilities())
    for kind, options in CELERY_KINDS.items():
        kinds[kind] = kinds[kind] | options
    return kinds


def example(text: str, check_id: str) -> dict[str, Any]:
    """A check written as a commented-out example, uncommented and parsed."""
    lines = text.splitlines()
    block = takewhile(
        lambda ln: ln.startswith("  # "), lines[lines.index(f"  # - id: {check_id}") :]
    )
    found: dict[str, Any] = yaml.safe_load("\n".join(ln[4:] for ln in block))[0]
    return found


def running(checks: dict[str, dict[str, Any]]) -> list[str]:
    return [c["with"]["service"] for c in checks.values() if c["kind"] == "service"]


def assert_common_facts(text: str, checks: dict[str, dict[str, Any]], stack: str) -> None:
    assert not any(secret in text for secret in SECRETS)
    notes = [c["rollback"] for c in checks.values() if c["kind"] in ("service", "compose")]
    assert notes and all(f"docker-compose -p {stack}" in note for note in notes)
    for check in checks.values():
        assert check["owner"] == "@TODO-owner" and check["expect"]


# -- (1) FastAPI + Celery + Flower + Redis, tests in project/tests, a one-shot migrate ----------


def test_fastapi_celery(sample: Sample) -> None:
    text, checks = init(sample("fastapi-celery"))
    assert_common_facts(text, checks, "fastapi-celery-staging")
    # Flower is a dashboard (up, as a warning), never a worker; migrate is never "running"
    assert running(checks) == ["web", "worker", "beat", "dashboard", "redis", "db"]
    assert checks["dashboard-running"]["severity"] == "warning"
    compose = checks["compose-config"]["with"]
    assert compose["worker_services"] == ["worker"]
    assert compose["ignore"] == {"migrate": ["healthcheck", "restart"]}
    assert "# migrate is a one-shot (others wait for it with condition:" in text
    # no /health guess: the app has /ping
    # the port of this stack's own web container, published or not (reached through the engine)
    assert checks["web-health"]["with"]["url"] == "http://${stack.web.8000}/ping"
    assert "/health" not in text
    # FastAPI serves /docs, which no_debug reports: a warning, and the comment says why
    assert checks["web-no-debug"]["severity"] == "warning"
    assert "  # A warning: the FastAPI app serves /docs, /redoc and /openapi.json" in text
    # tests run from project/, as its pytest.ini expects
    assert checks["tests"]["with"] == {"args": [], "cwd": "project", "min_tests": 1}
    assert "  # Tests: plain `pytest` (its own discovery) (run from project/), from" in text
    # beat: exactly one scheduler
    assert checks["scheduler-single"]["with"] == {"framework": "celery", "min": 1, "max": 1}
    # .env (read by Compose): secrets checked, no empty-value rule; the template allows empties
    dotenv = checks["env-dotenv"]["with"]
    assert "required" not in dotenv and "secrets" not in dotenv  # secrets: the default, true
    assert dotenv["allow_empty"] == [
        "POSTGRES_PASSWORD", "REDIS_PASSWORD", "DATABASE_URL", "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND", "SENTRY_DSN",
    ]  # fmt: skip
    assert dotenv["same_keys_as"] == ".env.example"
    assert checks["env-example"]["with"]["secrets"] is False
    assert "required" not in checks["env-example"]["with"]


def test_fastapi_celery_today_notes_the_missing_celery_options(sample: Sample) -> None:
    kinds = {
        kind: options - CELERY_KINDS.get(kind, set()) for kind, options in capabilities().items()
    }
    text = render(Setting(detect(sample("fastapi-celery"), {}), kinds, "docker-compose"))
    assert "kind: queue" not in text and "via: celery" not in text
    assert "  # Some Celery checks are missing: this jobcheck's queue/job/shutdown kinds" in text


def test_fastapi_celery_queue_job_and_shutdown_options(sample: Sample) -> None:
    setting = Setting(detect(sample("fastapi-celery"), {}), with_celery_kinds(), "docker-compose")
    data = yaml.safe_load(render(setting))
    checks = {c["id"]: c for c in data["checks"]}
    # redis publishes on 127.0.0.1: the port its own container got, read when the check runs
    broker = "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0"
    backend = "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/1"
    assert data["env_files"] == [".env"]  # REDIS_PASSWORD, as Compose reads it
    assert checks["queue-default"]["with"] == {
        "framework": "celery", "broker_url": broker, "queue": "default", "min_workers": 1,
        "maxmemory_policy": "noeviction",
    }  # fmt: skip
    assert checks["queue-emails"]["with"]["queue"] == "emails"  # from `-Q default,emails`
    assert checks["canary-job"]["with"] == {
        "via": "celery", "broker_url": broker, "backend_url": backend, "queue": "default",
        "task": "celery.accumulate", "args": ["jobcheck-canary"], "deadline": "30s",
    }  # fmt: skip
    drill = checks["worker-shutdown"]
    assert drill["with"] == {
        "service": "worker", "via": "celery", "broker_url": broker, "backend_url": backend,
        "queue": "default", "task": "worker.pause", "seconds": 5, "stop_after": 1,
        "deadline": "60s",
    }  # fmt: skip
    # after every check that needs a live worker: never beside them
    assert drill["needs"] == ["worker-running"]
    assert drill["after"] == ["queue-default", "queue-emails", "canary-job", "worker-limits"]
    assert "canary-job-http" not in checks  # POST /tasks needs a value for `type`: an example
    # the sample sets no task time limit: a warning that says so, not a blocker
    limits = checks["worker-limits"]
    assert limits["with"] == {
        "framework": "celery", "broker_url": broker, "queue": "default", "time_limit": "required",
    }  # fmt: skip
    assert limits["severity"] == "warning"


def test_celery_time_limits_the_project_sets_make_the_limits_check_a_blocker(
    sample: Sample,
) -> None:
    root = sample("fastapi-celery")
    compose = root / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace("-Q default,emails", "-Q default,emails --time-limit=600"),
        encoding="utf-8",
    )
    (root / "project" / "limits.py").write_text(
        "from worker import celery\n\ncelery.conf.task_soft_time_limit = 9 * 60\n",
        encoding="utf-8",
    )
    setting = Setting(detect(root, {}), with_celery_kinds(), "docker-compose")
    text = render(setting)
    limits = {c["id"]: c for c in yaml.safe_load(text)["checks"]}["worker-limits"]
    assert limits["with"]["time_limit"] == limits["with"]["soft_time_limit"] == "required"
    assert "severity" not in limits  # a blocker, as every check init writes
    said = " ".join(line.strip(" #") for line in text.splitlines() if line.startswith("  #"))
    assert (
        "Time limits the project sets: `--time-limit 600` (worker); task_soft_time_limit "
        "(project/limits.py:3)." in said
    )


def test_no_celery_time_limit_is_a_warning_that_says_why(sample: Sample) -> None:
    setting = Setting(detect(sample("fastapi-celery"), {}), with_celery_kinds(), "docker-compose")
    said = " ".join(line.strip(" #") for line in render(setting).splitlines())
    assert (
        "No task_time_limit found in the code or the worker's command: a stuck task holds "
        "its worker process forever." in said
    )


def test_celery_drill_without_a_sleeping_task_is_an_example(sample: Sample) -> None:
    root = sample("fastapi-celery")
    worker = root / "project" / "worker.py"
    worker.write_text(worker.read_text().replace("time.sleep(seconds)", "pass"))
    text = render(Setting(detect(root, {}), with_celery_kinds(), "docker-compose"))
    assert example(text, "worker-shutdown")["with"]["task"] == "TODO.sleep"
    said = " ".join(ln.removeprefix("  # ") for ln in text.splitlines())
    assert "tasks found: create_task, worker.send_welcome_email, worker.pause." in said


def test_fastapi_celery_checks_load_once_the_kinds_take_celery_options(sample: Sample) -> None:
    text, checks = init(sample("fastapi-celery"))
    assert {"queue-default", "queue-emails", "canary-job", "worker-shutdown"} <= set(checks)
    assert checks["queue-default"]["with"]["framework"] == "celery"
    assert checks["canary-job"]["with"]["via"] == "celery"
    assert checks["worker-shutdown"]["with"]["task"] == "worker.pause"
    assert not any(secret in text for secret in SECRETS)


def test_celery_project_in_docker_folder_loads_once_the_kinds_take_celery_options(
    sample: Sample,
) -> None:
    root = sample("fastapi-celery")
    (root / "docker").mkdir()
    (root / "docker-compose.yml").rename(root / "docker" / "docker-compose.yml")
    text, checks = init(root)
    assert checks["queue-default"]["with"]["broker_url"].startswith("redis://:${REDIS_PASSWORD")
    assert "docker-compose -p fastapi-celery-staging -f docker/docker-compose.yml" in text


# -- (2) Flask + RQ + rq-dashboard, testpaths in setup.cfg, a form-encoded task endpoint --------


FLASK_RQ_IDS = [
    "lint", "tests", "env-sample", "compose-config", "web-running", "worker-running",
    "redis-running", "dashboard-running", "web-health", "web-headers", "web-no-debug",
    "queue-high", "queue-default",
    "canary-job", "worker-shutdown", "release-tag",
]  # fmt: skip


def test_flask_rq(sample: Sample) -> None:
    root = sample("flask-rq")
    text, checks = init(root)
    assert list(checks) == FLASK_RQ_IDS
    assert_common_facts(text, checks, "flask-rq-staging")
    # rq-dashboard is no worker (rq\b must not match it)
    assert checks["compose-config"]["with"]["worker_services"] == ["worker"]
    assert checks["dashboard-running"]["severity"] == "warning"
    assert checks["tests"]["with"] == {"args": ["tests"], "min_tests": 1}
    said = "#   - tests: tests, from testpaths in the root's setup.cfg [tool:pytest]: 1 test file\n"
    assert said in text
    # no health route: the http check asks for / (which exists) and says so
    assert checks["web-health"]["with"]["url"] == "http://${stack.web.5000}/"
    assert "  # no health route found; / is a GET route that exists" in text
    # the security checks ask the same route, after it answered; nothing in the code sets
    # nosniff, so the header check is a warning that says why; Flask has no docs pages
    headers, no_debug = checks["web-headers"], checks["web-no-debug"]
    assert headers["with"] == {
        "url": "http://${stack.web.5000}/", "status": 200,
        "headers": {"X-Content-Type-Options": "nosniff"},
    }  # fmt: skip
    assert headers["needs"] == no_debug["needs"] == ["web-health"]
    assert headers["severity"] == "warning"
    assert "  # A warning: init found no code that sets X-Content-Type-Options" in text
    assert no_debug["with"] == {"url": "http://${stack.web.5000}/", "no_debug": True}
    assert "severity" not in no_debug
    # queues from `rq worker ... high default`; Redis, published on 127.0.0.1, through the port
    # its own container got (${stack.redis.6379}), with a ${...} password
    url = "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0"
    assert [checks[f"queue-{q}"]["with"]["queue"] for q in ("high", "default")] == [
        "high", "default",
    ]  # fmt: skip
    assert checks["queue-high"]["with"] == {
        "redis_url": url, "queue": "high", "min_workers": 1, "failed_not_grown": True,
        "maxmemory_policy": "noeviction",
    }  # fmt: skip
    assert checks["canary-job"]["with"] == {
        "via": "rq", "redis_url": url, "queue": "high", "function": "os.getpid", "deadline": "30s",
    }  # fmt: skip
    assert checks["worker-shutdown"]["with"]["function"] == "time.sleep"
    # the app's own form-encoded endpoint, as an example to fill in
    assert example(text, "canary-job-http")["with"] == {
        "via": "http", "enqueue_url": "http://${stack.web.5000}/tasks",
        "status_url": "http://${stack.web.5000}/tasks/{id}", "form": {"type": "TODO"},
        "id_field": "data.task_id", "status_field": "data.task_status", "redis_url": url,
    }  # fmt: skip
    loaded = load_checklist(root / "jobcheck.yaml", {"REDIS_PASSWORD": "s3cret"})
    queue = loaded.check("queue-high")  # type: ignore[union-attr]
    # the password from the environment now, the port when the check runs
    refs = queue.stack_refs  # type: ignore[union-attr]
    assert (
        refs is not None
        and refs.written_options["redis_url"] == "redis://:s3cret@${stack.redis.6379}/0"
    )
    assert queue.options.redis_url == "redis://:s3cret@127.0.0.1:6379/0"  # the load placeholder


# -- (3) FastAPI + Dramatiq, the project's .venv, a router-prefixed health route ----------------


def test_fastapi_dramatiq(sample: Sample) -> None:
    root = sample("fastapi-dramatiq")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
    text, checks = init(root)
    assert_common_facts(text, checks, "fastapi-dramatiq-staging")
    assert checks["tests"]["with"] == {
        "args": ["tests"], "python": ".venv/bin/python", "min_tests": 1,
    }  # fmt: skip
    assert "#   - interpreter: .venv/bin/python (the project's .venv/)\n" in text
    assert "  # .venv has no ruff: the lint check runs jobcheck's own ruff" in text
    assert checks["backend-health"]["with"]["url"] == (
        "http://${stack.backend.8000}/api/v1/healthz"  # whatever API_PORT .env gives Compose
    )
    assert "db-init" not in running(checks)  # restart: no and a setup name: a one-shot
    assert running(checks) == ["db", "backend", "worker", "scheduler", "redis"]
    # Redis publishes no port: the Dramatiq checks reach it through the engine
    assert checks["queue-dramatiq"]["with"]["broker_url"] == "redis://${stack.redis.6379}/0"
    assert checks["canary-dramatiq"]["with"]["via"] == "dramatiq"
    # periodiq: exactly one, counted by its command line
    assert checks["scheduler-single"]["with"] == {
        "framework": "any", "patterns": ["\\bperiodiq\\b"], "min": 1, "max": 1,
    }  # fmt: skip
    dotenv = checks["env-dotenv"]["with"]
    assert "required" not in dotenv and "forbidden" not in dotenv and "allow_empty" in dotenv
    assert "  # .env is git-ignored: this check needs it where jobcheck runs" in text


def test_fastapi_dramatiq_with_the_projects_ruff(sample: Sample) -> None:
    root = sample("fastapi-dramatiq")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (root / ".venv" / "bin" / "ruff").write_text("#!/bin/sh\n", encoding="utf-8")
    _, checks = init(root)
    assert checks["lint"]["with"] == {"paths": ["."], "tool": ".venv/bin/ruff"}


# -- (4) the healthy Flask + RQ service of the end-to-end first run ------------------------------


def test_flask_rq_healthy_every_check_is_a_blocker_on_its_own_stack(sample: Sample) -> None:
    """What tests/e2e/test_first_run_docker.py runs against the real stack, read without one."""
    text, checks = init(sample("flask-rq-healthy"))
    assert_common_facts(text, checks, "flask-rq-healthy-staging")
    assert list(checks) == [
        "lint", "tests", "env-dotenv", "env-example", "compose-config", "web-running",
        "worker-running", "redis-running", "web-health", "web-headers", "web-no-debug",
        "queue-default", "canary-job", "worker-shutdown", "release-tag",
    ]  # fmt: skip
    assert not [c["id"] for c in checks.values() if "severity" in c]  # healthy: no warnings
    assert checks["web-health"]["with"]["url"] == "http://${stack.web.5000}/health"
    assert checks["web-headers"]["with"]["url"] == "http://${stack.web.5000}/health"
    assert "  # `X-Content-Type-Options: nosniff` is the header every API should send" in text
    assert checks["queue-default"]["with"]["redis_url"] == (
        "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0"
    )
    assert checks["tests"]["with"] == {"args": [], "min_tests": 1}  # plain pytest: 1 file
    assert checks["lint"]["title"] == "Lint is clean: ruff (ruff.toml)"
    assert checks["release-tag"]["with"] == {
        "tag": "${RELEASE_TAG:-v0.1.0}", "match_version": False, "changelog": "CHANGELOG.md",
    }  # fmt: skip
    assert "  # - id: canary-job-http\n" in text  # the form field needs a value: an example
    # the drill stops the worker: after the checks that need one (a second run once failed
    # canary-job with "0 live workers" while the drill ran beside it)
    assert checks["worker-shutdown"]["needs"] == ["worker-running"]
    assert checks["worker-shutdown"]["after"] == ["queue-default", "canary-job"]
