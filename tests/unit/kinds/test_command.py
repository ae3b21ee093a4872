"""The command kind against real processes: exit codes, output, and a user's regex that is
bounded by the check's timeout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext
from jobcheck.kinds.command import KIND
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker


def run(options: dict[str, Any], tmp_path: Path, timeout_s: float = 30.0) -> Outcome:
    ctx = KindContext("c", tmp_path, {"PATH": "/usr/bin:/bin"}, timeout_s, Masker())
    return attempt(KIND, KIND.options.model_validate(options), ctx)


def test_stdout_matches_passes_and_fails_on_real_output(tmp_path: Path) -> None:
    ok = run(
        {"run": ["printf", "version 1.4.0\\n"], "stdout_matches": r"^version \d+\.\d+"}, tmp_path
    )
    assert ok.status is Status.PASS, ok.message
    bad = run({"run": ["printf", "version x\\n"], "stdout_matches": r"^version \d+"}, tmp_path)
    assert bad.status is Status.FAIL
    assert "stdout does not match /^version \\d+/" in bad.message


def test_a_catastrophic_pattern_is_bounded_by_the_check_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = run(
        {"run": ["printf", "a" * 60 + "!"], "stdout_matches": "(a|aa)+$"}, tmp_path, timeout_s=3.0
    )
    took = time.monotonic() - started
    assert outcome.status is Status.ERROR, outcome.message
    assert outcome.message.startswith("stdout_matches: ")
    assert took < 6.0, f"the regex ran {took:.1f}s past a 3s timeout"
