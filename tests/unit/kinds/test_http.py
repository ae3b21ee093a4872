"""The ``http`` kind against a real HTTP server on 127.0.0.1 (no Docker)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext
from jobcheck.kinds.http import KIND, json_mismatches
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

SECRET = "hunter2-very-secret"


class Handler(BaseHTTPRequestHandler):
    flaky_calls = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        routes = {
            "/health": (200, {"ok": True, "redis": "up", "workers": [{"n": 1}, {"n": 2}]}),
            "/down": (503, {"ok": False, "redis": "down", "dsn": f"redis://:{SECRET}@redis"}),
            "/text": (200, "plain text answer"),
            "/redirect": (302, ""),
        }
        if self.path == "/slow":
            time.sleep(0.3)
            self._send(200, {"ok": True})
        elif self.path == "/flaky":
            Handler.flaky_calls += 1
            self._send(200 if Handler.flaky_calls >= 3 else 503, {"calls": Handler.flaky_calls})
        elif self.path in routes:
            status, body = routes[self.path]
            headers = {
                "X-Content-Type-Options": "nosniff",
                "Strict-Transport-Security": "max-age=63072000",
                "X-Long": "a" * 60 + "!",  # for a pattern that backtracks
            }
            if self.path == "/redirect":
                headers["Location"] = "http://10.255.255.1/elsewhere"
            self._send(status, body, headers)
        else:
            self._send(404, {"detail": "Not Found"})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        self._send(
            201,
            {
                "method": self.command,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "x_token": self.headers.get("X-Token"),
                "body": raw,
            },
        )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def check(with_: dict[str, Any], tmp_path: Path, timeout_s: float = 30) -> Outcome:
    ctx = KindContext(
        check_id="x",
        base_dir=tmp_path,
        env=dict(os.environ),
        timeout_s=timeout_s,
        mask=Masker([SECRET]),
    )
    return attempt(KIND, KIND.options.model_validate(with_), ctx)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_passes_with_status_json_headers_and_latency(server: str, tmp_path: Path) -> None:
    outcome = check(
        {
            "url": f"{server}/health",
            "status": 200,
            "json": {"ok": True, "workers": [{"n": 2}]},
            "headers": {
                "X-Content-Type-Options": "nosniff",
                "Strict-Transport-Security": "/max-age=\\d+/",
            },
            "max_latency": "2s",
        },
        tmp_path,
    )
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message.startswith(f"GET {server}/health answered 200 in ")
    assert outcome.details["status"] == 200


def test_wrong_status_names_request_expectation_and_masked_body(
    server: str, tmp_path: Path
) -> None:
    outcome = check({"url": f"{server}/down", "status": 200}, tmp_path)
    assert outcome.status is Status.FAIL
    assert outcome.message.startswith(f"GET {server}/down answered 503, expected 200; body: ")
    assert '"redis": "down"' in outcome.message
    assert SECRET not in outcome.message and SECRET not in outcome.output
    assert "***" in outcome.message


def test_status_list(server: str, tmp_path: Path) -> None:
    assert check({"url": f"{server}/down", "status": [200, 503]}, tmp_path).status is Status.PASS
    outcome = check({"url": f"{server}/down", "status": [200, 204]}, tmp_path)
    assert "answered 503, expected 200 or 204" in outcome.message


def test_json_subset_mismatch_lists_each_path(server: str, tmp_path: Path) -> None:
    outcome = check(
        {
            "url": f"{server}/health",
            "json": {"ok": False, "redis": "up", "version": "1", "workers": [{"n": 9}]},
        },
        tmp_path,
    )
    assert outcome.status is Status.FAIL
    assert (
        f"GET {server}/health answered 200 but $.ok: expected false, saw true; "
        '$.version: missing; $.workers[0]: no element matches {"n": 9}'
    ) in outcome.message


def test_body_not_json(server: str, tmp_path: Path) -> None:
    outcome = check({"url": f"{server}/text", "json": {"ok": True}}, tmp_path)
    assert "answered 200 but body is not JSON; body: plain text answer" in outcome.message


def test_contains(server: str, tmp_path: Path) -> None:
    assert (
        check({"url": f"{server}/text", "contains": "text answer"}, tmp_path).status is Status.PASS
    )
    outcome = check({"url": f"{server}/text", "contains": "nope"}, tmp_path)
    assert "body does not contain 'nope'" in outcome.message


def test_missing_and_wrong_headers(server: str, tmp_path: Path) -> None:
    outcome = check(
        {"url": f"{server}/health", "headers": ["X-Frame-Options", "x-content-type-options"]},
        tmp_path,
    )
    assert outcome.status is Status.FAIL
    assert "but header X-Frame-Options missing" in outcome.message
    assert "x-content-type-options" not in outcome.message
    outcome = check(
        {"url": f"{server}/health", "headers": {"X-Content-Type-Options": "sniff"}}, tmp_path
    )
    assert "header X-Content-Type-Options is 'nosniff', expected 'sniff'" in outcome.message


def test_latency_budget(server: str, tmp_path: Path) -> None:
    outcome = check({"url": f"{server}/slow", "max_latency": "100ms"}, tmp_path)
    assert outcome.status is Status.FAIL
    assert "over the 100ms budget" in outcome.message


def test_request_timeout_is_a_failure(server: str, tmp_path: Path) -> None:
    outcome = check({"url": f"{server}/slow", "timeout": "100ms"}, tmp_path)
    assert outcome.status is Status.FAIL
    assert outcome.message == f"GET {server}/slow: no answer within 100ms"


def test_connection_refused(tmp_path: Path) -> None:
    port = free_port()
    outcome = check({"url": f"http://127.0.0.1:{port}/health"}, tmp_path)
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        f"GET http://127.0.0.1:{port}/health: connection refused "
        f"(nothing listening on 127.0.0.1:{port})"
    )


def test_wait_polls_until_it_passes(server: str, tmp_path: Path) -> None:
    Handler.flaky_calls = 0
    outcome = check({"url": f"{server}/flaky", "wait": "5s", "interval": "50ms"}, tmp_path)
    assert outcome.status is Status.PASS, outcome.message
    assert "(ready after " in outcome.message and "3 attempts)" in outcome.message


def test_wait_gives_up_at_its_deadline(server: str, tmp_path: Path) -> None:
    start = time.monotonic()
    outcome = check({"url": f"{server}/down", "wait": "400ms", "interval": "100ms"}, tmp_path)
    assert time.monotonic() - start < 2
    assert outcome.status is Status.FAIL
    assert "answered 503, expected 200 (still failing after " in outcome.message


def test_wait_is_bounded_by_the_check_timeout(server: str, tmp_path: Path) -> None:
    start = time.monotonic()
    outcome = check({"url": f"{server}/down", "wait": "1h", "interval": "100ms"}, tmp_path, 0.5)
    assert time.monotonic() - start < 2
    assert outcome.status is Status.FAIL


def test_redirect_is_not_followed(server: str, tmp_path: Path) -> None:
    outcome = check({"url": f"{server}/redirect", "status": 302}, tmp_path)
    assert outcome.status is Status.PASS, outcome.message


def test_post_json_body_and_request_headers(server: str, tmp_path: Path) -> None:
    outcome = check(
        {
            "url": f"{server}/jobs/canary?x=1",
            "method": "post",
            "body": {"n": 1},
            "request_headers": {"X-Token": "abc"},
            "status": 201,
            "json": {
                "method": "POST",
                "path": "/jobs/canary?x=1",
                "content_type": "application/json",
                "x_token": "abc",
                "body": '{"n": 1}',
            },
        },
        tmp_path,
    )
    assert outcome.status is Status.PASS, outcome.message


def test_head(server: str, tmp_path: Path) -> None:
    assert check({"url": f"{server}/health", "method": "HEAD"}, tmp_path).status is Status.PASS


def test_no_proxy_from_the_environment(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert check({"url": f"{server}/health"}, tmp_path).status is Status.PASS


@pytest.mark.parametrize(
    ("with_", "fragment"),
    [
        ({"url": "ftp://127.0.0.1/x"}, "expected an http:// or https:// URL"),
        ({"url": "http://127.0.0.1:99999/"}, "bad port"),
        ({"url": "http://x/", "method": "FETCH"}, "expected one of GET"),
        ({"url": "http://x/", "status": 42}, "between 100 and 599"),
        ({"url": "http://x/", "headers": {"X-A": "/(/"}}, "bad regular expression"),
        ({"url": "http://x/", "wait": "soon"}, "a duration such as"),
        ({"url": "http://x/", "jsn": {}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_fail_at_load_time(with_: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("(", r"\(").replace("/", "/")):
        KIND.options.model_validate(with_)


def test_json_subset_rules() -> None:
    assert json_mismatches({"a": 1}, {"a": 1.0, "b": 2}) == []
    assert json_mismatches({"a": True}, {"a": 1}) == ["$.a: expected true, saw 1"]
    assert json_mismatches([1, 1], [1, 2]) == ["$[1]: no element matches 1"]
    assert json_mismatches([{"x": {"y": [3]}}], [{"x": {"y": [1, 3]}}]) == []
    assert json_mismatches({"a": {"b": 1}}, {"a": [1]}) == ["$.a: expected an object, saw [1]"]
    assert json_mismatches(None, None) == []


def test_a_catastrophic_header_pattern_ends_the_check_error_within_the_bound(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobcheck import bounded_regex

    monkeypatch.setattr(bounded_regex, "DEFAULT_TIMEOUT_S", 1.0)
    started = time.monotonic()
    outcome = check({"url": f"{server}/health", "headers": {"X-Long": "/(a|aa)+$/"}}, tmp_path)
    assert time.monotonic() - started < 4.0
    assert outcome.status is Status.ERROR, outcome.message
    assert "headers: the pattern '(a|aa)+$' did not finish within 1s" in outcome.message
