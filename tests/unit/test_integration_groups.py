"""scripts/test.sh runs the integration modules as the groups of tests/integration/_groups.py,
side by side: every module in exactly one group, and no compose project or host port used by
modules of two groups. Both read statically from each module's source (its constants and the
defaults of the environment variables that override them), so a new module, or a new port in an
old one, is checked without Docker. scripts/test.sh itself runs with a stand-in pytest."""

from __future__ import annotations

import ast
import os
import runpy
import stat
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "tests" / "integration"
GROUPS: dict[str, list[str]] = runpy.run_path(str(INTEGRATION / "_groups.py"))["GROUPS"]
# The conftest.py fixtures on the session stack (its project and ports are _stack.py's).
SESSION_FIXTURES = {"stack", "healed", "make_ctx", "check"}
# What a module may import from _stack.py without using the session stack's project or ports.
STACK_HARMLESS = {"ROOT", "password", "UP_WAIT_S", "HEAL_WAIT_S"}


def _kind(name: str) -> str | None:
    """'project' or 'port' for a constant or variable named like one, else None."""
    name = name.upper()
    if name.endswith(("PROJECT", "PREFIX")):
        return "project"
    if name.endswith("PORT"):
        return "port"
    return None


def resources(source: str, *, with_session_stack: bool | None = None) -> set[tuple[str, str]]:
    """{('project', name), ('port', number)} a module's source names: module constants
    (``REDIS_PORT = 16802``), and environment look-ups with a default
    (``os.environ.get("X_PROJECT", "name")``, ``_env("RQ_API_PORT", "18600")``); plus the
    session stack's when the module uses it (imports _stack, or takes a conftest fixture it
    does not define itself)."""
    tree = ast.parse(source)
    found: set[tuple[str, str]] = set()
    defined: set[str] = set()
    params: set[str] = set()
    uses_stack_module = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                kind = _kind(target.id) if isinstance(target, ast.Name) else None
                if kind and isinstance(node.value.value, (str, int)):
                    found.add((kind, str(node.value.value)))
        elif isinstance(node, ast.Call) and len(node.args) == 2:
            key, default = node.args
            if (
                isinstance(key, ast.Constant)
                and isinstance(key.value, str)
                and isinstance(default, ast.Constant)
                and isinstance(default.value, (str, int))
            ):
                kind = _kind(key.value)
                if kind:
                    found.add((kind, str(default.value)))
        elif isinstance(node, ast.FunctionDef):
            defined.add(node.name)
            if node.name.startswith("test_") or node.decorator_list:  # tests and fixtures
                params.update(arg.arg for arg in node.args.args)
        elif isinstance(node, ast.ImportFrom) and node.module == "_stack":
            uses_stack_module |= any(alias.name not in STACK_HARMLESS for alias in node.names)
    if with_session_stack is None:
        with_session_stack = uses_stack_module or bool((params & SESSION_FIXTURES) - defined)
    if with_session_stack:
        found |= resources((INTEGRATION / "_stack.py").read_text(), with_session_stack=False)
    return found


def clashes(groups: dict[str, list[str]], sources: dict[str, str]) -> list[str]:
    """'port 18600: test_a.py (group x) and test_b.py (group y)' for each shared resource."""
    users: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for group, modules in groups.items():
        for module in modules:
            for resource in resources(sources[module]):
                users[resource].add((group, module))
    problems = []
    for (kind, value), where in sorted(users.items()):
        if len({group for group, _ in where}) > 1:
            named = " and ".join(f"{module} (group {group})" for group, module in sorted(where))
            problems.append(f"{kind} {value}: {named}")
    return problems


def modules() -> list[str]:
    return sorted(path.name for path in INTEGRATION.glob("test_*.py"))


def test_every_integration_module_is_in_exactly_one_group() -> None:
    placed = [name for names in GROUPS.values() for name in names]
    assert sorted(placed) == modules(), (
        "each tests/integration/test_*.py must be in exactly one group of "
        f"tests/integration/_groups.py: missing {sorted(set(modules()) - set(placed))}, "
        f"unknown {sorted(set(placed) - set(modules()))}, "
        f"twice {sorted({n for n in placed if placed.count(n) > 1})}"
    )
    assert len(GROUPS) >= 2 and all(GROUPS.values())


def test_groups_share_no_compose_project_and_no_host_port() -> None:
    sources = {name: (INTEGRATION / name).read_text() for name in modules()}
    for name, source in sources.items():
        kinds = {kind for kind, _ in resources(source)}
        assert kinds == {"project", "port"}, f"{name}: no project or port found: {kinds}"
    assert clashes(GROUPS, sources) == []


def test_what_is_read_from_a_module() -> None:
    source = (INTEGRATION / "test_rollback_drill.py").read_text()
    assert {
        ("project", "jobcheck-rdrill-rq"),
        ("project", "jobcheck-rdrill-celery"),
        ("port", "18600"),
        ("port", "16600"),
        ("port", "18610"),
        ("port", "16610"),
    } <= resources(source)
    assert ("port", "16802") in resources((INTEGRATION / "test_containers_by_label.py").read_text())
    session = resources((INTEGRATION / "test_stack_run.py").read_text())
    assert {("project", "jobcheck-itest"), ("port", "18000"), ("port", "16379")} <= session


def test_a_port_shared_across_groups_is_reported() -> None:
    a = 'import os\nPROJECT = "jc-a"\nAPI_PORT = os.environ.get("A_API_PORT", "18600")\n'
    b = 'import os\nPROJECT = os.environ.get("B_PROJECT", "jc-b")\nREDIS_PORT = 18600\n'
    c = "def test_x(healed):\n    pass\n"  # the session stack, through a conftest fixture
    d = "from ._stack import PROJECT\n"
    e = "from ._stack import ROOT, password\n"  # not the session stack
    sources = {"test_a.py": a, "test_b.py": b, "test_c.py": c, "test_d.py": d, "test_e.py": e}
    groups = {"x": ["test_a.py", "test_c.py"], "y": ["test_b.py", "test_d.py", "test_e.py"]}
    assert clashes(groups, sources) == [
        "port 16379: test_c.py (group x) and test_d.py (group y)",
        "port 18000: test_c.py (group x) and test_d.py (group y)",
        "port 18600: test_a.py (group x) and test_b.py (group y)",
        "project jobcheck-itest: test_c.py (group x) and test_d.py (group y)",
    ]
    groups = {"x": ["test_a.py", "test_b.py", "test_e.py"], "y": ["test_c.py", "test_d.py"]}
    assert clashes(groups, sources) == []


# --- scripts/test.sh with a stand-in pytest ----------------------------------------------------

FAKE_PY = f"""#!/bin/sh
# -c: the real interpreter (test.sh reads the groups); -m pytest: a stand-in that says what it
# ran and exits with $FAKE_EXIT_<group> (the unit half: $FAKE_EXIT_rest), default 0.
if [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi
shift 2
group=rest
if [ "$2" = "--itest-group" ]; then group=$3; fi
echo "ran $group: $*"
eval "code=\\${{FAKE_EXIT_$group:-0}}"
exit "$code"
"""


def run_test_sh(tmp_path: Path, **exits: int) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "python"
    fake.write_text(FAKE_PY)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PY": str(fake), **{f"FAKE_EXIT_{k}": str(v) for k, v in exits.items()}}
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "test.sh"), "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_test_sh_runs_every_group_beside_the_rest_and_passes_when_all_pass(
    tmp_path: Path,
) -> None:
    done = run_test_sh(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ran rest: tests/unit tests/e2e tests/fuzz -q" in done.stdout
    for group in GROUPS:
        assert f"=== tests/integration, group {group} (ran alongside) ===" in done.stdout
        assert f"ran {group}: tests/integration --itest-group {group} -q" in done.stdout
    summary = "; ".join(f"integration {g}: pytest exit 0" for g in GROUPS)
    assert done.stdout.rstrip().endswith(f"unit/e2e/fuzz: pytest exit 0; {summary}")


@pytest.mark.parametrize("code", [1, 5])
def test_test_sh_fails_when_one_group_fails_or_runs_nothing(tmp_path: Path, code: int) -> None:
    last = list(GROUPS)[-1]
    done = run_test_sh(tmp_path, **{last: code})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"integration {last}: pytest exit {code}" in done.stdout


def test_test_sh_fails_when_the_unit_half_fails(tmp_path: Path) -> None:
    done = run_test_sh(tmp_path, rest=5)
    assert done.returncode == 1
    assert "unit/e2e/fuzz: pytest exit 5" in done.stdout
