"""Time jobcheck against go-task, lefthook, pre-commit and pytest-testinfra, in one run.

    .venv/bin/python bench/run.py [--quick] [--output PATH]     (or: make bench)

Installs or locates the peers under bench/.tools/ (see peers.py), then for each scenario runs
every tool on equivalent work, several rounds with the tools interleaved (each round starts
with a different tool), and reports the median wall time of each and its ratio to jobcheck.
Every tool's configuration lives in a temporary folder, removed at the end. Stdlib only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from make_critical_path import Step, critical_path_steps, trivial_steps
from peers import (
    Invocation,
    SetupError,
    Tools,
    Work,
    base_env,
    go_task_invocation,
    jobcheck_invocation,
    lefthook_invocation,
    pre_commit_invocation,
    prepare_tools,
    testinfra_invocation,
)

BENCH = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH / "results" / "latest.md"
CPUS = os.cpu_count() or 1
MAX_FAILURES = 2  # a round that fails is retried in the next round; twice and the row stops
Builder = Callable[[Path], Invocation]


class CaseFailed(Exception):
    """A timed command failed or timed out; the message says how."""


@dataclass
class Case:
    """One row of a scenario: a tool in one mode, and what was measured."""

    label: str
    build: Builder
    note: str = ""
    invocation: Invocation | None = None
    times: list[float] = field(default_factory=list)
    error: str = ""
    first_line: str = ""
    failures: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    key: str
    title: str
    what: str
    baseline: str
    cases: list[Case]
    reps: int
    warmup: bool
    timeout_s: float


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _needs(tools: Tools, *names: str) -> str:
    """Why a case cannot run (the first unavailable tool it needs), or ''."""
    missing = [name for name in names if name in tools.unavailable]
    return f"unavailable: {tools.unavailable[missing[0]]}" if missing else ""


def _case(tools: Tools, label: str, needs: tuple[str, ...], build: Builder, note: str = "") -> Case:
    return Case(label, build, note, error=_needs(tools, *needs))


def _workload_cases(
    tools: Tools, env: dict[str, str], steps: list[Step], jobs: tuple[int, ...], sequential: bool
) -> list[Case]:
    """jobcheck with each `jobs` value, then each peer on the same steps."""
    chained = any(step.needs for step in steps)
    work = Work(steps, env)
    cases = [
        _case(
            tools,
            f"jobcheck --jobs {n}" + (" (default here)" if n == CPUS else ""),
            ("jobcheck",),
            partial(jobcheck_invocation, tools, work, jobs=n),
        )
        for n in dict.fromkeys(jobs)  # no duplicate row when the default is 1 or 4
    ]
    modes = [False, True] if sequential else [True]
    cases += [
        _case(
            tools,
            f"go-task, {'parallel (deps)' if parallel else 'sequential (cmds)'}",
            ("go-task",),
            partial(go_task_invocation, tools, work, parallel=parallel),
            "deps run concurrently, unbounded" if parallel else "",
        )
        for parallel in modes
    ]
    cases += [
        _case(
            tools,
            f"lefthook, {'parallel: true' if parallel else 'sequential'}",
            ("lefthook",),
            partial(lefthook_invocation, tools, work, parallel=parallel),
            "no dependencies: the chain is a `piped` group" if chained else "",
        )
        for parallel in modes
    ]
    workers = 4 if chained else CPUS
    return [
        *cases,
        _case(
            tools,
            "pre-commit",
            ("pre-commit",),
            partial(pre_commit_invocation, tools, work),
            "no parallelism: hooks run one after another",
        ),
        _case(
            tools,
            "pytest-testinfra, sequential",
            ("pytest-testinfra",),
            partial(testinfra_invocation, tools, work, workers=None),
            "one test function per step, `host.run` (local)",
        ),
        _case(
            tools,
            f"pytest-testinfra, xdist -n {workers}",
            ("pytest-testinfra", "pytest-xdist"),
            partial(testinfra_invocation, tools, work, workers=workers),
            "`--dist loadgroup`, the chain is one xdist group" if chained else "",
        ),
    ]


def _fixed(argv: list[str], folder: Path, env: dict[str, str]) -> Invocation:
    return Invocation(argv, folder, env)


def _version_cases(tools: Tools, env: dict[str, str]) -> list[Case]:
    rows: list[tuple[str, tuple[str, ...], list[str], str]] = [
        ("jobcheck --version", ("jobcheck",), [str(tools.jobcheck), "--version"], ""),
        ("task --version", ("go-task",), [str(tools.task), "--version"], ""),
        ("lefthook version", ("lefthook",), [str(tools.lefthook), "version"], ""),
        (
            "lefthook version (PyPI wrapper)",
            ("lefthook", "lefthook PyPI wrapper"),
            [str(tools.lefthook_wrapper), "version"],
            "a Python script that starts the binary",
        ),
        ("pre-commit --version", ("pre-commit",), [str(tools.pre_commit), "--version"], ""),
        (
            "pytest --version",
            ("pytest-testinfra",),
            [str(tools.python), "-m", "pytest", "--version"],
            "testinfra has no CLI of its own",
        ),
    ]
    return [
        _case(tools, label, needs, partial(_fixed, argv, env=env), note)
        for label, needs, argv, note in rows
    ]


def scenarios(tools: Tools, env: dict[str, str], quick: bool) -> list[Scenario]:
    true = shutil.which("true") or "/bin/true"
    s1 = _workload_cases(tools, env, trivial_steps(true), (1, CPUS), sequential=True)
    s2 = _workload_cases(tools, env, critical_path_steps(), (CPUS, 4), sequential=False)
    if tools.lefthook and tools.lefthook_wrapper is None:
        tools.unavailable["lefthook PyPI wrapper"] = "lefthook came from npm"
    return [
        Scenario(
            "S1",
            "20 trivial commands",
            f"20 independent `{true}` commands (a real process each; no shell builtin)",
            f"jobcheck --jobs {CPUS}",
            s1,
            1 if quick else 7,
            not quick,
            60.0,
        ),
        Scenario(
            "S2",
            "20 commands, critical path 2 s",
            "bench/make_critical_path.py: a chain of four `sleep 0.5` and 16 independent "
            "sleeps of 0.1-0.5 s (6.8 s of work in all)",
            "jobcheck --jobs 4",
            s2,
            1 if quick else 3,
            False,
            120.0,
        ),
        Scenario(
            "S3",
            "startup",
            "Each tool prints its version",
            "jobcheck --version",
            _version_cases(tools, env),
            1 if quick else 10,
            not quick,
            30.0,
        ),
    ]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"


def time_once(invocation: Invocation, timeout_s: float) -> tuple[float, str]:
    """Wall time of one run, and its output; CaseFailed when it fails or times out."""
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            invocation.argv,
            cwd=invocation.cwd,
            env=invocation.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can stop the tool's children too
        )
    except OSError as exc:
        raise CaseFailed(f"could not start: {exc}") from exc
    with proc:
        try:
            raw, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
            raise CaseFailed(f"timed out after {timeout_s:.0f}s") from None
    elapsed = time.perf_counter() - start
    output = raw.decode(errors="replace")
    if proc.returncode != 0:
        raise CaseFailed(f"exit {proc.returncode}: {_last_line(output)}")
    return elapsed, output


def _build(scenario: Scenario, root: Path) -> None:
    for index, case in enumerate(scenario.cases):
        if case.error:
            continue
        folder = root / scenario.key / str(index)
        folder.mkdir(parents=True)
        try:
            case.invocation = case.build(folder)
        except SetupError as exc:
            case.error = f"setup failed: {exc}"


def _measure(case: Case, timeout_s: float, record: bool) -> None:
    assert case.invocation is not None
    try:
        elapsed, output = time_once(case.invocation, timeout_s)
    except CaseFailed as exc:
        case.failures.append(str(exc))
        if len(case.failures) >= MAX_FAILURES:
            case.error = f"failed {len(case.failures)} times, last: {exc}"
        return
    case.first_line = case.first_line or (output.strip().splitlines() or [""])[0]
    if record:
        case.times.append(elapsed)


def run_scenario(scenario: Scenario, root: Path) -> None:
    """Build every config, then run the rounds, rotating which tool goes first."""
    _build(scenario, root)
    rounds = scenario.reps + (1 if scenario.warmup else 0)
    for number in range(rounds):
        warm = scenario.warmup and number == 0
        log(f"{scenario.key} {scenario.title}: {'warm-up' if warm else f'round {number + 1}'}")
        shift = number % len(scenario.cases)
        for case in scenario.cases[shift:] + scenario.cases[:shift]:
            if not case.error:
                _measure(case, scenario.timeout_s, record=not warm)


def _median(case: Case) -> float | None:
    return statistics.median(case.times) if case.times and not case.error else None


def _ratio(case: Case, median: float, baseline: Case | None) -> str:
    if case is baseline:
        return "1.00 (baseline)"
    base = _median(baseline) if baseline else None
    return f"{median / base:.2f}" if base else "n/a"


def _row(case: Case, baseline: Case | None) -> str:
    median = _median(case)
    if median is None:
        why = case.error or (f"failed: {case.failures[-1]}" if case.failures else "not measured")
        return f"| {case.label} | {why} | | | {case.note} |"
    spread = f"{min(case.times):.3f}-{max(case.times):.3f}"
    ratio = _ratio(case, median, baseline)
    failed = f" (a round failed: {case.failures[0]})" if case.failures else ""
    return f"| {case.label} | {median:.3f} | {spread} | {ratio} | {case.note}{failed} |"


def _is_baseline(case: Case, scenario: Scenario) -> bool:
    return case.label in (scenario.baseline, f"{scenario.baseline} (default here)")


def render_scenario(scenario: Scenario) -> list[str]:
    baseline = next((c for c in scenario.cases if _is_baseline(c, scenario)), None)
    reps = f"{scenario.reps} round{'s' if scenario.reps != 1 else ''}"
    reps += " after a warm-up round" if scenario.warmup else ""
    lines = [
        f"### {scenario.key}: {scenario.title}",
        "",
        f"{scenario.what}. Median of {reps}; ratio = tool median / `{scenario.baseline}`.",
        "",
        "| tool (mode) | median s | min-max s | ratio | note |",
        "|---|---:|---:|---:|---|",
    ]
    return lines + [_row(case, baseline) for case in scenario.cases] + [""]


def render(all_scenarios: list[Scenario], tools: Tools, seconds: float) -> str:
    versions = [
        f"{case.label.split(' ')[0]}: `{case.first_line}`"
        for case in all_scenarios[-1].cases
        if case.first_line and "wrapper" not in case.label
    ]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Latest run",
        "",
        f"{now}; {CPUS} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; the whole run took {seconds:.0f} s.",
        "Versions: " + "; ".join(versions) + ".",
        "",
    ]
    for scenario in all_scenarios:
        lines += render_scenario(scenario)
    if tools.unavailable:
        lines += ["Unavailable:", ""]
        lines += [f"- {name}: {reason}" for name, reason in tools.unavailable.items()]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round each, no warm-up")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown table")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tools = prepare_tools(log)
    with tempfile.TemporaryDirectory(prefix="jobcheck-bench-") as temp:
        root = Path(temp)
        env = base_env(root)
        all_scenarios = scenarios(tools, env, args.quick)
        for scenario in all_scenarios:
            run_scenario(scenario, root)
    report = render(all_scenarios, tools, time.perf_counter() - started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)
    log(f"table written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
