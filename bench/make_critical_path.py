"""The benchmark workloads, and a writer for the 20-check "critical path 2 s" checklist.

The critical-path workload: four 0.5 s steps in a chain (2 s) and 16 independent steps of
0.1-0.5 s each, so with enough workers the wall time is the critical path plus the tool's own
overhead. `python bench/make_critical_path.py FILE` writes it as a jobcheck checklist;
bench/run.py turns the same steps into each peer's configuration.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Step:
    """One unit of work: a command (no shell syntax) that runs after `needs`, if set."""

    id: str
    command: str
    needs: str | None = None


def critical_path_steps() -> list[Step]:
    """Four chained `sleep 0.5` and 16 independent sleeps of 0.1-0.5 s, in dependency order."""
    steps = [Step(f"chain{i}", "sleep 0.5", f"chain{i - 1}" if i else None) for i in range(4)]
    for i in range(16):
        seconds = 0.1 + (i % 5) * 0.1
        steps.append(Step(f"side{i}", f"sleep {seconds:.1f}"))
    return steps


def trivial_steps(command: str, count: int = 20) -> list[Step]:
    """`count` independent steps running `command` (an absolute path to `true`)."""
    return [Step(f"step{i}", command) for i in range(count)]


def to_checklist(name: str, steps: list[Step]) -> str:
    """The steps as a jobcheck checklist: one `command` check each."""
    lines = [
        "version: 1",
        f"name: {json.dumps(name)}",
        "defaults: {owner: '@bench', expect: exits 0, rollback: none}",
        "checks:",
    ]
    for step in steps:
        needs = f", needs: [{step.needs}]" if step.needs else ""
        run = json.dumps(step.command)
        lines.append(f"  - {{id: {step.id}, kind: command, with: {{run: {run}}}{needs}}}")
    return "\n".join(lines) + "\n"


def checklist() -> str:
    """The critical-path checklist as YAML text."""
    return to_checklist("critical path 2s", critical_path_steps())


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "critical-path.yaml")
    target.write_text(checklist())
    print(target)
