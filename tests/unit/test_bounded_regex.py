"""A user's regex cannot outrun its timeout, ignores no cancel, and never blocks signals."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from jobcheck.bounded_regex import Found, RegexCancelled, RegexTimeout, search

# (a+)+$ on 34 a's runs for hours under `re`; `regex` sees through that one, not this one
CATASTROPHIC = (r"(a|aa)+$", "a" * 60 + "!")


def test_a_match_reports_what_it_found() -> None:
    found = search(r"(\d+) (?P<word>passed)(, (\d+) failed)?", "== 12 passed ==", timeout_s=10)
    assert found == Found(
        span=(3, 12),
        matched="12 passed",
        groups=("12", "passed", None, None),
        names={"word": 2},
    )
    assert found.first == "12"
    assert found.group() == "12 passed" and found.group("word") == "passed"
    assert found.group(3) is None


def test_no_match_flags_and_a_group_less_match() -> None:
    assert search("absent", "some text", timeout_s=10) is None
    found = search("^ERROR", "ok\nerror here", timeout_s=10, flags=re.M | re.I)
    assert found is not None and found.first == "error" and found.span == (3, 8)


def test_text_that_json_escapes_and_lone_surrogates_survive() -> None:
    text = 'say "hi"\\ \x00 \ud800 ✓'
    found = search(r"\x00 (.) (✓)", text, timeout_s=10)
    assert found is not None and found.groups == ("\ud800", "✓")


def test_a_bad_pattern_is_a_re_error() -> None:
    with pytest.raises(re.error, match="missing \\)"):
        search("(unclosed", "x", timeout_s=10)


def test_catastrophic_backtracking_ends_at_the_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(RegexTimeout) as caught:
        search(*CATASTROPHIC, timeout_s=1.0)
    assert time.monotonic() - start < 2.0
    assert caught.value.timeout_s == 1.0
    assert "did not finish within 1s" in str(caught.value)


def test_cancel_stops_a_match_at_once() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(RegexCancelled):
        search(*CATASTROPHIC, timeout_s=60, cancel=cancel)
    assert time.monotonic() - start < 1.5


def test_other_threads_run_while_a_match_backtracks() -> None:
    """The match holds no GIL: other checks keep running and do not time out falsely."""
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    with pytest.raises(RegexTimeout):
        search(*CATASTROPHIC, timeout_s=1.0)
    stop.set()
    counter.join()
    assert ticks > 100


def test_sigint_interrupts_the_main_thread_at_once() -> None:
    code = textwrap.dedent(
        f"""
        import time
        from jobcheck.bounded_regex import search
        print("ready", flush=True)
        start = time.monotonic()
        try:
            search({CATASTROPHIC[0]!r}, {CATASTROPHIC[1]!r}, timeout_s=60)
        except KeyboardInterrupt:
            print("interrupted", time.monotonic() - start < 5)
        """
    )
    # SIGINT at its default in the child: a suite started as a background job (scripts/test.sh)
    # hands an ignored SIGINT down, and Python then installs no KeyboardInterrupt handler.
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(0.5)  # the match is running now
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2.0
    assert out == "interrupted True\n"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(a|aa)+$", "a" * 60 + "!"),
        (r"^(\w+\s?)*x$", "ab " * 30 + "!"),
        (r"(a+)+$", "a" * 40 + "!"),
    ],
)
def test_the_probes_patterns_end_within_the_limit(pattern: str, text: str) -> None:
    start = time.monotonic()
    with contextlib.suppress(RegexTimeout):
        assert search(pattern, text, timeout_s=1.0) is None
    assert time.monotonic() - start < 3.0
