"""Load-time validation of the Docker kinds' options: a bad `with:` fails before any run."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from jobcheck.kinds import get_kind

REDIS = "redis://:pw@127.0.0.1:6379/0"
API = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("kind", "with_", "fragment"),
    [
        ("job", {}, "via http needs enqueue_url and status_url"),
        (
            "job",
            {"enqueue_url": f"{API}/a", "status_url": f"{API}/b"},
            "status_url must contain {id}",
        ),
        ("job", {"via": "rq", "redis_url": REDIS}, "via rq needs a task"),
        ("job", {"via": "rq"}, "via rq needs redis_url and task"),
        ("job", {"via": "celery", "task": "app.tasks.canary"}, "via celery needs broker_url"),
        ("job", {"via": "rq", "redis_url": REDIS, "function": "canary"}, "dotted function name"),
        (
            "job",
            {"enqueue_url": f"{API}/a", "status_url": f"{API}/{{id}}", "body": {}, "form": {}},
            "not both",
        ),
        (
            "job",
            {"enqueue_url": f"{API}/a", "status_url": f"{API}/{{id}}", "id_field": "data..id"},
            "dotted path",
        ),
        ("queue", {"framework": "celery", "min_workers": 1}, "framework celery needs broker_url"),
        (
            "queue",
            {"framework": "celery", "broker_url": REDIS, "max_failed": 0},
            "Celery keeps no failed-job list",
        ),
        ("job", {"via": "rq", "redis_url": "http://x", "function": "a.b"}, "expected redis://"),
        ("job", {"via": "amqp"}, "Input should be 'http', 'rq', 'celery', 'arq' or 'dramatiq'"),
        ("queue", {"redis_url": REDIS}, "nothing to check"),
        ("queue", {"redis_url": REDIS, "max_depth": -1}, "greater than or equal to 0"),
        ("queue", {"redis_url": REDIS, "min_workers": 1, "maxdepth": 3}, "Extra inputs"),
        ("service", {}, "say which containers: `service`, or `labels` and/or `name`"),
        ("service", {"service": "api", "labels": {"app": "x"}}, "use one or the other"),
        ("service", {"name": "w-*", "project": "p"}, "`project` goes with `service`"),
        ("service", {"name": ""}, "at least 1 character"),
        (
            "shutdown",
            {"via": "rq", "redis_url": REDIS, "name": "w-*", "service": "worker"},
            "use one or the other",
        ),
        ("service", {"service": "api", "exec": ""}, "the command is empty"),
        ("service", {"service": "api", "wait": "soon"}, "a duration such as"),
        ("shutdown", {"via": "rq"}, "via rq needs redis_url"),
        ("shutdown", {"enqueue_url": f"{API}/s"}, "via http needs enqueue_url"),
        ("shutdown", {"via": "rq", "redis_url": REDIS, "seconds": "1s"}, "must be shorter than"),
    ],
)
def test_bad_options(kind: str, with_: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        get_kind(kind).options.model_validate(with_)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("name", ["http", "service", "job", "queue", "shutdown"])
def test_examples_are_valid_and_docker_kinds_say_so(name: str) -> None:
    kind = get_kind(name)
    kind.options.model_validate(kind.example)
    assert kind.docker is (name != "http")
