"""Which containers a check looks at (``Selector``), and what a running container shows about
how it is stopped and what it may do: its process tree (who is PID 1), its stop signal, its
privileges, and its logs. Read through the Docker SDK (``engine``): nothing runs inside the
container, so images without ``ps`` or a shell work too.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jobcheck.probes import engine
from jobcheck.probes.engine import Container, DockerClient

SHELLS: Final = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})
INITS: Final = frozenset({"docker-init", "tini", "tini-static", "dumb-init", "catatonit"})
DOCKER_SOCKET: Final = "docker.sock"
LOG_TAIL_LINES: Final = 20000  # a bound on what a log scan reads per container


@dataclass(frozen=True)
class Selector:
    """Which containers a check looks at: a compose service of a project, or — for a staging
    environment that is not a compose project of ours — containers by label and/or name glob."""

    project: str | None = None
    service: str | None = None  # None: every service of the project
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    name: str | None = None  # a glob over container names: "staging-worker-*"

    @property
    def by_compose(self) -> bool:
        return not self.labels and self.name is None

    def __str__(self) -> str:
        if self.by_compose:
            which = f"service {self.service!r}" if self.service else "every service"
            return f"{which} of project {self.project!r}"
        parts = []
        if self.labels:
            shown = ", ".join(f"{k}={v}" if v else k for k, v in sorted(self.labels.items()))
            parts.append(f"labelled {shown}")
        if self.name is not None:
            parts.append(f"named {self.name!r}")
        return "containers " + " and ".join(parts)


def select(
    sdk: DockerClient, selector: Selector, *, include_stopped: bool = True
) -> list[Container]:
    """The containers a selector names: compose ones as ``containers`` finds them; others by
    their labels (the engine filters) and name glob (matched here), sorted by name."""
    if selector.by_compose:
        assert selector.project is not None
        return engine.containers(
            sdk, selector.project, selector.service, include_stopped=include_stopped
        )
    labels = [f"{k}={v}" if v else k for k, v in sorted(selector.labels.items())]
    filters = {"label": labels} if labels else {}
    # A sparse listing is one request; only the matches are inspected (one request each, which
    # counts over ssh, where each is its own session).
    listed = sdk.containers.list(all=include_stopped, filters=filters, sparse=True)
    wanted = [c.id for c in listed if _matches(_sparse_name(c), selector.name)]
    found = []
    for ident in wanted:
        try:
            found.append(sdk.containers.get(ident))
        except engine.not_found():  # removed since it was listed: not there
            continue
    return sorted(found, key=lambda c: c.name or "")


def _sparse_name(container: Container) -> str:
    names = container.attrs.get("Names") or [container.attrs.get("Name") or ""]
    return str(names[0]).lstrip("/")


def _matches(name: str, pattern: str | None) -> bool:
    return pattern is None or fnmatch.fnmatchcase(name, pattern)


@dataclass(frozen=True)
class Process:
    pid: int  # as the host sees it
    ppid: int
    args: str

    @property
    def program(self) -> str:
        """The basename of argv[0]: ``celery`` for ``/opt/venv/bin/celery worker``."""
        first = self.args.split()[0] if self.args.split() else ""
        return os.path.basename(first)

    @property
    def shell(self) -> bool:
        return self.program in SHELLS

    @property
    def init(self) -> bool:
        return self.program in INITS

    def shown(self, limit: int = 80) -> str:
        return self.args if len(self.args) <= limit else self.args[: limit - 3] + "..."


def processes(container: Container) -> list[Process]:
    """Every process of a running container, with host pids (``docker top``)."""
    top: dict[str, Any] = container.top(ps_args="-o pid,ppid,args")
    titles = [t.upper() for t in top.get("Titles") or []]
    try:
        pid_at, ppid_at = titles.index("PID"), titles.index("PPID")
    except ValueError:
        return []
    found = []
    for row in top.get("Processes") or []:
        if str(row[pid_at]).isdigit() and str(row[ppid_at]).isdigit():
            found.append(Process(int(row[pid_at]), int(row[ppid_at]), str(row[-1])))
    return found


def pid1(container: Container, procs: Sequence[Process]) -> Process | None:
    """The container's PID 1 (``State.Pid`` is its host pid)."""
    host_pid = int((container.attrs.get("State") or {}).get("Pid") or 0)
    return next((p for p in procs if p.pid == host_pid), None)


def children(procs: Sequence[Process], parent: Process) -> list[Process]:
    return [p for p in procs if p.ppid == parent.pid]


def stop_signal(container: Container) -> str:
    """The signal `docker stop` sends: compose ``stop_signal`` / the image's STOPSIGNAL, else
    SIGTERM; as a name (``SIGTERM``)."""
    return signal_name(str((container.attrs.get("Config") or {}).get("StopSignal") or "SIGTERM"))


def signal_name(value: str) -> str:
    """``15``, ``TERM`` and ``sigterm`` all as ``SIGTERM``; an unknown word as written."""
    text = value.strip().upper()
    if text.isdigit():
        try:
            return signal.Signals(int(text)).name
        except ValueError:
            return text
    return text if text.startswith("SIG") else f"SIG{text}"


def init_enabled(container: Container) -> bool:
    """compose ``init: true`` (docker run --init): docker-init is PID 1."""
    return bool((container.attrs.get("HostConfig") or {}).get("Init"))


@dataclass(frozen=True)
class Privileges:
    privileged: bool
    cap_add: tuple[str, ...]
    socket_mounts: tuple[str, ...]  # where the Docker socket is mounted inside
    read_only: bool
    user: str

    @property
    def root(self) -> bool:
        return self.user.split(":")[0].strip() in ("", "root", "0")


def privileges(container: Container) -> Privileges:
    attrs: dict[str, Any] = container.attrs
    host: dict[str, Any] = attrs.get("HostConfig") or {}
    mounts: list[dict[str, Any]] = attrs.get("Mounts") or []
    sockets = tuple(
        str(m.get("Destination", ""))
        for m in mounts
        if str(m.get("Source", "")).endswith(DOCKER_SOCKET)
        or str(m.get("Destination", "")).endswith(DOCKER_SOCKET)
    )
    return Privileges(
        privileged=bool(host.get("Privileged")),
        # Compose v2 sends CAP_NET_ADMIN, v1 (and `docker run`) NET_ADMIN: one name for both.
        cap_add=tuple(str(c).upper().removeprefix("CAP_") for c in host.get("CapAdd") or []),
        socket_mounts=sockets,
        read_only=bool(host.get("ReadonlyRootfs")),
        user=str((attrs.get("Config") or {}).get("User") or ""),
    )


def log_lines(container: Container, tail: int = LOG_TAIL_LINES) -> list[str]:
    """The container's stdout and stderr since it was created (its last ``tail`` lines)."""
    raw = container.logs(stdout=True, stderr=True, tail=tail)
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return text.splitlines()


def secret_hits(lines: Sequence[str], secrets: Mapping[str, str]) -> dict[str, int]:
    """Secret name -> how many of ``lines`` hold its value (names with no hit left out).
    Never returns a value: callers report names and counts only."""
    hits: dict[str, int] = {}
    for name, value in sorted(secrets.items()):
        count = sum(1 for line in lines if value in line)
        if count:
            hits[name] = count
    return hits
