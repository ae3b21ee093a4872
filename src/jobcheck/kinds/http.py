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

from jobcheck import bounded_regex
from jobcheck.durations import Duration, format_duration
from jobcheck.kinds._measure import BaselineOptions, CpuClock, compare, judged
from jobcheck.kinds.base import CheckError, Kind, KindContext, empty_dict, empty_list
from jobcheck.metrics import parse_tolerance, shown, spread
from jobcheck.probes.http_client import Answer, excerpt, no_answer, request
from jobcheck.probes.load_driver import Hit, hammer
from jobcheck.probes.web_probes import (
    DEBUG_PATHS,
    MAX_UPLOAD_BYTES,
    debug_pages,
    loopback,
    parse_size,
    upload,
)
from jobcheck.results import Outcome, Status

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
OUTPUT_CHARS = 2000
MAX_FINDINGS = 5
MAX_REQUESTS = 10_000
MAX_CONCURRENCY = 64
COMPARED = ("p95_s", "error_rate")  # compared with the baseline; the rest shown beside it


class Options(BaselineOptions):
    url: str = Field(description="http:// or https:// URL; only that host and port are contacted")
    method: str = Field("GET", description="HTTP method")
    request_headers: dict[str, str] = Field(
        default_factory=empty_dict, description="Headers to send"
    )
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, description="Request body: text, or a mapping/list sent as JSON"
    )
    status: int | list[int] = Field(200, description="Expected status code, or a list of them")
    json_: Any = Field(
        None, alias="json", description="A JSON subset the response body must contain"
    )
    contains: str | None = Field(None, description="Text the response body must contain")
    headers: list[str] | dict[str, str] = Field(
        default_factory=empty_list,
        description="Required response headers: names, or name -> exact value or /regex/",
    )
    max_latency: Duration | None = Field(None, description="Latency budget for the answer")
    wait: Duration = Field(0.0, description="Poll until the expectation holds, at most this long")
    interval: Duration = Field(1.0, description="Pause between polls while waiting")
    timeout: Duration = Field(10.0, description="Per request")
    verify_tls: bool = Field(True, description="Verify the server certificate for https")
    upload_limit: int | str | None = Field(
        None,
        description="Send a body one byte over this (e.g. 1MiB) to a loopback URL: it must be "
        "refused (status defaults to 413, method to POST)",
    )
    health_url: str | None = Field(
        None, description="After the request, GET here must answer 2xx (the service stayed up)"
    )
    no_debug: bool = Field(
        False, description="No framework debug page answers 2xx at the URL's origin"
    )
    debug_paths: list[str] = Field(
        default_factory=lambda: list(DEBUG_PATHS),
        description="The paths no_debug probes (Werkzeug console, FastAPI docs, ...)",
    )
    requests: int | None = Field(
        None, ge=1, le=MAX_REQUESTS, description="Under load: send this many (at most 10,000)"
    )
    concurrency: int = Field(
        1, ge=1, le=MAX_CONCURRENCY, description="Under load: requests in flight at once"
    )
    p95: Duration | None = Field(None, description="Under load: budget for the p95 latency")
    max_error_rate: float = Field(
        0.0,
        description="Under load: the share of requests that may fail (unanswered, or not as "
        "expected): a percentage, 1%",
    )

    @field_validator("max_error_rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> float:
        return parse_tolerance(value)

    @model_validator(mode="before")
    @classmethod
    def _upload_defaults(cls, data: Any) -> Any:
        """An upload check expects a refusal: POST, 413, unless told otherwise."""
        if isinstance(data, dict) and data.get("upload_limit") is not None:
            return {"method": "POST", "status": 413, **data}
        return data

    @field_validator("upload_limit")
    @classmethod
    def _size(cls, value: int | str | None) -> int | None:
        if value is None:
            return None
        size = parse_size(value)
        if not 0 < size < MAX_UPLOAD_BYTES:
            raise ValueError(f"upload_limit must be between 1 byte and {MAX_UPLOAD_BYTES} bytes")
        return size

    @field_validator("health_url")
    @classmethod
    def _health_url(cls, value: str | None) -> str | None:
        return cls._http_url(value) if value is not None else None

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
                        bounded_regex.check_pattern(wanted[1:-1])
                    except re.error as exc:
                        raise ValueError(f"header {name}: bad regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _upload(self) -> Options:
        if self.upload_limit is None:
            return self
        if not loopback(self.url):
            raise ValueError(
                f"upload_limit sends an oversized body: only to a loopback address "
                f"(127.0.0.1, localhost, ::1), got {self.url!r}"
            )
        if self.body is not None:
            raise ValueError("upload_limit makes its own body: leave body out")
        return self

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
        try:
            return bounded_regex.search(wanted[1:-1], seen) is not None
        except bounded_regex.RegexFailed as exc:
            raise CheckError(f"headers: {exc}") from None
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


def _send(options: Options, timeout_s: float) -> Answer:
    if isinstance(options.upload_limit, int):
        return upload(
            options.method,
            options.url,
            options.upload_limit + 1,
            timeout_s=timeout_s,
            headers=options.request_headers,
        )
    return request(
        options.method,
        options.url,
        timeout_s=timeout_s,
        body=options.body,
        headers=options.request_headers,
        verify_tls=options.verify_tls,
    )


def after_problems(options: Options, timeout_s: float) -> list[str]:
    """What the follow-up probes find: the service down after the request, a debug page."""
    problems = []
    if options.health_url is not None:
        try:
            health = request("GET", options.health_url, timeout_s=timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            health = None
            problems.append(f"then GET {options.health_url}: {no_answer(exc, options.url, 0)}")
        if health is not None and not 200 <= health.status < 300:
            problems.append(f"then GET {options.health_url} answered {health.status}, expected 2xx")
    if options.no_debug:
        pages = debug_pages(
            options.url, options.debug_paths, timeout_s=timeout_s, verify_tls=options.verify_tls
        )
        problems += [f"debug page {p.path} answered {p.status} ({p.what})" for p in pages]
    return problems


def attempt(options: Options, ctx: KindContext) -> Attempt:
    timeout_s = max(0.05, min(options.timeout, ctx.remaining()))
    try:
        answer = _send(options, timeout_s)
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(None, unreachable=no_answer(exc, options.url, timeout_s))
    problems = judge(options, answer)
    if not problems:
        problems = after_problems(options, timeout_s)
    return Attempt(answer, problems)


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
    if options.requests is None:
        return _single(options, ctx)
    if options.wait:
        ready = _single(options, ctx)
        if ready.status != Status.PASS:
            return ready
    return under_load(options, ctx, options.requests)


def _single(options: Options, ctx: KindContext) -> Outcome:
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


# --- under load ---------------------------------------------------------------------------------


def _hit(options: Options, ctx: KindContext) -> Hit:
    timeout_s = max(0.05, min(options.timeout, ctx.remaining()))
    start = time.monotonic()
    try:
        answer = _send(options, timeout_s)
    except (OSError, http.client.HTTPException) as exc:
        return Hit(time.monotonic() - start, no_answer(exc, options.url, timeout_s))
    problems = judge(options, answer)
    return Hit(answer.latency_s, problems[0] if problems else "")


def under_load(options: Options, ctx: KindContext, requests: int) -> Outcome:
    """``requests`` requests, ``concurrency`` at a time: latency percentiles and the error rate
    against ``p95``, ``max_error_rate`` and the baseline; then the follow-up probes once."""
    cpu = CpuClock()
    hits, took = hammer(
        lambda: _hit(options, ctx), requests, options.concurrency,
        time.monotonic() + ctx.remaining(), ctx.cancel,
    )  # fmt: skip
    errors = [h for h in hits if h.problem]
    metrics = spread("", [h.latency_s for h in hits if not h.problem])
    metrics |= {
        "error_rate": round(len(errors) / len(hits), 4) if hits else 1.0,
        "throughput_per_s": round(len(hits) / took, 3) if took > 0 else 0.0,
        "cpu_per_request_ms": cpu.per(len(hits)),
    }
    findings = []
    if len(hits) < requests:
        findings.append(f"only {len(hits)} of {requests} requests sent before the timeout")
    if metrics["error_rate"] > options.max_error_rate:
        rate = shown("error_rate", metrics["error_rate"])
        first = f"; first: {errors[0].problem}" if errors else ""
        findings.append(
            f"{len(errors)} of {len(hits)} requests failed ({rate}, at most "
            f"{options.max_error_rate * 100:g} % may){first}"
        )
    if options.p95 is not None and "p95_s" in metrics and metrics["p95_s"] > options.p95:
        findings.append(
            f"p95 latency {shown('p95_s', metrics['p95_s'])} is over its budget "
            f"{format_duration(options.p95)}"
        )
    findings += after_problems(options, max(0.05, min(options.timeout, ctx.remaining())))
    summary = (
        f"{options.method} {options.url}: {len(hits)} requests ({options.concurrency} at a time)"
    )
    if "p95_s" in metrics:
        summary += (
            f": p50 {shown('p50_s', metrics['p50_s'])}, p95 {shown('p95_s', metrics['p95_s'])}"
        )
    summary += f", {shown('error_rate', metrics['error_rate'])} errors in {took:.1f}s"
    comparison = compare(metrics, COMPARED, options, ctx)
    details = {"requests": len(hits), "errors": len(errors), "concurrency": options.concurrency}
    return judged(summary, findings, comparison, metrics, details)


KIND = Kind(
    name="http",
    options=Options,
    run=run,
    uses_stack=True,
    waits=True,
    summary="status, JSON subset, response headers and latency of an HTTP request; can wait",
    cacheable=False,
    example={
        "url": "http://127.0.0.1:8000/health",
        "status": 200,
        "json": {"ok": True},
        "headers": {"X-Content-Type-Options": "nosniff"},
        "max_latency": "500ms",
        "wait": "30s",
    },
)
