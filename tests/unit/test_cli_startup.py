"""Start-up: Typer builds only the command asked for, and a one-check run imports no heavy
library it does not use."""

from __future__ import annotations

import ast
import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

import jobcheck.process
from jobcheck import startup
from jobcheck.__main__ import main
from jobcheck.cli import app, app_for


def names(args: list[str], environ: dict[str, str] | None = None) -> list[str]:
    return sorted(get_command(app_for(args, environ or {})).commands)  # type: ignore[attr-defined]


def test_only_the_named_command_is_built() -> None:
    assert names(["run", "x.yaml", "--no-color"]) == ["run"]
    assert names(["-C", "somewhere", "--debug", "validate"]) == ["validate"]
    assert names(["--directory=d", "list"]) == ["list"]
    assert names(["stack", "up"]) == ["stack"]
    assert names(["cache", "clear"]) == ["cache"]
    assert names(["run", "-h"]) == ["run"]


def test_the_root_help_a_typo_and_completion_get_the_whole_app() -> None:
    everything = sorted(get_command(app).commands)  # type: ignore[attr-defined]
    assert len(everything) > 10
    for args in ([], ["-h"], ["--debug", "--help"], ["rn"], ["--install-completion"]):
        assert names(args) == everything, args
    assert names(["run"], {"_JOBCHECK_COMPLETE": "complete_bash"}) == everything


def test_a_one_check_run_imports_no_heavy_library(tmp_path: Path) -> None:
    checklist = tmp_path / "jobcheck.yaml"
    checklist.write_text(
        'version: 1\nname: one\nchecks:\n  - {id: a, kind: command, owner: "@me", '
        'with: {run: "true"}}\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    script = (
        "import sys\nfrom jobcheck.__main__ import main\ntry:\n    main(['run', '--no-color'])\n"
        "except SystemExit as exc:\n    print(exc.code, *sorted(sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    code, *modules = result.stderr.split()
    assert code == "0", result.stdout + result.stderr
    imported = set(modules)
    heavy = {"rich", "docker", "redis", "celery", "kombu", "httpx", "jobcheck.shards"}
    assert imported & heavy == set()
    assert "jobcheck.kinds.command" in imported
    assert not {m for m in imported if m.startswith("jobcheck.kinds.") and m.count(".") == 2} - {
        "jobcheck.kinds.base",
        "jobcheck.kinds.command",
    }
    for renderer in ("junit", "json_report", "markdown", "html"):
        assert f"jobcheck.reports.{renderer}" not in imported
    assert "jobcheck.result_cache" not in imported  # no check has `cache:`
    # Only a check that names a `${stack...}` port resolves it through the Docker engine probe;
    # only `stdout_matches` needs the regex package.
    assert not {m for m in imported if m.startswith("jobcheck.probes")}
    assert imported & {"jobcheck.stack_ports", "regex"} == set()


def test_the_watchdog_imports_only_built_in_modules() -> None:
    """Every run that starts a process starts the watchdog: its interpreter's start-up is paid
    each time, so beyond Python's own start-up (-I -S) it imports only os, time and _signal."""
    bare = _imported([sys.executable, "-I", "-S", "-X", "importtime", "-c", "pass"])
    script = Path(jobcheck.process.__file__).with_name("process_watchdog.py")
    watchdog = _imported([sys.executable, "-I", "-S", "-X", "importtime", str(script), "tag"])
    with_os = {"os", "posixpath", "genericpath", "stat", "_stat", "_collections_abc"}
    assert watchdog - bare <= {"__future__", "_signal", "time", *with_os}
    assert watchdog & {"contextlib", "typing", "signal", "enum", "re", "collections"} == set()


def test_no_pydantic_field_has_a_builtin_default_factory() -> None:
    """pydantic reads a default factory's signature when it builds a model; a builtin's
    (``list``, ``dict``) is parsed from its text by ``tokenize``, whose first use compiles a
    large regex: ~6 ms of every run. ``kinds.base.empty_list`` / ``empty_dict`` instead."""
    builtins = {"list", "dict", "set", "tuple", "frozenset"}
    found = []
    for path in sorted(Path(jobcheck.process.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Field":
                found += [
                    f"{path.name}:{node.lineno}"
                    for kw in node.keywords
                    if kw.arg == "default_factory"
                    and isinstance(kw.value, ast.Name)
                    and kw.value.id in builtins
                ]
    assert found == []


def test_the_collector_is_paused_while_starting_then_resumes_with_start_up_frozen() -> None:
    assert gc.isenabled() and gc.get_freeze_count() == 0
    startup.pause()
    assert not gc.isenabled()
    startup.resume()  # a command's body starts
    assert gc.isenabled() and gc.get_freeze_count() > 0
    startup.resume()  # once only
    startup.finish()  # the entry point returns
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller's own choice is left alone
    try:
        startup.resume()
        startup.finish()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_entry_point_leaves_the_collector_as_it_found_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--help`` and a usage error end before any command's body: the collector resumes."""
    for args in (["--help"], ["run", "--jobs", "x"]):
        with pytest.raises(SystemExit):
            main(args)
        assert gc.isenabled() and gc.get_freeze_count() == 0, args
    assert "Usage" in capsys.readouterr().out


def _imported(argv: list[str]) -> set[str]:
    """The modules a program imports, from ``-X importtime`` (its stdin: empty)."""
    result = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}
