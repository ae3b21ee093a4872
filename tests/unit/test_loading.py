"""The checklist loader: every broken checklist is one clear error; good ones load fully."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobcheck.checklist import Checklist
from jobcheck.cli import app
from jobcheck.errors import ChecklistError
from jobcheck.kinds.command import argv_of
from jobcheck.loading import ChecklistErrors, find_checklist, load_checklist, search_folders

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BROKEN = FIXTURES / "broken"
GOOD = FIXTURES / "good"

# fixture -> (file named in the error, line, a phrase the message must hold)
EXPECTED: dict[str, tuple[str, int, str]] = {
    "alias_bomb.yaml": ("alias_bomb.yaml", 8, "this looks like an alias bomb"),
    "bad_duration.yaml": ("bad_duration.yaml", 8, "expected: a duration such as 250ms, 30s"),
    "bad_escape.yaml": ("bad_escape.yaml", 10, "unknown escape character '.'"),
    "bad_id.yaml": ("bad_id.yaml", 5, "hint: try `api-health`"),
    "bad_reference.yaml": ("bad_reference.yaml", 11, "malformed reference `${api/health`"),
    "bad_regex.yaml": ("bad_regex.yaml", 10, "not a valid regular expression"),
    "bad_severity.yaml": ("bad_severity.yaml", 8, "should be one of 'blocker' or 'warning'"),
    "bad_var_name.yaml": ("bad_var_name.yaml", 5, "`api-url` cannot be used as ${api-url}"),
    "bad_waiver_date.yaml": ("bad_waiver_date.yaml", 11, "day is out of range for month"),
    "bad_with_type.yaml": ("bad_with_type.yaml", 10, "`with.exit_code` should be a whole number"),
    "binary.yaml": ("binary.yaml", 1, "this is a binary file"),
    "check_not_mapping.yaml": ("check_not_mapping.yaml", 5, "check #1 is not a mapping"),
    "checks_mapping.yaml": ("checks_mapping.yaml", 5, "write the checks as a list"),
    "comments_only.yaml": ("comments_only.yaml", 1, "the file is empty"),
    "cycle.yaml": ("cycle.yaml", 8, "dependency cycle: build -> deploy -> test -> build"),
    "deep_nesting.yaml": ("deep_nesting.yaml", 4, "nested more than 64 levels deep"),
    "duplicate_id.yaml": ("duplicate_id.yaml", 10, "`unit-tests` (first at duplicate_id.yaml:7)"),
    "duplicate_id_include.yaml": ("duplicate_id_include.yaml", 6, "(first at common.yaml:3)"),
    "duplicate_key.yaml": ("duplicate_key.yaml", 9, "duplicate key `owner` (first on line 7)"),
    "empty.yaml": ("empty.yaml", 1, "the file is empty"),
    "env_value_bool.yaml": ("env_value_bool.yaml", 11, "put the value in quotes"),
    "include_cycle.yaml": (
        "back.yaml",
        2,
        "include cycle: include_cycle.yaml -> back.yaml -> include_cycle.yaml",
    ),
    "include_not_mapping.yaml": ("bare-list.yaml", 2, "an included file is a mapping"),
    "merge_not_mapping.yaml": ("merge_not_mapping.yaml", 9, "a merge key `<<:` takes a mapping"),
    "missing_include.yaml": ("missing_include.yaml", 6, "`no-such-file.yaml` not found"),
    "missing_kind.yaml": ("missing_kind.yaml", 9, "check `tests`: `kind` is required"),
    "missing_owner.yaml": ("missing_owner.yaml", 5, "check `lint` has no owner"),
    "needs_itself.yaml": ("needs_itself.yaml", 8, "check `migrate` needs itself"),
    "no_checks.yaml": ("no_checks.yaml", 4, "`checks` is empty"),
    "not_a_mapping.yaml": ("not_a_mapping.yaml", 2, "a checklist is a mapping"),
    "not_utf8.yaml": ("not_utf8.yaml", 3, "byte 0xe9"),
    "owner_unquoted.yaml": ("owner_unquoted.yaml", 7, 'quote the value, e.g. "@alice"'),
    "python_tag.yaml": ("python_tag.yaml", 9, "tag !!python/object/apply:os.system is not allowed"),
    "run_list_item.yaml": ("run_list_item.yaml", 12, 'quote it: "Accept: application/json"'),
    "run_wrong_type.yaml": ("run_wrong_type.yaml", 9, "`with.run` should be a string or a list"),
    "syntax_error.yaml": ("syntax_error.yaml", 7, "does not line up with the lines above it"),
    "tabs.yaml": ("tabs.yaml", 6, "a tab is used for indentation"),
    "timeout_zero.yaml": ("timeout_zero.yaml", 6, "a timeout must be more than 0 seconds"),
    "two_documents.yaml": ("two_documents.yaml", 6, "more than one document"),
    "unbalanced_quote.yaml": ("unbalanced_quote.yaml", 9, "no closing quotation"),
    "unknown_check_key.yaml": ("unknown_check_key.yaml", 10, "did you mean `rollback`?"),
    "unknown_defaults_key.yaml": ("unknown_defaults_key.yaml", 5, "did you mean `owner`?"),
    "unknown_kind.yaml": ("unknown_kind.yaml", 6, "did you mean `command`?"),
    "unknown_need.yaml": ("unknown_need.yaml", 11, "did you mean `migrate`?"),
    "unknown_top_key.yaml": ("unknown_top_key.yaml", 4, "did you mean `defaults`?"),
    "unknown_with_key.yaml": ("unknown_with_key.yaml", 10, "did you mean `exit_code`?"),
    "unset_in_name.yaml": ("unset_in_name.yaml", 3, "`${JOBCHECK_TEST_UNSET_VERSION}` in `name`"),
    "unset_variable.yaml": (
        "unset_variable.yaml",
        9,
        "check `api-health`: `${JOBCHECK_TEST_UNSET_API_URL}` in `with.run` is not set",
    ),
    "version_2.yaml": ("version_2.yaml", 2, "unsupported format version 2"),
    "version_string.yaml": ("version_string.yaml", 2, "write the number without quotes"),
    "waiver_no_reason.yaml": ("waiver_no_reason.yaml", 9, "`reason` is required in `waiver`"),
    "wrong_type_retries.yaml": ("wrong_type_retries.yaml", 9, "`retries` should be a whole number"),
    "wrong_type_tags.yaml": ("wrong_type_tags.yaml", 8, "`tags` should be a list"),
}
NAMES = sorted(EXPECTED)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("JOBCHECK_TEST_"):
            monkeypatch.delenv(name)
    return dict(os.environ)


def where(file: str, line: int) -> re.Pattern[str]:
    """``file:LINE:`` or ``file:LINE:COL:`` right after a path separator."""
    return re.compile(rf"(^|/){re.escape(file)}:{line}(:\d+)?: ")


def test_every_broken_fixture_is_listed() -> None:
    on_disk = {p.name for p in BROKEN.glob("*.yaml")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 24


@pytest.mark.parametrize("name", NAMES)
def test_broken_checklist_through_the_cli(name: str, env: dict[str, str]) -> None:
    file, line, phrase = EXPECTED[name]
    result = CliRunner().invoke(app, ["validate", str(BROKEN / name)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: "), result.output
    assert where(file, line).search(result.output), result.output
    assert phrase in result.output


@pytest.mark.parametrize("name", NAMES)
def test_broken_checklist_through_load_checklist(name: str, env: dict[str, str]) -> None:
    file, line, phrase = EXPECTED[name]
    with pytest.raises(ChecklistError) as caught:
        load_checklist(BROKEN / name, env)
    error = caught.value
    first = error.errors[0] if isinstance(error, ChecklistErrors) else error
    assert first.location is not None
    assert (first.location.path.name, first.location.line) == (file, line)
    assert error.exit_code == 2
    text = error.render()
    assert where(file, line).search(text), text
    assert phrase in text


@pytest.mark.parametrize(
    "name", ["syntax_error.yaml", "alias_bomb.yaml", "binary.yaml", "python_tag.yaml", "cycle.yaml"]
)
def test_broken_checklist_as_a_subprocess(name: str, env: dict[str, str]) -> None:
    file, line, phrase = EXPECTED[name]
    proc = subprocess.run(
        [sys.executable, "-m", "jobcheck", "validate", str(BROKEN / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert where(file, line).search(proc.stderr), proc.stderr
    assert phrase in proc.stderr


def test_alias_bomb_fails_fast(env: dict[str, str]) -> None:
    start = time.monotonic()
    with pytest.raises(ChecklistError, match="alias bomb"):
        load_checklist(BROKEN / "alias_bomb.yaml", env)
    assert time.monotonic() - start < 2.0


def test_python_tag_runs_nothing(write_checklist: Callable[..., Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_checklist(f"""
        version: 1
        name: x
        checks:
          - id: a
            kind: command
            owner: "@a"
            with: {{run: !!python/object/apply:os.system ["touch {marker}"]}}
    """)
    with pytest.raises(ChecklistError, match="is not allowed"):
        load_checklist(path, {})
    assert not marker.exists()


def test_binary_written_by_the_test(tmp_path: Path) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_bytes(b"version: 1\n\x00\x01\x02garbage")
    with pytest.raises(ChecklistError, match="binary file") as caught:
        load_checklist(path, {})
    assert "NUL byte at offset 11" in caught.value.render()


# --- rendered messages, exact text ---------------------------------------------------------


def render_relative(path: Path, env: dict[str, str]) -> str:
    """The rendered error with the fixture folder stripped (paths show relative to cwd)."""
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path, env)
    text = caught.value.render().replace(f"{path.parent}/", "")
    if path.parent.is_relative_to(Path.cwd()):
        text = text.replace(f"{path.parent.relative_to(Path.cwd())}/", "")
    return text


def test_unknown_key_renders_line_caret_and_hint(env: dict[str, str]) -> None:
    assert render_relative(BROKEN / "unknown_check_key.yaml", env) == (
        "error: unknown_check_key.yaml:10:5: check `migrate`: unknown key `rolback`\n"
        "  10 |     rolback: alembic downgrade -1\n"
        "           ^\n"
        "  hint: did you mean `rollback`?"
    )


def test_bad_duration_renders_expected_and_seen(env: dict[str, str]) -> None:
    assert render_relative(BROKEN / "bad_duration.yaml", env) == (
        "error: bad_duration.yaml:8:14: check `slow-tests`: invalid `timeout`\n"
        "  8 |     timeout: 5 minutes\n"
        "                   ^\n"
        "  expected: a duration such as 250ms, 30s, 5m, 1h or a number of seconds\n"
        "  seen: `5 minutes`"
    )


def test_unclosed_quote_points_at_where_it_opens(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: "release
        checks: []
    """)
    assert render_relative(path, {}) == (
        "error: jobcheck.yaml:2:7: invalid YAML: this quoted string is never closed\n"
        '  2 | name: "release\n'
        "            ^\n"
        "  seen: still open on line 4, where the file ends\n"
        "  hint: add the closing quote"
    )


def test_a_union_field_gives_one_error_not_one_per_branch(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["validate", str(BROKEN / "run_wrong_type.yaml")])
    assert result.output.count("error:") == 1
    result = CliRunner().invoke(app, ["validate", str(BROKEN / "run_list_item.yaml")])
    assert result.output.count("error:") == 1
    assert "`with.run[2]` should be a string" in result.output


def test_every_broken_check_is_reported_in_file_order(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        version: 1
        name: several
        checks:
          - id: one
            kind: command
            owner: "@a"
            retries: lots
            with: {run: "true", exitcode: 1}
          - id: two
            kind: command
            with: {run: "true"}
    """)
    text = render_relative(path, {})
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert [line.split(": ", 2)[1] for line in lines] == [
        "jobcheck.yaml:7:14",
        "jobcheck.yaml:8:25",
        "jobcheck.yaml:9:5",
    ]
    assert "check `two` has no owner" in lines[2]


def test_owner_and_options_are_both_reported(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: x
        checks:
          - {id: a, kind: command, with: {run: "true", exit_code: zero}}
    """)
    text = render_relative(path, {})
    assert "has no owner" in text
    assert "`with.exit_code` should be a whole number" in text


def test_unknown_kind_lists_the_kinds(env: dict[str, str]) -> None:
    text = render_relative(BROKEN / "unknown_kind.yaml", env)
    assert "expected: one of " in text
    assert "command" in text.split("expected: one of ")[1].splitlines()[0]


# --- a good checklist ---------------------------------------------------------------------


@pytest.fixture
def release(env: dict[str, str]) -> Checklist:
    return load_checklist(GOOD / "release.yaml", {**env, "JOBCHECK_TEST_TOKEN": "s3cret"})


def test_good_checklist_validates_through_the_cli(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["validate", str(GOOD / "release.yaml")])
    assert result.exit_code == 0, result.output
    assert "billing dev: 4 checks, valid" in result.output


def test_includes_are_relative_and_checks_keep_their_file_and_line(release: Checklist) -> None:
    where_ = {c.id: (Path(c.source).relative_to(GOOD).as_posix(), c.line) for c in release.checks}
    assert where_ == {
        "base-ok": ("shared/base.yaml", 3),
        "common-lint": ("parts/common.yaml", 6),
        "greet": ("release.yaml", 16),
        "greet-again": ("release.yaml", 24),
    }
    assert [c.id for c in release.checks] == ["base-ok", "common-lint", "greet", "greet-again"]
    assert [p.name for p in release.files] == ["release.yaml", "common.yaml", "base.yaml"]


def test_vars_env_and_defaults_are_applied(release: Checklist) -> None:
    greet = release.check("greet")
    assert greet is not None
    assert release.name == "billing dev"
    assert release.vars == {"who": "world", "greeting": "hello world", "port": "8000"}
    assert greet.options.run == ["echo", "hello world", "on", "port", "8000"]
    assert (greet.owner, greet.timeout_s, greet.tags, greet.severity) == (
        "@platform",
        30.0,
        ["release"],
        "blocker",
    )
    assert release.secrets.declared == ("s3cret",)


def test_included_files_inherit_and_override_defaults(release: Checklist) -> None:
    base, common = release.check("base-ok"), release.check("common-lint")
    assert base is not None and common is not None
    assert (common.owner, common.tags) == ("@platform", ["common"])
    assert (base.owner, base.tags) == ("@base", ["common"])


def test_merge_keys_and_check_fields(release: Checklist) -> None:
    again = release.check("greet-again")
    assert again is not None
    assert again.options.stdout_contains == "world"
    assert again.options.run == ["echo", "hello world", "on", "port", "8000"]
    assert (again.owner, again.severity, again.timeout_s) == ("@alice", "warning", 0.25)
    assert (again.retries, again.retry_safe, again.needs) == (2, True, ["greet", "common-lint"])
    assert again.waiver is not None
    assert (again.waiver.until, again.waiver.by) == (dt.date(2099, 12, 31), "@captain")
    assert again.runbook == "https://wiki.example/runbooks/greet"


def test_environment_overrides_defaults(env: dict[str, str]) -> None:
    more = {**env, "JOBCHECK_TEST_WHO": "team", "JOBCHECK_TEST_RELEASE": "v1.4.0"}
    checklist = load_checklist(GOOD / "release.yaml", more)
    assert checklist.name == "billing v1.4.0"
    assert checklist.vars["greeting"] == "hello team"


def test_vars_win_over_the_environment(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: ${NAME}
        vars: {NAME: from-vars}
        checks: [{id: a, kind: command, owner: "@a", with: {run: "echo ${HOME}"}}]
    """)
    checklist = load_checklist(path, {"NAME": "from-env", "HOME": "/home/x"})
    assert checklist.name == "from-vars"
    assert checklist.checks[0].options.run == ["echo", "/home/x"]


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("${X:-fallback}", {}, "fallback"),
        ("${X:-fallback}", {"X": ""}, "fallback"),
        ("${X:-fallback}", {"X": "set"}, "set"),
        ("${X:-}", {}, ""),
        ("$${X}", {"X": "set"}, "${X}"),
        ("price: $$5", {}, "price: $5"),
        ("$HOME stays", {"HOME": "/h"}, "$HOME stays"),
    ],
)
def test_interpolation_forms(
    write_checklist: Callable[..., Path], text: str, environ: dict[str, str], expected: str
) -> None:
    path = write_checklist(f"""
        version: 1
        name: 'n {text}'
        checks: [{{id: a, kind: command, owner: "@a", with: {{run: "true"}}}}]
    """)
    assert load_checklist(path, environ).name == f"n {expected}"


def test_env_values_stay_one_argument_and_never_reach_a_shell(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    payload = f"""a b; touch {marker} "quoted" 'single' $(id) `id` ${{X}} $$"""
    path = write_checklist("""
        version: 1
        name: argv
        checks:
          - id: echo-args
            kind: command
            owner: "@a"
            with:
              run: >-
                ${PY} -c "import json, sys; print(json.dumps(sys.argv[1:]))"
                ${PAYLOAD} --v=${PAYLOAD}
    """)
    checklist = load_checklist(path, {"PY": sys.executable, "PAYLOAD": payload})
    argv = argv_of(checklist.checks[0].options)
    assert argv[3:] == [payload, f"--v={payload}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(proc.stdout) == [payload, f"--v={payload}"]
    assert not marker.exists()


def test_check_line_is_the_line_of_its_dash(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: lines
        defaults: {owner: "@a"}
        checks:
          # a comment above the first check
          - id: first
            kind: command
            with: {run: "true"}

          - kind: command
            id: second
            with: {run: "true"}
          - {id: third, kind: command, with: {run: "true"}}
    """)
    assert [c.line for c in load_checklist(path, {}).checks] == [6, 10, 13]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("90", 90.0), ("1.5", 1.5)],
)
def test_durations(write_checklist: Callable[..., Path], value: str, seconds: float) -> None:
    path = write_checklist(f"""
        version: 1
        name: d
        checks: [{{id: a, kind: command, owner: "@a", timeout: {value}, with: {{run: "true"}}}}]
    """)
    assert load_checklist(path, {}).checks[0].timeout_s == seconds


def test_waiver_until_may_be_quoted(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: w
        checks:
          - id: a
            kind: command
            owner: "@a"
            with: {run: "true"}
            waiver: {reason: "JOB-1", until: "2026-12-31", by: "@captain"}
    """)
    waiver = load_checklist(path, {}).checks[0].waiver
    assert waiver is not None and waiver.until == dt.date(2026, 12, 31)


def test_defaults_and_stack_are_interpolated(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: s
        defaults: {owner: "${OWNER:-@platform}", timeout: "${TIMEOUT:-45s}"}
        stack:
          compose: docker/compose.yaml
          project: jc-${STAGE:-staging}
        checks: [{id: a, kind: command, with: {run: "true"}}]
    """)
    checklist = load_checklist(path, {"TIMEOUT": "2m"})
    assert (checklist.checks[0].owner, checklist.checks[0].timeout_s) == ("@platform", 120.0)
    assert checklist.stack is not None
    assert (checklist.stack.project, checklist.stack.compose) == (
        "jc-staging",
        ["docker/compose.yaml"],
    )


def test_secrets_listed_in_an_included_file_are_masked(
    write_checklist: Callable[..., Path],
) -> None:
    write_checklist(
        """
        secrets: [DEPLOY_KEY_X]
        checks: [{id: b, kind: command, owner: "@b", with: {run: "true"}}]
    """,
        "part.yaml",
    )
    path = write_checklist("""
        version: 1
        name: s
        include: [part.yaml]
        vars: {api_token: abc123}
        checks: [{id: a, kind: command, owner: "@a", with: {run: "true"}}]
    """)
    checklist = load_checklist(path, {"DEPLOY_KEY_X": "hunter2"})
    assert checklist.secrets.names == ("DEPLOY_KEY_X",)
    assert checklist.secrets.guessed == ("abc123",)
    assert checklist.secrets.declared == ("hunter2",)


def test_stack_in_an_included_file_is_an_error(write_checklist: Callable[..., Path]) -> None:
    write_checklist(
        """
        stack: {compose: [c.yaml], project: p}
        checks: [{id: b, kind: command, owner: "@b", with: {run: "true"}}]
    """,
        "part.yaml",
    )
    path = write_checklist("""
        version: 1
        name: s
        include: [part.yaml]
        checks: [{id: a, kind: command, owner: "@a", with: {run: "true"}}]
    """)
    with pytest.raises(ChecklistError, match="read only from the main checklist") as caught:
        load_checklist(path, {})
    assert caught.value.location is not None
    assert (caught.value.location.path.name, caught.value.location.line) == ("part.yaml", 1)


def test_merged_key_error_points_at_the_overriding_line(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        version: 1
        name: m
        checks:
          - id: a
            kind: command
            owner: "@a"
            with: &base {run: "true", exit_code: 0}
          - id: b
            kind: command
            owner: "@a"
            with:
              <<: *base
              exit_code: nope
    """)
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path, {})
    assert caught.value.location is not None
    assert caught.value.location.line == 13


def test_numbers_under_vars_are_text(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: port ${port} ratio ${ratio}
        vars: {port: 8000, ratio: 0.5}
        checks: [{id: a, kind: command, owner: "@a", with: {run: "true"}}]
    """)
    assert load_checklist(path, {}).name == "port 8000 ratio 0.5"


def test_shell_true_keeps_the_command_a_string(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: sh
        checks:
          - {id: a, kind: command, owner: "@a", with: {run: "echo ${V} | wc -c", shell: "true"}}
    """)
    options = load_checklist(path, {"V": "x y"}).checks[0].options
    assert argv_of(options) == ["/bin/sh", "-c", "echo x y | wc -c"]


# --- finding the checklist, the schema ------------------------------------------------------


def test_find_checklist_order(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the search stops at the repository's root
    given = tmp_path / "other.yaml"
    assert find_checklist(given, tmp_path) == given
    with pytest.raises(ChecklistError, match="no checklist given and none found"):
        find_checklist(None, tmp_path)
    (tmp_path / "checklists").mkdir()
    (tmp_path / "checklists" / "release.yaml").write_text("x")
    assert find_checklist(None, tmp_path) == tmp_path / "checklists" / "release.yaml"
    (tmp_path / "jobcheck.yaml").write_text("x")
    assert find_checklist(None, tmp_path) == tmp_path / "jobcheck.yaml"


def test_find_checklist_walks_up_to_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    deep = repo / "src" / "app" / "jobs"
    deep.mkdir(parents=True)
    (tmp_path / "jobcheck.yaml").write_text("x")  # outside the repository: never found
    (repo / ".git").mkdir()
    with pytest.raises(ChecklistError) as caught:
        find_checklist(None, deep)
    assert f"neither file exists here or in a parent up to {repo}" in caught.value.render()
    (repo / "checklists").mkdir()
    (repo / "checklists" / "release.yaml").write_text("x")
    assert find_checklist(None, deep) == repo / "checklists" / "release.yaml"
    (repo / "src" / "jobcheck.yaml").write_text("x")  # the nearest folder wins
    assert find_checklist(None, deep) == repo / "src" / "jobcheck.yaml"
    assert search_folders(deep) == [deep, repo / "src" / "app", repo / "src", repo]


def test_validate_without_argument_uses_jobcheck_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jobcheck.yaml").write_text(
        'version: 1\nname: here\nchecks: [{id: a, kind: command, owner: "@a", '
        'expect: ok, rollback: none, with: {run: "true"}}]\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert "here: 1 checks, valid" in result.output


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml: checklist file not found" in result.output
    assert "Traceback" not in result.output


def test_schema_is_json_and_lists_the_kinds() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    kinds = schema["$defs"]["CheckSpec"]["properties"]["kind"]["enum"]
    assert "command" in kinds
    assert {
        rule["if"]["properties"]["kind"]["const"] for rule in schema["$defs"]["CheckSpec"]["allOf"]
    } == set(kinds)
    assert schema["properties"]["checks"]["minItems"] == 1
    assert set(schema["required"]) == {"version", "name", "checks"}


def test_a_file_included_twice_is_read_once(write_checklist: Callable[..., Path]) -> None:
    write_checklist(
        'checks: [{id: shared, kind: command, owner: "@s", with: {run: "true"}}]', "shared.yaml"
    )
    write_checklist("include: [shared.yaml]\nchecks: []", "a.yaml")
    write_checklist("include: [shared.yaml]", "b.yaml")
    path = write_checklist("""
        version: 1
        name: diamond
        include: [a.yaml, b.yaml]
        checks: [{id: main, kind: command, owner: "@m", with: {run: "true"}}]
    """)
    checklist = load_checklist(path, {})
    assert [c.id for c in checklist.checks] == ["shared", "main"]


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("true", "unsupported format version True"),
        ("1.0", "unsupported format version 1.0"),
        ("", "`version` has no value"),
    ],
)
def test_version_must_be_the_integer_one(
    write_checklist: Callable[..., Path], value: str, phrase: str
) -> None:
    path = write_checklist(f"""
        version: {value}
        name: v
        checks: [{{id: a, kind: command, owner: "@a", with: {{run: "true"}}}}]
    """)
    with pytest.raises(ChecklistError, match=re.escape(phrase)):
        load_checklist(path, {})


def test_run_with_a_broken_checklist_exits_2_and_runs_nothing(tmp_path: Path) -> None:
    report = tmp_path / "out.json"
    result = CliRunner().invoke(
        app, ["run", str(BROKEN / "unknown_check_key.yaml"), "--json", str(report)]
    )
    assert result.exit_code == 2
    assert "did you mean `rollback`?" in result.output
    assert "Traceback" not in result.output
    assert not report.exists()


def test_a_load_error_never_shows_a_secret(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
        version: 1
        name: masked
        checks:
          - id: queue
            kind: command
            owner: "@x"
            with: {run: "true", exit_code: "${DB_PASSWORD}"}
    """)
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path, {"DB_PASSWORD": "hunter2hunter2"})
    text = caught.value.render()
    assert "exit_code" in text
    assert "hunter2hunter2" not in text and "***" in text


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_env_files_must_be_regular_files(tmp_path: Path, special: str) -> None:
    """/dev/zero once ran out of memory after 20 s, and a FIFO blocked forever."""
    import os
    import time

    target = special
    if special == "fifo":
        os.mkfifo(tmp_path / "pipe.env")
        target = "pipe.env"
    path = tmp_path / "jobcheck.yaml"
    path.write_text(
        f"version: 1\nname: x\nenv_files: [{target}]\n"
        "checks:\n  - {id: a, kind: command, owner: '@o', with: {run: 'true'}}\n"
    )
    started = time.monotonic()
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path, {})
    assert time.monotonic() - started < 2
    assert "is not a regular file" in caught.value.render()
    assert "jobcheck.yaml:3" in caught.value.render()


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("Sup3r$1Secret", "invalid interpolation format at character 6"),
        ("Sup3r${Secret", "unclosed '${' at character 6"),
    ],
)
def test_a_dollar_in_an_env_file_value_is_a_load_error_that_hides_the_value(
    tmp_path: Path, value: str, where: str
) -> None:
    (tmp_path / "staging.env").write_text(f"HOST=db\nDB_PASSWORD={value}\n")
    path = tmp_path / "jobcheck.yaml"
    path.write_text(
        "version: 1\nname: x\nenv_files: [staging.env]\n"
        "checks:\n  - {id: a, kind: command, owner: '@o', with: {run: 'true'}}\n"
    )
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path, {})
    text = caught.value.render()
    assert caught.value.exit_code == 2
    assert f"env file `staging.env` line 2: DB_PASSWORD: {where}" in text
    assert "jobcheck.yaml:3" in text and "write $$ for a literal $" in text
    assert "Sup3r" not in text and "Secret" not in text
    (tmp_path / "staging.env").write_text(f"HOST=db\nDB_PASSWORD='{value}'\n")
    assert load_checklist(path, {}).file_env["DB_PASSWORD"] == value  # single quotes: literal


def test_symlink_loops_are_load_errors_not_crashes(tmp_path: Path) -> None:
    """`include` of a symlink loop was `internal error: RuntimeError`; a checklist that is one
    printed a raw traceback."""
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    (tmp_path / "inc.yaml").symlink_to("inc.yaml")
    main = tmp_path / "main.yaml"
    main.write_text(
        "version: 1\nname: x\ninclude: [inc.yaml]\n"
        "checks:\n  - {id: a, kind: command, owner: '@o', with: {run: 'true'}}\n"
    )
    with pytest.raises(ChecklistError) as caught:
        load_checklist(main, {})
    assert "main.yaml:3:11: included file `inc.yaml` is a symlink loop" in caught.value.render()
    with pytest.raises(ChecklistError) as caught:
        load_checklist(tmp_path / "loop.yaml", {})
    assert "Too many levels of symbolic links" in caught.value.render()


@pytest.mark.parametrize("hostile", ["fifo", "dev-zero", "deep"])
def test_hostile_stack_compose_files_do_not_hang_or_crash_loading(
    tmp_path: Path, hostile: str
) -> None:
    """`stack.compose` is read at load time (for `${stack.SERVICE.PORT}`): a FIFO hung
    `validate`, /dev/zero grew without bound, `[` x 5000 was exit 3."""
    import os
    import time

    compose = tmp_path / "compose.yaml"
    if hostile == "fifo":
        os.mkfifo(compose)
    elif hostile == "dev-zero":
        compose.symlink_to("/dev/zero")
    else:
        compose.write_text("[" * 5000 + "]" * 5000)
    path = tmp_path / "jobcheck.yaml"
    path.write_text(
        "version: 1\nname: x\nstack: {compose: [compose.yaml], project: p}\n"
        "checks:\n  - {id: a, kind: command, owner: '@o', with: {run: 'true'}}\n"
    )
    started = time.monotonic()
    assert [c.id for c in load_checklist(path, {}).checks] == ["a"]
    assert time.monotonic() - started < 3
