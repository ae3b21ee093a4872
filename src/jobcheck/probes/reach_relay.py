"""The relay of a forward through the engine (``probes.reach``): the script that runs inside the
lease container, and the hijacked `docker exec` stream that carries one connection to it.

Without a TTY, Docker frames the exec's output (8-byte headers: stream, size) and passes its
input raw (escape keys apply only with a TTY): demultiplexed here, byte for byte both ways, as
Redis' RESP and AMQP's binary frames need.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
from typing import Any

log = logging.getLogger(__name__)

NOBODY = "65534:65534"
STDOUT, STDERR = 1, 2

# Runs inside the lease container as `python3 -I -S -c RELAY HOST PORT CONNECT IDLE MAX_BYTES`.
# Started ahead of need (a spare: an exec takes from 50 ms to over a second on a busy engine), it
# waits for one byte, b"G", before it connects; then stdin -> HOST:PORT -> stdout, until the
# service ends it, it idles, or the bytes run out.
RELAY = r"""
import os, select, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
connect_s, idle_s, left = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
if not select.select([0], [], [], idle_s)[0] or os.read(0, 1) != b"G":
    sys.exit(0)  # a spare nobody took
try:
    peer = socket.create_connection((host, port), connect_s)
except OSError as exc:
    sys.stderr.write("cannot connect to %s:%d: %s\n" % (host, port, exc))
    sys.exit(3)
peer.settimeout(None)
peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
inputs = [0, peer]
try:
    while True:
        ready = select.select(inputs, [], [], idle_s)[0]
        if not ready:
            sys.stderr.write("idle for %gs: closed\n" % idle_s)
            break
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:  # the client is done sending: so is the relay; read what still comes
                peer.shutdown(socket.SHUT_WR)
                inputs = [peer]
                continue
            peer.sendall(data)
        else:
            data = peer.recv(65536)
            if not data:
                break
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]
        left -= len(data)
        if left < 0:
            sys.stderr.write("byte limit reached: closed\n")
            break
except OSError as exc:
    sys.stderr.write("%s:%d: %s\n" % (host, port, exc))
"""


class ExecPipe:
    """One hijacked exec stream: raw bytes in, Docker's multiplexed frames out.

    Read through the HTTP response's buffered reader (whatever it read past the headers is not
    lost), written through the connection under it: a socket, or the SDK's ssh subprocess."""

    def __init__(self, response: Any, sock: Any, exec_id: str = "") -> None:
        self.exec_id = exec_id
        self.reader = response.raw._fp.fp
        self.response = response
        self.ssh = getattr(sock, "proc", None)
        if isinstance(sock, socket.SocketIO):
            sock = sock._sock  # type: ignore[attr-defined]
        self.sock = sock
        if self.ssh is None:
            sock.settimeout(None)

    @classmethod
    def open(cls, sdk: Any, container_id: str, argv: list[str]) -> ExecPipe:
        api = sdk.api
        exec_id = api.exec_create(
            container_id, argv, stdin=True, stdout=True, stderr=True, tty=False, user=NOBODY
        )["Id"]
        response = api._post_json(
            api._url("/exec/{0}/start", exec_id),
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
            data={"Tty": False, "Detach": False},
            stream=True,
        )
        return cls(response, api._get_raw_response_socket(response), exec_id)

    def read(self, size: int) -> bytes:
        return bytes(self.reader.read1(size))

    def read_exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self.reader.read(left)
            if not chunk:
                return b""
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        if self.ssh is not None:
            self.ssh.stdin.close()
        elif isinstance(self.sock, ssl.SSLSocket):
            # TLS cannot half-close (shutdown drops the SSL layer): end the stream instead.
            self.close()
        else:
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self.ssh is not None:
            with contextlib.suppress(OSError, ValueError):
                self.ssh.stdin.close()
            self.ssh.terminate()
            with contextlib.suppress(Exception):
                self.ssh.wait(5)
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(Exception):
            self.response.close()


def pump_up(client: socket.socket, pipe: ExecPipe) -> None:
    """Client -> relay's stdin, raw; the client's end of stream becomes the relay's."""
    try:
        while data := client.recv(65536):
            pipe.write(data)
        pipe.close_write()
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)


def pump_down(pipe: ExecPipe, client: socket.socket) -> str:
    """Relay's frames -> client (stdout) or the returned text (stderr, bounded)."""
    errors = b""
    try:
        while header := pipe.read_exactly(8):
            stream, size = struct.unpack(">BxxxL", header)
            payload = pipe.read_exactly(size)
            if len(payload) < size:
                break
            if stream == STDOUT:
                client.sendall(payload)
            elif stream == STDERR and len(errors) < 1024:
                errors += payload
    except (OSError, ValueError) as exc:
        log.debug("relay ended: %s", exc)
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_WR)
    return " ".join(errors.decode("utf-8", "replace").split())[:300]
