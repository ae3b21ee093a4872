"""With the engine unreachable, every Docker check is `error` with one line, and every
`jobcheck stack` command prints one line and exits 1. Needs no engine at all."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from jobcheck.attempts import attempt
from jobcheck.kinds import job, queue, service, shutdown
from jobcheck.kinds.base import Kind, KindContext, StackInfo
from jobcheck.results import Status
from jobcheck.secrets import Masker
from jobcheck.staging import lifecycle

REDIS = "redis://:pw-1234@127.0.0.1:1/0"
API = "http://127.0.0.1:1"

CHECKS: list[tuple[Kind[Any], dict[str, Any]]] = [
    (service.KIND, {"service": "worker", "healthy": True}),
    (job.KIND, {"enqueue_url": f"{API}/jobs/canary", "status_url": f"{API}/jobs/{{id}}"}),
    (job.KIND, {"via": "rq", "redis_url": REDIS, "function": "app.jobs.canary"}),
    (queue.KIND, {"redis_url": REDIS, "min_workers": 1}),
    (shutdown.KIND, {"via": "rq", "redis_url": REDIS}),
]


@pytest.fixture
def stack(tmp_path: Path) -> StackInfo:
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    return StackInfo(compose=[tmp_path / "compose.yaml"], project="nowhere")


@pytest.fixture
def no_engine(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such-docker.sock"}


@pytest.mark.parametrize(("kind", "with_"), CHECKS, ids=lambda v: getattr(v, "name", ""))
def test_every_docker_kind_errors_in_one_line(
    kind: Kind[Any],
    with_: dict[str, Any],
    stack: StackInfo,
    no_engine: dict[str, str],
    tmp_path: Path,
) -> None:
    assert kind.docker
    ctx = KindContext(
        check_id="x", base_dir=tmp_path, env=no_engine, timeout_s=20, mask=Masker(), stack=stack
    )
    outcome = attempt(kind, kind.options.model_validate(with_), ctx)
    assert outcome.status is Status.ERROR
    assert "\n" not in outcome.message
    assert outcome.message.startswith(
        f"Docker engine unreachable at unix://{tmp_path}/no-such-docker.sock (DOCKER_HOST): "
        "no such socket; start it with `sudo dockerd &`"
    )


def test_the_client_failure_is_shared_by_the_run(
    stack: StackInfo, no_engine: dict[str, str], tmp_path: Path
) -> None:
    ctx = KindContext(
        check_id="x", base_dir=tmp_path, env=no_engine, timeout_s=20, mask=Masker(), stack=stack
    )
    options = service.KIND.options.model_validate({"service": "api"})
    attempt(service.KIND, options, ctx)
    assert len(ctx.shared) == 1
    assert attempt(service.KIND, options, ctx).status is Status.ERROR


def test_no_stack_and_no_project_is_an_error(no_engine: dict[str, str], tmp_path: Path) -> None:
    """Checked after the engine: with an engine but no stack, say which option is missing."""
    ctx = KindContext(check_id="x", base_dir=tmp_path, env=no_engine, timeout_s=20, mask=Masker())
    outcome = attempt(service.KIND, service.KIND.options.model_validate({"service": "api"}), ctx)
    assert outcome.status is Status.ERROR


@pytest.mark.parametrize("command", ["up", "down", "status", "logs"])
def test_stack_commands_print_one_line_and_exit_1(
    command: str, stack: StackInfo, no_engine: dict[str, str]
) -> None:
    out = io.StringIO()
    console = Console(file=out, width=300, color_system=None)
    code = getattr(lifecycle, command)(stack, console, no_engine, mask=Masker())
    assert code == 1
    lines = [line for line in out.getvalue().splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith("error: Docker engine unreachable at unix://")
    assert "Traceback" not in out.getvalue()


def test_bring_up_reports_instead_of_raising(stack: StackInfo, no_engine: dict[str, str]) -> None:
    result = lifecycle.bring_up(stack, no_engine, lambda line: None)
    assert not result.ok
    assert result.message.startswith("Docker engine unreachable at unix://")
