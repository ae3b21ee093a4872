"""probes/web_probes: sizes, loopback-only uploads, debug pages, against a local server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from jobcheck.probes import web_probes


@pytest.mark.parametrize(
    ("text", "size"),
    [("1MiB", 1048576), ("1048576", 1048576), ("512k", 512000), ("2MB", 2000000), ("1 KiB", 1024)],
)
def test_sizes(text: str, size: int) -> None:
    assert web_probes.parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "1 TB", "-1"])
def test_not_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        web_probes.parse_size(text)


@pytest.mark.parametrize(
    ("url", "ok"),
    [("http://127.0.0.1:1/", True), ("http://localhost/", True), ("http://[::1]:8/", True),
     ("http://10.1.2.3/", False), ("http://example.invalid/", False)],
)  # fmt: skip
def test_loopback_only(url: str, ok: bool) -> None:
    assert web_probes.loopback(url) is ok


class Handler(http.server.BaseHTTPRequestHandler):
    limit = 100

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        if length > self.limit:
            self.send_response(413)
            self.send_header("Connection", "close")
            self.end_headers()
            return
        self.rfile.read(length)
        self.send_response(202)
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/docs":
            body = b"<div id='swagger-ui'></div>"
            self.send_response(200)
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_an_upload_refused_before_it_is_read_is_answered(server: str) -> None:
    answer = web_probes.upload("POST", f"{server}/up", 2 * 1024 * 1024, timeout_s=5)
    assert answer.status == 413


def test_an_upload_under_the_limit_is_accepted(server: str) -> None:
    assert web_probes.upload("POST", f"{server}/up", 100, timeout_s=5).status == 202


def test_debug_pages_found_with_what_they_are(server: str) -> None:
    pages = web_probes.debug_pages(f"{server}/health", ["/console", "/docs"], timeout_s=5)
    assert pages == [web_probes.DebugPage("/docs", 200, "Swagger UI")]
