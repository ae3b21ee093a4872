"""Reading a Dramatiq worker's actors: the reader script run for real with this host's Python
and dramatiq on small apps (the engine's exec is the only fake), then judged by worker_limits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jobcheck.kinds import worker_limits
from jobcheck.outcomes import CheckError
from jobcheck.probes import containers, dramatiq_actors, engine
from jobcheck.probes.dramatiq_actors import Actor

APP = """
import dramatiq
from dramatiq.brokers.stub import StubBroker

broker = StubBroker({middleware})
dramatiq.set_broker(broker)


@dramatiq.actor(time_limit=5000, max_retries=2)
def quick():
    pass


@dramatiq.actor(queue_name="slow", max_retries=None)
def slow():
    pass


@dramatiq.actor
def plain():
    pass
"""


def write_app(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / f"{name}.py").write_text(text)


def reader(tmp_path: Path, *argv: str) -> str:
    """The reader's output, run as the worker's container would run it (cwd: the app)."""
    done = subprocess.run(
        [sys.executable, "-c", dramatiq_actors.SCRIPT, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def actors(tmp_path: Path, *argv: str) -> dict[str, Actor]:
    data = dramatiq_actors.parse(reader(tmp_path, *argv))
    _broker, found, _queues = dramatiq_actors.actors_from(data)
    return {a.name: a for a in found}


def test_actor_options_and_the_middleware_defaults_are_read(tmp_path: Path) -> None:
    write_app(tmp_path, "limits_app", APP.format(middleware=""))
    found = actors(tmp_path, "limits_app", "--processes", "1")
    assert (found["quick"].time_limit_ms, found["quick"].time_limit_from) == (5000, "actor")
    assert (found["quick"].max_retries, found["quick"].max_retries_from) == (2, "actor")
    # Dramatiq's own defaults, read from the broker's middleware objects.
    assert (found["plain"].time_limit_ms, found["plain"].time_limit_from) == (
        600_000,
        "middleware default",
    )
    assert (found["plain"].max_retries, found["plain"].max_retries_from) == (
        20,
        "middleware default",
    )
    assert (found["slow"].queue, found["slow"].max_retries) == ("slow", None)


def test_a_broker_without_the_middleware_has_no_limit_and_no_retries(tmp_path: Path) -> None:
    bare = APP.format(middleware="middleware=[]").partition("@dramatiq.actor(time_limit")[0]
    write_app(tmp_path, "bare_app", bare + "@dramatiq.actor\ndef plain():\n    pass\n")
    plain = actors(tmp_path, "bare_app")["plain"]
    assert (plain.time_limit_ms, plain.time_limit_from) == (None, "no TimeLimit middleware")
    assert (plain.max_retries, plain.max_retries_from) == (0, "no Retries middleware")


def test_a_module_that_does_not_import_says_what_was_seen_without_the_secret(
    tmp_path: Path,
) -> None:
    write_app(
        tmp_path, "broken_app", 'raise RuntimeError("no redis at redis://u:s3cr3t@db:6379")\n'
    )
    data = dramatiq_actors.parse(reader(tmp_path, "broken_app"))
    assert data["error"] == "import"
    assert data["seen"] == "RuntimeError: no redis at redis://***@db:6379"
    missing = dramatiq_actors.parse(reader(tmp_path, "no_such_app"))
    assert missing == {
        "error": "import",
        "seen": "ModuleNotFoundError: No module named 'no_such_app'",
    }


def test_the_cli_process_and_its_interpreter_are_found() -> None:
    cli = "/opt/venv/bin/python3 /opt/venv/bin/dramatiq app.tasks --processes 1"
    procs = [
        containers.Process(10, 1, cli),
        containers.Process(11, 10, cli),  # a forked worker process: same command line
        containers.Process(12, 1, "gunicorn app:create_app()"),
    ]
    assert dramatiq_actors.cli_process(procs) == procs[0]
    assert dramatiq_actors.cli_process(procs[2:]) is None
    assert dramatiq_actors.split_command(cli) == (
        "/opt/venv/bin/python3",
        ["app.tasks", "--processes", "1"],
    )
    assert dramatiq_actors.split_command("python -m dramatiq app.tasks") == (
        "python",
        ["app.tasks"],
    )
    with pytest.raises(ValueError, match="no Python interpreter"):
        dramatiq_actors.split_command("dramatiq app.tasks")


def fake_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str) -> Any:
    """A container whose process list shows ``command``; its exec runs here, in ``tmp_path``."""

    def exec_in(
        env: Any, container: Any, argv: list[str], timeout_s: float, context: Any = None
    ) -> engine.ExecResult:
        assert argv[1:3] == ["-c", dramatiq_actors.SCRIPT]
        return engine.ExecResult(0, reader(tmp_path, *argv[3:]))

    monkeypatch.setattr(containers, "processes", lambda c: [containers.Process(7, 1, command)])
    monkeypatch.setattr(engine, "exec_in", exec_in)
    return SimpleNamespace(name="stack-worker-1", short_id="abc")


def test_worker_limits_judges_each_actor_in_the_same_vocabulary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_app(tmp_path, "limits_app", APP.format(middleware=""))
    container = fake_worker(monkeypatch, tmp_path, "/venv/bin/python /venv/bin/dramatiq limits_app")
    worker = dramatiq_actors.read({}, container, 30.0)
    options = worker_limits.Options.model_validate(
        {"framework": "dramatiq", "time_limit": "1m", "max_retries": 5}
    )
    found = [f.text for f in worker_limits.dramatiq_findings(options, worker, worker.actors)]
    assert found == [
        "stack-worker-1: actor plain (queue 'default'): time_limit 10m, expected at most 60s "
        "(middleware default)",
        "stack-worker-1: actor plain (queue 'default'): max_retries 20, expected at most 5 "
        "(middleware default)",
        "stack-worker-1: actor slow (queue 'slow'): time_limit 10m, expected at most 60s "
        "(middleware default)",
        "stack-worker-1: actor slow (queue 'slow'): max_retries None (forever), expected at "
        "most 5 (actor)",
    ]  # quick's own 5 s and 2 retries hold


def test_a_worker_whose_modules_do_not_import_is_an_error_never_a_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    container = fake_worker(monkeypatch, tmp_path, "python -m dramatiq missing.tasks")
    with pytest.raises(CheckError) as caught:
        dramatiq_actors.read({}, container, 30.0)
    assert str(caught.value) == (
        "stack-worker-1: importing the worker's broker and modules failed: "
        "ModuleNotFoundError: No module named 'missing'"
    )


def test_a_worker_started_with_queues_is_judged_on_those_queues_actors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_app(tmp_path, "limits_app", APP.format(middleware=""))
    command = "/venv/bin/python /venv/bin/dramatiq limits_app --queues slow --threads 1"
    container = fake_worker(monkeypatch, tmp_path, command)
    monkeypatch.setattr(engine, "containers", lambda *a, **k: [container])
    container.status = "running"
    options = worker_limits.Options.model_validate(
        {"framework": "dramatiq", "project": "p", "max_retries": 5}
    )
    ctx = SimpleNamespace(env={}, remaining=lambda: 60.0, mask=lambda text: text)
    monkeypatch.setattr(engine, "context_of", lambda ctx: None)
    outcome = worker_limits.check_dramatiq(options, ctx, sdk=None)  # type: ignore[arg-type]
    assert outcome.status == "fail"
    assert outcome.message.splitlines()[1:] == [
        "  stack-worker-1: actor slow (queue 'slow'): max_retries None (forever), expected at "
        "most 5 (actor)"
    ]
