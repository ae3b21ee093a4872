"""``jobcheck init`` on the six sample repositories shaped like the findings of issue 20 (init on
real repositories): what it must write for each, and `jobcheck validate --strict` passing once
the placeholders are filled in."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from jobcheck.cli import app
from jobcheck.scaffold import find_root, init_checklist

SAMPLES = Path(__file__).parents[2] / "fixtures" / "projects"
SECRETS = ("Zq8vN2rT5kLw9pXe4HsA", "hT7uK3mQ9zR2vB8nW5yC")


def copy(tmp_path: Path, name: str) -> Path:
    """The sample as a git repository (a ``.git`` cannot be committed inside this one)."""
    root = Path(shutil.copytree(SAMPLES / name, tmp_path / name))
    (root / ".git").mkdir()
    return root


def init(root: Path, start: Path | None = None) -> tuple[str, dict[str, dict[str, Any]]]:
    path = init_checklist(
        root, force=False, environ={}, compose_cli=lambda: "docker compose", start=start
    )
    text = path.read_text(encoding="utf-8")
    assert not any(secret in text for secret in SECRETS)
    filled = text.replace("@TODO-owner", "@jobs-team").replace("TODO: ", "")
    path.write_text(filled, encoding="utf-8")
    strict = CliRunner().invoke(app, ["validate", "--strict", str(path)])
    assert strict.exit_code == 0, strict.output
    return text, {c["id"]: c for c in yaml.safe_load(text)["checks"]}


def said(text: str) -> str:
    """The comments, unwrapped: one line of words."""
    lines = (ln.strip() for ln in text.splitlines() if ln.strip().startswith("#"))
    return " ".join(ln.lstrip("#").strip() for ln in lines)


# -- (1) Django + Celery + beat on RabbitMQ, tuple includes, no testpaths -----------------------


def test_django_celery_beat_on_rabbitmq(tmp_path: Path) -> None:
    text, checks = init(copy(tmp_path, "django-celery-rabbitmq"))
    words = said(text)
    # plain pytest from the root: all 5 test files (python_files from pytest.ini), never the
    # first nested tests/ folder
    assert checks["tests"]["with"] == {"args": [], "min_tests": 1}
    assert "from the root's pytest.ini [pytest]: 5 test files" in words
    # include(("styleguide.api.urls", "api")) followed: / does not exist, /api/health/ does
    assert checks["django-health"]["with"]["url"] == "http://${stack.django.8000}/api/health/"
    assert "/api/users/" in words
    # the broker from the settings (CELERY_BROKER_URL = env(..., default="amqp://...")), not
    # "the redis service"; its literal password a reference; the backend from the settings
    broker = "amqp://guest:${RABBITMQ_PASSWORD:-}@${stack.rabbitmq.5672}//"
    assert checks["queue-celery"]["with"] == {
        "framework": "celery", "broker_url": broker, "queue": "celery", "min_workers": 1,
    }  # fmt: skip
    assert checks["queue-emails"]["with"]["queue"] == "emails"  # CELERY_TASK_ROUTES
    assert checks["canary-job"]["with"]["backend_url"] == "redis://${stack.redis.6379}/1"
    assert "Celery broker: the default of CELERY_BROKER_URL at config/settings.py:10" in words
    # beat: exactly one scheduler; DEBUG = env.bool(..., default=True) noticed
    assert checks["scheduler-single"]["with"] == {"framework": "celery", "min": 1, "max": 1}
    assert "The settings turn DEBUG on (DJANGO_DEBUG, read at config/settings.py:5" in words
    # no task sleeps: the drill is an example, never a check
    assert "celery-shutdown" not in checks and "# - id: celery-shutdown" in text


# -- (2) FastAPI + Celery on the host: RabbitMQ broker, password-protected Redis backend -------


def test_fastapi_celery_set_in_code_with_the_app_on_the_host(tmp_path: Path) -> None:
    text, checks = init(copy(tmp_path, "fastapi-celery-hostapp"))
    words = said(text)
    # both URLs from Celery(...) in app/worker.py, passwords as the .env's own variables
    assert checks["queue-celery"]["with"]["broker_url"] == (
        "amqp://user:${RABBITMQ_DEFAULT_PASS:-}@${stack.rabbitmq.5672}//"
    )
    assert checks["canary-job"]["with"] == {
        "via": "celery",
        "broker_url": "amqp://user:${RABBITMQ_DEFAULT_PASS:-}@${stack.rabbitmq.5672}//",
        "backend_url": "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0",
        "queue": "celery", "task": "celery.accumulate", "args": ["jobcheck-canary"],
        "deadline": "30s",
    }  # fmt: skip
    assert yaml.safe_load(text)["env_files"] == [".env"]
    assert "The workers run outside the stack" in words and "shutdown" not in checks
    # tests/ has only conftest.py: named, the check an example
    assert "tests" not in checks and "tests/ holds only conftest.py" in words
    # flake8 is the project's linter
    assert checks["lint"]["with"] == {"tool": "flake8", "paths": ["."]}
    assert "The project configures flake8 (.flake8) and not ruff" in words


# -- (3) Flask + RQ with blueprints ------------------------------------------------------------


def test_flask_rq_blueprints(tmp_path: Path) -> None:
    text, checks = init(copy(tmp_path, "flask-rq-blueprints"))
    words = said(text)
    # register_blueprint(url_prefix="/api"), url_prefix=TASKS_PREFIX (a constant) + the
    # blueprint's own; os.environ["ADMIN_PREFIX"] is named, never probed at the root
    assert checks["web-health"]["with"]["url"] == "http://${stack.web.5000}/api/health"
    assert "/{?os.environ['ADMIN_PREFIX']}/ping (server/admin.py:6)" in words
    assert "http://${stack.web.5000}/ping" not in text
    assert checks["canary-job-http"]["with"] == {
        "via": "http", "enqueue_url": "http://${stack.web.5000}/api/v1/tasks/",
        "status_url": "http://${stack.web.5000}/api/v1/tasks/{id}", "id_field": "task_id",
        "status_field": "task_status", "redis_url": "redis://${stack.redis.6379}/0",
    }  # fmt: skip
    # Redis publishes no port: reached through the engine all the same
    assert checks["queue-default"]["with"]["redis_url"] == "redis://${stack.redis.6379}/0"
    # sh -c "... && rq worker": PID 1 is a shell
    assert checks["worker-stop-config"]["kind"] == "stop_config"
    assert checks["worker-stop-config"]["with"] == {"service": "worker"}
    assert checks["tests"]["with"] == {"args": ["tests"], "min_tests": 1}


# -- (4) FastAPI + arq in a services/backend/app monorepo --------------------------------------


def test_monorepo_service_from_its_own_folder(tmp_path: Path) -> None:
    root = copy(tmp_path, "monorepo-fastapi-arq")
    service = root / "services" / "backend"
    (service / ".venv" / "bin").mkdir(parents=True)
    (service / ".venv" / "bin" / "python").symlink_to(sys.executable)
    start = service / "app"
    assert find_root(start, home=tmp_path) == root  # as git finds it, past pyproject.toml
    assert find_root(start, home=tmp_path, here=True) == service
    text, checks = init(root, start)
    # the service's tests, four levels down, run from where its configuration is
    assert checks["tests"]["with"] == {
        "args": [], "cwd": "services/backend", "python": "services/backend/.venv/bin/python",
        "min_tests": 1,
    }  # fmt: skip
    assert "services/backend/pyproject.toml [tool.pytest.ini_options]: 3 test files" in said(text)
    # include_router(api_router, prefix=settings.API_V1_STR): the pydantic setting's default
    url = "http://${stack.backend.8000}/backend-api/v1/healthz"
    assert checks["backend-health"]["with"]["url"] == url
    # the compose file at the repository's root is read
    assert yaml.safe_load(text)["stack"]["compose"] == ["compose.yaml"]
    # arq (scaffold/asyncjobs.py): the queue through the engine, Redis unpublished
    assert checks["queue-arq"]["with"] == {
        "framework": "arq", "redis_url": "redis://${stack.redis.6379}/0", "queue": "arq:queue",
        "min_workers": 1, "maxmemory_policy": "noeviction",
    }  # fmt: skip


# -- (5) FastAPI + Celery + beat, docker-compose.override.yml, routers under an API prefix -----


def test_fastapi_celery_with_an_override_file(tmp_path: Path) -> None:
    text, checks = init(copy(tmp_path, "fastapi-celery-override"))
    data = yaml.safe_load(text)
    files = ["docker-compose.yml", "docker-compose.override.yml"]
    assert data["stack"]["compose"] == files
    assert checks["compose-config"]["with"]["file"] == files
    assert checks["compose-config"]["rollback"].startswith(
        "TODO: revert docker-compose.yml and docker-compose.override.yml to the last release"
    )
    # the override gives backend its command and port: a web service, checked
    assert checks["backend-health"]["with"]["url"] == "http://${stack.backend.8888}/api/v1/healthz"
    # conf.broker_url / conf.update(task_default_queue=..., task_routes=...)
    assert [c["with"]["queue"] for c in checks.values() if c["kind"] == "queue"] == [
        "main", "reports",
    ]  # fmt: skip
    assert checks["canary-job"]["with"]["backend_url"] == "redis://${stack.redis.6379}/0"
    assert checks["worker-shutdown"]["with"]["task"] == "app.worker.sleep"
    assert checks["scheduler-single"]["with"]["framework"] == "celery"
    assert checks["worker-stop-config"]["with"] == {"service": "worker"}  # bash -c
    assert checks["tests"]["with"] == {"args": ["backend/tests"], "min_tests": 1}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({".env": "COMPOSE_FILE=docker-compose.yml:ci.yml\n"}, ["docker-compose.yml", "ci.yml"]),
        (
            {"Makefile": "up:\n\tdocker compose -f docker-compose.yml -f ci.yml up -d\n"},
            ["docker-compose.yml", "ci.yml"],
        ),
    ],
)
def test_compose_files_from_compose_file_and_the_makefile(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    root = copy(tmp_path, "fastapi-celery-override")
    (root / "ci.yml").write_text("services:\n  worker:\n    stop_grace_period: 60s\n")
    for name, body in files.items():
        (root / name).write_text(body, encoding="utf-8")
    text, _ = init(root)
    assert yaml.safe_load(text)["stack"]["compose"] == expected
    assert "-f docker-compose.yml -f ci.yml" in text  # the rollback notes' command line


# -- (6) a FastAPI + RQ sample whose Redis publishes no port -----------------------------------


def test_fastapi_rq_with_an_unpublished_redis(tmp_path: Path) -> None:
    _, checks = init(copy(tmp_path, "fastapi-rq-unpublished"))
    url = "redis://${stack.redis.6379}/0"
    assert checks["queue-default"]["with"]["redis_url"] == url
    assert checks["canary-job"]["with"]["redis_url"] == url
    # the app's own API, whatever the broker's ports
    assert checks["canary-job-http"]["with"] == {
        "via": "http", "enqueue_url": "http://${stack.web.8004}/tasks",
        "status_url": "http://${stack.web.8004}/tasks/{id}", "id_field": "task_id",
        "status_field": "task_status", "redis_url": url,
    }  # fmt: skip
    assert checks["worker-shutdown"]["needs"] == ["worker-running"]
    assert checks["worker-shutdown"]["after"] == ["queue-default", "canary-job", "canary-job-http"]


def test_plain_validate_summarizes_what_init_left_to_fill_in(tmp_path: Path) -> None:
    root = copy(tmp_path, "fastapi-rq-unpublished")
    path = init_checklist(root, force=False, environ={}, compose_cli=lambda: "docker compose")
    checks = len(yaml.safe_load(path.read_text(encoding="utf-8"))["checks"])
    loose = CliRunner().invoke(app, ["validate", str(path)])
    assert loose.exit_code == 0
    warnings = [ln for ln in loose.output.splitlines() if ln.startswith("warning:")]
    assert warnings == [
        f"warning: {2 * checks} placeholders left by `jobcheck init` to fill in (owner {checks}, "
        f"rollback {checks}), the first at {path}:25; `jobcheck validate --strict` lists each"
    ]
    strict = CliRunner().invoke(app, ["validate", "--strict", str(path)])
    assert strict.exit_code == 2 and strict.output.count("is a placeholder") == 2 * checks


@pytest.mark.parametrize(
    ("name", "start", "tests"),
    [
        ("django-celery-rabbitmq", "", 5),  # both nested tests/ folders, by python_files
        ("monorepo-fastapi-arq", "services/backend/app", 3),  # from the service's folder
        ("flask-rq-blueprints", "", 1),
    ],
)
def test_the_tests_check_runs_every_test_file_it_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, start: str, tests: int
) -> None:
    """The written check through the real pytest kind: it collects what the comment counts."""
    root = copy(tmp_path, name)
    for folder in ("", "services/backend"):
        if (root / folder / "pyproject.toml").is_file() or folder == "":
            (root / folder / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
            (root / folder / ".venv" / "bin" / "python").symlink_to(sys.executable)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    init(root, root / start if start else None)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["run", str(root / "jobcheck.yaml"), "--only", "tests", "--json", str(report)]
    )
    assert result.exit_code == 0, result.output
    found = json.loads(report.read_text(encoding="utf-8"))["checks"]
    check = next(c for c in found if c["id"] == "tests")
    assert check["status"] == "pass" and f"{tests} passed" in check["message"]
