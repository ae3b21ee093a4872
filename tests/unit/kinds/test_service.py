"""The service kind's waiting: it polls while waiting can help and ends at once when it cannot
(no containers in the project at all, a container that exited). An in-memory engine here; the
same against a real engine in tests/e2e/test_stack_ports.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jobcheck.kinds import service
from jobcheck.kinds.base import KindContext, StackInfo
from jobcheck.probes import engine
from jobcheck.results import Status
from jobcheck.secrets import Masker

PROJECT = "shop"


@dataclass
class FakeContainer:
    service: str
    status: str = "running"
    number: int = 1
    exit_code: int = 0
    health: str = ""
    project: str = PROJECT

    @property
    def name(self) -> str:
        return f"{self.project}_{self.service}_{self.number}"

    short_id = "abc123"
    id = "abc123def"

    @property
    def labels(self) -> dict[str, str]:
        return {
            engine.PROJECT_LABEL: self.project,
            engine.SERVICE_LABEL: self.service,
            engine.NUMBER_LABEL: str(self.number),
        }

    @property
    def attrs(self) -> dict[str, Any]:
        state: dict[str, Any] = {"Status": self.status, "ExitCode": self.exit_code}
        if self.health:
            state["Health"] = {"Status": self.health}
        return {"State": state, "RestartCount": 0, "Config": {"User": "app", "Env": []}}


@dataclass
class FakeEngine:
    running: list[FakeContainer] = field(default_factory=list)
    lists: int = 0

    @property
    def containers(self) -> FakeEngine:
        return self

    def list(
        self, all: bool, filters: dict[str, list[str]], ignore_removed: bool = False
    ) -> list[FakeContainer]:
        self.lists += 1
        wanted = set(filters["label"])
        return [c for c in self.running if wanted <= {f"{k}={v}" for k, v in c.labels.items()}]


def context(timeout_s: float = 30.0) -> KindContext:
    return KindContext(
        check_id="svc",
        base_dir=Path("."),
        env={},
        timeout_s=timeout_s,
        mask=Masker(),
        cancel=threading.Event(),
        stack=StackInfo(compose=[Path("compose.yaml")], project=PROJECT),
    )


def run(sdk: FakeEngine, **options: Any) -> tuple[Status, str, float]:
    start = time.monotonic()
    outcome = service.check(service.Options.model_validate(options), context(), sdk)
    return outcome.status, outcome.message, time.monotonic() - start


def test_no_container_in_the_project_ends_at_once_instead_of_waiting() -> None:
    status, message, took = run(FakeEngine(), service="api", wait="60s", interval="0.1s")
    assert status == Status.FAIL
    assert took < 2.0
    assert message == (
        "service 'api' of project 'shop' has 0 container(s), expected at least 1; not waiting "
        "the 60s: project 'shop' has no containers at all: the stack is not up "
        "(`jobcheck stack up`, or `stack.up: true` in the checklist)"
    )


def test_an_exited_container_ends_at_once() -> None:
    sdk = FakeEngine([FakeContainer("migrate", status="exited", exit_code=1)])
    status, message, took = run(sdk, service="migrate", wait="60s", interval="0.1s")
    assert status == Status.FAIL
    assert took < 2.0
    assert message == (
        "shop_migrate_1 is exited (exit code 1); not waiting the 60s: shop_migrate_1 ended and "
        "will not start again by itself"
    )


def test_a_missing_service_of_a_running_stack_is_waited_for() -> None:
    """Other services are up: this one may still be created, so the wait is used (and each
    poll looks again)."""
    sdk = FakeEngine([FakeContainer("redis")])
    status, message, took = run(sdk, service="api", wait="0.6s", interval="0.1s")
    assert status == Status.FAIL
    assert took >= 0.5
    assert sdk.lists > 4
    assert message.startswith("service 'api' of project 'shop' has 0 container(s), expected")
    assert "(is the stack up? `jobcheck stack up`) (after " in message


def test_a_starting_container_is_waited_for_until_healthy() -> None:
    api = FakeContainer("api", health="starting")
    sdk = FakeEngine([api])
    threading.Timer(0.7, lambda: setattr(api, "health", "healthy")).start()
    status, message, took = run(sdk, service="api", wait="10s", interval="0.1s")
    assert status == Status.PASS, message
    assert 0.6 <= took < 5.0
    assert message.startswith("service 'api': 1 container(s) running, healthy (after ")


@pytest.mark.parametrize("state", ["restarting", "created", "paused"])
def test_states_that_may_still_change_are_waited_for(state: str) -> None:
    sdk = FakeEngine([FakeContainer("worker", status=state)])
    status, message, took = run(sdk, service="worker", wait="0.5s", interval="0.1s")
    assert status == Status.FAIL
    assert took >= 0.4
    assert "not waiting" not in message
