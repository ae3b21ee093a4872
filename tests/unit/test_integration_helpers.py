"""The integration tests' own helpers where a recreate can race them (tests/integration/
_compose.py): a container listed, then removed before it is inspected again, is left out, never
an error. The SDK's containers are stand-ins raising the SDK's own NotFound."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from docker.errors import NotFound

COMPOSE = Path(__file__).resolve().parents[2] / "tests" / "integration" / "_compose.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("itest_compose_helpers", COMPOSE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


helpers = _load()


@dataclass
class Box:
    name: str
    removed: bool = False
    status: str = "running"
    reloads: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)

    def reload(self) -> None:
        self.reloads += 1
        if self.removed:
            raise NotFound(f"No such container: {self.name}")
        self.attrs = {"State": {"Status": self.status, "Health": {"Status": "healthy"}}}


def test_fresh_leaves_out_a_container_removed_since_the_listing() -> None:
    old, new = Box("p-worker-1-old", removed=True), Box("p-worker-1")
    assert helpers.fresh([old, new]) == [new]
    assert new.reloads == 1 and new.attrs["State"]["Status"] == "running"


class Listing:
    """The SDK's containers collection: ``old`` still listed after a recreate removed it."""

    def __init__(self, *boxes: Box) -> None:
        self.boxes = boxes

    def list(self, **kwargs: Any) -> list[Box]:
        return list(self.boxes)


def test_wait_ready_is_not_ended_by_a_container_a_recreate_removed() -> None:
    sdk = type("Sdk", (), {"containers": Listing(Box("old", removed=True), Box("new"))})()
    stack = helpers.Stack("p", [COMPOSE])
    stack.wait_ready(sdk, deadline_s=5.0)  # raises Timeout or NotFound if not


def test_a_check_that_lost_its_first_connection_before_acting_is_attempted_once_more() -> None:
    from jobcheck.results import Outcome

    dropped = Outcome.failed(
        "Redis at 127.0.0.1:16380/0 is unreachable: Connection closed by server."
    )
    acted = Outcome.failed(dropped.message, output="stopping p-worker-1")
    passed = Outcome.passed("ok")
    answers = iter([dropped, passed])
    assert helpers.attempt_twice_if_dropped(lambda: next(answers)) is passed
    answers = iter([dropped, dropped, passed])
    assert helpers.attempt_twice_if_dropped(lambda: next(answers)) is dropped  # once more only
    answers = iter([acted, passed])
    assert helpers.attempt_twice_if_dropped(lambda: next(answers)) is acted  # it did something
    refused = Outcome.failed("Redis at 127.0.0.1:16380/0 refused the connection")
    answers = iter([refused, passed])
    assert helpers.attempt_twice_if_dropped(lambda: next(answers)) is refused
