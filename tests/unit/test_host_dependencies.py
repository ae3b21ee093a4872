"""A fresh machine has only what the project's scripts install: every program the tests or
jobcheck run is in docs/development.md's table of host dependencies, the script named there
installs its package, and both `make demo` and `make test` reach that script."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "development.md"
TABLE_HEADER = "| program | package | installed by |"
# Calls whose first argument is an argv: the program is its first element.
ARGV_CALLS = {"run", "Popen", "check_output", "check_call", "call", "run_process", "spawn", "sh"}
BIN_PATH = re.compile(r"/(?:usr/)?s?bin/([\w.+-]+)")
TICKED = re.compile(r"`([^`]+)`")
# A line that installs: apt's, a list of packages to install (`missing+=(...)`), a pip pin.
INSTALL_LINE = re.compile(r"apt_install |apt-get install |\+=\(|==")


def table() -> list[tuple[list[str], str, list[str]]]:
    """(programs, package, installed-by paths) per row of the table."""
    lines = DOCS.read_text().splitlines()
    start = lines.index(TABLE_HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        program, package, by = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((TICKED.findall(program), package, TICKED.findall(by)))
    return rows


def programs_in_table() -> set[str]:
    return {name.split()[0] for programs, _, _ in table() for name in programs}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _text(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def programs_run_by(tree: ast.AST) -> Iterator[str]:
    """`shutil.which("X")` (also over a loop's tuple of names), `run(["X", ...])`-like calls,
    and literal paths such as "/usr/sbin/sshd"."""
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple | ast.List):
            looked_up = any(
                isinstance(call, ast.Call) and _name(call.func) == "which"
                for call in ast.walk(node)
            )
            if looked_up:
                yield from (t for t in map(_text, node.iter.elts) if t)
        if isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if _name(node.func) == "which" and _text(first):
                yield str(_text(first))
            if _name(node.func) in ARGV_CALLS and isinstance(first, ast.List | ast.Tuple):
                program = _text(first.elts[0]) if first.elts else None
                if program:
                    yield Path(program).name
        text = _text(node) if isinstance(node, ast.expr) else None
        if text and (found := BIN_PATH.fullmatch(text)):
            yield found[1]


def programs_used() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for folder in ("src", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for program in programs_run_by(ast.parse(path.read_text(), str(path))):
                used.setdefault(program, set()).add(str(path.relative_to(ROOT)))
    return used


def code_lines(path: Path) -> str:
    """The file without its comment lines."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def scripts_reached_from(target: str) -> set[str]:
    """The scripts a make target runs, through its prerequisites and the scripts they run."""
    rules: dict[str, tuple[list[str], str]] = {}
    current = ""
    for line in (ROOT / "Makefile").read_text().splitlines():
        rule = re.match(r"^([\w.-]+):(?!=)\s*(.*)$", line)
        if rule:
            current = rule[1]
            rules[current] = (rule[2].split(), "")
        elif line.startswith("\t") and current:
            prereqs, recipe = rules[current]
            rules[current] = (prereqs, recipe + line + "\n")
    scripts: set[str] = set()
    targets, seen = [target], set()
    while targets:
        name = targets.pop()
        if name in seen or name not in rules:
            continue
        seen.add(name)
        prereqs, recipe = rules[name]
        targets += prereqs
        scripts |= set(re.findall(r"scripts/[\w-]+\.sh", recipe))
    pending = list(scripts)
    while pending:
        called = re.findall(r"([\w-]+\.sh)\b", code_lines(ROOT / pending.pop()))
        for script in {f"scripts/{name}" for name in called} - scripts:
            if (ROOT / script).is_file():
                scripts.add(script)
                pending.append(script)
    return scripts


def test_the_table_is_there_and_names_real_installers() -> None:
    rows = table()
    assert len(rows) >= 10
    given = [programs for programs, _, by in rows if not by]
    assert given == [["git"], ["sh", "bash", "sleep", "true"]]  # only what a clone implies
    for _, _, by in rows:
        for path in by:
            if path.startswith("scripts/") or path == "Makefile":
                assert (ROOT / path).is_file(), path


def test_every_program_the_tests_and_jobcheck_run_is_in_the_table() -> None:
    listed = programs_in_table()
    used = programs_used()
    assert {"redis-server", "sshd", "chromium", "docker", "git"} <= set(used)  # the scan works
    missing = {
        program: sorted(where)
        for program, where in used.items()
        if program not in listed and not program.startswith("no-such-")  # missing on purpose
    }
    assert not missing, (
        f"programs run by tests or src/ that no row of {DOCS.name}'s host dependency table "
        f"names (add the row and the script that installs it): {missing}"
    )


@pytest.mark.parametrize(
    ("programs", "package", "script"),
    [
        (programs, TICKED.findall(package)[0], by[0])
        for programs, package, by in table()
        if by and by[0].startswith("scripts/")
    ],
)
def test_the_script_named_installs_the_package(
    programs: list[str], package: str, script: str
) -> None:
    word = re.compile(rf"(?<![\w.-]){re.escape(package)}(?![\w.-])")
    installs = [
        line
        for line in code_lines(ROOT / script).splitlines()
        if word.search(line) and INSTALL_LINE.search(line)
    ]
    assert installs, (
        f"{script} should install {package} (for {', '.join(programs)}), but no line of it "
        "installs that package (apt_install / apt-get install / a list of packages / a pin)"
    )


@pytest.mark.parametrize("target", ["demo", "test"])
def test_make_demo_and_make_test_run_every_installing_script(target: str) -> None:
    installers = {by[0] for _, _, by in table() if by and by[0].startswith("scripts/")}
    reached = scripts_reached_from(target)
    assert installers <= reached, f"`make {target}` never runs {sorted(installers - reached)}"


def test_the_dev_extra_brings_the_python_programs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = " ".join(project["optional-dependencies"]["dev"])
    for programs, package, _ in table():
        if "[dev]" in package:
            for program in set(programs) - {"python"}:
                assert re.search(rf"\b{re.escape(program)}\b", dev), program
