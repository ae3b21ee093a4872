"""`jobcheck release TAG --from-reports DIR` with real processes and a real git repository: the
shards run as `run --shard K/N --json`, then the release tags from their merged reports — or
refuses, with no tag, when a shard is missing or failed, or ran another commit or checklist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKLIST = """\
version: 1
name: sharded release
defaults: {owner: "@team", expect: works, rollback: "revert"}
checks:
  - {id: build, kind: command, with: {run: "true"}}
  - {id: unit, kind: command, needs: [build], with: {run: "true"}}
  - {id: lint, kind: command, with: {run: "sh -c 'test -z \\"$FAIL_LINT\\"'"}}
  - id: leaky
    kind: command
    severity: warning
    with: {run: "sh -c 'exit 1' token ${API_TOKEN}"}
  - {id: docs, kind: command, with: {run: "true"}}
"""
OTHER = CHECKLIST.replace("name: sharded release", "name: other release")
SECRET = "tok-5e3b9a7c1d"
TIMEOUT_S = 120


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def jobcheck(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=repo,
        env={**os.environ, "NO_COLOR": "1", "API_TOKEN": SECRET, **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "service"
    repo.mkdir()
    (repo / "jobcheck.yaml").write_text(CHECKLIST)
    (repo / "other.yaml").write_text(OTHER)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "service")
    return repo


def shards(
    repo: Path,
    folder: Path,
    *which: int,
    checklist: str = "",
    run: tuple[str, ...] = (),
    **env: str,
) -> Path:
    """Each shard in its own clone of HEAD, as on its own CI machine (no shared history)."""
    folder.mkdir(exist_ok=True)
    for k in which or (1, 2):
        machine = folder.parent / f"machine-{folder.name}-{k}-{git(repo, 'rev-parse', 'HEAD')[:8]}"
        git(repo.parent, "clone", "-q", str(repo), str(machine))
        extra = [*(["-c", checklist] if checklist else []), *run]
        args = ["run", *extra, "--shard", f"{k}/2", "--json", str(folder / f"s{k}.json")]
        done = jobcheck(machine, *args, **env)
        assert done.returncode in (0, 1), done.stderr
    return folder


def release(repo: Path, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return jobcheck(repo, "release", "v1.0.0", "--yes", "--from-reports", str(folder), *extra)


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "-l").splitlines()


def test_passing_shards_of_head_are_tagged_with_the_masked_summary(
    repo: Path, tmp_path: Path
) -> None:
    reports = shards(repo, tmp_path / "reports")
    done = release(repo, reports, "--json", str(tmp_path / "merged.json"))
    head = git(repo, "rev-parse", "HEAD")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"release gate: 2 shard reports from {reports}, merged" in done.stdout
    assert f"created annotated tag v1.0.0 at {head[:12]}" in done.stdout
    assert tags(repo) == ["v1.0.0"]
    message = git(repo, "tag", "-l", "--format=%(contents)", "v1.0.0")
    assert message.startswith("Release v1.0.0\n\nRelease gate: sharded release (pass)\n")
    assert "Checks: 4/5 passed (4 passed, 1 failed)\n" in message
    assert f"Commit: {head}" in message
    assert "Warnings:\n- leaky (fail): `sh -c 'exit 1' token ***` exited 1" in message
    assert SECRET not in message + done.stdout + done.stderr
    assert (tmp_path / "merged.json").is_file()


def test_a_missing_shard_is_refused(repo: Path, tmp_path: Path) -> None:
    done = release(repo, shards(repo, tmp_path / "reports", 1))
    assert done.returncode == 1 and tags(repo) == []
    assert "refusing to tag v1.0.0:" in done.stdout
    assert "shard report missing: 2/2 (given: 1 of 2)" in done.stdout


def test_a_failed_shard_is_refused(repo: Path, tmp_path: Path) -> None:
    done = release(repo, shards(repo, tmp_path / "reports", FAIL_LINT="1"))
    assert done.returncode == 1 and tags(repo) == []
    assert "  - the release gate failed: 1 blocker did not pass (lint)" in done.stdout


def test_shards_of_an_older_commit_are_refused(repo: Path, tmp_path: Path) -> None:
    reports = shards(repo, tmp_path / "reports")
    checked = git(repo, "rev-parse", "HEAD")
    (repo / "README").write_text("changed after the gate\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "later")
    head = git(repo, "rev-parse", "HEAD")
    done = release(repo, reports)
    assert done.returncode == 1 and tags(repo) == []
    assert (
        f"  - the gate checked commit {checked[:12]}, but HEAD is {head[:12]}: check out "
        f"{checked[:12]} to tag what was checked, or run the gate on HEAD"
    ) in done.stdout


def test_shards_of_another_checklist_are_refused(repo: Path, tmp_path: Path) -> None:
    done = release(repo, shards(repo, tmp_path / "reports", checklist="other.yaml"))
    assert done.returncode == 1 and tags(repo) == []
    assert "  - the shards ran another checklist (digest " in done.stdout


def test_shards_of_two_commits_are_a_usage_error(repo: Path, tmp_path: Path) -> None:
    reports = shards(repo, tmp_path / "reports", 1)
    (repo / "README").write_text("second commit\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "second")
    shards(repo, reports, 2)
    done = release(repo, reports)
    assert done.returncode == 2 and tags(repo) == []
    assert "refusing to merge shards of different runs" in done.stderr


def test_run_options_and_an_empty_folder_are_usage_errors(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = release(repo, tmp_path / "empty")
    assert done.returncode == 2 and "no JSON report in this folder" in done.stderr
    reports = shards(repo, tmp_path / "reports")
    done = release(repo, reports, "--skip", "lint")
    assert done.returncode == 2 and tags(repo) == []
    assert "--skip choose what a gate runs; with --from-reports nothing runs" in done.stderr


def test_shards_that_skipped_a_failing_blocker_are_refused(repo: Path, tmp_path: Path) -> None:
    reports = shards(repo, tmp_path / "reports", run=("--skip", "lint"), FAIL_LINT="1")
    done = release(repo, reports)
    assert done.returncode == 1 and tags(repo) == []
    assert "  - blocker lint did not run (deselected with --skip)" in done.stdout
    assert 'waiver: {reason: "why, with a ticket", until: YYYY-MM-DD, by: "@who"}' in done.stdout


def test_release_with_a_failing_blocker_skipped_is_refused(repo: Path) -> None:
    done = jobcheck(repo, "release", "v1.0.0", "--skip", "lint", "--yes", FAIL_LINT="1")
    assert done.returncode == 1 and tags(repo) == []
    assert "refusing to tag v1.0.0:\n  - blocker lint did not run (deselected with --skip)" in (
        done.stdout
    )


def test_shards_forged_to_hide_a_failed_blocker_are_refused(repo: Path, tmp_path: Path) -> None:
    """Each report edited consistently (the check, its id, the summary, the verdict): the
    merge cannot tell, the checklist can."""
    import json

    reports = shards(repo, tmp_path / "reports", FAIL_LINT="1")
    for path in reports.glob("*.json"):
        data = json.loads(path.read_text())
        data["checks"] = [c for c in data["checks"] if c["id"] != "lint"]
        data["checklist_ids"].remove("lint")
        data["summary"]["fail"] = sum(c["status"] == "fail" for c in data["checks"])
        failed = any(c["status"] == "fail" and c["severity"] == "blocker" for c in data["checks"])
        data["status"] = "fail" if failed else "pass"
        path.write_text(json.dumps(data))
    done = release(repo, reports)
    assert done.returncode == 1 and tags(repo) == []
    assert "the shard reports do not hold the checks of this checklist; missing: lint" in (
        done.stdout
    )
    assert "blocker lint is not in the gate's run (it never ran)" in done.stdout


def test_a_shard_with_a_forged_severity_is_refused(repo: Path, tmp_path: Path) -> None:
    import json

    reports = shards(repo, tmp_path / "reports", FAIL_LINT="1")
    for path in reports.glob("*.json"):
        data = json.loads(path.read_text())
        for check in data["checks"]:
            if check["id"] == "lint":
                check["severity"] = "Blocker"
        path.write_text(json.dumps(data))
    done = release(repo, reports)
    assert done.returncode == 2 and tags(repo) == []
    assert "severity: expected blocker or warning, seen 'Blocker'" in done.stderr
