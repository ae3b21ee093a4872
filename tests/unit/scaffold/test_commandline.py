from __future__ import annotations

import pytest

from jobcheck.scaffold.commandline import read

CASES = [
    # command, role, framework, queues
    ("celery -A proj worker -l info -Q high,default", "worker", "celery", ["high", "default"]),
    ("celery --app=worker.celery worker --queues=a,b", "worker", "celery", ["a", "b"]),
    ("celery worker --app=worker.celery --loglevel=info", "worker", "celery", ["celery"]),
    ("celery -A worker.celery beat", "scheduler", "celery", []),  # "worker" in -A is not the verb
    ("celery --broker=redis://redis:6379/0 flower --port=5555", "dashboard", "celery", []),
    ("flower --app=worker.celery --port=5555", "dashboard", "celery", []),
    ("/start-celeryworker", "worker", "celery", ["celery"]),
    ("/start-flower", "dashboard", "celery", []),
    ("rq worker --url redis://redis:6379/0 --with-scheduler high default", "worker", "rq",
     ["high", "default"]),
    ("rq worker", "worker", "rq", ["default"]),
    ("python manage.py rqworker emails", "worker", "rq", ["emails"]),
    ("rq-dashboard -H redis", "dashboard", "rq", []),  # rq\b must not match rq-dashboard
    ("dramatiq app.tasks --processes 2", "worker", "dramatiq", []),
    ("python -m dramatiq app.tasks", "worker", "dramatiq", []),
    ("periodiq -v app.tasks", "scheduler", "dramatiq", []),
    ("arq app.worker.WorkerSettings", "worker", "arq", []),
    ("python manage.py run_worker", "worker", "", []),
    ("alembic upgrade head", "oneshot", "", []),
    ("python manage.py migrate --noinput", "oneshot", "", []),
    ("flask db upgrade", "oneshot", "", []),
    ("sh -c 'alembic upgrade head && uvicorn app:app'", "web", "", []),  # migrates, then serves
    ("gunicorn -w 4 app:app", "web", "", []),
    ("python manage.py runserver 0.0.0.0:8000", "web", "", []),
    ("sh -c 'pip install dramatiq-pg && dramatiq-pg init'", "", "", []),  # not a dramatiq worker
    ("poetry run python serve.py", "", "", []),
]  # fmt: skip


@pytest.mark.parametrize(("command", "role", "framework", "queues"), CASES)
def test_what_a_command_runs(command: str, role: str, framework: str, queues: list[str]) -> None:
    reading = read(command)
    assert (reading.role, reading.framework, reading.queues) == (role, framework, queues)


def test_worker_broker_url_is_read_from_its_options() -> None:
    assert read("rq worker -u redis://:${PW}@redis:6379/2 high").broker_url == (
        "redis://:${PW}@redis:6379/2"
    )
    assert read("celery -A app -b amqp://rabbit// worker").broker_url == "amqp://rabbit//"
