"""Runner semantics with real subprocesses: parallelism, timeouts, retries, waivers."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jobcheck.listeners import BaseListener
from jobcheck.loading import load_checklist
from jobcheck.plan import select
from jobcheck.results import CheckResult, RunResult, Status
from jobcheck.run_settings import RunSettings
from jobcheck.runner import Runner
from jobcheck.secrets import Masker

HEADER = """
version: 1
name: runner test
defaults:
  owner: "@team"
  expect: it works
  rollback: nothing to roll back
checks:
"""


def run(
    path: Path,
    *,
    jobs: int = 4,
    fail_fast: bool = False,
    today: dt.date | None = None,
    env: dict[str, str] | None = None,
    listeners: list[BaseListener] | None = None,
) -> RunResult:
    environ = dict(os.environ if env is None else env)
    checklist = load_checklist(path, environ)
    settings = RunSettings(
        base_dir=checklist.base_dir,
        env=environ,
        mask=Masker.from_env(environ),
        jobs=jobs,
        fail_fast=fail_fast,
        today=today or dt.date(2026, 11, 27),
    )
    return Runner(select(checklist.checks), settings, listeners or []).run(checklist.name)


def by_id(result: RunResult) -> dict[str, object]:
    return {c.id: c for c in result.checks}


def test_independent_checks_run_in_parallel(write_checklist: Callable[..., Path]) -> None:
    checks = "".join(
        f"  - {{id: s{i}, kind: command, with: {{run: 'sleep 1'}}}}\n" for i in range(4)
    )
    path = write_checklist(HEADER + checks)
    start = time.monotonic()
    result = run(path, jobs=4)
    wall = time.monotonic() - start
    assert result.summary["pass"] == 4
    assert wall < 2.8, f"4 one-second checks with --jobs 4 took {wall:.2f}s (serial: 4 s)"


def test_jobs_one_runs_serially(write_checklist: Callable[..., Path]) -> None:
    checks = "".join(
        f"  - {{id: s{i}, kind: command, with: {{run: 'sleep 0.4'}}}}\n" for i in range(3)
    )
    start = time.monotonic()
    run(write_checklist(HEADER + checks), jobs=1)
    assert time.monotonic() - start >= 1.2


def test_wall_time_follows_the_critical_path(write_checklist: Callable[..., Path]) -> None:
    # a (0.5s) -> b (0.5s) is the critical path; c, d, e run beside it.
    path = write_checklist(
        HEADER
        + """
  - {id: a, kind: command, with: {run: "sleep 0.5"}}
  - {id: b, kind: command, needs: [a], with: {run: "sleep 0.5"}}
  - {id: c, kind: command, with: {run: "sleep 0.5"}}
  - {id: d, kind: command, with: {run: "sleep 0.5"}}
  - {id: e, kind: command, with: {run: "sleep 0.5"}}
"""
    )
    start = time.monotonic()
    result = run(path, jobs=4)
    wall = time.monotonic() - start
    assert result.status == "pass"
    assert 1.0 <= wall < 2.2  # serially it would take 2.5 s


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not running: look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_timeout_kills_the_whole_process_group(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    path = write_checklist(
        HEADER
        + f"""
  - id: slow
    kind: command
    timeout: 1s
    with:
      shell: true
      run: "sleep 60 & echo $! >> {pids}; sleep 60 & echo $! >> {pids}; echo $$$$ >> {pids}; wait"
"""
    )
    start = time.monotonic()
    result = run(path)
    assert time.monotonic() - start < 6
    check = result.checks[0]
    assert check.status == Status.ERROR
    assert "timed out after" in check.message and "process group" in check.message
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 3
    deadline = time.monotonic() + 3
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in started if _alive(p)], "processes left running after the timeout"
    assert result.exit_code == 1


def test_retries_only_when_retry_safe(write_checklist: Callable[..., Path], tmp_path: Path) -> None:
    safe, unsafe = tmp_path / "safe", tmp_path / "unsafe"
    path = write_checklist(
        HEADER
        + f"""
  - id: safe
    kind: command
    retries: 2
    retry_safe: true
    with: {{shell: true, run: "echo x >> {safe}; exit 1"}}
  - id: unsafe
    kind: command
    retries: 2
    with: {{shell: true, run: "echo x >> {unsafe}; exit 1"}}
"""
    )
    result = by_id(run(path))
    assert result["safe"].attempts == 3 and len(safe.read_text().split()) == 3
    assert "after 3 attempts" in result["safe"].message
    assert result["unsafe"].attempts == 1 and len(unsafe.read_text().split()) == 1
    assert "not marked retry_safe" in result["unsafe"].message


def test_a_retry_can_pass(write_checklist: Callable[..., Path], tmp_path: Path) -> None:
    counter = tmp_path / "n"
    path = write_checklist(
        HEADER
        + f"""
  - id: flaky
    kind: command
    retries: 3
    retry_safe: true
    with: {{shell: true, run: "echo x >> {counter}; test $(wc -l < {counter}) -ge 2"}}
"""
    )
    retries: list[int] = []

    class Spy(BaseListener):
        def on_check_retry(self, check, attempt, outcome):  # type: ignore[no-untyped-def]
            retries.append(attempt)

    result = run(path, listeners=[Spy()])
    assert result.checks[0].status == Status.PASS
    assert result.checks[0].attempts == 2
    assert retries == [1]


def test_a_failed_need_skips_its_dependants(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist(
        HEADER
        + """
  - {id: a, kind: command, with: {run: "false"}}
  - {id: b, kind: command, needs: [a], with: {run: "true"}}
  - {id: c, kind: command, needs: [b], with: {run: "true"}}
  - {id: d, kind: command, with: {run: "true"}}
"""
    )
    result = by_id(run(path))
    assert result["a"].status == Status.FAIL
    assert result["b"].status == Status.SKIP and "needs a (fail)" in result["b"].message
    assert result["c"].status == Status.SKIP and "needs b (skip)" in result["c"].message
    assert result["d"].status == Status.PASS


def test_warning_severity_never_fails_the_run(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist(
        HEADER
        + """
  - {id: soft, kind: command, severity: warning, with: {run: "false"}}
  - {id: hard, kind: command, with: {run: "true"}}
"""
    )
    result = run(path)
    assert by_id(result)["soft"].status == Status.FAIL
    assert result.status == "pass" and result.exit_code == 0


def test_waiver_turns_failure_into_waived_until_its_date(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist(
        HEADER
        + """
  - id: known
    kind: command
    with: {run: "false"}
    waiver: {reason: "known flake, JOB-42", until: 2026-12-31, by: "@captain"}
"""
    )
    active = run(path, today=dt.date(2026, 12, 31))
    assert active.checks[0].status == Status.WAIVED and active.exit_code == 0
    assert "JOB-42" in active.checks[0].message and "@captain" in active.checks[0].message
    expired = run(path, today=dt.date(2027, 1, 1))
    assert expired.checks[0].status == Status.FAIL and expired.exit_code == 1
    assert "expired on 2026-12-31" in expired.checks[0].message


def test_expired_waiver_fails_even_when_the_check_passes(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist(
        HEADER
        + """
  - id: fixed
    kind: command
    with: {run: "true"}
    waiver: {reason: "JOB-7", until: 2026-01-01, by: "@captain"}
"""
    )
    result = run(path)
    assert result.checks[0].status == Status.FAIL
    assert "renew it or remove it" in result.checks[0].message


def test_fail_fast_stops_scheduling(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist(
        HEADER
        + """
  - {id: first, kind: command, with: {run: "false"}}
  - {id: later1, kind: command, needs: [first], severity: warning, with: {run: "true"}}
  - {id: later2, kind: command, with: {run: "sleep 0.2"}}
  - {id: later3, kind: command, with: {run: "sleep 0.2"}}
"""
    )
    result = by_id(run(path, jobs=1, fail_fast=True))
    assert result["first"].status == Status.FAIL
    for name in ("later2", "later3"):
        assert result[name].status == Status.SKIP
        assert "--fail-fast" in result[name].message


def test_secrets_are_masked_in_message_and_output(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist(
        HEADER
        + """
  - id: leak
    kind: command
    with: {shell: true, run: "echo token=$API_TOKEN; echo $API_TOKEN >&2; exit 3"}
"""
    )
    env = {**os.environ, "API_TOKEN": "s3cr3t-value-42"}
    result = run(path, env=env)
    text = str(result.to_dict())
    assert "s3cr3t-value-42" not in text
    assert "token=***" in result.checks[0].output


def test_command_not_found_is_an_error(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist(
        HEADER
        + """
  - {id: missing, kind: command, with: {run: "no-such-tool-xyz --flag"}}
"""
    )
    check = run(path).checks[0]
    assert check.status == Status.ERROR
    assert "no-such-tool-xyz was not found" in check.message


def test_kind_crash_becomes_an_error_result(
    write_checklist: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobcheck.kinds import command

    def boom(options: object, ctx: object) -> None:
        raise RuntimeError("kaput")

    path = write_checklist(HEADER + "  - {id: x, kind: command, with: {run: 'true'}}\n")
    original = command.KIND
    monkeypatch.setattr(
        command, "KIND", type(original)(name="command", options=original.options, run=boom)
    )  # type: ignore[arg-type]
    from jobcheck import kinds

    monkeypatch.setitem(kinds._cache, "command", command.KIND)
    check = run(path).checks[0]
    assert check.status == Status.ERROR
    assert "crashed: RuntimeError: kaput" in check.message


def test_a_crash_message_is_one_line_without_a_traceback(
    write_checklist: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception whose text carries a traceback (a remote one, a wrapped one): the message
    is one line with the type and the text, masked; the traceback stays in the output."""
    from jobcheck import kinds
    from jobcheck.kinds import command

    secret = "Zq7-crash-secret"
    text = (
        'Traceback (most recent call last):\n  File "w.py", line 3, in run\n'
        f"    connect(password={secret!r})\nworker lost:   pool   {'y' * 279}{secret} tail"
    )

    def boom(options: object, ctx: object) -> None:
        raise RuntimeError(text)

    path = write_checklist(HEADER + "  - {id: x, kind: command, with: {run: 'true'}}\n")
    original = command.KIND
    monkeypatch.setattr(
        command, "KIND", type(original)(name="command", options=original.options, run=boom)
    )  # type: ignore[arg-type]
    monkeypatch.setitem(kinds._cache, "command", command.KIND)
    check = run(path, env={**os.environ, "APP_PASSWORD": secret}).checks[0]
    assert check.status == Status.ERROR
    assert "\n" not in check.message and "Traceback" not in check.message
    assert check.message.startswith("the command check crashed: RuntimeError: worker lost: pool y")
    assert check.message.endswith("y**…") and "yZ" not in check.message  # cut after masking
    assert secret not in check.output and "Traceback" in check.output


def test_each_attempt_is_timed_on_the_run_clock(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    counter = tmp_path / "n"
    path = write_checklist(
        HEADER
        + f"""
  - {{id: first, kind: command, with: {{run: "sleep 0.3"}}}}
  - id: flaky
    kind: command
    needs: [first]
    retries: 2
    retry_safe: true
    with: {{shell: true, run: "echo x >> {counter}; sleep 0.2; test $(wc -l < {counter}) -ge 2"}}
"""
    )
    result = by_id(run(path))
    first, flaky = result["first"], result["flaky"]
    assert isinstance(first, CheckResult) and isinstance(flaky, CheckResult)
    assert first.started_s is not None and first.started_s < 0.2
    assert [a.status for a in first.attempts_detail] == [Status.PASS]
    assert flaky.needs == ["first"]
    assert [a.status for a in flaky.attempts_detail] == [Status.FAIL, Status.PASS]
    one, two = flaky.attempts_detail
    assert flaky.started_s == one.start_s
    assert one.start_s >= first.started_s + first.duration_s - 0.01  # it waited for its need
    assert 0.2 <= one.duration_s < 1.5
    # the second attempt starts after the first ended and the retry backoff
    assert two.start_s >= one.start_s + one.duration_s + 0.45
    total = two.start_s + two.duration_s - one.start_s
    assert abs(flaky.duration_s - total) < 0.05


def test_a_skipped_check_has_no_start_and_no_attempts(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist(
        HEADER
        + """
  - {id: a, kind: command, with: {run: "false"}}
  - {id: b, kind: command, needs: [a], with: {run: "true"}}
"""
    )
    skipped = by_id(run(path))["b"]
    assert isinstance(skipped, CheckResult)
    assert skipped.started_s is None and skipped.attempts_detail == []


def test_the_stack_bring_up_is_timed_as_its_own_span_beside_local_checks(
    write_checklist: Callable[..., Path],
) -> None:
    import threading

    path = write_checklist(HEADER + "  - {id: a, kind: command, with: {run: 'true'}}\n")
    environ = dict(os.environ)
    checklist = load_checklist(path, environ)

    def prepare(cancel: threading.Event, progress: Callable[[str], None]) -> str:
        time.sleep(0.3)
        return ""

    settings = RunSettings(
        base_dir=checklist.base_dir, env=environ, mask=Masker.from_env(environ), prepare=prepare
    )
    result = Runner(select(checklist.checks), settings).run(checklist.name)
    assert result.stack_up is not None and result.stack_up.status == Status.PASS
    assert 0.3 <= result.stack_up.duration_s < 1.5
    started = result.checks[0].started_s
    # a local check does not wait for the stack: it starts while the stack comes up
    assert started is not None and started < result.stack_up.duration_s
