"""``http``: status, JSON subset, response headers and latency of one HTTP request.

Talks only to the host and port the URL names: no proxy from the environment, no redirect
followed (a 3xx is the answer). Can poll until the expectation holds (``wait``).
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds.base import Kind, KindContext, KindOptions
from jobcheck.probes.http_client import Answer, excerpt, no_answer, request
from jobcheck.results import Outcome

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
OUTPUT_CHARS = 2000
MAX_FINDINGS = 5


class Options(KindOptions):
    url: str = Field(description="http:// or https:// URL; only that host and port are contacted")
    method: str = Field("GET", description="HTTP method")
    request_headers: dict[str, str] = Field(default_factory=dict, description="Headers to send")
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, description="Request body: text, or a mapping/list sent as JSON"
    )
    status: int | list[int] = Field(200, description="Expected status code, or a list of them")
    json_: Any = Field(
        None, alias="json", description="A JSON subset the response body must contain"
    )
    contains: str | None = Field(None, description="Text the response body must contain")
    headers: list[str] | dict[str, str] = Field(
        default_factory=list,
        description="Required response headers: names, or name -> exact value or /regex/",
    )
    max_latency: Duration | None = Field(None, description="Latency budget for the answer")
    wait: Duration = Field(0.0, description="Poll until the expectation holds, at most this long")
    interval: Duration = Field(1.0, description="Pause between polls while waiting")
    timeout: Duration = Field(10.0, description="Per request")
    verify_tls: bool = Field(True, description="Verify the server certificate for https")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}: {exc}") from None
        return value

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value.upper() not in METHODS:
            raise ValueError(f"expected one of {', '.join(METHODS)}, got {value!r}")
        return value.upper()

    @field_validator("status")
    @classmethod
    def _status_codes(cls, value: int | list[int]) -> int | list[int]:
        codes = value if isinstance(value, list) else [value]
        if not codes or any(not 100 <= c <= 599 for c in codes):
            raise ValueError(f"status codes are between 100 and 599, got {value!r}")
        return value

    @field_validator("headers")
    @classmethod
    def _header_regexes(cls, value: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        if isinstance(value, dict):
            for name, wanted in value.items():
                if _is_regex(wanted):
                    try:
                        re.compile(wanted[1:-1])
                    except re.error as exc:
                        raise ValueError(f"header {name}: bad regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _timing(self) -> Options:
        if self.timeout <= 0:
            raise ValueError("timeout must be more than 0")
        if self.wait and self.interval <= 0:
            raise ValueError("interval must be more than 0 when wait is set")
        return self

    @property
    def statuses(self) -> list[int]:
        return self.status if isinstance(self.status, list) else [self.status]


@dataclass
class Attempt:
    """One request and what was wrong with its answer (nothing wrong: passed)."""

    answer: Answer | None
    problems: list[str] = field(default_factory=list)
    unreachable: str = ""

    @property
    def ok(self) -> bool:
        return self.answer is not None and not self.problems and not self.unreachable


def _is_regex(value: str) -> bool:
    return len(value) >= 2 and value.startswith("/") and value.endswith("/")


# --- judging the answer ------------------------------------------------------------------------


def json_mismatches(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` does not contain ``expected``: mappings by key (extra keys are fine),
    lists by element (each expected element matches a distinct actual one, in any order),
    scalars by equality (``true`` is not ``1``)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, saw {_short(actual)}"]
        found: list[str] = []
        for key, want in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing")
            else:
                found.extend(json_mismatches(want, actual[key], f"{path}.{key}"))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, saw {_short(actual)}"]
        return _list_mismatches(expected, actual, path)
    if type(expected) is not type(actual) and not _both_numbers(expected, actual):
        return [f"{path}: expected {_short(expected)}, saw {_short(actual)}"]
    if expected != actual:
        return [f"{path}: expected {_short(expected)}, saw {_short(actual)}"]
    return []


def _list_mismatches(expected: list[Any], actual: list[Any], path: str) -> list[str]:
    unused = list(range(len(actual)))
    found = []
    for index, want in enumerate(expected):
        match = next((i for i in unused if not json_mismatches(want, actual[i])), None)
        if match is None:
            found.append(f"{path}[{index}]: no element matches {_short(want)}")
        else:
            unused.remove(match)
    return found


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _header_problems(options: Options, answer: Answer) -> list[str]:
    wanted = options.headers
    names = wanted if isinstance(wanted, list) else list(wanted)
    problems = []
    for name in names:
        seen = answer.headers.get(name)
        if seen is None:
            problems.append(f"header {name} missing")
            continue
        if isinstance(wanted, dict) and not _header_value_ok(wanted[name], seen):
            problems.append(f"header {name} is {seen!r}, expected {wanted[name]!r}")
    return problems


def _header_value_ok(wanted: str, seen: str) -> bool:
    if _is_regex(wanted):
        return re.search(wanted[1:-1], seen) is not None
    return wanted.strip() == seen.strip()


def _body_problems(options: Options, answer: Answer) -> list[str]:
    problems = []
    text = answer.body.decode("utf-8", errors="replace")
    if options.contains is not None and options.contains not in text:
        problems.append(f"body does not contain {options.contains!r}")
    if options.json_ is not None:
        try:
            document = json.loads(text)
        except ValueError:
            problems.append("body is not JSON")
        else:
            problems.extend(json_mismatches(options.json_, document))
    return problems


def judge(options: Options, answer: Answer) -> list[str]:
    """Every way the answer misses the expectation; status first (it explains the rest)."""
    if answer.status not in options.statuses:
        wanted = " or ".join(str(s) for s in options.statuses)
        return [f"answered {answer.status}, expected {wanted}"]
    problems = _body_problems(options, answer) + _header_problems(options, answer)
    if options.max_latency is not None and answer.latency_s > options.max_latency:
        problems.append(
            f"took {format_duration(answer.latency_s)}, over the "
            f"{format_duration(options.max_latency)} budget"
        )
    return problems


def attempt(options: Options, ctx: KindContext) -> Attempt:
    timeout_s = max(0.05, min(options.timeout, ctx.remaining()))
    try:
        answer = request(
            options.method,
            options.url,
            timeout_s=timeout_s,
            body=options.body,
            headers=options.request_headers,
            verify_tls=options.verify_tls,
        )
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(None, unreachable=no_answer(exc, options.url, timeout_s))
    return Attempt(answer, judge(options, answer))


# --- the check ---------------------------------------------------------------------------------


def _output(answer: Answer, ctx: KindContext) -> str:
    text = answer.body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= OUTPUT_CHARS else text[: OUTPUT_CHARS - 3] + "..."


def _waited(tries: int, since: float, state: str) -> str:
    if tries <= 1:
        return ""
    return f" ({state} after {format_duration(time.monotonic() - since)}, {tries} attempts)"


def _failure(options: Options, ctx: KindContext, last: Attempt, waited: str) -> Outcome:
    request = f"{options.method} {options.url}"
    if last.answer is None:
        return Outcome.failed(f"{request}: {last.unreachable}{waited}")
    shown = last.problems[:MAX_FINDINGS]
    more = len(last.problems) - len(shown)
    text = "; ".join(p for p in shown) + (f"; and {more} more" if more else "")
    if not text.startswith("answered"):
        text = f"answered {last.answer.status} but {text}"
    shown_body = excerpt(last.answer.body, ctx.mask)
    body = f"; body: {shown_body}" if shown_body else ""
    return Outcome.failed(
        f"{request} {text}{waited}{body}",
        output=_output(last.answer, ctx),
        details={"status": last.answer.status, "latency_s": round(last.answer.latency_s, 4)},
    )


def run(options: Options, ctx: KindContext) -> Outcome:
    since = time.monotonic()
    give_up = since + min(options.wait, ctx.remaining())
    tries = 0
    while True:
        tries += 1
        last = attempt(options, ctx)
        left = give_up - time.monotonic()
        if last.ok or left <= 0:
            break
        if not ctx.sleep(min(options.interval, left)):
            break
    if not last.ok:
        return _failure(options, ctx, last, _waited(tries, since, "still failing"))
    assert last.answer is not None
    return Outcome.passed(
        f"{options.method} {options.url} answered {last.answer.status} "
        f"in {format_duration(last.answer.latency_s)}{_waited(tries, since, 'ready')}",
        details={"status": last.answer.status, "latency_s": round(last.answer.latency_s, 4)},
    )


KIND = Kind(
    name="http",
    options=Options,
    run=run,
    summary="status, JSON subset, response headers and latency of an HTTP request; can wait",
    example={
        "url": "http://127.0.0.1:8000/health",
        "status": 200,
        "json": {"ok": True},
        "headers": {"X-Content-Type-Options": "nosniff"},
        "max_latency": "500ms",
        "wait": "30s",
    },
)
