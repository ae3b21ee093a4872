"""A minimal Redis client (stdlib sockets, RESP2) and RQ's key layout, for the host side.

Why not redis-py for everything: reading RQ's state is a handful of commands on keys whose
layout has been stable across RQ 1.x-3.x (``rq:queue:NAME`` list, ``rq:job:ID`` hash,
``rq:failed:NAME`` sorted set, ``rq:workers:NAME`` set), so the queue, job and shutdown checks
need no extra package and control their own timeouts and one-line errors. Only *enqueueing*
by function name goes through the real ``rq`` package (optional extra ``jobcheck[rq]``),
because the job's serialized payload must be exactly what the worker's RQ expects.
"""

from __future__ import annotations

import base64
import datetime
import socket
import time
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from jobcheck.durations import format_duration
from jobcheck.outcomes import CheckError, CheckFailed

DEFAULT_TIMEOUT_S = 5.0
PREFIX = "rq"


class RedisUnavailable(CheckFailed):
    """Redis did not answer (refused, timed out, closed): the service under test is down."""


class RedisRejected(CheckError):
    """Redis answered with an error (wrong password, unknown command): a setup problem."""


@dataclass(frozen=True)
class RedisURL:
    host: str
    port: int
    db: int
    username: str
    password: str

    @classmethod
    def parse(cls, url: str) -> RedisURL:
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname:
            raise ValueError(f"expected redis://[:PASSWORD@]HOST[:PORT][/DB], got {_shown(url)!r}")
        db_text = parts.path.strip("/") or "0"
        if not db_text.isdigit():
            raise ValueError(f"the database in {_shown(url)!r} must be a number")
        return cls(
            host=parts.hostname,
            port=parts.port or 6379,
            db=int(db_text),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
        )

    @property
    def where(self) -> str:
        return f"Redis at {self.host}:{self.port}"


def _shown(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def validate_url(url: str) -> str:
    """For options models: a ValueError with the accepted form when ``url`` is not redis://."""
    RedisURL.parse(url)
    return url


class Redis:
    """One connection; ``command("LLEN", "rq:queue:default")`` returns the decoded reply."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = RedisURL.parse(url)
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> Redis:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        try:
            self._sock = socket.create_connection((self.url.host, self.url.port), self.timeout_s)
        except ConnectionRefusedError:
            raise RedisUnavailable(f"{self.url.where} refused the connection") from None
        except TimeoutError:
            raise RedisUnavailable(
                f"{self.url.where} did not answer within {format_duration(self.timeout_s)}"
            ) from None
        except OSError as exc:
            raise RedisUnavailable(f"{self.url.where}: {exc.strerror or exc}") from None
        if self.url.password:
            auth = (
                [self.url.username, self.url.password] if self.url.username else [self.url.password]
            )
            self._call("AUTH", *auth, what="AUTH")
        if self.url.db:
            self.command("SELECT", str(self.url.db))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def command(self, *args: str) -> Any:
        """The reply with bulk strings decoded as UTF-8."""
        return _decoded(self._call(*args, what=args[0].upper()))

    def command_raw(self, *args: str) -> Any:
        """The reply with bulk strings as bytes (for compressed or pickled values)."""
        return self._call(*args, what=args[0].upper())

    def _call(self, *args: str, what: str) -> Any:
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        payload = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            payload.append(b"$%d\r\n%s\r\n" % (len(data), data))
        try:
            self._sock.sendall(b"".join(payload))
            reply = self._reply()
        except TimeoutError:
            raise RedisUnavailable(
                f"{self.url.where} did not answer {what} within {format_duration(self.timeout_s)}"
            ) from None
        except OSError as exc:
            raise RedisUnavailable(f"{self.url.where} dropped the connection ({exc})") from None
        if isinstance(reply, _Error):
            raise RedisRejected(f"{self.url.where} rejected {what}: {reply.text}")
        return reply

    def _line(self) -> bytes:
        assert self._sock is not None
        while b"\r\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed by the server")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        assert self._sock is not None
        while len(self._buffer) < size + 2:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed by the server")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size + 2 :]
        return data

    def _reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return _Error(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exactly(size)
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ConnectionResetError(f"unexpected reply {line[:40]!r}")


@dataclass(frozen=True)
class _Error:
    text: str


def _decoded(reply: Any) -> Any:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", errors="replace")
    if isinstance(reply, list):
        return [_decoded(item) for item in reply]
    return reply


# --- RQ's key layout ---------------------------------------------------------------------------


def queue_depth(r: Redis, queue: str) -> int:
    return int(r.command("LLEN", f"{PREFIX}:queue:{queue}"))


def failed_count(r: Redis, queue: str) -> int:
    """Entries of the failed-job registry not yet expired (the score is the expiry time)."""
    return int(r.command("ZCOUNT", f"{PREFIX}:failed:{queue}", f"{time.time():.3f}", "+inf"))


def live_workers(r: Redis, queue: str) -> list[str]:
    """Workers registered on ``queue`` whose heartbeat key still exists, by name."""
    keys = sorted(r.command("SMEMBERS", f"{PREFIX}:workers:{queue}") or [])
    return [k.split(":", 2)[-1] for k in keys if int(r.command("EXISTS", k))]


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    state: str  # idle, busy, suspended, ...
    heartbeat_age_s: float | None  # None when the worker never wrote one

    def describe(self) -> str:
        age = (
            ""
            if self.heartbeat_age_s is None
            else f", last heartbeat {self.heartbeat_age_s:.0f}s ago"
        )
        return f"{self.name[:8]} {self.state or 'unknown'}{age}"


def worker_info(r: Redis, name: str) -> WorkerInfo:
    state, beat = r.command("HMGET", f"{PREFIX}:worker:{name}", "state", "last_heartbeat")
    return WorkerInfo(name, state or "", _age_of(beat))


def _age_of(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (datetime.datetime.now(datetime.UTC) - when).total_seconds())


def maxmemory_policy(r: Redis) -> str:
    reply = r.command("CONFIG", "GET", "maxmemory-policy")
    return str(reply[1]) if isinstance(reply, list) and len(reply) == 2 else ""


@dataclass(frozen=True)
class JobInfo:
    id: str
    status: str  # queued, started, finished, failed, deferred, scheduled, stopped, canceled
    worker: str = ""
    origin: str = ""
    exc_info: str = ""


JOB_FIELDS = ("status", "worker_name", "origin", "exc_info")


def job_info(r: Redis, job_id: str) -> JobInfo | None:
    """The job's hash, or None when the job does not exist (never enqueued, or expired)."""
    values = r.command_raw("HMGET", f"{PREFIX}:job:{job_id}", *JOB_FIELDS)
    if not values or all(v is None for v in values):
        return None
    status, worker, origin = (_decoded(v or b"") for v in values[:3])
    return JobInfo(job_id, status or "unknown", worker, origin, _exc_text(values[3] or b""))


def _exc_text(raw: bytes) -> str:
    """RQ stores exc_info zlib-compressed (older versions: plain text); RQ 3 keeps it in the
    results stream instead, and then this is empty."""
    try:
        return zlib.decompress(raw).decode("utf-8", errors="replace")
    except zlib.error:
        return raw.decode("utf-8", errors="replace")


def last_failure(r: Redis, job_id: str) -> str:
    """The last line of a failed job's traceback: RQ 1.12+ keeps it in the results stream
    (``rq:results:ID``, base64 of zlib), older RQ in the job hash. '' when there is none."""
    entries = r.command_raw("XREVRANGE", f"{PREFIX}:results:{job_id}", "+", "-", "COUNT", "1")
    text = ""
    if entries:
        flat = entries[0][1]
        fields = {_decoded(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}
        raw = fields.get("exc_string")
        if raw:
            try:
                text = zlib.decompress(base64.b64decode(raw)).decode("utf-8", errors="replace")
            except (ValueError, zlib.error):
                text = ""
    if not text:
        info = job_info(r, job_id)
        text = info.exc_info if info is not None else ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- enqueueing through the real RQ package ----------------------------------------------------


class RQMissing(CheckError):
    """The optional ``rq``/``redis`` packages are not installed on the host."""


def enqueue(
    url: str,
    queue: str,
    function: str,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    job_timeout_s: float,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Enqueue ``function`` (a dotted name the worker can import) and return the job id."""
    try:
        import redis
        from rq import Queue
    except ImportError as exc:
        raise RQMissing(
            f"enqueueing through RQ needs the rq and redis packages on this host ({exc.name} is "
            "missing): pip install 'jobcheck[rq]', or use `via: http`"
        ) from None
    where = RedisURL.parse(url).where
    conn = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        job = Queue(queue, connection=conn).enqueue_call(
            function, args=tuple(args), kwargs=kwargs, timeout=int(max(1, job_timeout_s))
        )
    except redis.exceptions.AuthenticationError as exc:
        raise RedisRejected(f"{where} rejected the password: {exc}") from None
    except redis.exceptions.ResponseError as exc:
        raise RedisRejected(f"{where} rejected the enqueue: {exc}") from None
    except redis.exceptions.TimeoutError:
        raise RedisUnavailable(
            f"{where} did not answer within {format_duration(timeout_s)}"
        ) from None
    except redis.exceptions.ConnectionError as exc:
        refused = "refused" in str(exc).lower()
        raise RedisUnavailable(
            f"{where} refused the connection" if refused else f"{where}: {exc}"
        ) from None
    finally:
        conn.close()
    return str(job.id)
