"""Reach a container port through the Docker engine, published or not, local or remote.

A run that needs ``redis:6379`` of a stack that publishes nothing (or publishes it on another
machine: a remote engine) gets a listener on ``127.0.0.1:<ephemeral>``. Every connection
accepted there becomes one ``docker exec`` (the SDK's hijacked exec stream) into a small
*lease* container on the stack's network; the exec runs a relay (``python3`` and the standard
library) that connects to ``SERVICE:PORT`` by its Compose name — container to container, inside
the engine — and copies bytes both ways. The host never connects to a container's address, and
whatever carries the Docker API (a unix socket, tcp+TLS, ``ssh ... docker system dial-stdio``)
carries the traffic: the same path on a local and a remote engine.

Why a lease container, not an exec into the service's own container: the relay must keep
working while a drill stops the worker or restarts the broker, and a broker image need not have
a ``python3``. The lease is made from an image the stack already has (the target's own image
first, then the other services' images, by image id: nothing is ever pulled), attached to the
target's network, read-only, without capabilities, as ``nobody``. Its one process waits for the
end of its standard input, which is this process's attach stream (``StdinOnce``): when jobcheck
exits — normally, on Ctrl-C or SIGKILL, locally or over ssh — the engine closes that stream,
the process ends and ``auto_remove`` removes the container. An alarm bounds its life anyway.

The relay script and the exec stream's bytes: ``probes.reach_relay``.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from jobcheck.probes import engine
from jobcheck.probes.engine import REACH_LABEL
from jobcheck.probes.reach_relay import NOBODY, RELAY, ExecPipe, pump_down, pump_up

LOOPBACK = "127.0.0.1"
LABEL: Final = REACH_LABEL
# A container inherits its image's labels, and Compose v2 labels the images it builds with
# the project and service that built them: a forwarder made from the broker's image would be
# one more container of that service for Compose and for every kind that lists a service's
# containers (a broker restart would restart it). Blank values match no project's filter.
NOT_COMPOSE: Final = {
    "com.docker.compose.project": "",
    "com.docker.compose.service": "",
    "com.docker.compose.container-number": "",
    "com.docker.compose.config-hash": "",
}

LEASE = "import signal, sys; signal.alarm(int(sys.argv[1])); sys.stdin.buffer.read()"

SPARES = 2  # relays started ahead of need, per forward, at the least
MAX_SPARES = 8  # at the most: as many as connections came in the last DEMAND_S
DEMAND_S = 10.0
# The lease container's memory: one relay is a python3 of ~4.5 MiB of its own (anonymous
# memory; the interpreter's pages are shared), plus its sockets' buffers, plus runc's ~3 MiB
# while an exec starts. 64 MiB held about seven: a Celery check's client opens several
# connections, three such checks at once were OOM-killed mid-reply ("Connection closed by
# server"). This holds Limits.max_connections relays and MAX_SPARES spares with room to spare.
LEASE_MIB = 320


@dataclass(frozen=True)
class Limits:
    connect_s: float = 5.0  # the relay's connection to SERVICE:PORT
    idle_s: float = 300.0  # a relayed connection with no byte either way is closed
    max_bytes: int = 256 * 1024 * 1024  # per relayed connection, both ways
    max_connections: int = 32  # at once, per forward
    lifetime_s: int = 6 * 3600  # the lease container's alarm

    def describe(self) -> str:
        return (
            f"connect {self.connect_s:g}s, idle {self.idle_s:g}s, "
            f"{self.max_bytes // (1024 * 1024)} MiB and {self.max_connections} connections at most"
        )


class ReachError(Exception):
    """The engine could not give a forward (no image with python3, an API error): one line."""


@dataclass
class Forward:
    """``127.0.0.1:PORT`` relayed to ``service:port`` on the stack's network."""

    service: str
    port: int
    address: str
    connections: int = 0
    problems: list[str] = field(default_factory=list)  # the last few
    problem_count: int = 0  # all of them: what an attempt saw is what came after its start

    def problem(self, text: str) -> None:
        self.problems = [*self.problems[-4:], text]
        self.problem_count += 1

    @property
    def label(self) -> str:
        return f"{self.service} via the engine (not published)"


class Reach:
    """One run's forwards: lease containers (one per network) and loopback listeners."""

    def __init__(self, sdk: Any, limits: Limits | None = None) -> None:
        self.sdk = sdk
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._leases: dict[str, Lease] = {}
        self._listeners: dict[tuple[str, str, int], _Listener] = {}
        self._closed = False

    def forward(self, project: str, target: Any, service: str, port: int) -> Forward:
        """The forward to ``service:port`` (``target`` is one of its running containers)."""
        network = _network_of(target)
        key = (network, service, port)
        with self._lock:
            if self._closed:
                raise ReachError("the run is over")
            lease = self._leases.get(network)
            if lease is None or not lease.alive():  # gone with its network (a redeploy)?
                if lease is not None:
                    lease.close()
                lease = Lease.start(self.sdk, project, network, _images(self.sdk, target))
                self._leases[network] = lease
            listener = self._listeners.get(key)
            if listener is None:
                listener = _Listener(self.sdk, lease, service, port, self.limits)
                self._listeners[key] = listener
            listener.renew(lease)
            return listener.forward

    def close(self) -> None:
        with self._lock:
            self._closed = True
            listeners, leases = list(self._listeners.values()), list(self._leases.values())
            self._listeners.clear()
            self._leases.clear()
        for listener in listeners:
            listener.close()
        for lease in leases:
            lease.close()


def spares_wanted(taken: deque[float], now: float) -> int:
    """Relays to keep waiting: SPARES, or the connections of the last DEMAND_S, MAX_SPARES at
    most (``taken`` holds the last MAX_SPARES connections' times)."""
    recent = sum(1 for at in taken if now - at <= DEMAND_S)
    return min(MAX_SPARES, max(SPARES, recent))


def _network_of(container: Any) -> str:
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    usable = [name for name in networks if name not in ("host", "none", "bridge")]
    if not usable:
        raise ReachError(
            f"{container.name} is on no user-defined network ({', '.join(networks) or 'none'}): "
            "nothing in the engine can reach it by its service name"
        )
    return str(sorted(usable)[0])


def _images(sdk: Any, target: Any) -> list[str]:
    """Image ids already in the engine, the target's own first: never a name to pull."""
    project = target.labels.get(engine.PROJECT_LABEL, "")
    ids = [str(target.attrs.get("Image") or "")]
    for container in engine.containers(sdk, project) if project else []:
        ids.append(str(container.attrs.get("Image") or ""))
    return [i for i in dict.fromkeys(ids) if i]


@dataclass
class Lease:
    """The container the relays run in, alive as long as its attach stream is open."""

    sdk: Any
    id: str
    name: str
    stream: Any  # the attach socket: closing it (or this process dying) ends the container

    @classmethod
    def start(cls, sdk: Any, project: str, network: str, images: list[str]) -> Lease:
        seen: list[str] = []
        for image in images:
            lease = cls._try(sdk, project, network, image, seen)
            if lease is not None:
                return lease
        raise ReachError(
            "no image of the stack has python3 to relay through "
            f"({'; '.join(seen) or 'no image found'}); publish the port on 127.0.0.1 instead"
        )

    @classmethod
    def _try(
        cls, sdk: Any, project: str, network: str, image: str, seen: list[str]
    ) -> Lease | None:
        api = sdk.api
        name = f"jobcheck-reach-{project}-{secrets.token_hex(4)}"[:120]
        host_config = api.create_host_config(
            auto_remove=True,
            network_mode=network,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=f"{LEASE_MIB}m",
            pids_limit=64,
        )
        created = api.create_container(
            image,
            command=["-I", "-S", "-c", LEASE, str(Limits.lifetime_s)],
            entrypoint=["python3"],
            user=NOBODY,
            stdin_open=True,
            detach=False,
            name=name,
            labels={LABEL: project, **NOT_COMPOSE},
            host_config=host_config,
        )
        container_id = str(created["Id"])
        try:
            stream = api.attach_socket(container_id, params={"stdin": 1, "stream": 1})
            api.start(container_id)
        except engine.api_errors() as exc:
            seen.append(f"{image[:19]}: {' '.join(str(exc).split())[:120]}")
            with contextlib.suppress(*engine.api_errors()):
                api.remove_container(container_id, force=True)
            return None
        return cls(sdk, container_id, name, stream)

    def alive(self) -> bool:
        try:
            state = self.sdk.api.inspect_container(self.id).get("State") or {}
        except engine.api_errors():
            return False
        return bool(state.get("Running"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(*engine.api_errors()):
            self.sdk.api.remove_container(self.id, force=True)


class _Listener:
    def __init__(self, sdk: Any, lease: Lease, service: str, port: int, limits: Limits) -> None:
        self.sdk, self.lease, self.limits = sdk, lease, limits
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind((LOOPBACK, 0))
        self.server.listen(16)
        self.server.settimeout(0.5)
        self.forward = Forward(service, port, f"{LOOPBACK}:{self.server.getsockname()[1]}")
        self._active: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._spares: list[tuple[float, ExecPipe]] = []  # (started at, relay waiting for b"G")
        self._taken: deque[float] = deque(maxlen=MAX_SPARES)  # when the last spares were taken
        self._want = threading.Event()
        threading.Thread(target=self._accept, name=f"reach-{service}", daemon=True).start()
        threading.Thread(target=self._keep_spares, name=f"reach-{service}+", daemon=True).start()

    def renew(self, lease: Lease) -> None:
        """Relay through ``lease`` from now on (the previous one is gone: so are its spares)."""
        if lease is not self.lease:
            self.lease = lease
            self._drop_spares(everything=True)
            self._want.set()

    def _argv(self) -> list[str]:
        limits, forward = self.limits, self.forward
        argv = ["python3", "-I", "-S", "-c", RELAY, forward.service, str(forward.port)]
        return [*argv, f"{limits.connect_s:g}", f"{limits.idle_s:g}", str(limits.max_bytes)]

    def _keep_spares(self) -> None:
        """Keep relays started and waiting, so a connection does not wait for an exec: SPARES,
        or as many as connections came in the last DEMAND_S (a check's client opens several at
        once, and on a loaded machine an exec can take seconds), MAX_SPARES at most."""
        failures: tuple[type[BaseException], ...] = (*engine.api_errors(), ValueError)
        while not self._closed.is_set():
            self._drop_spares()
            with self._lock:
                missing = spares_wanted(self._taken, time.monotonic()) - len(self._spares)
            if missing <= 0:
                self._want.wait(1.0)
                self._want.clear()
                continue
            try:
                pipe = ExecPipe.open(self.sdk, self.lease.id, self._argv())
            except failures as exc:
                self._problem(f"docker exec: {' '.join(str(exc).split())[:160]}")
                self._closed.wait(1.0)
                continue
            with self._lock:
                if not self._closed.is_set():
                    self._spares.append((time.monotonic(), pipe))
                    continue
            pipe.close()

    def _drop_spares(self, everything: bool = False) -> None:
        oldest = time.monotonic() - self.limits.idle_s / 2  # they wait idle_s for their b"G"
        with self._lock:
            stale = [p for t, p in self._spares if everything or t < oldest]
            self._spares = [(t, p) for t, p in self._spares if p not in stale]
        for pipe in stale:
            pipe.close()

    def _take(self) -> ExecPipe | None:
        self._drop_spares()
        with self._lock:
            pipe = self._spares.pop(0)[1] if self._spares else None
            self._taken.append(time.monotonic())
        self._want.set()
        return pipe

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if len(self._active) >= self.limits.max_connections:
                    client.close()
                    self._problem(f"more than {self.limits.max_connections} connections at once")
                    continue
                self._active.add(client)
                self.forward.connections += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _problem(self, text: str) -> None:
        self.forward.problem(text)

    def _relay(self, client: socket.socket) -> None:
        pipe: ExecPipe | None = None
        failures: tuple[type[BaseException], ...] = (*engine.api_errors(), ValueError)
        try:
            pipe = self._take() or ExecPipe.open(self.sdk, self.lease.id, self._argv())
            pipe.write(b"G")  # go: connect to the service now
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up = threading.Thread(target=pump_up, args=(client, pipe), daemon=True)
            up.start()
            errors = pump_down(pipe, client)
            if errors:
                self._problem(errors)
            elif self._killed(pipe):
                self._problem(
                    f"a relay was killed (SIGKILL: out of the lease's {LEASE_MIB} MiB of memory?)"
                )
        except failures as exc:
            self._problem(f"docker exec: {' '.join(str(exc).split())[:160]}")
        finally:
            with contextlib.suppress(OSError):
                client.close()
            if pipe is not None:
                pipe.close()
            with self._lock:
                self._active.discard(client)

    def _killed(self, pipe: ExecPipe) -> bool:
        """The relay ended by SIGKILL (exit 137): the kernel's OOM killer, in practice. False
        when it cannot tell (still running, the engine gone): this only names a cause."""
        try:
            found = self.sdk.api.exec_inspect(pipe.exec_id)
        except engine.api_errors():
            return False
        return not found.get("Running") and found.get("ExitCode") == 137

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.server.close()
        self._drop_spares(everything=True)
        with self._lock:
            active = list(self._active)
        for client in active:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
