"""Shards: the K/N spec, whole groups of needs, LPT balance, and the merge of shard reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobcheck.errors import UsageError
from jobcheck.plan import Graph
from jobcheck.results import AttemptDetail, CheckResult, RunResult, ShardInfo, Status
from jobcheck.shards import ShardSpec, merge_runs, shard_ids, split, weights

START = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)


@dataclass
class C:
    id: str
    needs: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    uses: frozenset[str] = frozenset()
    disrupts: frozenset[str] = frozenset()


def test_the_spec_is_k_of_n() -> None:
    assert ShardSpec.parse("2/3") == ShardSpec(2, 3)
    assert str(ShardSpec.parse(" 1 / 1 ")) == "1/1"
    for bad in ("0/3", "4/3", "1/0", "a/b", "2", "1/2/3", "-1/2", "1/1001"):
        with pytest.raises(UsageError, match=r"--shard"):
            ShardSpec.parse(bad)


def test_groups_join_checks_by_needs_in_either_direction() -> None:
    checks = [C("a"), C("b", ["a"]), C("c"), C("d", ["c", "e"]), C("e"), C("f", ["missing"])]
    assert Graph(checks).components() == [["a", "b"], ["c", "d", "e"], ["f"]]  # type: ignore[arg-type]


def _union_find_groups(checks: list[C]) -> list[list[str]]:
    """shards.groups as it was before plan.Graph.components replaced it: the reference."""
    parent = {c.id: c.id for c in checks}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for check in checks:
        for need in check.needs:
            if need in parent:
                parent[root(need)] = root(check.id)
    found: dict[str, list[str]] = {}
    for check in checks:
        found.setdefault(root(check.id), []).append(check.id)
    return list(found.values())


def _random_checklist(seed: int, size: int = 300) -> list[C]:
    """Checks in a shuffled file order with chains of needs (and a few after and disruptive
    checks, which must not join groups) and needs of ids outside the list."""
    rng = random.Random(seed)
    ids = [f"c{i}" for i in range(size)]
    rng.shuffle(ids)
    checks = []
    for i, check_id in enumerate(ids):
        earlier = ids[:i]
        needs = rng.sample(earlier, min(len(earlier), rng.choice([0, 0, 0, 1, 1, 2])))
        if rng.random() < 0.05:
            needs.append("not-in-this-list")
        after = rng.sample(earlier, min(len(earlier), rng.choice([0, 0, 0, 1])))
        uses = frozenset({"redis"}) if rng.random() < 0.3 else frozenset()
        disrupts = frozenset({"redis"}) if rng.random() < 0.03 else frozenset()
        checks.append(C(check_id, needs, after, uses, disrupts))
    return checks


@pytest.mark.parametrize("seed", range(20))
def test_the_graph_groups_as_the_union_find_did(seed: int) -> None:
    checks = _random_checklist(seed)
    assert Graph(checks).components() == _union_find_groups(checks)  # type: ignore[arg-type]


# sha256 of the split of the 20 random checklists into 1, 2, 3, 7 and 40 shards, computed by
# shards.split over its own union-find (before plan.Graph.components): every machine must
# keep cutting a checklist exactly as before.
SPLITS_BEFORE = "d4cecd5816ebb90034d2680e4f33bb0dbca8e3aaa7141508e0a5ef5824af6df6"


def test_shards_partition_exactly_as_before_the_graph() -> None:
    found = []
    for seed in range(20):
        checks = _random_checklist(seed)
        rng = random.Random(seed)
        durations = {c.id: rng.uniform(0.1, 30.0) for c in checks if rng.random() < 0.8}
        found.append([split(checks, n, durations) for n in (1, 2, 3, 7, 40)])
        for shards in found[-1]:
            assert sorted(i for s in shards for i in s) == sorted(c.id for c in checks)
    assert hashlib.sha256(json.dumps(found).encode()).hexdigest() == SPLITS_BEFORE


def test_without_history_the_split_is_even_by_count() -> None:
    checks = [C(f"c{i}") for i in range(7)]
    shards = split(checks, 3, {})
    assert sorted(len(s) for s in shards) == [2, 2, 3]
    assert sorted(i for s in shards for i in s) == sorted(c.id for c in checks)


def test_longest_processing_time_first_balances_by_duration() -> None:
    checks = [C("a"), C("b"), C("c"), C("d"), C("e")]
    durations = {"a": 8.0, "b": 5.0, "c": 4.0, "d": 3.0, "e": 1.0}
    # longest first, each to the lighter shard: a 1 (8|0), b 2 (8|5), c 2 (8|9), d 1 (11|9),
    # e 2 (11|10)
    assert split(checks, 2, durations) == [["a", "d"], ["b", "c", "e"]]


def test_a_connected_group_never_splits() -> None:
    checks = [C("stack"), C("api", ["stack"]), C("job", ["api"]), C("lint"), C("docs")]
    durations = {"stack": 1.0, "api": 1.0, "job": 1.0, "lint": 1.0, "docs": 1.0}
    shards = split(checks, 3, durations)
    assert ["stack", "api", "job"] in shards
    assert shards == [["stack", "api", "job"], ["lint"], ["docs"]]
    assert shard_ids(checks, ShardSpec(2, 3), durations) == {"lint"}


def test_unknown_checks_weigh_the_median_of_the_known_ones() -> None:
    assert weights(["a", "b", "c"], {"a": 2.0, "b": 4.0}) == {"a": 2.0, "b": 4.0, "c": 3.0}
    assert weights(["a"], {}) == {"a": 1.0}


def test_more_shards_than_groups_leaves_some_empty() -> None:
    assert split([C("a"), C("b", ["a"])], 3, {}) == [["a", "b"], [], []]


# -- merge -------------------------------------------------------------------------------


def result(check_id: str, status: Status = Status.PASS, start: float = 0.5) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id,
        kind="command",
        status=status,
        message=str(status),
        duration_s=1.0,
        started_s=start,
        attempts_detail=[AttemptDetail(start, 1.0, status)],
    )


def shard(
    index: int,
    count: int,
    checks: list[CheckResult],
    *,
    digest: str = "d1",
    commit: str = "c1",
    offset_s: int = 0,
    ids: tuple[str, ...] = ("a", "b", "c", "d"),
) -> RunResult:
    return RunResult(
        checklist="gate",
        started_at=START + dt.timedelta(seconds=offset_s),
        duration_s=2.0,
        checks=checks,
        commit=commit,
        digest=digest,
        shard=ShardInfo(index, count, digest),
        checklist_ids=list(ids),
    )


def test_merge_is_one_run_in_checklist_order_on_one_clock() -> None:
    one = shard(1, 2, [result("b"), result("d", Status.FAIL)])
    two = shard(2, 2, [result("a"), result("c", Status.SKIP)], offset_s=3)
    merged, problems = merge_runs([(Path("2.json"), two), (Path("1.json"), one)])
    assert problems == []
    assert [c.id for c in merged.checks] == ["a", "b", "c", "d"]
    assert merged.status == "fail" and merged.exit_code == 1
    assert merged.summary == {"pass": 2, "fail": 1, "error": 0, "skip": 1, "waived": 0}
    assert merged.started_at == START and merged.duration_s == 5.0  # shard 2 ended at +5s
    a = merged.checks[0]
    assert a.started_s == 3.5 and a.attempts_detail[0].start_s == 3.5
    assert merged.shard is None and merged.commit == "c1" and merged.digest == "d1"
    assert merged.argv == ["jobcheck", "report", "merge", "2.json", "1.json"]


def test_a_missing_shard_is_an_error_not_a_pass() -> None:
    one = shard(1, 3, [result("a"), result("b")])
    three = shard(3, 3, [result("d")])
    merged, problems = merge_runs([(Path("1.json"), one), (Path("3.json"), three)])
    assert problems == [
        "shard report missing: 2/3 (given: 2 of 3); the checks of a missing shard count as errors"
    ]
    c = merged.checks[2]
    assert c.id == "c" and c.status == Status.ERROR
    assert "its shard's report is missing (shard 2/3)" in c.message
    assert merged.status == "fail" and merged.exit_code == 1


def test_a_check_in_no_shard_is_an_error() -> None:
    merged, problems = merge_runs([(Path("1.json"), shard(1, 1, [result("a"), result("c")]))])
    assert problems == [
        "2 checks in no shard's report: b, d (were the shards planned from different --durations "
        "files?); they count as errors"
    ]
    assert [(c.id, c.status) for c in merged.checks] == [
        ("a", Status.PASS),
        ("b", Status.ERROR),
        ("c", Status.PASS),
        ("d", Status.ERROR),
    ]


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (shard(2, 2, [result("c")], digest="d2"), "checklist digest d1, 2.json has d2"),
        (shard(2, 2, [result("c")], commit="c2"), "commit c1, 2.json has c2"),
        (shard(2, 3, [result("c")]), "shard count 2, 2.json has 3"),
        (shard(1, 2, [result("c")]), "shard 1/2 is given twice: 1.json and 2.json"),
        (shard(2, 2, [result("a")]), "check `a` is in two shards: 1.json and 2.json"),
    ],
)
def test_merge_refuses_shards_that_do_not_belong_together(other: RunResult, message: str) -> None:
    one = shard(1, 2, [result("a"), result("b")])
    with pytest.raises(UsageError, match=re.escape(message)):
        merge_runs([(Path("1.json"), one), (Path("2.json"), other)])


def test_merge_refuses_a_report_that_is_not_a_shard() -> None:
    plain = RunResult(checklist="gate", started_at=START, duration_s=1.0, checks=[])
    with pytest.raises(UsageError, match=re.escape("plain.json is not a shard's report")):
        merge_runs([(Path("plain.json"), plain)])
    with pytest.raises(UsageError, match="give the JSON reports"):
        merge_runs([])


def test_a_shard_report_round_trips() -> None:
    run = shard(1, 2, [result("a")])
    again = RunResult.from_dict(run.to_dict())
    assert again.shard == ShardInfo(1, 2, "d1")
    assert again.checklist_ids == ["a", "b", "c", "d"]
    assert run.to_dict()["shard"] == {"index": 1, "count": 2, "digest": "d1"}


def test_report_takes_one_run_or_merge_and_shards(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app

    runner = CliRunner()
    run = tmp_path / "run.json"
    one = shard(1, 1, [result("a")], ids=("a",), digest="d1" * 32, commit="c1" * 20)
    run.write_text(json.dumps(one.to_dict()), encoding="utf-8")
    two = runner.invoke(app, ["report", str(run), str(run)])
    assert two.exit_code == 2 and "give one RUN.json to re-render" in two.output
    flags = runner.invoke(app, ["report", str(run), "--html", str(tmp_path / "x.html")])
    assert flags.exit_code == 2 and "report --html: these go with `report merge`" in flags.output
    out = runner.invoke(app, ["report", "merge", str(run), "-o", str(tmp_path / "x")])
    assert out.exit_code == 2 and "-o/--output re-renders one report" in out.output
    merged = runner.invoke(app, ["report", "merge", str(run), "--html", str(tmp_path / "m.html")])
    assert merged.exit_code == 0, merged.output
    assert "PASSED: gate: 1 pass in" in merged.output  # the end of a run, as `run` shows it
    assert (tmp_path / "m.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_questions_about_needs_alone_do_not_order_the_disruptive_checks() -> None:
    """300 drills against 3,000 users cost seconds to keep apart: the shards, ``--failed`` and
    the load-time cycle check never ask for that order, so they never pay for it."""
    checks = _random_checklist(3, 1000)
    graph = Graph(checks)  # type: ignore[arg-type]
    graph.components(), graph.dependants_of([checks[0].id]), graph.cycle()
    assert graph._kept_apart is False
    assert graph.order() and graph._kept_apart is True
