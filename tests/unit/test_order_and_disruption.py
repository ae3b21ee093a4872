"""`after:` (order only) and checks that disrupt a service kept apart from the checks using it:
the graph (plan.Graph), the loader (ids, cycles, services, what each kind uses), the runner
(real threads, times read from the results), explain and the reports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobcheck.checklist import Check
from jobcheck.errors import ChecklistError, ChecklistErrors
from jobcheck.kinds.base import Kind, KindContext, KindOptions
from jobcheck.listeners import BaseListener
from jobcheck.loading import load_checklist
from jobcheck.plan import Graph, select
from jobcheck.results import CheckResult, Outcome, Status
from jobcheck.run_settings import RunSettings
from jobcheck.runner import Runner
from jobcheck.secrets import Masker


class Options(KindOptions):
    seconds: float = 0.0
    status: str = "pass"


def _act(options: Options, ctx: KindContext) -> Outcome:
    ctx.sleep(options.seconds)
    return Outcome(Status(options.status), f"{options.status} after {options.seconds:g}s")


ACT = Kind(name="act", options=Options, run=_act, waits=True)


def check(
    check_id: str,
    seconds: float = 0.0,
    status: str = "pass",
    *,
    uses: tuple[str, ...] = (),
    disrupts: tuple[str, ...] = (),
    **kw: Any,
) -> Check:
    return Check(
        id=check_id,
        title=check_id,
        kind="act",
        impl=ACT,
        options=Options(seconds=seconds, status=status),
        owner="@a",
        source="jobcheck.yaml",
        line=1,
        timeout_s=30.0,
        uses=frozenset(uses) | frozenset(disrupts),
        disrupts=frozenset(disrupts),
        **kw,
    )


class Waited(BaseListener):
    def __init__(self) -> None:
        self.waited: dict[str, str] = {}

    def on_check_waited(self, check: Check, why: str) -> None:
        self.waited[check.id] = why


def run(checks: list[Check], listener: BaseListener | None = None) -> dict[str, CheckResult]:
    settings = RunSettings(base_dir=Path("."), env={}, mask=Masker([]), jobs=4, wait_jobs=8)
    runner = Runner(select(checks), settings, [listener] if listener else [])
    return {r.id: r for r in runner.run("t").checks}


def span(result: CheckResult) -> tuple[float, float]:
    assert result.started_s is not None, f"{result.id} did not run: {result.message}"
    return result.started_s, result.started_s + result.duration_s


# -- the graph ---------------------------------------------------------------------------


def test_a_drill_waits_for_every_check_using_its_service_with_the_reason() -> None:
    graph = Graph(
        [
            check("drill", disrupts=("redis",)),
            check("queue", uses=("redis",)),
            check("api", uses=("api",)),
            check("lint"),
        ]
    )
    assert [w.words() for w in graph.waits["drill"]] == ["queue (uses redis)"]
    assert graph.waits["queue"] == [] and graph.dependants["queue"] == ["drill"]
    assert [c.id for c in graph.order()] == ["queue", "drill", "api", "lint"]


def test_a_check_ordered_after_the_drill_is_not_waited_for() -> None:
    graph = Graph(
        [
            check("drill", disrupts=("worker",)),
            check("recheck", uses=("worker",), needs=["drill"]),
            check("later", uses=("worker",), after=["recheck"]),
        ]
    )
    assert graph.waits["drill"] == []  # both start only once the drill ended anyway
    assert graph.before("later") == ["recheck"]


def test_two_drills_of_one_service_go_in_file_order_without_a_cycle() -> None:
    checks = [
        check("shutdown", disrupts=("worker",)),
        check("broker", disrupts=("redis", "worker")),
        check("queue", uses=("redis", "worker")),
    ]
    graph = Graph(checks)
    assert [w.words() for w in graph.waits["broker"]] == [
        "shutdown (disrupts worker)",
        "queue (uses redis, worker)",
    ]
    assert [w.words() for w in graph.waits["shutdown"]] == ["queue (uses worker)"]
    assert [c.id for c in graph.order()] == ["queue", "shutdown", "broker"]
    # an explicit `after` turns the drills round, and still no cycle
    checks[0].after = ["broker"]
    graph = Graph(checks)
    assert [c.id for c in graph.order()] == ["queue", "broker", "shutdown"]


def test_every_service_star_is_used_by_any_drill() -> None:
    graph = Graph([check("drill", disrupts=("redis",)), check("all", uses=("*",))])
    assert [w.words() for w in graph.waits["drill"]] == ["all (uses redis)"]


def test_after_is_order_only_and_critical_first_counts_it() -> None:
    graph = Graph([check("a"), check("b", after=["a"]), check("c", after=["b"]), check("d")])
    assert graph.needs["b"] == [] and graph.before("b") == ["a"]
    assert graph.wait_for("b", "a") is not None and graph.wait_for("b", "d") is None
    assert [c.id for c in graph.critical_first()] == ["a", "b", "c", "d"]


# -- the runner ---------------------------------------------------------------------------


def test_after_a_failing_check_the_next_still_runs_where_needs_skips() -> None:
    results = run(
        [
            check("queue", 0.1, "fail"),
            check("drill", after=["queue"]),
            check("needy", needs=["queue"]),
        ]
    )
    assert results["queue"].status == Status.FAIL
    assert results["drill"].status == Status.PASS
    assert span(results["drill"])[0] >= span(results["queue"])[1] - 0.01
    assert results["needy"].status == Status.SKIP


def test_a_drill_never_runs_beside_a_check_using_its_service_whatever_it_ended() -> None:
    waited = Waited()
    results = run(
        [
            check("drill", 0.3, disrupts=("worker",)),
            check("queue", 0.4, "fail", uses=("worker",)),
            check("canary", 0.2, "error", uses=("worker",)),
            check("lint", 0.3),
            check("recheck", 0.1, uses=("worker",), needs=["drill"]),
        ],
        waited,
    )
    drill = span(results["drill"])
    for user in ("queue", "canary", "recheck"):
        start, end = span(results[user])
        assert end <= drill[0] + 0.01 or start >= drill[1] - 0.01, (user, drill, start, end)
    assert results["drill"].status == Status.PASS  # the failed checks did not hide it
    assert span(results["lint"])[0] < drill[0]  # what shares nothing ran beside them
    assert results["drill"].waited_for == "queue (uses worker)"  # the last to end
    assert waited.waited == {"drill": "queue (uses worker)"}
    assert results["drill"].to_dict()["waited_for"] == "queue (uses worker)"
    assert "waited_for" not in results["lint"].to_dict()


# -- the loader ---------------------------------------------------------------------------

COMPOSE = """
services:
  api: {image: x, depends_on: {redis: {condition: service_healthy}}}
  worker: {image: x, depends_on: [redis]}
  redis: {image: x}
  docs: {image: x}
"""

STACK = """
version: 1
name: t
defaults: {owner: "@a"}
stack: {compose: [compose.yaml], project: p}
checks:
%s
"""


def load(write: Callable[..., Path], checks: str) -> dict[str, Check]:
    write(COMPOSE, "compose.yaml")
    loaded = load_checklist(write(STACK % checks), {"PW": "s3cret"})
    return {c.id: c for c in loaded.checks}


def test_what_each_kind_uses_and_disrupts_is_read_from_its_options(
    write_checklist: Callable[..., Path],
) -> None:
    redis = "redis://:${PW}@${stack.redis.6379}/0"
    checks = load(
        write_checklist,
        f"""
  - {{id: queue, kind: queue, with: {{redis_url: "{redis}", max_depth: 5}}}}
  - {{id: named, kind: queue, with: {{redis_url: "redis://redis:6379/0", max_depth: 5}}}}
  - {{id: stop, kind: shutdown, with: {{via: rq, task: a.b, redis_url: "{redis}"}}}}
  - {{id: broker, kind: broker_restart, with: {{redis_url: "{redis}", task: a.b}}}}
  - {{id: health, kind: http, with: {{url: "http://${{stack.api.8000}}/health"}}}}
  - {{id: tool, kind: command, uses: [docs], with: {{run: "true"}}}}
  - {{id: chaos, kind: command, disrupts: [worker], with: {{run: "true"}}}}
  - {{id: local, kind: command, with: {{run: "true"}}}}
""",
    )
    # a queue's broker, and the services that depend on it (its workers, the API)
    assert checks["queue"].uses == {"redis", "worker", "api"} and not checks["queue"].disrupts
    assert checks["named"].uses == {"redis", "worker", "api"}
    assert checks["stop"].disrupts == {"worker"}
    assert checks["broker"].disrupts == {"redis", "worker", "api"}  # api depends on redis
    assert checks["health"].uses == {"api"}
    assert checks["tool"].uses == {"docs"}
    assert checks["chaos"].disrupts == {"worker"} and checks["chaos"].uses == {"worker"}
    assert not checks["local"].uses and not checks["local"].disrupts


@pytest.mark.parametrize(
    ("checks", "words"),
    [
        (
            "  - {id: a, kind: command, after: [bb], with: {run: 'true'}}\n"
            "  - {id: b, kind: command, with: {run: 'true'}}",
            ["check `a` runs after `bb`, which is not a check here", "did you mean `b`?"],
        ),
        (
            "  - {id: a, kind: command, needs: [b], with: {run: 'true'}}\n"
            "  - {id: b, kind: command, after: [a], with: {run: 'true'}}",
            ["dependency cycle: a -> b -> a (each check needs, or runs after, the next)"],
        ),
        (
            "  - {id: a, kind: command, after: [a], with: {run: 'true'}}",
            ["check `a` runs after itself"],
        ),
        (
            "  - {id: a, kind: command, disrupts: [wroker], with: {run: 'true'}}",
            ["`disrupts` names service `wroker`", "did you mean `worker`?"],
        ),
    ],
)
def test_bad_order_is_a_load_error_with_a_hint(
    write_checklist: Callable[..., Path], checks: str, words: list[str]
) -> None:
    with pytest.raises((ChecklistError, ChecklistErrors)) as caught:
        load(write_checklist, checks)
    text = str(caught.value)
    for word in words:
        assert word in text


def test_explain_says_what_a_drill_waits_for(write_checklist: Callable[..., Path]) -> None:
    write_checklist(COMPOSE, "compose.yaml")
    path = write_checklist(
        STACK
        % (
            "  - {id: restart, kind: command, disrupts: [redis], with: {run: 'true'}}\n"
            "  - {id: probe, kind: command, uses: [worker], with: {run: 'true'}}"
        )
    )
    shown = subprocess.run(
        [sys.executable, "-m", "jobcheck", "explain", "restart", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "disrupts:   api, redis, worker" in shown.stdout
    assert "waits for:  probe (uses worker)" in shown.stdout


# -- report paths ------------------------------------------------------------------------


def test_report_folders_are_made_or_refused_before_any_check_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "jobcheck.yaml").write_text(
        "version: 1\nname: t\ndefaults: {owner: '@a'}\n"
        f"checks:\n  - {{id: a, kind: command, with: {{run: 'touch {marker}'}}}}\n",
        encoding="utf-8",
    )

    def jobcheck(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobcheck", "run", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    (tmp_path / "file").write_text("", encoding="utf-8")
    for bad in ("/proc/no/such/dir/r.json", "file/r.json"):
        refused = jobcheck("--json", "out.json", "--html", bad)
        assert refused.returncode == 2, refused.stderr
        assert f"--html {bad}: cannot write a report into" in refused.stderr
        assert not marker.exists() and not (tmp_path / "out.json").exists()
    started = time.monotonic()
    made = jobcheck("--json", "new/deeper/r.json", "--junit", "new/r.xml")
    assert made.returncode == 0, made.stderr
    assert marker.exists() and time.monotonic() - started < 60
    assert json.loads((tmp_path / "new/deeper/r.json").read_text())["checks"][0]["id"] == "a"
    assert not list((tmp_path / "new").glob(".jobcheck-*"))  # the probe file is gone


def test_the_reason_a_check_waited_survives_the_json_report_and_shows_in_the_html() -> None:
    import datetime as dt

    from jobcheck.reports.html import render_html
    from jobcheck.results import RunResult

    results = run(
        [check("queue", 0.05, "fail", uses=("redis",)), check("drill", disrupts=("redis",))]
    )
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    saved = RunResult("t", start, 1.0, list(results.values())).to_dict()
    again = RunResult.from_dict(json.loads(json.dumps(saved)))
    drill = next(c for c in again.checks if c.id == "drill")
    assert drill.waited_for == "queue (uses redis)"
    page = render_html(again, today=dt.date(2026, 1, 1))
    assert page.count('title="waited for queue (uses redis)"') == 1
    assert "drill: pass" in page and "; waited for queue (uses redis)" in page


def test_the_critical_path_follows_what_a_drill_waited_for() -> None:
    from jobcheck.reports.timeline import critical_path

    results = run(
        [
            check("drill", 0.2, disrupts=("redis",)),
            check("queue", 0.3, uses=("redis",)),
            check("lint", 0.1),
        ]
    )
    assert critical_path(list(results.values())) == ["queue", "drill"]
