"""Security probes of an HTTP service, beside ``http_client``'s one request: an oversized
upload (is it refused?) and the framework debug pages (is one answering?).

Both talk only to the URL's own host and port; the upload only to a loopback address, with a
bounded size, so a check can never flood a remote service.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from jobcheck.probes.http_client import (
    MAX_BODY_BYTES,
    Answer,
    open_connection,
    request,
    request_target,
)

MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024
CHUNK: Final = 64 * 1024
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS: Final = {
    "": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3,
}  # fmt: skip

# Paths where a framework's debug or introspection page answers when it was left on.
DEBUG_PATHS: Final = (
    "/console",  # Werkzeug's interactive debugger console (Flask debug=True)
    "/docs",  # FastAPI's Swagger UI
    "/redoc",  # FastAPI's ReDoc
    "/openapi.json",  # FastAPI's schema
    "/__debug__/",  # Django Debug Toolbar
)
# Words that tell a debug page from an ordinary 200 (a SPA answering every path).
DEBUG_MARKERS: Final = (
    ("Werkzeug Debugger", "the Werkzeug debugger"),
    ("__debugger__", "the Werkzeug debugger"),
    ("swagger-ui", "Swagger UI"),
    ("redoc", "ReDoc"),
    ('"openapi"', "an OpenAPI schema"),
    ("djdt", "the Django Debug Toolbar"),
    ("Traceback (most recent call last)", "a traceback"),
)


def parse_size(value: int | str) -> int:
    """Bytes from ``1048576``, ``1MiB``, ``512k``, ``2MB``; ValueError when not a size."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size is not negative, got {value}")
        return value
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"expected a size such as 1048576, 512KiB or 1MiB, got {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "").lower().rstrip("b")
    return int(number * _UNITS[unit])


def loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def upload(
    method: str, url: str, size: int, *, timeout_s: float, headers: dict[str, str] | None = None
) -> Answer:
    """Send a body of ``size`` bytes with its Content-Length, and read the answer. A server
    that refuses early may close before the whole body is sent: the answer is read anyway."""
    if size > MAX_UPLOAD_BYTES:
        raise ValueError(f"upload of {size} bytes is over jobcheck's bound ({MAX_UPLOAD_BYTES})")
    conn = open_connection(url, timeout_s, verify_tls=True)
    start = time.monotonic()
    try:
        conn.putrequest(method, request_target(url))
        sent = {"User-Agent": "jobcheck", "Content-Type": "application/octet-stream"}
        for name, value in {**sent, **(headers or {}), "Content-Length": str(size)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        chunk = b"0" * CHUNK
        left = size
        try:
            while left > 0:
                conn.send(chunk[: min(CHUNK, left)])
                left -= CHUNK
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end of the body: its answer is already on the way
        response = conn.getresponse()
        content = response.read(MAX_BODY_BYTES)
        return Answer(response.status, response.headers, content, time.monotonic() - start)
    finally:
        conn.close()


@dataclass(frozen=True)
class DebugPage:
    path: str
    status: int
    what: str  # which debug page it looks like


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def debug_pages(
    url: str, paths: Sequence[str], *, timeout_s: float, verify_tls: bool = True
) -> list[DebugPage]:
    """The debug pages that answer 2xx at ``url``'s origin, each with what it looks like.
    A path that does not answer (refused, timed out) is not a debug page."""
    found = []
    for path in paths:
        target = _origin(url) + (path if path.startswith("/") else f"/{path}")
        try:
            answer = request("GET", target, timeout_s=timeout_s, verify_tls=verify_tls)
        except (OSError, http.client.HTTPException):
            continue
        if not 200 <= answer.status < 300:
            continue
        text = answer.body.decode("utf-8", errors="replace")
        what = next((name for marker, name in DEBUG_MARKERS if marker in text), "a page")
        found.append(DebugPage(path, answer.status, what))
    return found
