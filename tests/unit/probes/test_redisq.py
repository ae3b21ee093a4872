"""The minimal Redis client against a small RESP server on 127.0.0.1 (protocol-level fake:
the real Redis is exercised by the docker-marked integration tests)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobcheck.probes import redisq

PASSWORD = "pa ss:word"


def encode(value: Any) -> bytes:
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, Exception):
        return f"-{value}\r\n".encode()
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(encode(v) for v in value)
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


class FakeRedis(socketserver.StreamRequestHandler):
    data: dict[str, Any] = {
        "rq:queue:default": ["j1", "j2", "j3"],
        "rq:workers:default": ["rq:worker:w1", "rq:worker:gone"],
        "rq:worker:w1": {"state": "idle"},
        "rq:job:j1": {"status": "started", "worker_name": "w1", "origin": "default"},
    }

    def read_command(self) -> list[str]:
        header = self.rfile.readline()
        if not header:
            return []
        args = []
        for _ in range(int(header[1:])):
            size = int(self.rfile.readline()[1:])
            args.append(self.rfile.read(size + 2)[:-2].decode())
        return args

    def handle(self) -> None:
        authed = False
        while args := self.read_command():
            name = args[0].upper()
            if name == "AUTH":
                authed = args[-1] == PASSWORD
                reply: Any = (
                    "OK" if authed else Exception("WRONGPASS invalid username-password pair")
                )
                self.wfile.write(b"+OK\r\n" if authed else encode(reply))
                continue
            if not authed:
                self.wfile.write(encode(Exception("NOAUTH Authentication required.")))
                continue
            self.wfile.write(encode(self.answer(name, args[1:])))

    def answer(self, name: str, args: list[str]) -> Any:
        data = self.data
        if name == "SLEEP":
            time.sleep(1)
            return "OK"
        if name == "SELECT":
            return "OK" if args[0] == "2" else Exception("ERR DB index is out of range")
        if name == "LLEN":
            return len(data.get(args[0], []))
        if name == "SMEMBERS":
            return list(data.get(args[0], []))
        if name == "EXISTS":
            return int(args[0] in data)
        if name == "ZCOUNT":
            return 4
        if name == "CONFIG":
            return ["maxmemory-policy", "noeviction"]
        if name == "HMGET":
            row = data.get(args[0])
            return [None if row is None else row.get(f) for f in args[1:]]
        return Exception(f"ERR unknown command '{name}'")


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FakeRedis)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield int(srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def url(port: int, password: str = "pa%20ss%3Aword", db: int = 2) -> str:
    return f"redis://:{password}@127.0.0.1:{port}/{db}"


def test_reads_rq_state(server: int) -> None:
    with redisq.Redis(url(server)) as r:
        assert redisq.queue_depth(r, "default") == 3
        assert redisq.live_workers(r, "default") == ["w1"]
        assert redisq.failed_count(r, "default") == 4
        assert redisq.maxmemory_policy(r) == "noeviction"
        assert redisq.job_info(r, "j1") == redisq.JobInfo("j1", "started", "w1", "default", "")
        assert redisq.job_info(r, "missing") is None


def test_wrong_password_is_rejected(server: int) -> None:
    with pytest.raises(redisq.RedisRejected) as caught:
        redisq.Redis(url(server, password="nope")).connect()
    assert str(caught.value) == (
        f"Redis at 127.0.0.1:{server} rejected AUTH: WRONGPASS invalid username-password pair"
    )


def test_bad_database_is_rejected(server: int) -> None:
    with pytest.raises(redisq.RedisRejected, match="rejected SELECT: ERR DB index"):
        redisq.Redis(url(server, db=9)).connect()


def test_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(redisq.RedisUnavailable) as caught:
        redisq.Redis(url(port)).connect()
    assert str(caught.value) == f"Redis at 127.0.0.1:{port} refused the connection"


def test_slow_answer_times_out(server: int) -> None:
    with (
        redisq.Redis(url(server), timeout_s=0.2) as r,
        pytest.raises(redisq.RedisUnavailable) as caught,
    ):
        r.command("SLEEP")
    assert str(caught.value) == f"Redis at 127.0.0.1:{server} did not answer SLEEP within 200ms"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("http://127.0.0.1:6379", "expected redis://"),
        ("redis://:secret@127.0.0.1:6379/x", "must be a number"),
    ],
)
def test_url_validation_hides_the_password(value: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as caught:
        redisq.validate_url(value)
    assert "secret" not in str(caught.value)


def test_url_parts() -> None:
    parsed = redisq.RedisURL.parse("redis://user:p%40ss@localhost/3")
    assert parsed == redisq.RedisURL("localhost", 6379, 3, "user", "p@ss")
