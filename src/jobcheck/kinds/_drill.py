"""What the drills that disrupt the stack share (shutdown, broker_restart, rollback_drill): the
timeline they report, and starting again the containers they stopped."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from jobcheck.probes import engine


@dataclass
class Timeline:
    """What a drill did, in order, each line stamped with the seconds since it began."""

    started: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)

    def log(self, text: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:6.1f}s  {text}")

    @property
    def timeline(self) -> str:
        return "\n".join(self.events)


def start_again(containers: Sequence[engine.Container], timeline: Timeline) -> str:
    """Start every given container that is not running (whatever happened, the stack runs
    again); '' or what went wrong."""
    problems = []
    for container in containers:
        try:
            container.reload()
            if container.status != "running":
                container.start()
                timeline.log(f"started {container.name} again")
        except engine.not_found():
            problems.append(f"{container.name} was removed (recreated by a `compose up`?)")
        except engine.api_errors() as exc:
            problems.append(f"{container.name} did not start again: {exc}")
    return "; ".join(problems)
