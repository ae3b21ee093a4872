"""Run history: every run saved under ``.jobcheck/runs/``, for ``run --failed`` and ``history``.

A run is the JSON report (``RunResult.to_dict``) written atomically under a name that sorts by
time. The folder ignores itself in git (``.jobcheck/.gitignore``), so saving a run never makes
the working tree dirty for the ``release`` kind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobcheck.checklist import Check
from jobcheck.durations import format_duration
from jobcheck.errors import UsageError
from jobcheck.fsutil import atomic_write_text, ignore_in_git, json_text, read_regular
from jobcheck.metrics import Baseline, BaselineMode
from jobcheck.plan import Graph
from jobcheck.process import git
from jobcheck.results import RunResult, Status
from jobcheck.tables import format_table

STATE_DIR = ".jobcheck"
RUNS_DIR = f"{STATE_DIR}/runs"
DEFAULT_KEEP = 50
_RAN = (Status.PASS, Status.FAIL, Status.ERROR, Status.WAIVED)


def runs_dir(root: Path) -> Path:
    return root / RUNS_DIR


def git_commit(root: Path) -> str:
    """HEAD's commit hash, or ``""`` outside a git repository (or before the first commit)."""
    result = git(root, "rev-parse", "--verify", "--quiet", "HEAD", timeout_s=10)
    return result.stdout.strip() if result.returncode == 0 else ""


def save_run(run: RunResult, root: Path, *, keep: int = DEFAULT_KEEP) -> Path:
    """Write the run (with HEAD's commit when it has none) and keep only the newest ``keep``."""
    if not run.commit:
        run = dataclasses.replace(run, commit=git_commit(root))
    folder = runs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    ignore_in_git(root / STATE_DIR)
    target = _free_name(folder, run.started_at)
    # Compact: read by jobcheck (`report`, `--failed`, `history`), not by people, and
    # indenting it in Python cost as much as the run of 10,000 trivial checks.
    atomic_write_text(target, json_text(run.to_dict(), separators=(",", ":")) + "\n")
    prune(folder, keep=keep)
    return target


def _free_name(folder: Path, started_at: dt.datetime) -> Path:
    stamp = started_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = folder / f"{stamp}.json"
    n = 1
    while target.exists():
        target = folder / f"{stamp}-{n}.json"
        n += 1
    return target


def prune(folder: Path, *, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` runs; returns what was deleted."""
    files = run_files(folder)
    doomed = files[:-keep] if keep > 0 else files
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def run_files(folder: Path) -> list[Path]:
    """Saved runs, oldest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("*.json") if not p.name.startswith(".")), key=_order)


def _order(path: Path) -> tuple[str, int]:
    """``STAMP.json`` then ``STAMP-1.json``, ``STAMP-2.json``... (runs started in one instant)."""
    stamp, _, n = path.stem.partition("-")
    return stamp, int(n) if n.isdigit() else 0


MAX_REPORT_BYTES = 64 * 1024 * 1024


def read_run(path: Path, *, strict: bool = False) -> RunResult:
    """A saved JSON report; a clear usage error when it is missing, not a regular file, too
    large, not JSON, or not a report jobcheck can believe (``report_schema``; ``strict`` for
    the shards of a merge)."""
    # lazy: only when a saved report is read
    from jobcheck.report_schema import report_problems, summarized

    try:
        raw = read_regular(path, MAX_REPORT_BYTES)
    except FileNotFoundError:
        raise UsageError(f"no such report: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the report {path}: {exc.strerror or exc}") from None
    try:
        data: Any = json.loads(raw.decode("utf-8"), parse_constant=_not_a_number)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogate in any text
    except RecursionError:
        raise UsageError(f"{path} is not a JSON report: nested too deep") from None
    except ValueError as exc:  # JSON, UTF-8, NaN/Infinity, a lone surrogate
        raise UsageError(f"{path} is not a JSON report: {exc}") from None
    problems = report_problems(data, strict=strict)
    if problems:
        raise UsageError(
            f"{path} is not a jobcheck run report that can be trusted:\n{summarized(problems)}",
            hint="write reports with `jobcheck run --json PATH` and do not edit them",
        )
    try:
        return RunResult.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise UsageError(
            f"{path} is not a jobcheck run report (missing or bad {exc})",
            hint="write one with `jobcheck run --json PATH`",
        ) from None


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load_runs(root: Path, *, checklist: Path | None = None) -> list[RunResult]:
    """Every readable saved run, oldest first; only runs of ``checklist`` when given."""
    runs = []
    for path in run_files(runs_dir(root)):
        try:
            run = read_run(path)
        except UsageError:
            continue  # a run cut short by a crash must not break history
        if checklist is None or _same_checklist(run, checklist, root):
            runs.append(run)
    return runs


def _same_checklist(run: RunResult, checklist: Path, root: Path) -> bool:
    if not run.path:
        return False
    return (root / run.path).resolve() == (root / checklist).resolve()


def last_run(root: Path, *, checklist: Path | None = None) -> RunResult | None:
    runs = load_runs(root, checklist=checklist)
    return runs[-1] if runs else None


def failed_ids(root: Path, *, checklist: Path | None = None) -> list[str]:
    """Checks whose latest run ended ``fail`` or ``error``, in the order of the last run.

    A check skipped (or left out) in the latest run keeps the status of the run before, so a
    partial run does not forget what is still broken (like pytest's ``--last-failed``).
    """
    latest: dict[str, Status] = {}
    order: dict[str, int] = {}
    for run in load_runs(root, checklist=checklist):
        for index, check in enumerate(run.checks):
            order[check.id] = index
            if check.status != Status.SKIP:
                latest[check.id] = check.status
    failed = [cid for cid, status in latest.items() if status in (Status.FAIL, Status.ERROR)]
    return sorted(failed, key=lambda cid: order[cid])


@dataclass(frozen=True)
class HistoryRow:
    check_id: str
    runs: int
    passed: int
    last_status: str
    median_duration_s: float
    flaky: bool

    @property
    def pass_rate(self) -> float:
        return self.passed / self.runs if self.runs else 0.0


def history_table(runs: Sequence[RunResult]) -> list[HistoryRow]:
    """Per check, over the given runs (oldest first): how often it ran and passed, its last
    status, median duration, and whether it both passed and failed on one commit."""
    seen: dict[str, list[tuple[str, Status, float]]] = {}
    for run in runs:
        for check in run.checks:
            seen.setdefault(check.id, []).append((run.commit, check.status, check.duration_s))
    return [_row(check_id, results) for check_id, results in seen.items()]


def _row(check_id: str, results: list[tuple[str, Status, float]]) -> HistoryRow:
    ran = [r for r in results if r[1] in _RAN]
    return HistoryRow(
        check_id=check_id,
        runs=len(ran),
        passed=sum(r[1] == Status.PASS for r in ran),
        last_status=results[-1][1].value,
        median_duration_s=statistics.median(r[2] for r in ran) if ran else 0.0,
        flaky=_flaky(ran),
    )


def _flaky(ran: list[tuple[str, Status, float]]) -> bool:
    by_commit: dict[str, set[Status]] = {}
    for commit, status, _ in ran:
        if commit:  # without a commit, a change in the code cannot be told from a flake
            by_commit.setdefault(commit, set()).add(status)
    return any(
        Status.PASS in statuses and statuses & {Status.FAIL, Status.ERROR}
        for statuses in by_commit.values()
    )


def render_history(rows: Sequence[HistoryRow], runs: Sequence[RunResult]) -> str:
    if not runs:
        return f"no saved runs yet in {RUNS_DIR}/ (every `jobcheck run` saves one)\n"
    header = ["CHECK", "RUNS", "PASS RATE", "LAST", "MEDIAN", "FLAKY"]
    body = [
        [
            row.check_id,
            str(row.runs),
            f"{row.pass_rate:.0%}" if row.runs else "-",
            row.last_status,
            format_duration(row.median_duration_s) if row.runs else "-",
            "flaky" if row.flaky else "",
        ]
        for row in rows
    ]
    first = runs[0].started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    last = runs[-1].started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    flaky = sum(row.flaky for row in rows)
    lines = [
        f"{len(runs)} run{'s' if len(runs) != 1 else ''} from {first} to {last} UTC",
        "",
        *format_table([header, *body]),
        "",
        f"{flaky} flaky check{'s' if flaky != 1 else ''} (passed and failed on the same commit)",
    ]
    return "\n".join(lines) + "\n"


def with_dependants(ids: Sequence[str], checks: Sequence[Check]) -> list[str]:
    """``ids`` and every check that needs one of them, directly or not, in checklist order.

    For ``run --failed``: a check skipped because its need failed must run again with it.
    """
    return Graph(checks).dependants_of(ids)


def history_durations(base_dir: Path, checklist_name: str) -> dict[str, float]:
    """Each check's median duration over this machine's saved runs of the checklist (by name,
    not path: a CI machine restores the history into a checkout somewhere else)."""
    runs = [r for r in load_runs(base_dir) if r.checklist == checklist_name]
    return {r.check_id: r.median_duration_s for r in history_table(runs) if r.runs}


class HistoryBaselines:
    """``metrics.BaselineSource`` over the saved runs of one checklist: ``release``, the
    figures of the newest passing gate of ``jobcheck release``; ``last``, those of the newest
    passing run. A run counts only when the check passed in it and measured something. The runs
    are read once, on the first lookup (checks ask from several threads)."""

    def __init__(self, root: Path, checklist: Path) -> None:
        self.root = root
        self.checklist = checklist
        self._runs: list[RunResult] | None = None
        self._lock = threading.Lock()

    def runs(self) -> list[RunResult]:
        with self._lock:
            if self._runs is None:
                self._runs = load_runs(self.root, checklist=self.checklist)
            return self._runs

    def lookup(self, check_id: str, mode: BaselineMode) -> Baseline | None:
        if mode == "none":
            return None
        for run in reversed(self.runs()):
            if run.status != "pass" or (mode == "release" and not run.release):
                continue
            check = next((c for c in run.checks if c.id == check_id), None)
            if check is not None and check.status == Status.PASS and check.metrics:
                return _baseline(run, check.metrics)
        return None


def _baseline(run: RunResult, figures: dict[str, float]) -> Baseline:
    stamp = run.started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    commit = f", commit {run.commit[:12]}" if run.commit else ""
    if run.release:
        return Baseline(figures, run.release, f"{run.release}, run {stamp}{commit}")
    return Baseline(figures, f"the run of {stamp}", f"run {stamp}{commit}")
