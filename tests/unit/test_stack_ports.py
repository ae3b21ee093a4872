"""``${stack.SERVICE.PORT}``: kept at load (and checked: a stack, a known service), resolved by
the runner right before each attempt from the containers' published ports, an `error` at once
when the stack cannot answer for itself. The engine is an in-memory stand-in here (the same
against a real engine: tests/e2e/test_stack_ports_docker.py); the HTTP servers are real."""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jobcheck.cli import app
from jobcheck.errors import ChecklistError
from jobcheck.loading import load_checklist
from jobcheck.pipeline import stack_info
from jobcheck.plan import select
from jobcheck.probes import engine, reach
from jobcheck.results import RunResult, Status
from jobcheck.run_settings import RunSettings
from jobcheck.runner import Runner
from jobcheck.secrets import Masker

COMPOSE = "services:\n  api: {image: x}\n  worker: {image: x}\n  redis: {image: x}\n"
CHECKLIST = """\
version: 1
name: ports
defaults: {owner: "@team", expect: answers, rollback: redeploy}
vars:
  api: "http://${stack.api.8000}"
stack: {compose: [compose.yaml], project: shop}
checks:
  - {id: health, kind: http, with: {url: "${api}/health", status: 200}}
  - id: by-command
    kind: command
    with: {run: "echo ${stack.api.8000}", stdout_contains: "127.0.0.1:"}
"""


@dataclass
class Container:
    service: str
    ports: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    status: str = "running"
    project: str = "shop"

    @property
    def name(self) -> str:
        return f"{self.project}_{self.service}_1"

    @property
    def labels(self) -> dict[str, str]:
        return {engine.PROJECT_LABEL: self.project, engine.SERVICE_LABEL: self.service}

    @property
    def attrs(self) -> dict[str, Any]:
        return {"State": {"Status": self.status}, "NetworkSettings": {"Ports": self.ports}}


@dataclass
class Engine:
    """The part of the Docker SDK the resolution reads: containers listed by label."""

    found: list[Container] = field(default_factory=list)

    @property
    def containers(self) -> Engine:
        return self

    def list(
        self, all: bool, filters: dict[str, list[str]], ignore_removed: bool = False
    ) -> list[Container]:
        wanted = set(filters["label"])
        return [c for c in self.found if wanted <= {f"{k}={v}" for k, v in c.labels.items()}]

    def close(self) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 answering /health with 200: "the api container"."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def write(tmp_path: Path, text: str = CHECKLIST) -> Path:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    path = tmp_path / "jobcheck.yaml"
    path.write_text(text)
    return path


def run(path: Path, sdk: Engine, monkeypatch: pytest.MonkeyPatch, prepare: str = "") -> RunResult:
    monkeypatch.setattr(engine, "client", lambda env=None, timeout_s=10.0, context=None: sdk)
    checklist = load_checklist(path, dict(os.environ))
    settings = RunSettings(
        base_dir=checklist.base_dir,
        env=dict(os.environ),
        mask=Masker(),
        jobs=2,
        stack=stack_info(checklist),
        prepare=(lambda cancel, progress: prepare) if prepare else None,
    )
    return Runner(select(checklist.checks), settings).run(checklist.name)


def loopback(port: int) -> dict[str, list[dict[str, str]]]:
    return {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}


# --- at load -----------------------------------------------------------------------------------


def test_references_are_kept_as_written_and_validated_with_a_placeholder(tmp_path: Path) -> None:
    checklist = load_checklist(write(tmp_path), {})
    health = checklist.checks[0]
    assert health.stack_refs.written_options == {  # type: ignore[union-attr]
        "url": "http://${stack.api.8000}/health",
        "status": 200,
    }
    assert health.options.url == "http://127.0.0.1:8000/health"  # type: ignore[attr-defined]


def test_a_reference_needs_a_stack_section(tmp_path: Path) -> None:
    text = CHECKLIST.replace("stack: {compose: [compose.yaml], project: shop}\n", "")
    with pytest.raises(ChecklistError) as caught:
        load_checklist(write(tmp_path, text), {})
    rendered = caught.value.render()
    assert "check `health`: `${stack.api.8000}` names a port of the staging stack, but this " in (
        rendered
    )
    assert "checklist has no `stack:` section" in rendered


def test_an_unknown_service_is_a_load_error_with_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError) as caught:
        load_checklist(write(tmp_path, CHECKLIST.replace("stack.api.8000", "stack.apii.8000")), {})
    rendered = caught.value.render()
    assert "`${stack.apii.8000}` names service `apii`, which the stack's compose files do " in (
        rendered
    )
    assert "expected: one of: api, redis, worker" in rendered
    assert "hint: did you mean `api`?" in rendered


def test_explain_shows_the_reference_and_what_it_becomes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path)
    result = CliRunner().invoke(app, ["explain", "health"])
    assert result.exit_code == 0, result.output
    assert "  url: http://${stack.api.8000}/health\n" in result.output
    assert (
        "stack port: ${stack.api.8000} = 127.0.0.1:HOSTPORT, the host port Docker publishes on "
        "127.0.0.1 for port 8000 of service `api` in project `shop`, read when the check runs; "
        "when it is not published there (or the engine is remote), a forward through the engine "
        "for the run (`api via the engine (not published)`: connect 5s, idle 300s, 256 MiB and "
        "32 connections at most)\n"
    ) in result.output


def test_the_schema_documents_stack_references() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert "${stack.SERVICE.PORT}: 127.0.0.1:HOSTPORT" in result.output


# --- when the check runs -----------------------------------------------------------------------


def test_resolved_from_the_published_port_of_the_service(
    tmp_path: Path, server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = Engine([Container("api", loopback(server)), Container("redis")])
    run_ = run(write(tmp_path), sdk, monkeypatch)
    results = {c.id: c for c in run_.checks}
    assert results["health"].status == Status.PASS, results["health"].message
    assert f"http://127.0.0.1:{server}/health" in results["health"].message
    assert results["by-command"].status == Status.PASS, results["by-command"].message


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        (
            [Container("redis")],
            "`${stack.api.8000}`: the stack 'shop' has no container for service 'api': it is "
            "not up (`jobcheck stack up`, or `stack.up: true`); not asking whatever else listens "
            "on a port",
        ),
        (
            [Container("api", status="exited")],
            "`${stack.api.8000}`: service 'api' of the stack 'shop' has no running container "
            "(shop_api_1 is exited)",
        ),
    ],
    ids=["no-container", "exited"],
)
def test_a_stack_that_cannot_answer_for_itself_is_an_error_at_once(
    containers: list[Container],
    message: str,
    tmp_path: Path,
    server: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even with something listening on the port the check would have guessed."""
    text = CHECKLIST.replace("status: 200}}", "status: 200, wait: 60s}}")
    start = time.monotonic()
    run_ = run(write(tmp_path, text), Engine(containers), monkeypatch)
    health = run_.checks[0]
    assert (health.status, health.message) == (Status.ERROR, message)
    assert time.monotonic() - start < 10


@dataclass
class Forwards:
    """Stands in for ``probes.reach.Reach`` (the real one: tests/integration/
    test_reach_unpublished.py): forwards to the test's server, and records what was asked."""

    address: str
    problem: str = ""
    asked: list[tuple[str, str, int]] = field(default_factory=list)
    made: list[reach.Forward] = field(default_factory=list)
    closed: int = 0

    def __call__(self, sdk: Any) -> Forwards:
        return self

    def forward(self, project: str, target: Any, service: str, port: int) -> reach.Forward:
        if self.problem:
            raise reach.ReachError(self.problem)
        self.asked.append((project, service, port))
        if not self.made:  # one per service and port for the run, as the real one
            forward = reach.Forward(service, port, self.address)
            forward.problem("an earlier attempt's reset")  # before the attempt: not its news
            self.made.append(forward)
        return self.made[0]

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize(
    ("ports", "env", "why"),
    [
        ({}, {}, "not published"),
        (
            {"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18000"}]},
            {},
            "not published",
        ),
        (
            loopback(18000),
            {"DOCKER_HOST": "tcp://127.0.0.1:1"},
            "published on 127.0.0.1:18000 of the engine's host",
        ),
    ],
    ids=["not-published", "not-loopback", "remote-engine"],
)
def test_a_port_not_published_here_is_forwarded_through_the_engine_for_the_run(
    ports: dict[str, list[dict[str, str]]],
    env: dict[str, str],
    why: str,
    tmp_path: Path,
    server: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forwards = Forwards(f"127.0.0.1:{server}")
    monkeypatch.setattr(reach, "Reach", forwards)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run_ = run(write(tmp_path), Engine([Container("api", ports)]), monkeypatch)
    health, by_command = run_.checks
    assert health.status == Status.PASS, health.message
    assert health.message.endswith(f"; api via the engine ({why})"), health.message
    assert by_command.message.endswith(f"; api via the engine ({why})"), by_command.message
    assert forwards.asked == [("shop", "api", 8000)] * 2
    assert forwards.closed == 1  # the run ended: its forwards too


def test_a_forward_that_failed_says_what_the_relay_saw_during_the_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay's words about this attempt end the message; an earlier attempt's do not."""
    listener = socket.create_server(("127.0.0.1", 0))
    forwards = Forwards(f"127.0.0.1:{listener.getsockname()[1]}")

    def relay_refused() -> None:  # as the relay does when the service refuses it
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                forwards.made[-1].problem("cannot connect to api:8000: [Errno 111] refused")
                connection.close()

    threading.Thread(target=relay_refused, daemon=True).start()
    monkeypatch.setattr(reach, "Reach", forwards)
    try:
        run_ = run(write(tmp_path), Engine([Container("api")]), monkeypatch)
    finally:
        listener.close()
    health, by_command = run_.checks
    assert health.status == Status.FAIL
    assert health.message.endswith(
        "; api via the engine (not published): cannot connect to api:8000: [Errno 111] refused"
    ), health.message
    assert by_command.status == Status.PASS  # `echo` connects to nothing
    assert by_command.message.endswith("; api via the engine (not published)")


def test_a_stack_that_cannot_be_reached_through_the_engine_is_an_error_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reach, "Reach", Forwards("", problem="no image of the stack has python3"))
    run_ = run(write(tmp_path), Engine([Container("api")]), monkeypatch)
    assert (run_.checks[0].status, run_.checks[0].message) == (
        Status.ERROR,
        "`${stack.api.8000}`: port 8000 of shop_api_1 is not published on 127.0.0.1 and cannot "
        "be reached through the engine: no image of the stack has python3",
    )


def test_a_failed_stack_up_ends_the_checks_that_name_its_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cause = "the staging stack did not come up: `docker-compose build` exited 1: ERROR: boom"
    run_ = run(write(tmp_path), Engine(), monkeypatch, prepare=cause)
    assert [(c.status, c.message) for c in run_.checks] == [(Status.ERROR, cause)] * 2


def test_load_and_resolution_of_a_checklist_without_references_needs_no_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = CHECKLIST.replace("${stack.api.8000}", "127.0.0.1:1")
    called: list[bool] = []
    monkeypatch.setattr(engine, "client", lambda *a, **k: called.append(True))
    checklist = load_checklist(write(tmp_path, text), {})
    assert all(c.stack_refs is None for c in checklist.checks)
    assert called == []
