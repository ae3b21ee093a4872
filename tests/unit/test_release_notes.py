"""Release notes: the CHANGELOG section, files touched since the previous tag (a real git
repository), the command, the metrics against their baselines, masked."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from jobcheck.release_notes import changelog_section, notes
from jobcheck.results import CheckResult, RunResult, Status
from jobcheck.secrets import Masker

CHANGELOG = """\
# Changelog

## [Unreleased]
- not yet

## [1.4.0] - 2026-12-07
### Fixed
- the worker no longer forks per job (faster canaries)

## [1.3.0] - 2026-11-01
- older
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def test_the_changelog_section_of_the_version_is_the_reason() -> None:
    assert changelog_section(CHANGELOG, "v1.4.0") == (
        "### Fixed\n- the worker no longer forks per job (faster canaries)"
    )
    assert changelog_section(CHANGELOG, "1.3.0") == "- older"
    assert changelog_section(CHANGELOG, "v1.4") == ""  # 1.4 is not 1.4.0


def test_notes_carry_reason_files_command_and_metrics_masked(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "1.3.0")
    git(tmp_path, "tag", "v1.3.0")
    (tmp_path / "worker.py").write_text("print('faster')\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "faster")
    check = CheckResult(
        id="queue-load", title="q", kind="load", status=Status.PASS, message="ok",
        metrics={"p95_wait_s": 0.3, "throughput_per_s": 50.0},
        baseline={"p95_wait_s": 0.42, "baseline_from": "v1.3.0, run 2026-11-01T10:00:00Z"},
    )  # fmt: skip
    run = RunResult(
        checklist="release gate",
        started_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
        duration_s=3.0,
        checks=[check],
        argv=["jobcheck", "release", "v1.4.0", "--env", "TOKEN=s3cret-token", "--notes", "n.md"],
        commit="c" * 40,
    )
    text = notes(run, tag="v1.4.0", repo=tmp_path, mask=Masker(["s3cret-token"]))
    assert "## Why\n\n### Fixed\n- the worker no longer forks per job" in text
    assert "## Files touched since v1.3.0" in text and "worker.py | 1 +" in text
    assert "jobcheck release v1.4.0 --env TOKEN=*** --notes n.md" in text
    assert "| queue-load | p95 wait | 0.42s | 0.30s | -29 % |" in text
    assert "| queue-load | throughput | - | 50.0/s | - |" in text
    assert "Baselines: v1.3.0, run 2026-11-01T10:00:00Z." in text
    assert "s3cret-token" not in text


def test_a_first_release_says_so(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a").write_text("a")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "a")
    run = RunResult(checklist="c", started_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
                    duration_s=1.0, checks=[])  # fmt: skip
    text = notes(run, tag="v0.1.0", repo=tmp_path, mask=Masker([]))
    assert "No earlier tag: this is the first release." in text
    assert "No CHANGELOG.md in" in text
    assert "No check measured anything" in text


def test_release_notes_through_the_cli_file_and_tag_masked(tmp_path: Path) -> None:
    import os
    import sys

    (tmp_path / "jobcheck.yaml").write_text(
        "version: 1\nname: gate\ndefaults: {owner: '@t'}\nsecrets: [DEPLOY_TOKEN]\n"
        "checks:\n  - id: ok\n    kind: command\n    with: {run: 'true'}\n"
    )
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "gate")
    env = {**os.environ, "DEPLOY_TOKEN": "tok-very-secret-1234"}
    result = subprocess.run(
        [sys.executable, "-m", "jobcheck", "release", "v1.4.0", "--yes", "--no-color",
         "--env", "X=tok-very-secret-1234", "--notes", "notes.md"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "release notes: notes.md" in result.stdout
    text = (tmp_path / "notes.md").read_text()
    assert text.startswith("# Release v1.4.0\n")
    assert "- the worker no longer forks per job" in text
    assert "--env X=*** --notes notes.md" in text and "tok-very-secret" not in text
    tag = subprocess.run(
        ["git", "for-each-ref", "--format=%(contents)", "refs/tags/v1.4.0"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "## Why" in tag and "No check measured anything" in tag
    assert "tok-very-secret" not in tag
