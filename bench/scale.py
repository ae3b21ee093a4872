"""jobcheck's own costs: peak memory of a run, checklists of N checks, a second run.

- `time_with_memory`: wall time and peak resident set size of one process (`os.wait4`), for
  S4 (`validate` of 1, 1,000 and 10,000 checks).
- `run_second`, S5: the release checklist's local checks (lint and the two config checks; no
  stack, no tests, so it takes seconds) run twice with nothing changed in between: what a
  second run costs against the first. With a result cache the second should cost almost
  nothing; without one it costs the same.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peers import Invocation

REPO = Path(__file__).resolve().parent.parent
RELEASE = REPO / "checklists" / "release.yaml"
SECOND_RUN_CHECKS = ("lint", "staging-env", "compose-rules")
SECOND_TIMEOUT_S = 600.0


def time_with_memory(invocation: Invocation, timeout_s: float) -> tuple[float, str, int]:
    """Wall time, output and peak RSS (KiB) of one run; RuntimeError when it fails."""
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(
            invocation.argv,
            cwd=invocation.cwd,
            env=invocation.env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timer = threading.Timer(timeout_s, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
        sink.seek(0)
        output = sink.read().decode(errors="replace")
    if proc.returncode != 0:
        last = output.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"exit {proc.returncode}: {last[0][:160]}")
    return elapsed, output, int(usage.ru_maxrss)


def validate_checklist(folder: Path, count: int) -> Path:
    """A checklist of ``count`` honest `command` checks, 7 keys each, no anchors."""
    lines = ["version: 1", "name: scale", "checks:"]
    for i in range(count):
        lines += [
            f"  - id: check-{i}",
            f"    title: check number {i} runs true",
            "    kind: command",
            "    with: {run: 'true', exit_code: 0}",
            f"    owner: '@team{i % 7}'",
            "    expect: exits 0",
            "    rollback: nothing to roll back",
        ]
    path = folder / f"scale-{count}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class SecondRun:
    """S5: the same local checks run twice, nothing changed in between."""

    walls: list[float] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def ratio(self) -> float | None:
        if len(self.walls) < 2 or not self.walls[0]:
            return None
        return self.walls[1] / self.walls[0]

    def checks_cost(self, index: int) -> float:
        """Seconds the run's checks took in all (sum of their attempts)."""
        report = self.reports[index] if index < len(self.reports) else {}
        return sum(
            float(a["duration_s"])
            for check in report.get("checks", [])
            for a in check.get("attempts_detail") or []
        )

    def render(self) -> list[str]:
        lines = [
            "### S5: a second run with nothing changed",
            "",
            f"checklists/release.yaml `--only {' --only '.join(SECOND_RUN_CHECKS)}` (the local "
            "checks that need no stack and no test suite), run twice in a row; "
            "ratio = second / first.",
            "",
            "| run | status | wall s | checks' own time s | cached checks | ratio |",
            "|---|---|---:|---:|---:|---:|",
        ]
        if self.error:
            return [*lines, f"| - | {self.error} | | | | |", ""]
        for index, wall in enumerate(self.walls):
            report = self.reports[index] if index < len(self.reports) else {}
            ran = [
                c for c in report.get("checks", []) if c.get("attempts_detail") or c.get("cached")
            ]
            cached = sum(1 for c in ran if c.get("cached"))
            ratio = "1.00 (baseline)" if index == 0 else f"{wall / self.walls[0]:.2f}"
            lines.append(
                f"| {'first' if index == 0 else 'second'} | {report.get('status', '?')} "
                f"| {wall:.2f} | {self.checks_cost(index):.2f} "
                f"| {cached} of {len(ran)} | {ratio} |"
            )
        return [*lines, ""]


def run_second(jobcheck: Path, env: Mapping[str, str], log: Callable[[str], None]) -> SecondRun:
    result = SecondRun()
    only = [arg for check in SECOND_RUN_CHECKS for arg in ("--only", check)]
    with tempfile.TemporaryDirectory(prefix="jobcheck-bench-second-") as temp:
        for number in range(2):
            log(f"S5 second run: run {number + 1} of 2")
            report = Path(temp) / f"r{number}.json"
            argv = [str(jobcheck), "run", str(RELEASE), *only, "--json", str(report)]
            start = time.perf_counter()
            try:
                subprocess.run(
                    [*argv, "--no-color"],
                    cwd=REPO,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=SECOND_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                result.error = f"timed out after {SECOND_TIMEOUT_S:.0f}s"
                return result
            result.walls.append(time.perf_counter() - start)
            if not report.exists():
                result.error = "no JSON report written"
                return result
            result.reports.append(json.loads(report.read_text()))
    return result


def machine() -> str:
    """CPU model and count, memory, OS and kernel: what the numbers were measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        memory = f"{kib / 1024 / 1024:.0f} GiB"
        load = Path("/proc/loadavg").read_text().split()[0]
    except (OSError, StopIteration, ValueError):
        memory, load = "? GiB", "?"
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory} RAM, {platform.system()} "
        f"{platform.release()} {platform.machine()}, load average {load} at the end"
    )
