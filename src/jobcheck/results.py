"""Results are data: a status, an outcome of one attempt, the result of one check, of a run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    WAIVED = "waived"

    def __str__(self) -> str:
        return self.value


@dataclass
class Outcome:
    """What one attempt of a check found. Kinds return this; they never raise for a failure."""

    status: Status
    message: str
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def passed(cls, message: str, **kw: Any) -> Outcome:
        return cls(Status.PASS, message, **kw)

    @classmethod
    def failed(cls, message: str, **kw: Any) -> Outcome:
        return cls(Status.FAIL, message, **kw)

    @classmethod
    def errored(cls, message: str, **kw: Any) -> Outcome:
        return cls(Status.ERROR, message, **kw)


@dataclass
class CheckResult:
    id: str
    title: str
    kind: str
    status: Status
    severity: str
    owner: str
    expect: str
    rollback: str
    message: str
    attempts: int = 0
    duration_s: float = 0.0
    retry_safe: bool = False
    output: str = ""
    tags: list[str] = field(default_factory=list)
    runbook: str = ""
    waiver: dict[str, Any] | None = None
    source: str = ""
    line: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """True when this result makes the run fail."""
        return self.severity == "blocker" and self.status in (Status.FAIL, Status.ERROR)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "status": self.status.value,
            "severity": self.severity,
            "owner": self.owner,
            "expect": self.expect,
            "rollback": self.rollback,
            "message": self.message,
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 3),
            "retry_safe": self.retry_safe,
            "tags": list(self.tags),
            "runbook": self.runbook,
            "output": self.output,
            "source": self.source,
            "line": self.line,
        }
        if self.waiver is not None:
            data["waiver"] = self.waiver
        if self.details:
            data["details"] = self.details
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            id=str(data["id"]),
            title=str(data.get("title", data["id"])),
            kind=str(data.get("kind", "")),
            status=Status(data["status"]),
            severity=str(data.get("severity", "blocker")),
            owner=str(data.get("owner", "")),
            expect=str(data.get("expect", "")),
            rollback=str(data.get("rollback", "")),
            message=str(data.get("message", "")),
            attempts=int(data.get("attempts", 0)),
            duration_s=float(data.get("duration_s", 0.0)),
            retry_safe=bool(data.get("retry_safe", False)),
            output=str(data.get("output", "")),
            tags=list(data.get("tags", [])),
            runbook=str(data.get("runbook", "")),
            waiver=data.get("waiver"),
            source=str(data.get("source", "")),
            line=int(data.get("line", 0)),
            details=dict(data.get("details", {})),
        )


STATUS_ORDER = [Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP, Status.WAIVED]


@dataclass
class RunResult:
    checklist: str
    started_at: dt.datetime
    duration_s: float
    checks: list[CheckResult]
    interrupted: bool = False
    path: str = ""
    argv: list[str] = field(default_factory=list)
    commit: str = ""

    @property
    def status(self) -> str:
        return "fail" if self.interrupted or any(c.blocks for c in self.checks) else "pass"

    @property
    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in STATUS_ORDER}
        for check in self.checks:
            counts[check.status.value] += 1
        return counts

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.status == "fail" else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "checklist": self.checklist,
            "status": self.status,
            "interrupted": self.interrupted,
            "started_at": self.started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary,
            "path": self.path,
            "argv": list(self.argv),
            "commit": self.commit,
            "checks": [c.to_dict() for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        started = dt.datetime.strptime(data["started_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC
        )
        return cls(
            checklist=str(data["checklist"]),
            started_at=started,
            duration_s=float(data.get("duration_s", 0.0)),
            checks=[CheckResult.from_dict(c) for c in data.get("checks", [])],
            interrupted=bool(data.get("interrupted", False)),
            path=str(data.get("path", "")),
            argv=list(data.get("argv", [])),
            commit=str(data.get("commit", "")),
        )
