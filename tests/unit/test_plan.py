"""Selection by id or tag, needs pulled in, the reasons for what is left out, and order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jobcheck.checklist import Check
from jobcheck.kinds import get_kind
from jobcheck.plan import close_selectors, find_cycle, order, select, unknown_selectors


def check(check_id: str, needs: Sequence[str] = (), tags: Sequence[str] = ()) -> Check:
    return Check(
        id=check_id,
        title=check_id,
        kind="command",
        impl=get_kind("command"),
        options=get_kind("command").options.model_validate({"run": "true"}),
        owner="@a",
        expect="",
        rollback="",
        severity="blocker",
        needs=list(needs),
        tags=list(tags),
        timeout_s=60.0,
        retries=0,
        retry_safe=False,
        runbook="",
        waiver=None,
        source=Path("jobcheck.yaml"),
        line=1,
    )


CHECKS = [
    check("lint", tags=["fast", "static"]),
    check("stack-up", tags=["docker"]),
    check("migrate", needs=["stack-up"], tags=["docker"]),
    check("api-health", needs=["migrate"], tags=["docker", "smoke"]),
    check("unit", tags=["fast"]),
]


def ids(checks: Sequence[Check]) -> list[str]:
    return [c.id for c in checks]


def test_no_selection_runs_everything_in_file_order() -> None:
    plan = select(CHECKS)
    assert ids(plan.run) == ["lint", "stack-up", "migrate", "api-health", "unit"]
    assert plan.deselected == {}
    assert plan.ids == {c.id for c in CHECKS}
    assert ids(plan.all) == ids(CHECKS)


def test_only_by_id() -> None:
    plan = select(CHECKS, only=["unit"])
    assert ids(plan.run) == ["unit"]
    assert plan.deselected["lint"] == "not selected (--only)"


def test_only_by_tag() -> None:
    assert ids(select(CHECKS, only=["fast"]).run) == ["lint", "unit"]


def test_only_pulls_in_needs_transitively() -> None:
    plan = select(CHECKS, only=["api-health"])
    assert ids(plan.run) == ["stack-up", "migrate", "api-health"]
    assert set(plan.deselected) == {"lint", "unit"}


def test_skip_by_id_and_tag() -> None:
    plan = select(CHECKS, skip=["docker"])
    assert ids(plan.run) == ["lint", "unit"]
    assert plan.deselected == {
        "stack-up": "deselected with --skip",
        "migrate": "deselected with --skip",
        "api-health": "deselected with --skip",
    }
    assert ids(select(CHECKS, skip=["lint", "unit"]).run) == ["stack-up", "migrate", "api-health"]


def test_skip_wins_over_a_pulled_in_need() -> None:
    # `--skip stack-up` when the stack is already up: its dependants still run.
    plan = select(CHECKS, only=["api-health"], skip=["stack-up"])
    assert ids(plan.run) == ["migrate", "api-health"]
    assert plan.deselected["stack-up"] == "deselected with --skip"


def test_ids_restrict_the_selection_and_keep_needs() -> None:
    plan = select(CHECKS, ids=["migrate"])
    assert ids(plan.run) == ["stack-up", "migrate"]
    assert plan.deselected["unit"] == "not selected"


def test_order_keeps_file_order_where_needs_allow() -> None:
    checks = [check("c", needs=["a"]), check("b"), check("a"), check("d", needs=["c"])]
    assert ids(order(checks)) == ["b", "a", "c", "d"]


def test_order_ignores_needs_outside_the_selection() -> None:
    assert ids(order([check("b", needs=["gone"]), check("a")])) == ["b", "a"]


def test_order_keeps_a_cycle_in_file_order_instead_of_hanging() -> None:
    checks = [check("x"), check("a", needs=["b"]), check("b", needs=["a"])]
    assert ids(order(checks)) == ["x", "a", "b"]


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) == []
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": ["y"], "y": [], "a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert find_cycle({"a": ["unknown"]}) == []


def test_find_cycle_names_only_the_loop() -> None:
    graph = {"start": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_unknown_selectors() -> None:
    assert unknown_selectors(CHECKS, ["lint", "smoke", "lnt", "dockr"]) == ["lnt", "dockr"]


def test_a_chain_of_five_thousand_needs_has_no_recursion_limit() -> None:
    chain = {f"c{i}": [f"c{i + 1}"] if i < 4999 else [] for i in range(5000)}
    assert find_cycle(chain) == []
    chain["c4999"] = ["c0"]
    cycle = find_cycle(chain)
    assert cycle[0] == cycle[-1] and len(cycle) == 5001


def test_globs_select_over_ids_and_tags() -> None:
    assert ids(select(CHECKS, only=["api-*"]).run) == ["stack-up", "migrate", "api-health"]
    assert ids(select(CHECKS, only=["fa?t"]).run) == ["lint", "unit"]
    assert ids(select(CHECKS, skip=["*-*"]).run) == ["lint", "migrate", "unit"]
    assert unknown_selectors(CHECKS, ["api-*", "web-*", "[lu]*"]) == ["web-*"]


def test_close_selectors_suggest_ids_and_tags() -> None:
    assert close_selectors(CHECKS, "fast1") == ["fast"]
    assert close_selectors(CHECKS, "api-helth") == ["api-health"]
    assert close_selectors(CHECKS, "zzz") == []
