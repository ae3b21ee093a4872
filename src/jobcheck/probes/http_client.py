"""One HTTP request to exactly the URL given: no proxy from the environment, no redirect
followed (a 3xx is the answer), a bounded body. Used by the http kind and the canary channels.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jobcheck.durations import format_duration

MAX_BODY_BYTES = 1024 * 1024
EXCERPT_CHARS = 160


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    latency_s: float


def open_connection(url: str, timeout_s: float, verify_tls: bool) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if not verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(host, parts.port, timeout=timeout_s, context=context)
    return http.client.HTTPConnection(host, parts.port, timeout=timeout_s)


def _encoded_body(body: Any) -> tuple[bytes | None, dict[str, str]]:
    if body is None:
        return None, {}
    if isinstance(body, str):
        return body.encode(), {}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def request_target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def request(
    method: str,
    url: str,
    *,
    timeout_s: float,
    body: Any = None,
    headers: dict[str, str] | None = None,
    verify_tls: bool = True,
) -> Answer:
    """One request to exactly ``url`` (no proxy, no redirect followed).

    Raises OSError or http.client.HTTPException when there is no answer; ``no_answer`` turns
    those into a short reason."""
    data, extra = _encoded_body(body)
    sent = {"User-Agent": "jobcheck", **extra, **(headers or {})}
    conn = open_connection(url, timeout_s, verify_tls)
    start = time.monotonic()
    try:
        conn.request(method, request_target(url), body=data, headers=sent)
        response = conn.getresponse()
        content = response.read(MAX_BODY_BYTES)
        return Answer(response.status, response.headers, content, time.monotonic() - start)
    finally:
        conn.close()


def no_answer(exc: BaseException, url: str, timeout_s: float) -> str:
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused (nothing listening on {where})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {format_duration(timeout_s)}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {parts.hostname}: {exc.strerror}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError):
        return "the connection was closed before an answer"
    return f"{type(exc).__name__}: {exc}"


def excerpt(body: bytes, mask: Callable[[str], str], limit: int = EXCERPT_CHARS) -> str:
    """The start of a body on one line, masked before it is cut (no half secret shows)."""
    text = " ".join(mask(body.decode("utf-8", errors="replace")).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
