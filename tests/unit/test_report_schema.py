"""Reports read back are checked against the report contract before anything believes them:
forged shards (a failed blocker called `Blocker` or `""`, a skip or waiver without its reason,
a deleted check) are refused by `report merge` and `release --from-reports` (exit 2)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jobcheck.cli import app
from jobcheck.errors import UsageError
from jobcheck.report_schema import report_problems
from jobcheck.run_history import read_run

DIGEST = "ab" * 32
COMMIT = "cd" * 20


def check(check_id: str, status: str = "pass", **extra: Any) -> dict[str, Any]:
    return {
        "id": check_id, "title": check_id, "kind": "command", "status": status,
        "severity": "blocker", "owner": "@o", "expect": "", "rollback": "", "message": status,
        "attempts": 1, "duration_s": 0.5, "retry_safe": False, "tags": [], "runbook": "",
        "output": "", "source": "jobcheck.yaml", "line": 3, "needs": [], "started_s": 0.0,
        "attempts_detail": [{"start_s": 0.0, "duration_s": 0.5, "status": status}],
        "cached": False, "cached_from": "", **extra,
    }  # fmt: skip


def shard(index: int, checks: list[dict[str, Any]], count: int = 2) -> dict[str, Any]:
    summary = {s: sum(c["status"] == s for c in checks) for s in ("pass", "fail", "error")}
    summary |= {s: sum(c["status"] == s for c in checks) for s in ("skip", "waived")}
    failed = any(c["status"] in ("fail", "error") and c["severity"] == "blocker" for c in checks)
    return {
        "schema": 2, "checklist": "gate", "status": "fail" if failed else "pass",
        "interrupted": False, "started_at": "2026-11-27T10:00:00Z", "duration_s": 1.0,
        "summary": summary, "path": "jobcheck.yaml", "argv": ["jobcheck", "run"],
        "commit": COMMIT, "digest": DIGEST, "checks": checks, "deselected": {},
        "shard": {"index": index, "count": count, "digest": DIGEST},
        "checklist_ids": ["a", "b", "c"],
    }  # fmt: skip


def good() -> tuple[dict[str, Any], dict[str, Any]]:
    return shard(1, [check("a"), check("b", "fail")]), shard(2, [check("c")])


def test_real_shapes_are_believed() -> None:
    one, two = good()
    assert report_problems(one, strict=True) == report_problems(two, strict=True) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(report: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = report
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


FORGERIES: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "severity Blocker": (
        _set("checks.1.severity", "Blocker"),
        "checks[1].severity: expected blocker or warning, seen 'Blocker'",
    ),
    "severity empty": (_set("checks.1.severity", ""), "checks[1].severity: expected blocker"),
    "status upper case": (_set("checks.1.status", "PASS"), "checks[1].status: expected pass or"),
    "skip without a reason": (
        lambda r: (_set("checks.1.status", "skip")(r), _set("checks.1.message", "")(r)),
        "checks[1].message: a skipped check says why",
    ),
    "waived without a waiver": (
        _set("checks.1.status", "waived"),
        "checks[1].waiver: a waived check carries its waiver",
    ),
    "waiver without a reason": (
        _set("checks.1.waiver", {"reason": "", "until": "2999-01-01", "by": "@x"}),
        "checks[1].waiver.reason: expected text",
    ),
    "expired waiver": (
        _set("checks.1.waiver", {"reason": "r", "until": "2001-01-01", "by": "@x"}),
        "the waiver had expired (2001-01-01) when the run started",
    ),
    "null id": (_set("checks.0.id", None), "checks[0].id: expected text, seen None"),
    "bad id": (_set("checks.0.id", "A B"), "checks[0].id: expected an id such as api-health"),
    "infinite duration": (_set("checks.0.duration_s", 1e308), "checks[0].duration_s: expected"),
    "negative attempts": (_set("checks.0.attempts", -1), "checks[0].attempts: expected a whole"),
    "bad digest": (_set("digest", "x"), "digest: expected a sha256 digest"),
    "shard digest differs": (_set("shard.digest", "ef" * 32), "shard.digest: differs"),
    "shard index past count": (_set("shard.index", 3), "shard: expected 1 <= index <= count"),
    "summary edited": (_set("summary.fail", 0), "summary: expected"),
    "verdict edited": (_set("status", "pass"), "status: expected fail (what the checks say)"),
    "a check outside checklist_ids": (_set("checklist_ids", ["a", "c"]), "b is not in checkl"),
    "boolean schema": (_set("schema", True), "schema: expected 2"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_each_forgery_is_named(name: str) -> None:
    edit, said = FORGERIES[name]
    one, _ = good()
    edit(one)
    problems = report_problems(one, strict=True)
    assert any(said in p for p in problems), problems


def test_a_deleted_failed_check_is_caught_by_the_other_shard_or_the_checklist(
    tmp_path: Path,
) -> None:
    one, two = good()
    forged = copy.deepcopy(one)
    forged["checks"] = [check("a")]
    forged["checklist_ids"] = ["a", "c"]
    forged["summary"] = {"pass": 1, "fail": 0, "error": 0, "skip": 0, "waived": 0}
    forged["status"] = "pass"
    assert report_problems(forged, strict=True) == []  # consistent in itself...
    (tmp_path / "1.json").write_text(json.dumps(forged))
    (tmp_path / "2.json").write_text(json.dumps(two))
    merged = CliRunner().invoke(
        app, ["report", "merge", *(str(tmp_path / f"{k}.json") for k in (1, 2))]
    )
    assert merged.exit_code == 2  # ...but the other shard lists b
    assert "list of check ids" in merged.output


@pytest.mark.parametrize("name", ["severity Blocker", "skip without a reason", "null id"])
def test_merge_refuses_a_forged_shard_with_exit_2(tmp_path: Path, name: str) -> None:
    one, two = good()
    FORGERIES[name][0](one)
    (tmp_path / "1.json").write_text(json.dumps(one))
    (tmp_path / "2.json").write_text(json.dumps(two))
    merged = CliRunner().invoke(
        app, ["report", "merge", str(tmp_path / "1.json"), str(tmp_path / "2.json")]
    )
    assert merged.exit_code == 2, merged.output
    assert "is not a jobcheck run report that can be trusted" in merged.output
    assert FORGERIES[name][1][:20] in merged.output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        ('{"schema": NaN}', "NaN is not a number JSON allows"),
        ('{"checklist": "\\ud800"}', "surrogate"),
        ("\xff", "is not a JSON report"),
    ],
)
def test_hostile_json_is_a_usage_error(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if text != "\xff" else b"\xff")
    with pytest.raises(UsageError, match=said):
        read_run(path)


def test_a_report_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(UsageError, match="is a FIFO"):
        read_run(tmp_path / "pipe.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(UsageError, match="is a character device"):
        read_run(tmp_path / "zero.json")
