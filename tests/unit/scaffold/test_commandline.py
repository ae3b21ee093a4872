from __future__ import annotations

import pytest

from jobcheck.scaffold.commandline import names_queues, read, server_port, shell_wrapped

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


@pytest.mark.parametrize(
    ("command", "port"),
    [
        ("uvicorn app.main:app --host 0.0.0.0 --port 8000", "8000"),
        ("uvicorn main:app --port=8001", "8001"),
        ("gunicorn -b 0.0.0.0:5000 'server:create_app()'", "5000"),
        ("python manage.py runserver 0.0.0.0:8080", "8080"),
        ("celery -A app worker", ""),
        ("redis-server --port 6380", "6380"),
    ],
)
def test_the_port_a_server_listens_on(command: str, port: str) -> None:
    assert server_port(command) == port


@pytest.mark.parametrize(
    ("command", "shell"),
    [
        ('bash -c "python wait.py && celery -A app worker"', "bash"),
        ("sh -c 'rq worker high'", "sh"),
        ('sh -c "python wait.py && exec rq worker"', ""),  # exec: the worker replaces the shell
        ("celery -A app worker", ""),
    ],
)
def test_a_worker_behind_a_shell(command: str, shell: str) -> None:
    assert shell_wrapped(command) == shell


def test_whether_a_celery_command_names_its_queues() -> None:
    assert names_queues("celery -A app worker -Q a,b") and names_queues("celery worker -Qa")
    assert names_queues("celery worker --queues=a") and not names_queues("celery -A app worker")
