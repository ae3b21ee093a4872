"""What a JSON report read back must be, before anything believes it.

A report read back is input from outside: a shard's report comes from another CI machine, a
saved run from ``.jobcheck/runs/``. ``report_problems`` checks one against the report contract
(DESIGN.md section 2): every field of the right type, numbers finite, statuses and severities
from their enums, a ``waived`` check with its waiver, a ``skip`` with its reason, the summary
and the verdict agreeing with the checks. With ``strict`` (shards merged for one verdict, or a
release from them) it also demands what a merge relies on: check ids of the checklist's form,
a sha256 digest, a commit id, the shard record, and ``checklist_ids`` holding every check.

Each problem is one line: where (``checks[3].severity``), what was expected, what was seen.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

STATUSES = ("pass", "fail", "error", "skip", "waived")
SEVERITIES = ("blocker", "warning")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})?$")  # '': not run in a git checkout
_STARTED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_SECONDS = 366 * 24 * 3600.0  # no check, attempt or run lasts longer than a year
MAX_SHOWN = 10  # problems listed; the rest are counted

Check = Callable[[Any], str]  # '' when the value is fine, else what was expected


def _text(value: Any) -> str:
    return "" if isinstance(value, str) else "text"


def _flag(value: Any) -> str:
    return "" if isinstance(value, bool) else "true or false"


def _count(value: Any) -> str:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9
    return "" if ok else "a whole number from 0"


def _seconds(value: Any) -> str:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = number and math.isfinite(value) and 0 <= value <= MAX_SECONDS
    return "" if ok else f"a number of seconds from 0 to {MAX_SECONDS:.0f}"


def _maybe_seconds(value: Any) -> str:
    return "" if value is None else _seconds(value)


def _texts(value: Any) -> str:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return "" if ok else "a list of text"


def _one_of(choices: tuple[str, ...]) -> Check:
    return lambda value: "" if value in choices else " or ".join(choices)


def _matching(pattern: re.Pattern[str], what: str) -> Check:
    return lambda value: "" if isinstance(value, str) and pattern.match(value) else what


def _object(value: Any) -> str:
    return "" if isinstance(value, dict) else "an object"


def _figures(value: Any) -> str:
    """``metrics``: name -> a finite number."""
    ok = isinstance(value, dict) and all(
        isinstance(k, str)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        for k, v in value.items()
    )
    return "" if ok else "an object of finite numbers"


_CHECK_FIELDS: dict[str, tuple[Check, bool]] = {  # name -> (check, required)
    "id": (_text, True),
    "status": (_one_of(STATUSES), True),
    "title": (_text, False),
    "kind": (_text, False),
    "severity": (_one_of(SEVERITIES), False),
    "owner": (_text, False),
    "expect": (_text, False),
    "rollback": (_text, False),
    "message": (_text, False),
    "attempts": (_count, False),
    "duration_s": (_seconds, False),
    "retry_safe": (_flag, False),
    "tags": (_texts, False),
    "runbook": (_text, False),
    "output": (_text, False),
    "source": (_text, False),
    "line": (_count, False),
    "needs": (_texts, False),
    "started_s": (_maybe_seconds, False),
    "cached": (_flag, False),
    "cached_from": (_text, False),
    "details": (_object, False),
    "waited_for": (_text, False),
    "metrics": (_figures, False),
    "baseline": (_object, False),
}
_STRICT_CHECK_FIELDS: dict[str, tuple[Check, bool]] = {
    "id": (_matching(_ID, "an id such as api-health ([a-z0-9][a-z0-9._-]*)"), True),
    "severity": (_one_of(SEVERITIES), True),
}
_ATTEMPT_FIELDS: dict[str, tuple[Check, bool]] = {
    "start_s": (_seconds, True),
    "duration_s": (_seconds, True),
    "status": (_one_of(STATUSES), True),
}
_RUN_FIELDS: dict[str, tuple[Check, bool]] = {
    "schema": (lambda v: "" if v in (1, 2, 3) and not isinstance(v, bool) else "1, 2 or 3", True),
    "checklist": (_text, True),
    "status": (_one_of(("pass", "fail")), True),
    "started_at": (_matching(_STARTED_AT, "a UTC time such as 2026-11-27T10:00:00Z"), True),
    "duration_s": (_seconds, True),
    "summary": (_object, True),
    "checks": (lambda v: "" if isinstance(v, list) else "a list of checks", True),
    "interrupted": (_flag, False),
    "path": (_text, False),
    "argv": (_texts, False),
    "commit": (_text, False),
    "digest": (_text, False),
    "deselected": (_object, False),
    "checklist_ids": (_texts, False),
    "release": (_text, False),
}
_STRICT_RUN_FIELDS: dict[str, tuple[Check, bool]] = {
    "schema": (lambda v: "" if v in (2, 3) and not isinstance(v, bool) else "2 or 3", True),
    "commit": (_matching(_COMMIT, "a git commit id (40 or 64 hex digits) or nothing"), True),
    "digest": (_matching(_SHA256, "a sha256 digest (64 hex digits)"), True),
    "shard": (_object, True),
    "checklist_ids": (_texts, True),
}


def _fields(
    data: Mapping[str, Any], fields: Mapping[str, tuple[Check, bool]], where: str
) -> list[str]:
    problems = []
    for name, (check, required) in fields.items():
        if name not in data:
            if required:
                problems.append(f"{where}{name}: missing")
            continue
        expected = check(data[name])
        if expected:
            problems.append(f"{where}{name}: expected {expected}, seen {_seen(data[name])}")
    return problems


def _seen(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def report_problems(data: Any, *, strict: bool = False) -> list[str]:
    """Why ``data`` (a parsed JSON report) is not a report jobcheck can believe; [] when it is.
    ``strict``: the rules a shard of a merge must meet too (see the module's doc)."""
    if not isinstance(data, dict):
        return [f"expected a JSON object (a jobcheck report), seen {type(data).__name__}"]
    problems = _fields(data, _RUN_FIELDS, "")
    if strict:
        problems += [p for p in _fields(data, _STRICT_RUN_FIELDS, "") if p not in problems]
    checks = data.get("checks")
    if not isinstance(checks, list):
        return problems
    for i, check in enumerate(checks):
        problems += _check_problems(
            check, f"checks[{i}].", strict=strict, day=data.get("started_at")
        )
    if not problems:
        problems += _agreement(data, checks)
        if strict:
            problems += _shard_problems(data, checks)
    return problems


def _check_problems(check: Any, where: str, *, strict: bool, day: Any) -> list[str]:
    if not isinstance(check, dict):
        return [f"{where[:-1]}: expected an object, seen {_seen(check)}"]
    problems = _fields(check, _CHECK_FIELDS, where)
    if strict:
        problems += [p for p in _fields(check, _STRICT_CHECK_FIELDS, where) if p not in problems]
    attempts = check.get("attempts_detail", [])
    if not isinstance(attempts, list):
        problems.append(f"{where}attempts_detail: expected a list, seen {_seen(attempts)}")
    else:
        for j, attempt in enumerate(attempts):
            if not isinstance(attempt, dict):
                problems.append(f"{where}attempts_detail[{j}]: expected an object")
            else:
                problems += _fields(attempt, _ATTEMPT_FIELDS, f"{where}attempts_detail[{j}].")
    status = check.get("status")
    waiver = check.get("waiver")
    if waiver is not None or status == "waived":
        problems += _waiver_problems(waiver, f"{where}waiver", day)
    if status == "skip" and not (isinstance(check.get("message"), str) and check["message"]):
        problems.append(f"{where}message: a skipped check says why it was skipped, seen none")
    return problems


def _waiver_problems(waiver: Any, where: str, day: Any) -> list[str]:
    if not isinstance(waiver, dict):
        return [f"{where}: a waived check carries its waiver (reason, until, by), seen none"]
    problems = [
        f"{where}.{name}: expected text, seen {_seen(waiver.get(name))}"
        for name in ("reason", "by")
        if not isinstance(waiver.get(name), str) or not waiver[name].strip()
    ]
    until = waiver.get("until")
    if not isinstance(until, str) or not _DATE.match(until):
        problems.append(f"{where}.until: expected a date YYYY-MM-DD, seen {_seen(until)}")
    elif isinstance(day, str) and until < day[:10]:
        problems.append(f"{where}.until: the waiver had expired ({until}) when the run started")
    return problems


def _blocks(check: Mapping[str, Any]) -> bool:
    return check.get("severity", "blocker") == "blocker" and check["status"] in ("fail", "error")


def _agreement(data: Mapping[str, Any], checks: list[Any]) -> list[str]:
    """The summary, the verdict and the deselected checks must say what the checks say."""
    problems = []
    ids = Counter(c["id"] for c in checks)
    twice = [i for i, n in ids.items() if n > 1]
    if twice:
        problems.append(f"checks: the id {twice[0]} is there more than once")
    counts = {s: sum(c["status"] == s for c in checks) for s in STATUSES}
    summary = data["summary"]
    if any(summary.get(s) != n for s, n in counts.items()):
        problems.append(f"summary: expected {counts} (counted from the checks), seen {summary}")
    verdict = "fail" if data.get("interrupted") or any(_blocks(c) for c in checks) else "pass"
    if data["status"] != verdict:
        problems.append(
            f"status: expected {verdict} (what the checks say), seen {_seen(data['status'])}"
        )
    statuses = {c["id"]: c["status"] for c in checks}
    for check_id, why in (data.get("deselected") or {}).items():
        if statuses.get(check_id) != "skip" or not isinstance(why, str):
            problems.append(f"deselected.{check_id}: not a skipped check of this report")
    return problems


def _shard_problems(data: Mapping[str, Any], checks: list[Any]) -> list[str]:
    shard = data["shard"]
    problems = _fields(
        shard,
        {
            "index": (_count, True),
            "count": (_count, True),
            "digest": (_matching(_SHA256, "a sha256 digest (64 hex digits)"), True),
        },
        "shard.",
    )
    if not problems and not 1 <= shard["index"] <= shard["count"] <= 1000:
        problems.append(f"shard: expected 1 <= index <= count <= 1000, seen {_seen(shard)}")
    if not problems and shard["digest"] != data["digest"]:
        problems.append("shard.digest: differs from the report's digest")
    listed = data["checklist_ids"]
    bad = [i for i in listed if not _ID.match(i)]
    if bad:
        problems.append(f"checklist_ids: {_seen(bad[0])} is not a check id")
    if len(set(listed)) != len(listed):
        problems.append("checklist_ids: an id is listed more than once")
    absent = [c["id"] for c in checks if c["id"] not in set(listed)]
    if absent:
        problems.append(f"checks: {absent[0]} is not in checklist_ids")
    return problems


def summarized(problems: list[str]) -> str:
    """The problems as lines under a heading: the first MAX_SHOWN, then how many more."""
    shown = [f"  - {p}" for p in problems[:MAX_SHOWN]]
    if len(problems) > MAX_SHOWN:
        shown.append(f"  - and {len(problems) - MAX_SHOWN} more")
    return "\n".join(shown)
