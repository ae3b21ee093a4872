"""Time jobcheck against go-task, lefthook, pre-commit and pytest-testinfra, in one run.

    .venv/bin/python bench/run.py [--quick] [--gate] [--output PATH] [--docs PATH]
    (or: make bench; make bench BENCH_ARGS=--gate)

Installs or locates the peers under bench/.tools/ (see peers.py), then for each scenario runs
every tool on equivalent work, several rounds with the tools interleaved (each round starts
with a different tool), and reports the median wall time of each and its ratio to jobcheck.
Every tool's configuration lives in a temporary folder, removed at the end. Stdlib only.
jobcheck's own costs (S4 validate at scale, S5 a second run, S6 the release gate with
`--gate`) and the issue-12 targets table come from scale.py, gate.py and targets.py.
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

from gate import GateRun, render_gate, run_gate
from make_critical_path import Step, critical_path_steps, to_checklist, trivial_steps
from peers import (
    Invocation,
    SetupError,
    Tools,
    Work,
    base_env,
    go_task_invocation,
    jobcheck_invocation,
    lefthook_invocation,
    locate_jobcheck,
    pre_commit_invocation,
    prepare_tools,
    testinfra_invocation,
)
from scale import SecondRun, machine, run_second, time_with_memory, validate_checklist
from targets import render_targets

BENCH = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH / "results" / "latest.md"
CPUS = os.cpu_count() or 1
MAX_FAILURES = 2  # a round that fails is retried in the next round; twice and the row stops
TRIVIAL_COUNT = 200
VALIDATE_SIZES = (1, 1_000, 10_000)
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
    peaks_kib: list[int] = field(default_factory=list)  # peak RSS of each timed run
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
    memory: bool = False  # also measure each run's peak RSS


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


def _one_check(tools: Tools, env: dict[str, str], command: str, folder: Path) -> Invocation:
    """`jobcheck run|validate` of a one-check checklist: the start-up a user waits for."""
    assert tools.jobcheck is not None
    checklist = folder / "one.yaml"
    checklist.write_text(to_checklist("one check", [Step("one", shutil.which("true") or "true")]))
    colour = ["--no-color"] if command == "run" else []  # validate has no colour to turn off
    return Invocation([str(tools.jobcheck), command, str(checklist), *colour], folder, env)


def _version_cases(tools: Tools, env: dict[str, str]) -> list[Case]:
    one_check = [
        _case(tools, f"jobcheck {command} (one check)", ("jobcheck",), build, note)
        for command, build, note in (
            ("run", partial(_one_check, tools, env, "run"), "target <= 0.15 s"),
            ("validate", partial(_one_check, tools, env, "validate"), ""),
        )
    ]
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
        *[
            _case(tools, label, needs, partial(_fixed, argv, env=env), note)
            for label, needs, argv, note in rows[:1]
        ],
        *one_check,
        *[
            _case(tools, label, needs, partial(_fixed, argv, env=env), note)
            for label, needs, argv, note in rows[1:]
        ],
    ]


def _validate_cases(tools: Tools, env: dict[str, str]) -> list[Case]:
    def build(count: int, folder: Path) -> Invocation:
        assert tools.jobcheck is not None
        checklist = validate_checklist(folder, count)
        return Invocation([str(tools.jobcheck), "validate", str(checklist)], folder, env)

    return [
        _case(
            tools,
            f"jobcheck validate, {count:,} check{'s' if count > 1 else ''}",
            ("jobcheck",),
            partial(build, count),
            "target < 2 s" if count == 10_000 else "",
        )
        for count in VALIDATE_SIZES
    ]


def scenarios(tools: Tools, env: dict[str, str], quick: bool) -> list[Scenario]:
    true = shutil.which("true") or "/bin/true"
    s1 = _workload_cases(tools, env, trivial_steps(true, TRIVIAL_COUNT), (1, CPUS), sequential=True)
    s2 = _workload_cases(tools, env, critical_path_steps(), (CPUS, 4), sequential=False)
    if tools.lefthook and tools.lefthook_wrapper is None:
        tools.unavailable["lefthook PyPI wrapper"] = "lefthook came from npm"
    return [
        Scenario(
            "S1",
            f"{TRIVIAL_COUNT} trivial commands",
            f"{TRIVIAL_COUNT} independent `{true}` commands (a real process each; no shell "
            "builtin)",
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
        Scenario(
            "S4",
            "validate at scale",
            "`jobcheck validate` of a checklist of N `command` checks (7 keys each, no anchors); "
            "peak memory is the process's maximum resident set size",
            f"jobcheck validate, {VALIDATE_SIZES[0]} check",
            _validate_cases(tools, env),
            1 if quick else 3,
            False,
            120.0,
            memory=True,
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


def _measure(case: Case, timeout_s: float, record: bool, memory: bool = False) -> None:
    assert case.invocation is not None
    peak = 0
    try:
        if memory:
            elapsed, output, peak = time_with_memory(case.invocation, timeout_s)
        else:
            elapsed, output = time_once(case.invocation, timeout_s)
    except (CaseFailed, RuntimeError) as exc:
        case.failures.append(str(exc))
        if len(case.failures) >= MAX_FAILURES:
            case.error = f"failed {len(case.failures)} times, last: {exc}"
        return
    case.first_line = case.first_line or (output.strip().splitlines() or [""])[0]
    if record:
        case.times.append(elapsed)
        case.peaks_kib += [peak] if memory else []


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
                _measure(case, scenario.timeout_s, record=not warm, memory=scenario.memory)


def _median(case: Case) -> float | None:
    return statistics.median(case.times) if case.times and not case.error else None


def _ratio(case: Case, median: float, baseline: Case | None) -> str:
    if case is baseline:
        return "1.00 (baseline)"
    base = _median(baseline) if baseline else None
    return f"{median / base:.2f}" if base else "n/a"


def _row(case: Case, baseline: Case | None, memory: bool = False) -> str:
    median = _median(case)
    if median is None:
        why = case.error or (f"failed: {case.failures[-1]}" if case.failures else "not measured")
        return f"| {case.label} | {why} | | |{' |' if memory else ''} {case.note} |"
    spread = f"{min(case.times):.3f}-{max(case.times):.3f}"
    ratio = _ratio(case, median, baseline)
    failed = f" (a round failed: {case.failures[0]})" if case.failures else ""
    peak = f" {max(case.peaks_kib) / 1024:.1f} |" if memory and case.peaks_kib else ""
    return f"| {case.label} | {median:.3f} | {spread} | {ratio} |{peak} {case.note}{failed} |"


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
        "| tool (mode) | median s | min-max s | ratio |"
        + (" peak RSS MiB |" if scenario.memory else "")
        + " note |",
        "|---|---:|---:|---:|" + ("---:|" if scenario.memory else "") + "---|",
    ]
    rows = [_row(case, baseline, scenario.memory) for case in scenario.cases]
    return lines + rows + [""]


def render(
    all_scenarios: list[Scenario],
    tools: Tools,
    seconds: float,
    second: SecondRun | None,
    gates: list[GateRun],
) -> str:
    versions = [
        f"{case.label.split(' ')[0]}: `{case.first_line}`"
        for scenario in all_scenarios
        if scenario.key == "S3"
        for case in scenario.cases
        if case.first_line and "version" in case.label and "wrapper" not in case.label
    ]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Latest run",
        "",
        f"{now}; {machine()}; Python {platform.python_version()}; "
        f"the whole run took {seconds:.0f} s.",
        "Versions: " + "; ".join(versions) + ".",
        "",
    ]
    lines += render_targets(_medians(all_scenarios), second, gates)
    for scenario in all_scenarios:
        lines += render_scenario(scenario)
    lines += second.render() if second else []
    lines += render_gate(gates) if gates else []
    if tools.unavailable:
        lines += ["Unavailable:", ""]
        lines += [f"- {name}: {reason}" for name, reason in tools.unavailable.items()]
        lines.append("")
    return "\n".join(lines)


def _medians(all_scenarios: list[Scenario]) -> dict[str, tuple[float, float]]:
    """``S1:label`` -> (median s, largest peak RSS in MiB, or 0) of every measured row."""
    found = {}
    for scenario in all_scenarios:
        for case in scenario.cases:
            median = _median(case)
            if median is not None:
                peak = max(case.peaks_kib) / 1024 if case.peaks_kib else 0.0
                found[f"{scenario.key}:{case.label}"] = (median, peak)
    return found


def _ports(text: str) -> tuple[str, str]:
    api, _, redis = text.partition(",")
    if not (api.isdigit() and redis.isdigit()):
        raise argparse.ArgumentTypeError("expected API_PORT,REDIS_PORT, e.g. 19100,17100")
    return api, redis


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round each, no warm-up")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown table")
    parser.add_argument("--docs", type=Path, help="also write the page docs/performance.md")
    parser.add_argument(
        "--gate", action="store_true", help="also S6: the release gate (Docker; minutes)"
    )
    parser.add_argument("--gate-project", help="S6's compose project (default: the checklist's)")
    parser.add_argument("--gate-ports", type=_ports, help="S6's API_PORT,REDIS_PORT")
    parser.add_argument(
        "--only-jobcheck", action="store_true", help="S4-S6 only: no peers, no S1-S3"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tools = prepare_tools_jobcheck() if args.only_jobcheck else prepare_tools(log)
    with tempfile.TemporaryDirectory(prefix="jobcheck-bench-") as temp:
        root = Path(temp)
        env = base_env(root)
        all_scenarios = scenarios(tools, env, args.quick)
        if args.only_jobcheck:
            all_scenarios = [s for s in all_scenarios if s.key == "S4"]
        for scenario in all_scenarios:
            run_scenario(scenario, root)
        second = run_second(tools.jobcheck, env, log) if tools.jobcheck else None
        gates = []
        if args.gate and tools.jobcheck:
            gates = run_gate(tools.jobcheck, env, args.gate_project, args.gate_ports, log)
    report = render(all_scenarios, tools, time.perf_counter() - started, second, gates)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    if args.docs:
        write_docs(args.docs, report)
    print(report)
    log(f"table written to {args.output}" + (f" and {args.docs}" if args.docs else ""))
    return 0


def prepare_tools_jobcheck() -> Tools:
    """jobcheck alone: the peers are reported as not asked for."""
    tools = Tools(jobcheck=locate_jobcheck())
    for name in ("go-task", "lefthook", "pre-commit", "pytest-testinfra", "pytest-xdist"):
        tools.unavailable[name] = "not asked for (--only-jobcheck)"
    if tools.jobcheck is None:
        tools.unavailable["jobcheck"] = "no `jobcheck` beside this Python nor on PATH"
    return tools


DOCS_INTRO = """# Performance

What jobcheck costs, measured by `make bench` (`bench/run.py`; how and why in
[bench/README.md](../bench/README.md)), and where it stands against the targets of issue 12.
The section below is the latest run's output, pasted whole: `bench/run.py --docs
docs/performance.md` rewrites it. Compare ratios within one run, not absolute times across
runs: the machine is shared and its load moves every number.

"""


def write_docs(path: Path, report: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOCS_INTRO + report)


if __name__ == "__main__":
    sys.exit(main())
