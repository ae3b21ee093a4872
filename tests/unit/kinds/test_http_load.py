"""The ``http`` kind under load (``requests``, ``concurrency``) against a real server on
127.0.0.1: latency percentiles, the error rate, budgets and the baseline."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext
from jobcheck.kinds.http import KIND
from jobcheck.metrics import Baseline, BaselineMode
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker


class Handler(BaseHTTPRequestHandler):
    calls = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with Handler.lock:
            Handler.calls += 1
            n = Handler.calls
        if self.path == "/slow":
            time.sleep(0.03)
        status = 500 if self.path == "/every-fifth" and n % 5 == 0 else 200
        data = json.dumps({"ok": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class Release:
    def lookup(self, check_id: str, mode: BaselineMode) -> Baseline | None:
        return Baseline({"p95_s": 0.0001, "error_rate": 0.0}, "v1.3.0", "v1.3.0, run x")


def check(with_: dict[str, Any], tmp_path: Path, baselines: Release | None = None) -> Outcome:
    ctx = KindContext(
        check_id="health", base_dir=tmp_path, env=dict(os.environ), timeout_s=60,
        mask=Masker([]), baselines=baselines,
    )  # fmt: skip
    return attempt(KIND, KIND.options.model_validate(with_), ctx)


def test_under_load_measures_latency_and_passes(server: str, tmp_path: Path) -> None:
    outcome = check(
        {"url": f"{server}/ok", "json": {"ok": True}, "requests": 40, "concurrency": 4,
         "p95": "5s", "baseline": "none"},
        tmp_path,
    )  # fmt: skip
    assert outcome.status == Status.PASS, outcome.message
    assert outcome.message.startswith(f"GET {server}/ok: 40 requests (4 at a time): p50 ")
    assert {"p50_s", "p95_s", "p99_s", "max_s", "error_rate", "throughput_per_s"} <= set(
        outcome.metrics
    )
    assert outcome.metrics["error_rate"] == 0.0
    assert outcome.details == {"requests": 40, "errors": 0, "concurrency": 4}


def test_errors_over_the_rate_fail_with_the_first_problem(server: str, tmp_path: Path) -> None:
    outcome = check(
        {"url": f"{server}/every-fifth", "requests": 20, "concurrency": 2,
         "max_error_rate": "10%", "baseline": "none"},
        tmp_path,
    )  # fmt: skip
    assert outcome.status == Status.FAIL
    assert outcome.message.splitlines()[0] == (
        "4 of 20 requests failed (20.0 %, at most 10 % may); first: answered 500, expected 200"
    )
    assert outcome.metrics["error_rate"] == 0.2


def test_a_slower_p95_than_the_release_fails_naming_it(server: str, tmp_path: Path) -> None:
    outcome = check(
        {"url": f"{server}/slow", "requests": 10, "concurrency": 2}, tmp_path, Release()
    )
    assert outcome.status == Status.FAIL
    first = outcome.message.splitlines()[0]
    assert first.startswith("p95 0.000s → ") and first.endswith("tolerance 25 %) against v1.3.0")
    assert outcome.baseline["baseline_from"] == "v1.3.0, run x"


def test_without_requests_the_kind_is_unchanged(server: str, tmp_path: Path) -> None:
    outcome = check({"url": f"{server}/ok"}, tmp_path)
    assert outcome.status == Status.PASS and outcome.metrics == {}
