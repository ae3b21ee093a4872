"""Every load problem in one pass: each step records its problems as data (`errors.Problems`)
and goes on where it safely can; `loading` raises them together, in file and line order."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobcheck.cli import app
from jobcheck.errors import (
    MAX_KEPT_ERRORS,
    MAX_SHOWN_ERRORS,
    ChecklistError,
    ChecklistErrors,
    Location,
    Problems,
)
from jobcheck.loading import load_checklist

CHECK = '  - {id: ok, kind: command, owner: "@o", with: {run: "true"}}\n'


def places(text: str) -> list[str]:
    """``file:line`` of each `error:` line, the folder stripped."""
    found = re.findall(r"^error: (?:.*/)?([^/:]+:\d+)(?::\d+)?: ", text, flags=re.M)
    return list(found)


def render(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path, env or {})
    assert caught.value.exit_code == 2
    return caught.value.render().replace(f"{path.parent}/", "")


@pytest.fixture
def several(write_checklist: Callable[..., Path]) -> Path:
    """A checklist with a mistake in each file-level section, an included file with its own,
    and a bad check."""
    write_checklist(
        """
        checks:
          - {id: part, kind: command, owner: "@p", with: {run: "true"}, retries: many}
        """,
        "parts/part.yaml",
    )
    return write_checklist("""
        version: 1
        name: several
        include: [parts/part.yaml, missing.yaml]
        env_files: [nowhere.env]
        vars:
          api-url: http://127.0.0.1:8000
        defaults: {owner: "@platform"}
        rolback: redeploy
        checks:
          - id: health
            kind: command
            with: {run: "true", exit_code: zero}
    """)


def test_every_file_level_mistake_is_reported_in_one_validate(several: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(several)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert places(result.output) == [
        "jobcheck.yaml:3",  # the missing include
        "jobcheck.yaml:4",  # the env file
        "jobcheck.yaml:6",  # the var name
        "jobcheck.yaml:8",  # the unknown top-level key
        "jobcheck.yaml:12",  # the check
        "part.yaml:2",  # the included file's check: after the main file
    ]
    for phrase in (
        "included file `missing.yaml` not found",
        "cannot read env file `nowhere.env`",
        "variable name `api-url` cannot be used as ${api-url}",
        "unknown key `rolback` at the top of the file",
        "check `health`: `with.exit_code` should be a whole number",
        "check `part`: `retries` should be a whole number",
    ):
        assert result.output.count(phrase) == 1, (phrase, result.output)
    assert "more errors" not in result.output


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "include: [missing.yaml]\n",
            "error: jobcheck.yaml:3:11: included file `missing.yaml` not found\n"
            "  3 | include: [missing.yaml]\n"
            "                ^\n"
            "  expected: a checklist file at missing.yaml\n"
            "  seen: no such file\n"
            "  hint: include paths are relative to the including file",
        ),
        (
            "env_files: [nowhere.env]\n",
            "error: jobcheck.yaml:3:13: cannot read env file `nowhere.env`: "
            "No such file or directory\n"
            "  3 | env_files: [nowhere.env]\n"
            "                  ^\n"
            "  expected: a dotenv file at nowhere.env\n"
            "  hint: env_files paths are relative to the checklist",
        ),
        (
            "vars: {api-url: x}\n",
            "error: jobcheck.yaml:3:8: variable name `api-url` cannot be used as ${api-url}\n"
            "  3 | vars: {api-url: x}\n"
            "             ^\n"
            "  expected: letters, digits and _, not starting with a digit\n"
            "  seen: api-url\n"
            "  hint: rename it, e.g. `api_url`",
        ),
        (
            "rolback: x\n",
            "error: jobcheck.yaml:3:1: unknown key `rolback` at the top of the file\n"
            "  3 | rolback: x\n"
            "      ^\n"
            "  hint: known keys: checks, defaults, env_files, include, name, secrets, stack, "
            "vars, version",
        ),
    ],
    ids=["include", "env_files", "vars", "top-level-key"],
)
def test_each_mistake_alone_renders_as_one_error(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(f"version: 1\nname: one\n{line}checks:\n{CHECK}")
    text = render(path)
    assert text == expected


def test_a_yaml_error_in_an_included_file_stops_that_file_only(
    write_checklist: Callable[..., Path],
) -> None:
    write_checklist(
        """
        include: [deeper.yaml]
        checks:
          - {id: a, kind: command, owner: "@a", with: {run: "true"
        """,
        "broken.yaml",
    )
    write_checklist('checks: [{id: d, kind: nope, owner: "@d"}]', "deeper.yaml")
    write_checklist(
        'checks: [{id: b, kind: command, owner: "@b", rolback: x, with: {run: "true"}}]',
        "other.yaml",
    )
    path = write_checklist("""
        version: 1
        name: includes
        include: [broken.yaml, other.yaml]
        checks:
          - {id: main, kind: command, owner: "@m", timeout: soon, with: {run: "true"}}
    """)
    text = render(path)
    assert places(text) == ["jobcheck.yaml:5", "broken.yaml:3", "other.yaml:1"]
    assert "invalid YAML" in text and "unknown key `rolback`" in text
    assert "deeper.yaml" not in text  # the broken file's own includes are not read


def test_a_var_that_failed_is_not_reported_again_where_it_is_used(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        version: 1
        name: vars
        vars:
          port: "${JOBCHECK_J25L_UNSET_PORT}"
          flag: [not, text]
        checks:
          - id: a
            kind: command
            owner: "@a"
            with: {run: "true", exit_code: "${port}"}
          - {id: b, kind: command, owner: "@b", with: {run: "echo ${flag}", exit_code: "${flag}"}}
          - {id: c, kind: command, owner: "@c", with: {run: "true", exit_code: "${other}"}}
    """)
    text = render(path)
    assert places(text) == ["jobcheck.yaml:4", "jobcheck.yaml:5", "jobcheck.yaml:12"]
    assert "`${JOBCHECK_J25L_UNSET_PORT}` in `vars.port` is not set" in text
    assert "`vars.flag` should be a string" in text
    assert "check `c`: `${other}` in `with.exit_code` is not set" in text  # a name never defined


def test_an_env_file_with_problems_still_defines_its_names(tmp_path: Path) -> None:
    (tmp_path / "staging.env").write_text("HOST=db\nnot a line\nDB_PASSWORD=Sup3r$1Secret\n")
    path = tmp_path / "jobcheck.yaml"
    path.write_text(
        "version: 1\nname: x\nenv_files: [staging.env]\nchecks:\n"
        "  - {id: a, kind: command, owner: '@o', with: {run: 'true', exit_code: '${HOST}'}}\n"
        "  - {id: b, kind: command, owner: '@o', with: {run: 'true', exit_code: '${PORT}'}}\n"
    )
    text = render(path)
    assert places(text) == ["jobcheck.yaml:3", "jobcheck.yaml:6"]
    assert "env file `staging.env` line 2: cannot parse the line starting 'not'" in text
    assert "check `b`: `${PORT}` in `with.exit_code` is not set" in text
    assert "Sup3r" not in text


def test_a_misspelled_owner_in_defaults_is_told_once(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: d
        defaults: {ownr: "@platform", timeout: 1 minute}
        checks:
          - {id: a, kind: command, with: {run: "true"}}
          - {id: b, kind: command, with: {run: "true", exit_code: x}}
    """)
    text = render(path)
    assert places(text) == ["jobcheck.yaml:3", "jobcheck.yaml:3", "jobcheck.yaml:6"]
    assert "unknown key `ownr` in `defaults`" in text and "invalid `defaults.timeout`" in text
    assert "has no owner" not in text


def test_needs_are_checked_once_every_check_loads(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: n
        defaults: {owner: "@o"}
        checks:
          - {id: a, kind: command, with: {run: "true", exit_code: x}}
          - {id: b, kind: command, needs: [a], with: {run: "true"}}
    """)
    text = render(path)
    assert places(text) == ["jobcheck.yaml:5"]  # not "b needs a, which is not a check here"


def test_a_stack_with_a_problem_is_not_missing_for_the_checks(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        version: 1
        name: s
        stack: {compose: [compose.yaml], project: Not_Valid}
        checks:
          - {id: a, kind: http, owner: "@o", with: {url: "http://${stack.api.8000}/health"}}
    """)
    text = render(path)
    assert places(text) == ["jobcheck.yaml:3"]
    assert "`stack.project` does not match the required pattern" in text


def test_every_top_level_key_of_the_wrong_shape_and_nothing_that_follows(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        vars: [a]
        env_files: x.env
        include: 3
        defaults: 5
        secrets: {a: 1}
        stack: {compose: [], project: p}
        checks:
          - {id: a, kind: command, with: {run: "true"}, uses: [api]}
          - {id: b, kind: command, owner: "@o", needs: [zz], with: {run: "echo ${stack.api.80}"}}
    """)
    text = render(path)
    problems = [line.split(": ", 2)[2] for line in text.splitlines() if line.startswith("error:")]
    assert problems == [
        "`version` is required",
        "`name` is required",
        "`vars` should be a mapping",
        "`env_files` should be a list",
        "`include` should be a list",
        "`defaults` should be a mapping",
        "`secrets` should be a list",
        "`stack.compose` is empty",
    ]  # not: `a` has no owner, `uses` names an unknown service, `b` needs an unknown check


def test_a_file_that_is_not_a_checklist_still_stops_loading(tmp_path: Path) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text("- just\n- a list\n")
    assert places(render(path)) == ["jobcheck.yaml:1"]


def test_ten_thousand_mistakes_give_a_bounded_report_fast(tmp_path: Path) -> None:
    names = "".join(f"  bad-{i}: x\n" for i in range(10_000))
    includes = "".join(f"  - missing-{i}.yaml\n" for i in range(10_000))
    path = tmp_path / "jobcheck.yaml"
    path.write_text(f"version: 1\nname: h\nvars:\n{names}include:\n{includes}checks:\n{CHECK}")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["validate", str(path)])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2
    assert result.output.count("error: ") == MAX_SHOWN_ERRORS
    assert f"... and {20_000 - MAX_SHOWN_ERRORS} more errors" in result.output
    assert len(result.output) < 10_000
    assert places(result.output)[:2] == ["jobcheck.yaml:4", "jobcheck.yaml:5"]
    assert elapsed < 20  # measured about 1.5 s; a hang guard, not a benchmark


# --- the collector -------------------------------------------------------------------------


def _error(path: str, line: int, problem: str = "p") -> ChecklistError:
    return ChecklistError(problem, Location(Path(path), line, 1))


def test_problems_come_out_in_reading_order_then_line_each_once() -> None:
    problems = Problems()
    problems.add(_error("/c/inc.yaml", 1))
    problems.add(ChecklistErrors([_error("/c/main.yaml", 9), _error("/c/main.yaml", 2)]))
    problems.add(_error("/c/main.yaml", 2))  # the same error twice: once
    problems.add(_error("/c/other.yaml", 5))  # never read: after the files read
    problems.add(ChecklistError("no place"))
    together = problems.together([Path("/c/main.yaml"), Path("/c/inc.yaml")])
    shown = [
        (e.location.path.name if e.location else "-", e.location.line if e.location else 0)
        for e in together.errors
    ]
    assert shown == [
        ("main.yaml", 2),
        ("main.yaml", 9),
        ("inc.yaml", 1),
        ("-", 0),
        ("other.yaml", 5),
    ]


def test_problems_past_the_cap_are_counted_not_kept() -> None:
    problems = Problems()
    for i in range(MAX_KEPT_ERRORS + 5):
        problems.add(_error("/c/main.yaml", i + 1))
    together = problems.together([Path("/c/main.yaml")])
    assert len(together.errors) == MAX_KEPT_ERRORS
    assert together.render().endswith(
        f"... and {MAX_KEPT_ERRORS + 5 - MAX_SHOWN_ERRORS} more errors"
    )


def test_one_problem_renders_as_the_error_itself() -> None:
    problems = Problems()
    error = _error("/c/main.yaml", 3, "something")
    problems.add(error)
    assert problems.together([]).render() == error.render()
