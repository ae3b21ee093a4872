"""The conventions of a Python CLI: help, completion, stdout reports, -c and -C, discovery,
globs and did-you-mean, colour, closed pipes, file modes. Real subprocesses where the process
matters (imports, pipes, terminals, umask); CliRunner for the help texts."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from jobcheck.cli import app

CHECKLIST = """\
version: 1
name: conventions
defaults: {owner: "@team", expect: works, rollback: "git revert the change"}
checks:
  - {id: fast-one, kind: command, tags: [fast], with: {run: "echo one"}}
  - {id: fast-two, kind: command, tags: [fast], with: {run: "echo two"}}
  - {id: broken, kind: command, tags: [slowish], with: {run: "sh -c 'exit 3'"}}
"""
CLEAN = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS", "NO_COLOR")}


def jobcheck(
    *args: str, cwd: Path, env: dict[str, str] | None = None, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=cwd,
        env={**CLEAN, "FORCE_COLOR": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,  # type: ignore[arg-type]
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository root (`.git`) holding jobcheck.yaml and a deep subfolder."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST)
    (tmp_path / "src" / "app").mkdir(parents=True)
    return tmp_path


# --- help -------------------------------------------------------------------------------------


def commands(
    command: typer.main.TyperGroup | object = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every command of the app, as (path, click command), the root and groups included."""
    command = command or typer.main.get_command(app)
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from commands(sub, (*path, name))


ALL_COMMANDS = [path for path, _ in commands()]


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "jobcheck")
def test_every_command_has_dash_h_readable_metavars_and_examples(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "-h"], prog_name="jobcheck")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(('jobcheck', *path))} ")
    for unreadable in ("<list[", " range>", "<bool>", "<int>", "<Path>"):
        assert unreadable not in result.output, f"{unreadable} in the help of {path}"
    if path != ("stack",):
        assert "Examples:\n" in result.output


def example_lines() -> list[tuple[str, ...]]:
    found = []
    for _, command in commands():
        for line in (getattr(command, "epilog", None) or "").splitlines():
            text = line.strip()
            if text.startswith("jobcheck "):
                text = re.split(r"\s[|>]\s", text)[0]  # the shell's part of the example
                found.append(tuple(shlex.split(text)[1:]))
    return found


@pytest.mark.parametrize("argv", example_lines(), ids=" ".join)
def test_every_help_example_parses(argv: tuple[str, ...]) -> None:
    """Examples in --help are real command lines: every option and argument exists."""
    command: object = typer.main.get_command(app)
    ctx = command.make_context("jobcheck", list(argv))  # type: ignore[attr-defined]
    while rest := [*getattr(ctx, "_protected_args", []), *ctx.args]:
        sub = command.get_command(ctx, rest[0])  # type: ignore[attr-defined]
        assert sub is not None, f"no command {rest[0]!r} in example {argv}"
        ctx = sub.make_context(rest[0], rest[1:], parent=ctx)
        command = sub


def test_release_takes_the_run_options() -> None:
    text = CliRunner().invoke(app, ["release", "-h"]).output
    for flag in ("--only", "--skip", "--env", "--no-color", "--color", "--fail-fast", "--json"):
        assert f"{flag} " in text, flag


# --- the entry point, completion ---------------------------------------------------------------


def test_version_does_not_import_typer() -> None:
    (script,) = entry_points(group="console_scripts", name="jobcheck")
    assert script.value == "jobcheck.__main__:main"
    code = (
        "import sys; sys.argv = ['jobcheck', '--version']\n"
        "from jobcheck.__main__ import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("jobcheck ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "jobcheck" in imported
    assert not {"typer", "click", "rich", "pydantic", "docker", "yaml"} & imported


def test_shell_completion_completes_commands_and_options(tmp_path: Path) -> None:
    complete = {"_JOBCHECK_COMPLETE": "complete_bash", "COMP_CWORD": "1"}
    result = jobcheck(cwd=tmp_path, env={**complete, "COMP_WORDS": "jobcheck ru"})
    assert result.stdout.split() == ["run"]
    result = jobcheck(
        cwd=tmp_path, env={**complete, "COMP_WORDS": "jobcheck run --col", "COMP_CWORD": "2"}
    )
    assert result.stdout.split() == ["--color"]
    script = jobcheck(
        "--show-completion",
        "bash",
        cwd=tmp_path,
        env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
    )
    assert "_JOBCHECK_COMPLETE=complete_bash" in script.stdout
    assert "--install-completion" in CliRunner().invoke(app, ["-h"]).output


# --- reports to stdout, file modes -------------------------------------------------------------


def test_json_dash_writes_the_report_to_stdout_and_the_terminal_report_to_stderr(
    repo: Path,
) -> None:
    result = jobcheck("run", "--json", "-", cwd=repo)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["summary"] == {"pass": 2, "fail": 1, "error": 0, "skip": 0, "waived": 0}
    assert "FAILED: conventions" in result.stderr
    assert not (repo / "-").exists()


def test_two_reports_to_stdout_is_a_usage_error(repo: Path) -> None:
    result = jobcheck("run", "--json", "-", "--junit", "-", cwd=repo)
    assert result.returncode == 2
    assert "--json and --junit both write to stdout" in result.stderr


def test_reports_are_written_with_the_umask(repo: Path) -> None:
    result = jobcheck("run", "--json", "out/r.json", "--junit", "r.xml", cwd=repo, umask=0o022)
    assert result.returncode == 1, result.stderr
    assert stat.S_IMODE((repo / "out" / "r.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((repo / "r.xml").stat().st_mode) == 0o644


# --- which checklist: -c, positional, discovery, -C ---------------------------------------------


@pytest.mark.parametrize("command", ["run", "validate", "list", "history", "waivers"])
def test_checklist_positional_or_dash_c(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "ci.yaml"
    path.write_text(CHECKLIST.replace("exit 3", "exit 0"))
    for argv in (
        [command, str(path)],
        [command, "-c", str(path)],
        [command, "--checklist", "ci.yaml"],
    ):
        result = CliRunner().invoke(app, argv, env={"NO_COLOR": "1"}, catch_exceptions=False)
        assert result.exit_code == 0, (argv, result.output)
    both = CliRunner().invoke(app, [command, "a.yaml", "-c", "b.yaml"])
    assert both.exit_code == 2
    assert "two checklists given: a.yaml and -c b.yaml" in both.output


def test_a_subfolder_finds_the_checklist_at_the_repository_root(repo: Path) -> None:
    result = jobcheck("validate", cwd=repo / "src" / "app")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("conventions: 3 checks, valid")


def test_dash_capital_c_runs_as_if_started_there(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = jobcheck("-C", str(repo), "run", "--only", "fast-*", "--json", "r.json", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (repo / "r.json").is_file()  # relative paths are relative to DIR, as with git -C
    missing = jobcheck("-C", "no/such/dir", "list", cwd=elsewhere)
    assert missing.returncode == 2
    assert "cannot change to no/such/dir: No such file or directory" in missing.stderr


# --- selection: globs, did you mean ------------------------------------------------------------


def test_only_takes_globs_and_unknown_selectors_get_did_you_mean(repo: Path) -> None:
    result = jobcheck("run", "--only", "fast-*", "--json", "r.json", cwd=repo)
    assert result.returncode == 0, result.stderr
    ran = [c["id"] for c in json.loads((repo / "r.json").read_text())["checks"]]
    assert ran[:2] == ["fast-one", "fast-two"]
    typo = jobcheck("run", "--only", "fast1", cwd=repo)
    assert typo.returncode == 2
    assert "error: --only fast1: no check has this id or tag" in typo.stderr
    assert "hint: did you mean `fast`?" in typo.stderr


def test_unknown_need_gets_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(CHECKLIST.replace("tags: [slowish],", "needs: [fast-on],"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "hint: did you mean `fast-one`?" in result.output


# --- closed pipes ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["schema"], ["explain", "broken"], ["list"]])
def test_a_closed_pipe_is_a_quiet_exit_0(argv: list[str], repo: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", *argv],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=CLEAN,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `| head -0`: the reader is gone before the first line
    _, err = process.communicate(timeout=30)
    assert (process.returncode, err.decode()) == (0, "")


# --- colour and the live view ------------------------------------------------------------------

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour_codes(text: str) -> list[str]:
    """SGR sequences that set a colour (30-37, 38, 40-47, 48, 90-97, 100-107)."""
    found = []
    for params in SGR.findall(text):
        for part in params.split(";"):
            if part and (30 <= int(part) <= 48 or 90 <= int(part) <= 107):
                found.append(params)
                break
    return found


def on_terminal(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; its exit code and output."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", *argv],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env={**CLEAN, "TERM": "xterm-256color", "COLUMNS": "120", "FORCE_COLOR": "", **env},
    )
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(main)
    return process.wait(timeout=10), b"".join(chunks).decode(errors="replace")


HIDE_CURSOR = "\x1b[?25l"  # the live view's first act


def test_a_terminal_gets_colour_and_the_live_view(repo: Path) -> None:
    code, text = on_terminal(["run"], repo, {})
    assert code == 1
    assert HIDE_CURSOR in text
    assert colour_codes(text)


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["run"], {"NO_COLOR": "1"}), (["run", "--color", "never"], {"FORCE_COLOR": "1"})],
)
def test_no_color_keeps_the_live_view(argv: list[str], env: dict[str, str], repo: Path) -> None:
    code, text = on_terminal(argv, repo, env)
    assert code == 1
    assert HIDE_CURSOR in text
    assert colour_codes(text) == []
    assert "FAILED: conventions" in text


def test_no_color_flag_is_plain_lines(repo: Path) -> None:
    code, text = on_terminal(["run", "--no-color"], repo, {})
    assert code == 1
    assert "\x1b[" not in text
    assert "FAIL   broken" in text


@pytest.mark.parametrize(
    ("argv", "env", "coloured"),
    [
        (["run"], {}, False),
        (["run"], {"FORCE_COLOR": "1"}, True),
        (["run"], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        (["run", "--color", "always"], {"NO_COLOR": "1"}, True),
        (["run", "--color", "never"], {"FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_on_a_pipe(argv: list[str], env: dict[str, str], coloured: bool, repo: Path) -> None:
    result = jobcheck(*argv, cwd=repo, env=env)
    assert result.returncode == 1
    assert "\x1b[?25l" not in result.stdout  # never a live view on a pipe
    assert bool(colour_codes(result.stdout)) is coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).count("FAIL   broken") == 1


def test_the_markdown_report_shows_paths_as_report_does(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "checklists").mkdir()
    (tmp_path / "checklists" / "release.yaml").write_text(CHECKLIST)
    result = jobcheck("run", "--markdown", "r.md", "--json", "r.json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    written = (tmp_path / "r.md").read_text()
    assert "`checklists/release.yaml:7`" in written
    assert str(tmp_path) not in written
    rendered = jobcheck("report", "r.json", cwd=tmp_path).stdout
    assert "`checklists/release.yaml:7`" in rendered


def test_strict_validate_rejects_what_init_left_to_fill_in(tmp_path: Path) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(
        CHECKLIST.replace('owner: "@team"', "owner: '@TODO-owner'").replace(
            'rollback: "git revert the change"', "rollback: 'TODO: revert the merge'"
        )
    )
    loose = CliRunner().invoke(app, ["validate", str(path)])
    assert loose.exit_code == 0
    strict = CliRunner().invoke(app, ["validate", "--strict", str(path)])
    assert strict.exit_code == 2
    assert f"error: {path}:5: `fast-one` owner is a placeholder: '@TODO-owner'" in strict.output
    assert "`fast-one` rollback is a placeholder: 'TODO: revert the merge'" in strict.output
    assert "conventions: 3 checks, invalid (--strict)" in strict.output


def test_run_into_a_pipe_closed_early_prints_no_traceback(tmp_path: Path) -> None:
    """`jobcheck run | head -1`: the reader leaves; the run ends quietly with its own code."""
    checks = "".join(
        f"  - {{id: c{i}, kind: command, owner: '@o', with: {{run: 'true'}}}}\n" for i in range(150)
    )
    (tmp_path / "jobcheck.yaml").write_text(f"version: 1\nname: pipe\nchecks:\n{checks}")
    done = subprocess.run(
        f"{shlex.quote(sys.executable)} -m jobcheck run --no-color --json out.json | head -1",
        shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.stdout.startswith("PASS   c")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert json.loads((tmp_path / "out.json").read_text())["status"] == "pass"
