"""S6, the release gate: its wall time against its critical path, cold and warm stack.

    .venv/bin/python bench/run.py --gate [--gate-project P --gate-ports API,REDIS]

Runs the project's own checklists/release.yaml three times with `--json`: after `jobcheck stack
down` (cold: no container, images cached), again at once with nothing changed (warm stack; with
the result cache this is also the cache's second run), and, when `run` has `--no-cache`, warm
without the cache. Each report gives every check's `needs`, `attempts_detail` and the run's
`stack_up`; the critical path is the longest chain through the checks' `needs`, where the
stack bring-up is one node that every check needing the stack follows (checks of a kind not in
LOCAL_KINDS: Docker and network checks). A check's weight is the span of its attempts (first
start to last end, retries and their waits included). Needs the Docker engine; minutes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RELEASE = REPO / "checklists" / "release.yaml"
# Kinds that read files or run local tools: they need no stack. Every other kind (service,
# queue, job, shutdown, stop_config: Docker; http: the stack's API) follows the stack node.
LOCAL_KINDS = frozenset({"command", "lint", "pytest", "env", "compose", "release"})
STACK = "(stack bring-up)"
GATE_TIMEOUT_S = 1800.0


@dataclass
class GateRun:
    """One run of the gate: what the process and its JSON report say."""

    label: str
    wall_s: float = 0.0  # the jobcheck process, start to exit
    exit_code: int | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def duration_s(self) -> float:
        return float(self.report.get("duration_s", 0.0))

    @property
    def status(self) -> str:
        return str(self.report.get("status", "?"))


def span(check: Mapping[str, Any]) -> float:
    """A check's time on the run's clock: first attempt's start to last attempt's end."""
    attempts = check.get("attempts_detail") or []
    if not attempts:
        return 0.0
    first = min(float(a["start_s"]) for a in attempts)
    return max(float(a["start_s"]) + float(a["duration_s"]) for a in attempts) - first


def critical_path(report: Mapping[str, Any]) -> tuple[float, list[str]]:
    """The longest chain of checks through `needs` (seconds, ids in order); the stack
    bring-up is one node before every check that needs the stack."""
    checks = {c["id"]: c for c in report.get("checks", [])}
    stack = report.get("stack_up")
    stack_s = float(stack["duration_s"]) if stack else 0.0
    finish: dict[str, tuple[float, list[str]]] = {}

    def done(check_id: str) -> tuple[float, list[str]]:
        # iterative: a long `needs` chain must not hit the recursion limit
        stack_of = [check_id]
        while stack_of:
            current = stack_of[-1]
            needs = [n for n in checks[current].get("needs") or [] if n in checks]
            missing = [n for n in needs if n not in finish]
            if missing:
                stack_of.extend(missing)
                continue
            stack_of.pop()
            before = [finish[n] for n in needs]
            if stack and checks[current].get("kind") not in LOCAL_KINDS:
                before.append((stack_s, [STACK]))
            start, path = max(before, default=(0.0, []))
            finish[current] = (start + span(checks[current]), [*path, current])
        return finish[check_id]

    ends = [done(check_id) for check_id in checks]
    return max(ends, default=(0.0, []))


def local_cost(report: Mapping[str, Any]) -> float:
    """Seconds spent in the local checks (the ones a result cache can replay)."""
    return sum(span(c) for c in report.get("checks", []) if c.get("kind") in LOCAL_KINDS)


def _jobcheck(
    jobcheck: Path, args: list[str], env: Mapping[str, str], timeout_s: float
) -> tuple[int | None, float, str]:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [str(jobcheck), *args],
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start, f"timed out after {timeout_s:.0f}s"
    output = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, time.perf_counter() - start, output[-1] if output else ""


def _checklist(project: str | None, folder: Path) -> Path:
    """release.yaml as it is, or a copy in ``folder`` with its own compose project name (so a
    shared machine's stack is not touched) and its relative paths made absolute: a copy in the
    repository would make the release check's tree unclean."""
    if not project:
        return RELEASE
    text = RELEASE.read_text()
    text = re.sub(r"(?m)^(\s*project:\s*).*$", rf"\g<1>{project}", text, count=1)
    text = text.replace('root: ".."', f'root: "{REPO}"').replace("../", f"{REPO}/")
    path = folder / "release.yaml"
    path.write_text(text)
    return path


def _has_no_cache(jobcheck: Path) -> bool:
    done = subprocess.run(
        [str(jobcheck), "run", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    return "--no-cache" in done.stdout


def run_gate(
    jobcheck: Path,
    env: Mapping[str, str],
    project: str | None,
    ports: tuple[str, str] | None,
    log: Callable[[str], None],
) -> list[GateRun]:
    """Cold, warm (second run, nothing changed) and, if supported, warm with --no-cache."""
    env = {**env, "RELEASE_TAG": env.get("RELEASE_TAG", ""), "NO_COLOR": "1"}
    if not env["RELEASE_TAG"]:
        version = re.search(r'(?m)^version = "(.*)"', (REPO / "pyproject.toml").read_text())
        env["RELEASE_TAG"] = f"v{version[1]}" if version else "v0.0.0"
    if ports:
        env.update(API_PORT=ports[0], REDIS_PORT=ports[1])
    if not (REPO / "docker" / ".env").exists() and "BASE_IMAGE" not in env:
        log("S6 gate: docker/.env is missing: the stack's build would look for public images")
        return [GateRun("cold stack, first run", error="run `make images` first (docker/.env)")]
    runs = [GateRun("cold stack, first run"), GateRun("warm stack, second run, nothing changed")]
    if _has_no_cache(jobcheck):
        runs.append(GateRun("warm stack, --no-cache"))
    with tempfile.TemporaryDirectory(prefix="jobcheck-bench-gate-") as temp:
        checklist = _checklist(project, Path(temp))
        down = ["stack", "down", "-c", str(checklist), "--volumes"]
        try:
            log("S6 gate: stack down (cold start)")
            _jobcheck(jobcheck, down, env, 300)
            for number, gate in enumerate(runs):
                report = Path(temp) / f"gate-{number}.json"
                args = ["run", str(checklist), "--json", str(report), "--no-color"]
                args += ["--no-cache"] if "no-cache" in gate.label else []
                log(f"S6 gate: {gate.label} ...")
                gate.exit_code, gate.wall_s, last = _jobcheck(jobcheck, args, env, GATE_TIMEOUT_S)
                if report.exists():
                    gate.report = json.loads(report.read_text())
                else:
                    gate.error = f"no report (exit {gate.exit_code}): {last}"
        finally:
            log("S6 gate: stack down")
            _jobcheck(jobcheck, down, env, 300)
    return runs


def render_gate(runs: list[GateRun]) -> list[str]:
    lines = [
        "### S6: the release gate, wall time against its critical path",
        "",
        "checklists/release.yaml, one run each in this order; wall and critical path from the "
        "run's own JSON report (`duration_s`; `needs`, `attempts_detail`, `stack_up`), the "
        "stack bring-up counted as one node. Ratio = wall / critical path (target <= 1.05).",
        "",
        "| run | status | process wall s | report wall s | stack up s | critical path s "
        "| ratio | local checks s | critical path |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for gate in runs:
        if gate.error or not gate.report:
            lines.append(f"| {gate.label} | {gate.error or 'not run'} | | | | | | | |")
            continue
        path_s, path = critical_path(gate.report)
        stack = gate.report.get("stack_up") or {}
        ratio = f"{gate.duration_s / path_s:.2f}" if path_s else "n/a"
        lines.append(
            f"| {gate.label} | {gate.status} (exit {gate.exit_code}) | {gate.wall_s:.1f} "
            f"| {gate.duration_s:.1f} | {float(stack.get('duration_s', 0.0)):.1f} | {path_s:.1f} "
            f"| {ratio} | {local_cost(gate.report):.1f} | {' → '.join(path)} |"
        )
    if len(runs) >= 2 and runs[0].report and runs[1].report:
        second = runs[1].duration_s / runs[0].duration_s if runs[0].duration_s else 0.0
        lines += ["", f"Second run / first run (report wall): {second:.2f} (target < 0.40)."]
    return [*lines, ""]


if __name__ == "__main__":  # the critical path of a saved report: gate.py REPORT.json
    data = json.loads(Path(sys.argv[1]).read_text())
    seconds, chain = critical_path(data)
    print(f"wall {data.get('duration_s')}s, critical path {seconds:.2f}s: {' → '.join(chain)}")
