"""Sharded gates with real processes: N shards of one checklist run in parallel, each on its
own copy of the checkout (as CI machines would, with the same committed durations file), or
one after another in one workspace, and `report merge` makes one report and one exit code
equal to an unsharded run's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

CHECKLIST = """
version: 1
name: sharded gate
defaults: {owner: "@team", expect: works, rollback: "revert"}
checks:
  - {id: build, kind: command, with: {run: "sleep 0.8"}}
  - {id: unit, kind: command, needs: [build], with: {run: "sleep 0.4"}}
  - {id: lint, kind: command, tags: [fast], with: {run: "sleep 0.3"}}
  - {id: docs, kind: command, tags: [fast], with: {run: "sleep 0.2"}}
  - {id: broken, kind: command, with: {run: "sh -c 'echo nope >&2; exit 3'"}}
  - {id: after-broken, kind: command, needs: [broken], with: {run: "true"}}
  - {id: slow, kind: command, with: {run: "sleep 1.0"}}
  - {id: config, kind: command, with: {run: "true"}}
"""
TIMEOUT_S = 120


def jobcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def checkout(root: Path, name: str, history: Path | None = None) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "jobcheck.yaml").write_text(CHECKLIST.lstrip(), encoding="utf-8")
    if history is not None:
        shutil.copytree(history, folder / ".jobcheck")
    return folder


def statuses(report: Path) -> dict[str, str]:
    return {c["id"]: c["status"] for c in json.loads(report.read_text())["checks"]}


def run_shards(
    root: Path, count: int, history: Path | None, extra: Sequence[str] = ()
) -> list[Path]:
    """Start every shard at once, each in its own checkout; wait for all (with a deadline)."""
    procs = []
    for k in range(1, count + 1):
        folder = checkout(root, f"shard{k}", history)
        args = ["run", "--shard", f"{k}/{count}", "--json", f"../shard{k}.json", "--jobs", "2"]
        args += extra
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "jobcheck", *args],
                cwd=folder,
                env={**os.environ, "NO_COLOR": "1"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + TIMEOUT_S
    for proc in procs:
        _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert proc.returncode in (0, 1), err
    return [root / f"shard{k}.json" for k in range(1, count + 1)]


def test_merged_shards_equal_an_unsharded_run(tmp_path: Path) -> None:
    whole = checkout(tmp_path, "whole")
    unsharded = jobcheck("run", "--json", "../whole.json", "--jobs", "2", cwd=whole)
    assert unsharded.returncode == 1, unsharded.stderr
    expected = statuses(tmp_path / "whole.json")
    assert expected["broken"] == "fail" and expected["after-broken"] == "skip"

    # the durations of the unsharded run, committed: every shard machine splits by them (LPT)
    wrote = jobcheck("durations", "--write", "../durations.json", cwd=whole)
    assert wrote.returncode == 0, wrote.stderr
    weights = json.loads((tmp_path / "durations.json").read_text())
    assert set(weights) == set(expected) - {"after-broken"}  # skipped: it never ran
    assert weights["slow"] >= 0.9
    reports = run_shards(tmp_path, 3, None, ["--durations", "../durations.json"])
    seen: dict[str, int] = {}
    digests = set()
    for k, report in enumerate(reports, 1):
        data = json.loads(report.read_text())
        assert data["shard"]["index"] == k and data["shard"]["count"] == 3
        digests.add(data["shard"]["digest"])
        for check in data["checks"]:
            assert check["id"] not in seen, f"{check['id']} ran in two shards"
            seen[check["id"]] = k
    assert len(digests) == 1 and len(next(iter(digests))) == 64
    assert set(seen) == set(expected)
    assert seen["build"] == seen["unit"] and seen["broken"] == seen["after-broken"]
    # the longest groups went to different shards
    assert len({seen["build"], seen["slow"], seen["lint"]}) == 3

    merged = jobcheck(
        "report", "merge", *map(str, reports), "--json", "merged.json", "--html", "merged.html",
        cwd=tmp_path,
    )  # fmt: skip
    assert merged.returncode == 1, merged.stderr
    assert statuses(tmp_path / "merged.json") == expected
    assert list(statuses(tmp_path / "merged.json")) == list(expected)  # checklist order
    assert "FAILED: sharded gate: 6 pass, 1 fail, 1 skip, 1 blocking in" in merged.stdout
    page = (tmp_path / "merged.html").read_text(encoding="utf-8")
    assert page.count('class="tl-check') == 7  # every check that ran, on one timeline


def test_without_history_shards_split_by_count_and_a_missing_one_fails(tmp_path: Path) -> None:
    reports = run_shards(tmp_path, 2, None)
    sizes = [len(json.loads(r.read_text())["checks"]) for r in reports]
    assert sorted(sizes) == [4, 4]  # groups of 2, 1, 1, 2, 1, 1 split evenly by count
    alone = jobcheck("report", "merge", str(reports[0]), "--json", "m.json", cwd=tmp_path)
    assert alone.returncode == 1
    assert "error: shard report missing: 2/2 (given: 1 of 2)" in alone.stderr
    errors = [c for c in json.loads((tmp_path / "m.json").read_text())["checks"]]
    assert {c["status"] for c in errors if c["id"] not in statuses(reports[0])} == {"error"}


def test_merge_refuses_shards_of_different_checklists(tmp_path: Path) -> None:
    reports = run_shards(tmp_path, 2, None)
    other = checkout(tmp_path, "other")
    path = other / "jobcheck.yaml"
    path.write_text(path.read_text().replace("sleep 0.2", "sleep 0.1"), encoding="utf-8")
    ran = jobcheck("run", "--shard", "2/2", "--json", "../other.json", cwd=other)
    assert ran.returncode in (0, 1), ran.stderr
    refused = jobcheck("report", "merge", str(reports[0]), "other.json", cwd=tmp_path)
    assert refused.returncode == 2
    assert "refusing to merge shards of different runs" in refused.stderr
    assert "checklist digest" in refused.stderr
    assert "Traceback" not in refused.stderr


def members(reports: Sequence[Path]) -> list[set[str]]:
    return [set(statuses(r)) for r in reports]


def test_shards_in_sequence_in_one_workspace_cover_every_check_once(tmp_path: Path) -> None:
    """Shard 1 saves its run in the history; shards 2 and 3 must not plan from it."""
    parallel = members(run_shards(tmp_path, 3, None))
    workspace = checkout(tmp_path, "workspace")
    reports = []
    for k in (1, 2, 3):
        ran = jobcheck("run", "--shard", f"{k}/3", "--json", f"../seq{k}.json", cwd=workspace)
        assert ran.returncode in (0, 1), ran.stderr
        reports.append(tmp_path / f"seq{k}.json")
    assert (workspace / ".jobcheck" / "runs").is_dir()  # the history that used to skew them
    assert members(reports) == parallel
    seen = [i for shard in members(reports) for i in shard]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 8
    merged = jobcheck("report", "merge", *map(str, reports), "--json", "m.json", cwd=tmp_path)
    assert merged.returncode == 1, merged.stderr  # `broken` fails; nothing missing or doubled
    assert "missing" not in merged.stderr and "two shards" not in merged.stderr
    assert len(statuses(tmp_path / "m.json")) == 8


def test_history_only_when_asked_and_a_bad_durations_file_is_refused(tmp_path: Path) -> None:
    workspace = checkout(tmp_path, "workspace")
    assert jobcheck("run", cwd=workspace).returncode == 1
    asked = jobcheck("run", "--shard", "1/2", "--durations", "history", cwd=workspace)
    assert asked.returncode in (0, 1), asked.stderr
    (tmp_path / "bad.json").write_text('["lint"]', encoding="utf-8")
    bad = jobcheck("run", "--shard", "1/2", "--durations", "../bad.json", cwd=workspace)
    assert bad.returncode == 2
    assert "expected a JSON object of check id to seconds" in bad.stderr
    alone = jobcheck("run", "--durations", "../bad.json", cwd=workspace)
    assert alone.returncode == 2 and "without --shard" in alone.stderr
    assert "Traceback" not in bad.stderr + alone.stderr
