"""Baselines from the run history: the last passing release gate, or the last passing run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jobcheck.results import CheckResult, RunResult, Status
from jobcheck.run_history import HistoryBaselines, save_run


def saved(root: Path, minute: int, status: Status, p95: float, *, release: str = "") -> None:
    check = CheckResult(
        id="queue-load", title="q", kind="load", status=status, message="m",
        metrics={"p95_wait_s": p95},
    )  # fmt: skip
    run = RunResult(
        checklist="c",
        started_at=dt.datetime(2026, 12, 7, 4, minute, tzinfo=dt.UTC),
        duration_s=1.0,
        checks=[check],
        path="jobcheck.yaml",
        commit="a" * 40,
        release=release,
    )
    save_run(run, root)


def test_release_takes_the_last_passing_release_and_last_the_last_passing_run(
    tmp_path: Path,
) -> None:
    saved(tmp_path, 1, Status.PASS, 0.40, release="v1.2.0")
    saved(tmp_path, 2, Status.PASS, 0.42, release="v1.3.0")
    saved(tmp_path, 3, Status.FAIL, 9.00, release="v1.4.0")  # a failed gate is no baseline
    saved(tmp_path, 4, Status.PASS, 0.50)
    saved(tmp_path, 5, Status.FAIL, 7.00)
    source = HistoryBaselines(tmp_path, tmp_path / "jobcheck.yaml")
    release = source.lookup("queue-load", "release")
    assert release is not None and release.figures == {"p95_wait_s": 0.42}
    assert release.label == "v1.3.0"
    assert release.origin == "v1.3.0, run 2026-12-07T04:02:00Z, commit aaaaaaaaaaaa"
    last = source.lookup("queue-load", "last")
    assert last is not None and last.figures == {"p95_wait_s": 0.50}
    assert last.label == "the run of 2026-12-07T04:04:00Z"
    assert source.lookup("queue-load", "none") is None
    assert source.lookup("other-check", "release") is None


def test_another_checklists_runs_are_no_baseline(tmp_path: Path) -> None:
    saved(tmp_path, 1, Status.PASS, 0.40, release="v1.2.0")
    assert (
        HistoryBaselines(tmp_path, tmp_path / "other.yaml").lookup("queue-load", "release") is None
    )


def test_metrics_and_the_release_round_trip_through_the_report(tmp_path: Path) -> None:
    saved(tmp_path, 1, Status.PASS, 0.40, release="v1.2.0")
    (run,) = HistoryBaselines(tmp_path, tmp_path / "jobcheck.yaml").runs()
    assert run.release == "v1.2.0" and run.checks[0].metrics == {"p95_wait_s": 0.40}
    data = run.to_dict()
    assert data["schema"] == 3 and data["release"] == "v1.2.0"
    assert data["checks"][0]["metrics"] == {"p95_wait_s": 0.40}
    assert "baseline" not in data["checks"][0]
