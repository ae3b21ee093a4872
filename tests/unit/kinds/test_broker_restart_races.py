"""The broker-restart drill and a broker container replaced under it (a `compose up` recreating
it): the restart uses the container as the engine has it right before, and a container removed
meanwhile ends the drill `error` saying so, never a bare 'Docker engine error: No such
container'. The engine is an in-memory stand-in raising the SDK's own NotFound (the drill
against a real engine: tests/integration/test_drills_more_*.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from docker.errors import NotFound

from jobcheck.kinds import broker_restart
from jobcheck.kinds._drill import Timeline, start_again
from jobcheck.outcomes import CheckError
from jobcheck.probes import engine


@dataclass
class Box:
    """A container: ``removed`` ones answer every call with NotFound, as the engine does."""

    name: str
    status: str = "running"
    removed: bool = False
    calls: list[str] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return {engine.PROJECT_LABEL: "shop", engine.SERVICE_LABEL: "redis"}

    @property
    def attrs(self) -> dict[str, Any]:
        return {"Config": {"StopTimeout": 3}, "State": {"Status": self.status}}

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.removed:
            raise NotFound(f"No such container: {self.name}")

    def restart(self, timeout: int) -> None:
        self._call(f"restart {timeout}")

    def reload(self) -> None:
        self._call("reload")

    def start(self) -> None:
        self._call("start")
        self.status = "running"


@dataclass
class Engine:
    """Lists what ``now`` holds at each call: a recreate swaps the list between two calls."""

    now: list[Box]

    @property
    def containers(self) -> Engine:
        return self

    def list(self, all: bool, filters: dict[str, list[str]], ignore_removed: bool) -> list[Box]:
        assert ignore_removed
        return [box for box in self.now if not box.removed]


def test_the_broker_is_listed_as_it_is_now() -> None:
    old, new = Box("shop-redis-1"), Box("shop-redis-1")
    sdk = Engine([old])
    assert broker_restart.running_containers(sdk, "shop", "redis") == [old]  # type: ignore[arg-type]
    old.removed, sdk.now = True, [old, new]  # a recreate: the old one gone, a new one running
    assert broker_restart.running_containers(sdk, "shop", "redis") == [new]  # type: ignore[arg-type]
    new.status = "exited"
    assert broker_restart.running_containers(sdk, "shop", "redis") == []  # type: ignore[arg-type]


def test_a_broker_removed_before_its_restart_ends_the_drill_error_saying_so() -> None:
    log = Timeline()
    gone = Box("shop-redis-1", removed=True)
    with pytest.raises(CheckError) as ended:
        broker_restart.restart([gone], log)  # type: ignore[list-item]
    assert ended.value.message.startswith(
        "shop-redis-1 was removed while the drill restarted it (recreated by a `compose up` "
        "meanwhile?): nothing concluded"
    )
    assert "No such container" not in ended.value.message
    assert "restarting shop-redis-1 (grace 3s)" in ended.value.output


def test_a_running_broker_is_restarted_with_its_grace_period() -> None:
    box = Box("shop-redis-1")
    broker_restart.restart([box], Timeline())  # type: ignore[list-item]
    assert box.calls == ["restart 3"]


def test_starting_again_says_which_broker_was_removed_and_starts_the_others() -> None:
    log = Timeline()
    gone, stopped = Box("shop-redis-1", removed=True), Box("shop-redis-2", status="exited")
    problem = start_again([gone, stopped], log)  # type: ignore[list-item]
    assert problem == "shop-redis-1 was removed (recreated by a `compose up`?)"
    assert stopped.calls == ["reload", "start"] and stopped.status == "running"
    assert "started shop-redis-2 again" in log.timeline
