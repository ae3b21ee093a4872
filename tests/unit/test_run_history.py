from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from jobcheck import run_history as history
from jobcheck.commands.history import history_text
from jobcheck.commands.run import run as run_command
from jobcheck.errors import UsageError
from jobcheck.loading import load_checklist
from jobcheck.pipeline import GateRequest
from jobcheck.results import CheckResult, RunResult, Status

T0 = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def make_repo(path: Path) -> str:
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("demo\n", encoding="utf-8")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "first")
    return git(path, "rev-parse", "HEAD")


def result(check_id: str, status: Status, duration_s: float = 1.0) -> CheckResult:
    return CheckResult(
        id=check_id, title=check_id, kind="command", status=status, severity="blocker",
        owner="@o", expect="", rollback="", message=f"{check_id} {status}", duration_s=duration_s,
    )  # fmt: skip


def run_of(*checks: CheckResult, minutes: int = 0, commit: str = "c1", path: str = "") -> RunResult:
    started = T0 + dt.timedelta(minutes=minutes)
    return RunResult("demo", started, 2.0, list(checks), commit=commit, path=path)


def test_save_run_writes_json_with_the_commit_and_ignores_itself_in_git(tmp_path: Path) -> None:
    head = make_repo(tmp_path)
    saved = history.save_run(run_of(result("a", Status.PASS), commit=""), tmp_path)
    assert saved.parent == tmp_path / ".jobcheck" / "runs"
    assert saved.name == "20261127T100000.000000Z.json"
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["commit"] == head
    assert data["checks"][0]["id"] == "a"
    assert git(tmp_path, "status", "--porcelain") == ""  # history never dirties the tree
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temp file left


def test_commit_is_empty_outside_a_repository(tmp_path: Path) -> None:
    assert history.git_commit(tmp_path) == ""
    saved = history.save_run(run_of(result("a", Status.PASS), commit=""), tmp_path)
    assert json.loads(saved.read_text(encoding="utf-8"))["commit"] == ""


def test_runs_started_in_the_same_instant_get_distinct_files(tmp_path: Path) -> None:
    first = history.save_run(run_of(result("a", Status.PASS)), tmp_path)
    second = history.save_run(run_of(result("a", Status.FAIL)), tmp_path)
    assert first != second
    assert history.last_run(tmp_path).checks[0].status == Status.FAIL  # type: ignore[union-attr]


def test_only_the_newest_runs_are_kept(tmp_path: Path) -> None:
    for minute in range(7):
        history.save_run(run_of(result("a", Status.PASS), minutes=minute), tmp_path, keep=3)
    runs = history.load_runs(tmp_path)
    assert [r.started_at.minute for r in runs] == [4, 5, 6]


def test_a_corrupt_saved_run_is_ignored(tmp_path: Path) -> None:
    history.save_run(run_of(result("a", Status.FAIL)), tmp_path)
    (tmp_path / ".jobcheck" / "runs" / "29990101T000000.000000Z.json").write_text("{", "utf-8")
    assert history.failed_ids(tmp_path) == ["a"]


def test_read_run_errors_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such report"):
        history.read_run(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("not json", encoding="utf-8")
    with pytest.raises(UsageError, match="is not a JSON report"):
        history.read_run(bad)
    bad.write_text('{"schema": 1}', encoding="utf-8")
    with pytest.raises(UsageError, match="is not a jobcheck run report"):
        history.read_run(bad)


def test_failed_ids_remember_what_a_partial_run_left_out(tmp_path: Path) -> None:
    history.save_run(
        run_of(result("a", Status.PASS), result("b", Status.FAIL), result("c", Status.ERROR)),
        tmp_path,
    )
    assert history.failed_ids(tmp_path) == ["b", "c"]
    # `run --failed` fixed b; c was not selected this time (skip): it is still to re-run
    history.save_run(
        run_of(result("a", Status.SKIP), result("b", Status.PASS), result("c", Status.SKIP),
               minutes=1),
        tmp_path,
    )  # fmt: skip
    assert history.failed_ids(tmp_path) == ["c"]
    assert history.failed_ids(tmp_path / "elsewhere") == []


def test_failed_ids_of_one_checklist(tmp_path: Path) -> None:
    history.save_run(run_of(result("a", Status.FAIL), path=str(tmp_path / "one.yaml")), tmp_path)
    history.save_run(
        run_of(result("b", Status.FAIL), path=str(tmp_path / "two.yaml"), minutes=1), tmp_path
    )
    assert history.failed_ids(tmp_path, checklist=tmp_path / "one.yaml") == ["a"]
    assert history.failed_ids(tmp_path) == ["a", "b"]


def test_history_table_pass_rate_median_and_flaky() -> None:
    runs = [
        run_of(result("lint", Status.PASS, 1.0), result("canary", Status.PASS, 2.0), commit="c1"),
        run_of(result("lint", Status.PASS, 3.0), result("canary", Status.FAIL, 4.0), commit="c1"),
        run_of(result("lint", Status.FAIL, 2.0), result("canary", Status.SKIP), commit="c2"),
        run_of(result("lint", Status.PASS, 9.0), result("canary", Status.WAIVED, 6.0), commit=""),
    ]
    rows = {row.check_id: row for row in history.history_table(runs)}
    lint, canary = rows["lint"], rows["canary"]
    assert (lint.runs, lint.passed, lint.last_status, lint.median_duration_s) == (4, 3, "pass", 2.5)
    assert lint.pass_rate == 0.75
    assert not lint.flaky  # it failed on c2 only: a change, not a flake
    assert (canary.runs, canary.passed, canary.last_status) == (3, 1, "waived")
    assert canary.median_duration_s == 4.0
    assert canary.flaky  # passed and failed on c1


def test_render_history_exact_text() -> None:
    runs = [
        run_of(result("lint", Status.PASS, 1.0), result("canary", Status.PASS, 2.0)),
        run_of(result("lint", Status.PASS, 3.0), result("canary", Status.FAIL, 0.5), minutes=90),
        run_of(result("lint", Status.PASS, 2.0), result("canary", Status.SKIP), minutes=95),
    ]
    text = history.render_history(history.history_table(runs), runs)
    assert text == textwrap.dedent(
        """\
        3 runs from 2026-11-27 10:00 to 2026-11-27 11:35 UTC

        CHECK   RUNS  PASS RATE  LAST  MEDIAN  FLAKY
        lint    3     100%       pass  2s
        canary  2     50%        skip  1.2s    flaky

        1 flaky check (passed and failed on the same commit)
        """
    )
    assert history.render_history([], []).startswith("no saved runs yet in .jobcheck/runs/")


def test_with_dependants_adds_what_needs_a_failed_check(tmp_path: Path) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(CHECKLIST, encoding="utf-8")
    checks = load_checklist(path, {}).checks
    assert history.with_dependants(["toggles"], checks) == ["toggles", "after", "after-after"]
    assert history.with_dependants([], checks) == []


CHECKLIST = """\
version: 1
name: history demo
defaults: {owner: "@team", expect: "exits 0", rollback: "nothing to roll back"}
checks:
  - id: always
    kind: command
    with: {run: "true"}
  - id: toggles
    kind: command
    with: {run: "test -f ok.marker"}
  - id: after
    kind: command
    needs: [toggles]
    with: {run: "true"}
  - id: after-after
    kind: command
    needs: [after]
    with: {run: "true"}
"""


def _real_run(checklist: Path, *, failed: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    options = GateRequest(checklist=checklist, failed=failed, jobs=2, argv=["run"])
    return run_command(options, env, out), out.getvalue()


def test_history_and_failed_across_real_runs(tmp_path: Path) -> None:
    make_repo(tmp_path)
    checklist = tmp_path / "jobcheck.yaml"
    checklist.write_text(CHECKLIST, encoding="utf-8")
    git(tmp_path, "add", "jobcheck.yaml")
    git(tmp_path, "commit", "-q", "-m", "checklist")

    assert _real_run(checklist)[0] == 1  # toggles fails; after and after-after are skipped
    assert history.failed_ids(tmp_path) == ["toggles"]

    (tmp_path / "ok.marker").write_text("", encoding="utf-8")
    code, _ = _real_run(checklist, failed=True)
    assert code == 0
    last = history.last_run(tmp_path)
    assert last is not None
    ran = [c.id for c in last.checks if c.status != Status.SKIP]
    assert "toggles" in ran and "always" not in ran
    assert history.failed_ids(tmp_path) == []

    rows = {row.check_id: row for row in history.history_table(history.load_runs(tmp_path))}
    assert rows["toggles"].runs == 2 and rows["toggles"].passed == 1
    assert rows["toggles"].flaky  # failed then passed on the same commit (the marker is ignored)
    assert rows["always"].runs == 1 and rows["always"].last_status == "skip"


def test_history_command_for_the_checklist_found_like_run(tmp_path: Path) -> None:
    checklist = tmp_path / "jobcheck.yaml"
    checklist.write_text(CHECKLIST, encoding="utf-8")
    assert history_text(None, cwd=tmp_path).startswith("no saved runs yet")
    _real_run(checklist)
    _real_run(checklist)
    other = run_of(result("always", Status.FAIL), path=str(tmp_path / "other.yaml"), minutes=1)
    history.save_run(other, tmp_path)  # another checklist in the same folder: not counted
    text = history_text(None, cwd=tmp_path)
    lines = text.splitlines()
    assert lines[0].startswith("2 runs from ")
    assert lines[2].split() == ["CHECK", "RUNS", "PASS", "RATE", "LAST", "MEDIAN", "FLAKY"]
    assert lines[3].split()[:4] == ["always", "2", "100%", "pass"]
    assert lines[4].split()[:4] == ["toggles", "2", "0%", "fail"]
    assert lines[5].split()[:4] == ["after", "0", "-", "skip"]
    assert lines[-1] == "0 flaky checks (passed and failed on the same commit)"


def test_failed_and_history_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app

    make_repo(tmp_path)
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["run"]).exit_code == 1
    (tmp_path / "ok.marker").write_text("", encoding="utf-8")
    rerun = runner.invoke(app, ["run", "--failed"])
    assert rerun.exit_code == 0, rerun.output
    assert history.failed_ids(tmp_path) == []
    shown = runner.invoke(app, ["history"])
    assert shown.exit_code == 0
    assert shown.output.splitlines()[0].startswith("2 runs from ")
    rows = {line.split()[0]: line.split()[1:] for line in shown.output.splitlines()[3:7]}
    assert rows["toggles"][:3] == ["2", "50%", "pass"] and rows["toggles"][-1] == "flaky"
    assert rows["always"][:3] == ["1", "100%", "skip"]  # --failed left it out
    assert "1 flaky check (passed and failed on the same commit)" in shown.output


def test_history_is_compact_json_that_reads_back_the_same(tmp_path: Path) -> None:
    run = run_of(result("a", Status.PASS), result("b", Status.FAIL), commit="c1")
    saved = history.save_run(run, tmp_path)
    text = saved.read_text(encoding="utf-8")
    assert text.count("\n") == 1 and ": " not in text  # one line, no indentation
    assert RunResult.from_dict(json.loads(text)).to_dict() == run.to_dict()


def test_hostile_files_under_the_history_are_misses_never_a_hang_or_a_crash(
    tmp_path: Path,
) -> None:
    """A FIFO, a symlink to /dev/zero, deep JSON, a lone surrogate, null ids and infinite
    durations under .jobcheck/runs/ once hung or crashed `history`, `run --failed`, `--shard`."""
    import time

    saved = history.save_run(run_of(result("a", Status.FAIL)), tmp_path)
    folder = saved.parent
    os.mkfifo(folder / "20261127T100001.000000Z.json")
    (folder / "20261127T100002.000000Z.json").symlink_to("/dev/zero")
    (folder / "20261127T100003.000000Z.json").write_text("[" * 100_000 + "]" * 100_000)
    good = json.loads(saved.read_text())
    for n, edit in enumerate(
        [
            lambda d: d["checks"][0].update(id=None),
            lambda d: d["checks"][0].update(duration_s=1e308),
            lambda d: d.update(checklist="\ud800"),
        ],
        start=4,
    ):
        data = json.loads(json.dumps(good))
        edit(data)
        (folder / f"20261127T10000{n}.000000Z.json").write_text(json.dumps(data))
    started = time.monotonic()
    runs = history.load_runs(tmp_path)
    assert [r.checks[0].id for r in runs] == ["a"]
    assert history.failed_ids(tmp_path) == ["a"]
    assert time.monotonic() - started < 5
