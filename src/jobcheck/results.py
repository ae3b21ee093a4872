"""Results are data: a status, an outcome of one attempt, the result of one check, of a run."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from jobcheck import exit_codes
from jobcheck.secrets import mask_fields

# 2 added digest, stack_up, shard; per check needs, started_s, attempts_detail, cached
# 3 added release (the tag a `jobcheck release` gate was for); per check metrics, baseline
REPORT_SCHEMA = 3


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
    # what a measuring check measured (name -> number, the unit in the name), and the figures
    # it was compared against (the same names, and ``baseline_from``)
    metrics: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def passed(cls, message: str, **kw: Any) -> Outcome:
        return cls(Status.PASS, message, **kw)

    @classmethod
    def failed(cls, message: str, **kw: Any) -> Outcome:
        return cls(Status.FAIL, message, **kw)

    @classmethod
    def errored(cls, message: str, **kw: Any) -> Outcome:
        return cls(Status.ERROR, message, **kw)


@dataclass(frozen=True)
class WaiverNote:
    """A waiver as a result carries it: why, until which day (inclusive), granted by whom."""

    reason: str
    until: dt.date
    by: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "until": self.until.isoformat(), "by": self.by}

    @classmethod
    def coerce(cls, value: object) -> WaiverNote | None:
        """A waiver from a report (``until`` as text) or a model with the same three fields."""
        if value is None or isinstance(value, WaiverNote):
            return value
        get: Callable[[str], Any] = (
            value.get if isinstance(value, Mapping) else lambda k: getattr(value, k, None)
        )
        until = get("until")
        if isinstance(until, dt.datetime):
            until = until.date()
        elif not isinstance(until, dt.date):
            try:
                until = dt.date.fromisoformat(str(until))
            except ValueError:
                until = dt.date.min  # unreadable: treated as expired, never as valid
        return cls(str(get("reason") or ""), until, str(get("by") or ""))


@dataclass(frozen=True)
class AttemptDetail:
    """One attempt of a check on the run's clock: when it started (seconds from the run's
    start), how long it took, and how it ended (before any waiver)."""

    start_s: float
    duration_s: float
    status: Status

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": round(self.start_s, 3),
            "duration_s": round(self.duration_s, 3),
            "status": self.status.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptDetail:
        return cls(
            float(data.get("start_s", 0.0)),
            float(data.get("duration_s", 0.0)),
            Status(data.get("status", "error")),
        )


@dataclass(frozen=True)
class ShardInfo:
    """Which shard of a ``run --shard K/N`` this run was, of which checklist (its digest)."""

    index: int
    count: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "count": self.count, "digest": self.digest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardInfo:
        return cls(int(data["index"]), int(data["count"]), str(data.get("digest", "")))


# What a check says about itself, shown everywhere (list, explain, reports, the tag message).
SHOWN_FIELDS = ("title", "owner", "expect", "rollback", "runbook")


@dataclass(kw_only=True)
class CheckInfo:
    """What a check is, as written: the one record a planned check and its result share."""

    id: str
    title: str
    kind: str
    severity: str = "blocker"
    owner: str = ""
    expect: str = ""
    rollback: str = ""
    runbook: str = ""
    tags: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    retry_safe: bool = False
    waiver: WaiverNote | None = None
    source: str = ""
    line: int = 0

    def __post_init__(self) -> None:
        self.waiver = WaiverNote.coerce(self.waiver)
        self.source = str(self.source)

    def mask_shown(self, mask: Callable[[str], str], *more: str) -> None:
        """What the check says about itself (title, owner, expect, rollback, runbook, the
        waiver's reason and grantor) and the ``more`` fields named, masked in place
        (``secrets.mask_fields``)."""
        mask_fields(self, (*SHOWN_FIELDS, *more), mask)
        if self.waiver is not None:
            waiver = self.waiver
            self.waiver = dataclasses.replace(
                waiver, reason=mask(waiver.reason), by=mask(waiver.by)
            )

    def info(self) -> dict[str, Any]:
        """The shared fields, to build a result from a check (``CheckResult(**c.info(), ...)``)."""
        return {f.name: getattr(self, f.name) for f in fields(CheckInfo)}


@dataclass(kw_only=True)
class CheckResult(CheckInfo):
    status: Status
    message: str
    attempts: int = 0
    duration_s: float = 0.0
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    started_s: float | None = None  # None: no attempt ran (skipped)
    attempts_detail: list[AttemptDetail] = field(default_factory=list)
    cached: bool = False
    cached_from: str = ""  # the report the cached result came from
    # the check it waited for by order alone, and why: "queue-health (uses redis)"
    waited_for: str = ""

    @property
    def waited_on(self) -> str:
        """The id in ``waited_for`` (``"queue (uses redis)"`` -> ``queue``): ids have no spaces."""
        return self.waited_for.split(" ", 1)[0]

    def before(self) -> list[str]:
        """What this check waited for: its needs, and the check order alone held it back for."""
        return [*self.needs, self.waited_on] if self.waited_for else list(self.needs)

    metrics: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)

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
            "needs": list(self.needs),
            "started_s": None if self.started_s is None else round(self.started_s, 3),
            "attempts_detail": [a.to_dict() for a in self.attempts_detail],
            "cached": self.cached,
            "cached_from": self.cached_from,
        }
        if self.waiver is not None:
            data["waiver"] = self.waiver.to_dict()
        if self.waited_for:
            data["waited_for"] = self.waited_for
        if self.details:
            data["details"] = self.details
        if self.metrics:
            data["metrics"] = dict(self.metrics)
        if self.baseline:
            data["baseline"] = dict(self.baseline)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        defaults = {f.name: f for f in fields(cls)}
        known: dict[str, Any] = {}
        for name, value in data.items():
            if name in defaults and name not in _READ_APART:
                known[name] = value
        known.setdefault("title", data["id"])
        known.setdefault("kind", "")
        started = data.get("started_s")
        return cls(
            **{k: _typed(defaults[k].type, v) for k, v in known.items()},
            status=Status(data["status"]),
            message=str(data.get("message", "")),
            started_s=None if started is None else float(started),
            attempts_detail=[AttemptDetail.from_dict(a) for a in data.get("attempts_detail") or []],
            metrics=_numbers(data.get("metrics")),
            baseline=dict(data.get("baseline") or {}),
        )


_READ_APART = ("status", "message", "started_s", "attempts_detail", "metrics", "baseline")


def _numbers(value: Any) -> dict[str, float]:
    """A report's ``metrics``: the numbers only (a hand-edited report may hold anything)."""
    if not isinstance(value, Mapping):
        return {}
    return {
        str(k): float(v)
        for k, v in value.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _typed(annotation: Any, value: Any) -> Any:
    """A JSON value as the field wants it (numbers and text read leniently from old reports)."""
    kinds: dict[str, Callable[[Any], Any]] = {
        "str": str,
        "int": int,
        "float": float,
        "bool": bool,
        "list[str]": list,
        "dict[str, Any]": dict,
    }
    convert = kinds.get(str(annotation))
    return convert(value) if convert is not None and value is not None else value


STATUS_ORDER = [Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP, Status.WAIVED]


@dataclass(frozen=True)
class RunOrigin:
    """What a run is of, known before it starts: the runner puts it into its ``RunResult``,
    so the result is complete when the runner returns (and when listeners see it finish)."""

    path: str = ""  # the checklist
    argv: list[str] = field(default_factory=list)  # the command line, masked
    commit: str = ""  # HEAD of the checklist's repository
    digest: str = ""  # sha256 of the checklist files (see pipeline.checklist_digest)
    shard: ShardInfo | None = None
    checklist_ids: list[str] = field(default_factory=list)  # a shard's: every check's id
    release: str = ""  # the tag, when this run is the gate of `jobcheck release TAG`

    def fields(self) -> dict[str, Any]:
        """The ``RunResult`` keywords (copies of the lists)."""
        return {
            "path": self.path,
            "argv": list(self.argv),
            "commit": self.commit,
            "digest": self.digest,
            "shard": self.shard,
            "checklist_ids": list(self.checklist_ids),
            "release": self.release,
        }


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
    # --only/--skip/--failed left these out: they stay in `checks` as `skip` (the report's
    # contract), and the terminal, which shows what ran, leaves them out (``ran()``).
    deselected: dict[str, str] = field(default_factory=dict)  # id -> why it was left out
    # the staging stack's bring-up before any check, when the run did one
    stack_up: AttemptDetail | None = None
    digest: str = ""  # sha256 of the checklist files (see pipeline.checklist_digest)
    shard: ShardInfo | None = None
    # a shard's report: the id of every check of the checklist, in order (for the merge)
    checklist_ids: list[str] = field(default_factory=list)
    release: str = ""  # the tag, when this run was the gate of `jobcheck release TAG`

    def ran(self) -> RunResult:
        """This run without the checks it deselected: what a person watching it saw run."""
        if not self.deselected:
            return self
        kept = [c for c in self.checks if c.id not in self.deselected]
        return dataclasses.replace(self, checks=kept)

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
            return exit_codes.INTERRUPTED
        return exit_codes.FAILED if self.status == "fail" else exit_codes.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "checklist": self.checklist,
            "status": self.status,
            "interrupted": self.interrupted,
            "started_at": self.started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary,
            "path": self.path,
            "argv": list(self.argv),
            "commit": self.commit,
            "digest": self.digest,
            "checks": [c.to_dict() for c in self.checks],
            "deselected": dict(self.deselected),
            **({"stack_up": self.stack_up.to_dict()} if self.stack_up else {}),
            **({"shard": self.shard.to_dict()} if self.shard else {}),
            **({"checklist_ids": list(self.checklist_ids)} if self.checklist_ids else {}),
            **({"release": self.release} if self.release else {}),
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
            deselected={str(k): str(v) for k, v in (data.get("deselected") or {}).items()},
            stack_up=AttemptDetail.from_dict(data["stack_up"]) if data.get("stack_up") else None,
            digest=str(data.get("digest", "")),
            shard=ShardInfo.from_dict(data["shard"]) if data.get("shard") else None,
            checklist_ids=[str(i) for i in data.get("checklist_ids") or []],
            release=str(data.get("release") or ""),
        )
