"""Fuzz the files jobcheck reads besides the checklist: each case loads, or fails as a
JobcheckError (a clear message), fast, and never shows a secret it read.

Families: env files whose values hold ``$``, ``{`` and ``}`` in every arrangement; tampered
result-cache entries (a byte, a field, the MAC changed): never replayed, never a crash;
tampered shard reports: `report merge` believes them or refuses them (a UsageError), never
crashes, and never turns a failed blocker into a pass unless the forgery says so consistently.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from jobcheck import cache_signing, result_cache
from jobcheck.errors import JobcheckError, UsageError
from jobcheck.loading import load_checklist
from jobcheck.results import Status

CASES = max(1, int(os.environ.get("JOBCHECK_FUZZ_CASES", "300")) // 3)
CASE_LIMIT_S = 2.0
CHECKLIST = (
    "version: 1\nname: fuzz\nenv_files: [fuzz.env]\n"
    "checks:\n  - {id: a, kind: command, owner: '@o', with: {run: 'true'}}\n"
)
PIECES = ("$", "$$", "${", "}", "{", "${A}", "${A:-d}", "$A", "$1", "${1}", "${A:?}", "x", "'")


def _value(rng: random.Random) -> str:
    return "Zq" + "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8))) + "Wv"


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", range(CASES))
def test_env_file_values_with_dollars_load_or_fail_clearly(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    values = {f"DB_PASSWORD_{i}": _value(rng) for i in range(rng.randint(1, 4))}
    lines = ["A=plain"]
    for key, value in values.items():
        quote = rng.choice(("", '"', "'")) if "'" not in value else ""
        lines.append(f"{key}={quote}{value}{quote}")
    (tmp_path / "fuzz.env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
    started = time.monotonic()
    try:
        load_checklist(tmp_path / "jobcheck.yaml", {"HOME": "/nonexistent"})
    except JobcheckError as exc:
        text = exc.render() if hasattr(exc, "render") else str(exc)
        shown = [v for v in values.values() if v in text or v.strip("'\"") in text]
        assert not shown, f"seed {seed}: a value in {text!r}"
        assert "Zq" not in text, f"seed {seed}: part of a value in {text!r}"
    assert time.monotonic() - started < CASE_LIMIT_S


KEY = b"fuzz-key" * 4


def _tampered(rng: random.Random, doc: dict[str, Any]) -> str:
    data = dict(doc["data"])
    roll = rng.random()
    if roll < 0.3:  # one byte of the file
        text = json.dumps(doc)
        at = rng.randrange(len(text))
        return text[:at] + rng.choice('0a"{}[],:\\ \x00') + text[at + 1 :]
    if roll < 0.6:  # one field, to another value of any type
        field = rng.choice(sorted(data))
        data[field] = rng.choice([None, 0, -1, 1e308, "pass", "fail", [], {}, "x" * 9, True])
        return json.dumps({**doc, "data": data})
    if roll < 0.8:  # the MAC
        return json.dumps({**doc, "mac": rng.choice(["", "0" * 64, doc["mac"][::-1], None])})
    return json.dumps({**data, "format": rng.choice([1, 2])})  # unsigned, as written by hand


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", range(CASES))
def test_a_tampered_cache_entry_is_never_replayed(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    entry = {
        "key": "k" * 64, "check": "build", "status": "pass", "message": "ok", "output": "",
        "details": {"n": 1}, "attempts": 1, "duration_s": 0.5, "cached_from": "2026-01-01",
    }  # fmt: skip
    doc = cache_signing.signed(KEY, entry)
    path = tmp_path / "entry.json"
    path.write_text(json.dumps(doc))
    assert result_cache.read_entry(path, "k" * 64, KEY) is not None  # the untouched one
    text = _tampered(rng, doc)
    path.write_text(text)
    replay = result_cache.read_entry(path, "k" * 64, KEY)
    if replay is not None:  # only a change JSON itself ignores (whitespace) may still verify
        assert json.loads(text)["data"] == entry and json.loads(text)["mac"] == doc["mac"]


HOSTILE = [None, "", "Blocker", "PASS", "skip", "waived", -1, 1e308, True, [], {}, "a" * 300]


def _report_shard(index: int, ids: list[str], failing: str) -> dict[str, Any]:
    checks = []
    for check_id in ids:
        status = "fail" if check_id == failing else "pass"
        checks.append({
            "id": check_id, "title": check_id, "kind": "command", "status": status,
            "severity": "blocker", "message": status, "attempts": 1, "duration_s": 0.1,
            "attempts_detail": [], "started_s": 0.0, "tags": [], "needs": [],
        })  # fmt: skip
    summary = {s.value: sum(c["status"] == s for c in checks) for s in Status}
    return {
        "schema": 2, "checklist": "fuzz", "started_at": "2026-11-27T10:00:00Z",
        "status": "fail" if failing in ids else "pass", "duration_s": 1.0,
        "summary": summary, "checks": checks,
        "commit": "ab" * 20, "digest": "cd" * 32, "deselected": {},
        "shard": {"index": index, "count": 2, "digest": "cd" * 32},
        "checklist_ids": ["a", "b", "c", "d"],
    }  # fmt: skip


def _mutate(rng: random.Random, report: dict[str, Any]) -> None:
    node: Any = report
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = rng.choice(keys)
        child = node[key]
        if isinstance(child, dict | list) and child and rng.random() < 0.7:
            node = child
            continue
        node[key] = rng.choice(HOSTILE) if rng.random() < 0.9 else rng.choice(keys)
        return


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", range(CASES))
def test_a_tampered_shard_is_believed_or_refused_never_a_crash(tmp_path: Path, seed: int) -> None:
    from jobcheck.run_history import read_run
    from jobcheck.shards import merge_runs

    rng = random.Random(seed)
    reports = [_report_shard(1, ["a", "b"], "b"), _report_shard(2, ["c", "d"], "b")]
    for _ in range(rng.randint(1, 3)):
        _mutate(rng, rng.choice(reports))
    paths = []
    for k, report in enumerate(reports, 1):
        paths.append(tmp_path / f"{k}.json")
        paths[-1].write_text(json.dumps(report, default=str))
    try:
        merged, _ = merge_runs([(path, read_run(path, strict=True)) for path in paths])
    except UsageError:
        return
    b = next((c for c in merged.checks if c.id == "b"), None)
    forged = reports[0]["checks"][1] if len(reports[0]["checks"]) > 1 else {}
    if merged.exit_code == 0 and isinstance(forged, dict):
        assert (b is not None and forged.get("status") in ("pass", "waived", "skip")) or (
            forged.get("severity") == "warning"
        ), f"seed {seed}: a failed blocker merged as a pass: {forged}"
