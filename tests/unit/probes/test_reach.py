"""The relay that runs inside the engine, run here as a real process against a real server, and
the demultiplexing of Docker's exec stream. Against a real engine (local and over ssh):
tests/integration/test_reach_unpublished.py, tests/e2e/test_reach_remote_docker.py."""

from __future__ import annotations

import io
import socket
import socketserver
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator

import pytest

from jobcheck.probes import reach, reach_relay

EVERY_BYTE = bytes(range(256)) * 64 + b"\x10\x11"  # ctrl-p ctrl-q: Docker's detach keys


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def relay(port: int, idle_s: float = 5, max_bytes: int = 10**6) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-I", "-S", "-c", reach_relay.RELAY, "127.0.0.1", str(port), "2"]
    return subprocess.Popen(
        [*argv, f"{idle_s:g}", str(max_bytes)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_the_relay_copies_every_byte_both_ways_and_ends_with_its_input(echo: int) -> None:
    process = relay(echo)
    out, err = process.communicate(b"G" + EVERY_BYTE, timeout=20)
    assert (out, err, process.returncode) == (EVERY_BYTE, b"", 0)


def test_the_relay_closes_an_idle_connection_and_says_so(echo: int) -> None:
    process = relay(echo, idle_s=0.3)
    assert process.stdin is not None
    process.stdin.write(b"Gping")
    process.stdin.flush()
    assert process.wait(timeout=20) == 0
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read() == b"ping"
    assert process.stderr.read() == b"idle for 0.3s: closed\n"
    process.stdin.close()


def test_the_relay_stops_at_its_byte_limit(echo: int) -> None:
    process = relay(echo, max_bytes=100)
    _, err = process.communicate(b"G" + b"x" * 1000, timeout=20)
    assert err == b"byte limit reached: closed\n"


def test_a_refused_connection_is_one_line_on_stderr() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    process = relay(port)
    _, err = process.communicate(b"G", timeout=20)
    assert process.returncode == 3
    assert err.decode().startswith(f"cannot connect to 127.0.0.1:{port}: ")


def test_a_spare_relay_nobody_took_ends_quietly_without_connecting(echo: int) -> None:
    """Started ahead of need, it connects only on b"G": not at all when closed or idle."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = unused.getsockname()[1]
    closed = relay(refused)
    assert closed.communicate(b"", timeout=20) == (b"", b"")
    idle = relay(refused, idle_s=0.2)
    assert idle.wait(timeout=20) == 0
    assert idle.stderr is not None and idle.stderr.read() == b""
    assert closed.returncode == 0


class Frames:
    """An exec stream as Docker sends it: 8-byte headers (stream, size) and payloads."""

    def __init__(self, data: bytes) -> None:
        self.reader = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]

    def read_exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        return data if len(data) == size else b""


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def test_stdout_frames_reach_the_client_byte_for_byte_and_stderr_is_the_reason() -> None:
    stream = frame(1, EVERY_BYTE[:5000]) + frame(2, b"idle for 300s:\n closed\n")
    stream += frame(1, EVERY_BYTE[5000:]) + frame(1, b"")
    near, far = socket.socketpair()
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(iter_recv(far)))
    reader.start()
    reason = reach_relay.pump_down(Frames(stream), near)  # type: ignore[arg-type]
    reader.join(10)
    near.close()
    far.close()
    assert bytes(got) == EVERY_BYTE
    assert reason == "idle for 300s: closed"


def iter_recv(sock: socket.socket) -> Iterator[int]:
    while data := sock.recv(65536):
        yield from data


def test_limits_are_described_for_explain() -> None:
    assert reach.Limits().describe() == (
        "connect 5s, idle 300s, 256 MiB and 32 connections at most"
    )


def test_the_spares_follow_the_connections_of_the_last_seconds() -> None:
    """A check's client opens several connections at once: as many relays wait as came in
    the last DEMAND_S, SPARES at the least and MAX_SPARES at the most."""
    taken: deque[float] = deque(maxlen=reach.MAX_SPARES)
    assert reach.spares_wanted(taken, 100.0) == reach.SPARES
    taken.extend([95.0, 96.0, 97.0, 98.0, 99.0])
    assert reach.spares_wanted(taken, 100.0) == 5
    assert reach.spares_wanted(taken, 100.0 + reach.DEMAND_S) == reach.SPARES  # demand passed
    taken.extend([99.5] * 20)
    assert reach.spares_wanted(taken, 100.0) == reach.MAX_SPARES
