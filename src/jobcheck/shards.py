"""Gates sharded across CI machines: which checks shard K of N runs, and the merge of the
shards' reports into one report and one verdict.

A shard is a set of whole groups: checks joined by ``needs`` (in either direction) never split,
so every shard can run on its own (``after`` and the order around disruptive checks are order
only: a check whose `after` is in another shard does not wait for it). Groups go to shards
longest first, each to the shard with the least work so far (LPT), weighed by durations from a
committed file (``jobcheck durations --write FILE``, then ``run --shard K/N --durations FILE``,
as pytest-split does); without one every check weighs 1, an even split by count, ties broken by
checklist order. The split is a pure function of the checklist and that file, so every machine
computes the same one; the machine's own run history is used only when asked
(``--durations history``): shards run one after another in one workspace would otherwise plan
from each other's saved runs (and the merge notices when shards disagree: a check in two
shards, or in none).
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from jobcheck.checklist import Check
from jobcheck.errors import UsageError
from jobcheck.plan import Graph
from jobcheck.results import AttemptDetail, CheckResult, RunResult, ShardInfo, Status

FROM_HISTORY = "history"  # `--durations history`: this machine's saved runs, asked for
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 1000


@dataclass(frozen=True)
class ShardSpec:
    index: int  # 1-based, as CI matrices count
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        match = _SPEC.match(text)
        if not match:
            raise UsageError(f"--shard {text}: expected K/N, e.g. 1/3 (the first of three shards)")
        index, count = int(match[1]), int(match[2])
        if not 1 <= count <= MAX_SHARDS or not 1 <= index <= count:
            raise UsageError(
                f"--shard {text}: K must be from 1 to N, and N from 1 to {MAX_SHARDS}",
                hint="a CI matrix of N jobs runs --shard 1/N ... --shard N/N",
            )
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def read_durations(path: Path) -> dict[str, float]:
    """A durations file: a JSON object of check id to seconds (``jobcheck durations --write``);
    a usage error (exit 2) when it cannot be read or is not that."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"--durations {path}: cannot read it: {exc.strerror or exc}",
            hint="write it with `jobcheck durations --write FILE` and commit it",
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--durations {path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"--durations {path}: expected a JSON object of check id to seconds, "
            f"got {type(data).__name__}",
            hint='e.g. {"lint": 12.5, "unit-tests": 95.0}',
        )
    durations = {}
    for key, value in data.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise UsageError(
                f"--durations {path}: `{key}` has {value!r}, expected a number of seconds"
            )
        durations[str(key)] = max(float(value), 0.0)
    return durations


def durations_text(durations: Mapping[str, float]) -> str:
    """A durations file's text: sorted ids, so a re-written file diffs by the changes only."""
    rounded = {k: round(durations[k], 3) for k in sorted(durations)}
    return json.dumps(rounded, indent=2) + "\n"


def weights(ids: Sequence[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Each check's weight: its median duration from the history; a check the history does not
    know weighs the median of those it knows; with no history at all, every check weighs 1."""
    known = [durations[i] for i in ids if i in durations]
    default = statistics.median(known) if known else 1.0
    return {i: max(durations.get(i, default), 0.0) for i in ids}


def split(checks: Sequence[Check], count: int, durations: Mapping[str, float]) -> list[list[str]]:
    """The ids of each of ``count`` shards (longest-processing-time first)."""
    weight = weights([c.id for c in checks], durations)
    position = {c.id: i for i, c in enumerate(checks)}
    work = [(sum(weight[i] for i in g), len(g), g) for g in Graph(checks).components()]
    work.sort(key=lambda w: (-w[0], -w[1], position[w[2][0]]))
    shards: list[list[str]] = [[] for _ in range(count)]
    load = [(0.0, 0)] * count  # (seconds, checks): with equal seconds, fewer checks wins
    for seconds, size, members in work:
        target = min(range(count), key=lambda k: (load[k], k))
        shards[target].extend(members)
        load[target] = (load[target][0] + seconds, load[target][1] + size)
    return [sorted(s, key=position.__getitem__) for s in shards]


def shard_ids(checks: Sequence[Check], spec: ShardSpec, durations: Mapping[str, float]) -> set[str]:
    return set(split(checks, spec.count, durations)[spec.index - 1])


# -- the merge ---------------------------------------------------------------------------


def merge_runs(reports: Sequence[tuple[Path, RunResult]]) -> tuple[RunResult, list[str]]:
    """One run from the shards' reports, and the problems that made it fail (missing shards).

    Refuses (UsageError) reports that are not shards, of different checklists, counts or
    commits, a shard given twice, and a check found in two shards."""
    if not reports:
        raise UsageError("report merge: give the JSON reports of the shards to merge")
    shards = [(path, run, _shard_of(path, run)) for path, run in reports]
    first_path, first, info = shards[0]
    seen: dict[int, Path] = {}
    for path, run, shard in shards:
        _same(first_path, path, "checklist digest", info.digest, shard.digest)
        _same(first_path, path, "shard count", str(info.count), str(shard.count))
        _same(first_path, path, "commit", first.commit or "(none)", run.commit or "(none)")
        if run.checklist_ids != first.checklist_ids:
            _same(first_path, path, "list of check ids", _ids(first), _ids(run))
        if shard.index in seen:
            raise UsageError(
                f"report merge: shard {shard.index}/{shard.count} is given twice: "
                f"{seen[shard.index]} and {path}"
            )
        seen[shard.index] = path
    results = _results(shards)
    missing = [k for k in range(1, info.count + 1) if k not in seen]
    problems = []
    if missing:
        names = ", ".join(f"{k}/{info.count}" for k in missing)
        problems.append(
            f"shard report missing: {names} (given: {len(seen)} of {info.count}); "
            "the checks of a missing shard count as errors"
        )
    order = first.checklist_ids or [c.id for _, run, _ in shards for c in run.checks]
    absent = [i for i in order if i not in results]
    if absent and not missing:
        problems.append(
            f"{len(absent)} check{'s' if len(absent) != 1 else ''} in no shard's report: "
            f"{', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''} (were the shards "
            "planned from different --durations files?); they count as errors"
        )
    for check_id in absent:
        results[check_id] = _missing(check_id, missing, info.count)
    ordered = [results[i] for i in order if i in results]
    ordered += [r for i, r in results.items() if i not in set(order)]
    return _merged(shards, ordered), problems


def _shard_of(path: Path, run: RunResult) -> ShardInfo:
    if run.shard is None:
        raise UsageError(
            f"report merge: {path} is not a shard's report (it has no `shard` key)",
            hint="write each shard's report with `jobcheck run --shard K/N --json PATH`",
        )
    return run.shard


def _ids(run: RunResult) -> str:
    shown = ", ".join(run.checklist_ids[:8])
    return f"[{shown}{', ...' if len(run.checklist_ids) > 8 else ''}] ({len(run.checklist_ids)})"


def _same(first: Path, other: Path, what: str, expected: str, seen: str) -> None:
    if expected != seen:
        raise UsageError(
            f"report merge: refusing to merge shards of different runs: {first} has {what} "
            f"{expected}, {other} has {seen}",
            hint="merge the shards of one pipeline: one checklist, one commit, one --shard K/N",
        )


def _results(shards: Sequence[tuple[Path, RunResult, ShardInfo]]) -> dict[str, CheckResult]:
    start = min(run.started_at for _, run, _ in shards)
    results: dict[str, CheckResult] = {}
    where: dict[str, Path] = {}
    for path, run, _ in shards:
        offset = (run.started_at - start).total_seconds()
        for check in run.checks:
            if check.id in results:
                raise UsageError(
                    f"report merge: check `{check.id}` is in two shards: {where[check.id]} "
                    f"and {path}",
                    hint="every shard must be planned from the same inputs: the same checklist "
                    "and the same --durations file (never each machine's own history)",
                )
            results[check.id] = _shifted(check, offset)
            where[check.id] = path
    return results


def _shifted(check: CheckResult, offset: float) -> CheckResult:
    """The check on the merged run's clock (shards' starts differ by whole seconds)."""
    if check.started_s is None or not offset:
        return check
    return replace(
        check,
        started_s=check.started_s + offset,
        attempts_detail=[
            AttemptDetail(a.start_s + offset, a.duration_s, a.status) for a in check.attempts_detail
        ],
    )


def _missing(check_id: str, missing: Sequence[int], count: int) -> CheckResult:
    which = ", ".join(f"{k}/{count}" for k in missing)
    message = (
        f"not run: its shard's report is missing (shard {which}); merge every shard"
        if missing
        else "not run: no shard's report has it; plan every shard from the same durations file"
    )
    return CheckResult(id=check_id, title=check_id, kind="", status=Status.ERROR, message=message)


def _merged(
    shards: Sequence[tuple[Path, RunResult, ShardInfo]], checks: list[CheckResult]
) -> RunResult:
    runs = [run for _, run, _ in shards]
    start = min(run.started_at for run in runs)
    end = max((run.started_at - start).total_seconds() + run.duration_s for run in runs)
    first = runs[0]
    return RunResult(
        checklist=first.checklist,
        started_at=start,
        duration_s=end,
        checks=checks,
        interrupted=any(run.interrupted for run in runs),
        path=first.path,
        argv=["jobcheck", "report", "merge", *(str(path) for path, _, _ in shards)],
        commit=first.commit,
        digest=first.digest,
    )
