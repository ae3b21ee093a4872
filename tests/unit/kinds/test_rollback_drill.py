"""rollback_drill without an engine: its options, the loader's check of `recheck`, the
runner's recheck hook, and the in-flight jobs' verdict. The drill itself runs against real
stacks in tests/integration/test_rollback_drill.py."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobcheck import kinds
from jobcheck.errors import ChecklistError
from jobcheck.kinds import _inflight
from jobcheck.kinds.base import Kind, KindContext, KindOptions
from jobcheck.kinds.rollback_drill import KIND, Options
from jobcheck.loading import load_checklist
from jobcheck.plan import select
from jobcheck.probes.canary import HTTP_WORDS, Trace
from jobcheck.results import Outcome, Status
from jobcheck.run_settings import RunSettings
from jobcheck.runner import Runner
from jobcheck.secrets import Masker

HEADER = """
version: 1
name: drill test
defaults: {owner: "@team", expect: it works, rollback: nothing}
checks:
"""

DRILL = """
  - id: drill
    kind: rollback_drill
    with:
      deploy: "docker compose up -d --no-deps worker"
      rollback: "env APP_TAG=${PREVIOUS} docker compose up -d --no-deps worker"
      recheck: [%s]
"""


def load(write_checklist: Callable[..., Path], text: str) -> list[object]:
    env = {**os.environ, "PREVIOUS": "previous; rm -rf /"}
    return list(load_checklist(write_checklist(HEADER + text), env).checks)


def test_commands_are_split_before_interpolation(write_checklist: Callable[..., Path]) -> None:
    text = "  - {id: health, kind: command, with: {run: 'true'}}\n" + DRILL % "health"
    drill = load(write_checklist, text)[1]
    options = drill.options  # type: ignore[attr-defined]
    assert options.rollback[:2] == ["env", "APP_TAG=previous; rm -rf /"]
    assert options.argv("redeploy") == ["docker", "compose", "up", "-d", "--no-deps", "worker"]
    assert options.recheck == ["health"]


def test_a_recheck_of_no_check_is_a_load_error(write_checklist: Callable[..., Path]) -> None:
    text = "  - {id: api-health, kind: command, with: {run: 'true'}}\n" + DRILL % "api-helth"
    with pytest.raises(ChecklistError) as caught:
        load(write_checklist, text)
    shown = caught.value.render()
    assert "recheck names `api-helth`, which is not a check here" in shown
    assert "did you mean `api-health`?" in shown
    assert "jobcheck.yaml:12:17:" in shown  # the id in the list


def test_a_drill_cannot_recheck_itself_or_another_drill(
    write_checklist: Callable[..., Path],
) -> None:
    with pytest.raises(ChecklistError, match="recheck names `drill`, itself"):
        load(write_checklist, DRILL % "drill")
    other = DRILL.replace("id: drill", "id: drill2") % "health"
    text = "  - {id: health, kind: command, with: {run: 'true'}}\n" + other + DRILL % "drill2"
    with pytest.raises(ChecklistError, match="a rollback_drill check that runs other checks"):
        load(write_checklist, text)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"deploy": "", "rollback": "x"}, "the command is empty"),
        ({"deploy": "x", "rollback": "x", "deadline": 0}, "deadline must be more than 0"),
        ({"deploy": "x", "rollback": "x", "recheck": ["a", "a"]}, "`a` is named twice"),
        ({"deploy": "x", "rollback": "x", "inflight": {"via": "rq"}}, "via rq needs redis_url"),
        ({"deploy": "x", "rollback": "x", "inflight": {"cuont": 1}}, "cuont"),
    ],
)
def test_bad_options(given: dict[str, object], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        Options.model_validate(given)


def test_an_unbalanced_quote_is_a_load_error(write_checklist: Callable[..., Path]) -> None:
    text = (DRILL % "").replace('"docker compose up', "\"docker 'compose up")
    with pytest.raises(ChecklistError, match="cannot split the command"):
        load(write_checklist, text)


# -- the runner's recheck hook, with a kind that only reruns -----------------------------------


class RerunOptions(KindOptions):
    ids: list[str]
    within: float | None = None


def _rerun(options: RerunOptions, ctx: KindContext) -> Outcome:
    outcomes = ctx.recheck(options.ids, within_s=options.within)
    shown = "; ".join(
        f"{i}={o.status}:{o.message}" for i, o in zip(options.ids, outcomes, strict=True)
    )
    return Outcome.passed(shown)


RERUN = Kind(name="rerun", options=RerunOptions, run=_rerun, recheck_option="ids")


@pytest.fixture
def rerun_kind() -> Iterator[None]:
    kinds._cache["rerun"] = RERUN
    try:
        yield
    finally:
        kinds._cache.pop("rerun", None)


def test_the_runner_reruns_named_checks_even_when_deselected(
    write_checklist: Callable[..., Path], rerun_kind: None, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    text = f"""
  - {{id: counted, kind: command, with: {{run: "sh -c 'echo x >> {counter}'"}}}}
  - {{id: broken, kind: command, with: {{run: 'false'}}}}
  - id: waived
    kind: command
    with: {{run: 'false'}}
    waiver: {{reason: known, until: 2099-01-01, by: "@cap"}}
  - {{id: again, kind: rerun, with: {{ids: [counted, broken, waived]}}}}
"""
    checklist = load_checklist(write_checklist(HEADER + text), dict(os.environ))
    settings = RunSettings(
        base_dir=checklist.base_dir,
        env=dict(os.environ),
        mask=Masker([]),
        today=dt.date(2026, 12, 7),
    )
    plan = select(checklist.checks, only=["again"])
    result = Runner(plan, settings).run(checklist.name)
    again = next(c for c in result.checks if c.id == "again")
    assert again.status == Status.PASS, again.message
    assert again.message.startswith("counted=pass:`sh -c 'echo x >> ")
    assert "; broken=fail:`false` exited 1, expected 0" in again.message
    assert "; waived=waived:fail waived until 2099-01-01" in again.message
    assert counter.read_text() == "x\n"  # deselected itself, run once for the rerun


def test_reruns_stay_within_the_time_given(
    write_checklist: Callable[..., Path], rerun_kind: None
) -> None:
    text = """
  - {id: slow, kind: command, with: {run: 'sleep 5'}}
  - {id: again, kind: rerun, with: {ids: [slow, slow], within: 0.5}}
"""
    checklist = load_checklist(write_checklist(HEADER + text), dict(os.environ))
    settings = RunSettings(base_dir=checklist.base_dir, env=dict(os.environ), mask=Masker([]))
    start = time.monotonic()
    result = Runner(select(checklist.checks, only=["again"]), settings).run(checklist.name)
    assert time.monotonic() - start < 4.0
    again = next(c for c in result.checks if c.id == "again")
    # The rerun is given what is left of the 0.5 s (less on a loaded machine), never more.
    assert re.match(r"slow=error:`sleep 5`: timed out after 0\.[1-5]s", again.message), (
        again.message
    )
    assert again.message.endswith("; slow=error:not run: out of time or interrupted")


def test_outside_a_run_a_recheck_is_an_error() -> None:
    ctx = KindContext("x", Path("."), {}, 5.0, Masker([]))
    with pytest.raises(Exception, match="only a checklist run can do"):
        ctx.recheck(["a"])


# -- the in-flight jobs' verdict -------------------------------------------------------------


@dataclass
class FakeChannel:
    errors: dict[str, str] = field(default_factory=dict)
    via: str = "rq"
    vocabulary: object = HTTP_WORDS

    def enqueue(self) -> str:
        return "x"

    def status(self, job_id: str) -> str | None:
        return None

    def failure(self, job_id: str) -> str:
        return self.errors.get(job_id, "")


def _trace(job_id: str, word: str | None) -> Trace:
    trace = Trace(job_id, time.monotonic(), HTTP_WORDS)
    trace.note(word)
    return trace


def test_the_verdict_names_the_framework_error() -> None:
    error = "TypeError: canary() got an unexpected keyword argument 'priority'"
    traces = [_trace(f"j{i}", "failed" if i < 3 else "finished") for i in range(5)]
    channel = FakeChannel({f"j{i}": error for i in range(3)})
    batch = _inflight.Batch(channel, traces, None)  # type: ignore[arg-type]
    assert _inflight.verdict(batch, 30.0, "default") == (
        f"3 of 5 jobs enqueued on the new release failed on the previous one: {error}"
    )


def test_the_verdict_counts_lost_and_waiting_jobs() -> None:
    traces: Sequence[Trace] = [_trace("a", None), _trace("b", "queued"), _trace("c", "SUCCESS")]
    batch = _inflight.Batch(FakeChannel(), list(traces), None)  # type: ignore[arg-type]
    said = _inflight.verdict(batch, 30.0, None)
    assert said.startswith(
        "1 of 3 jobs enqueued on the new release were lost after the rollback (no such job "
        "any more); 1 of 3 jobs enqueued on the new release did not finish within the 30s "
        "deadline after the rollback (1 queued; set broker_url"
    )


def test_the_kind_is_registered_and_declares_what_it_does() -> None:
    assert kinds.get_kind("rollback_drill") is KIND
    assert KIND.docker and KIND.restores and KIND.recheck_option == "recheck"
