"""The demo stacks with NOTHING published, and what "nothing left behind" means, for the reach
tests (test_reach_unpublished_docker.py on the local engine, test_reach_remote_docker.py
through sshd).

A Compose override cannot take `ports:` away: both docker-compose v1 and v2 merge the lists
(v2's `!reset` would, v1 has nothing). So the stack's own files go through `compose config`
(every path absolute, env files read, overrides merged) and every service loses its `ports:` and
its `build:` (the images exist already: nothing is built or pulled). Checklists then name
`${stack.SERVICE.PORT}` exactly as for a published stack.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
REACH_LABEL = "io.jobcheck.reach"
RUN_TIMEOUT_S = 600
GONE_DEADLINE_S = 15.0


def compose_command() -> list[str]:
    chosen = os.environ.get("JOBCHECK_COMPOSE")
    if chosen:
        return shlex.split(chosen)
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
    )
    return ["docker", "compose"] if probe.returncode == 0 else ["docker-compose"]


def unpublished(files: Sequence[Path], project: str, out: Path, env: Mapping[str, str]) -> Path:
    """One compose file: ``files`` merged, with no service publishing a port (nor building)."""
    argv = [*compose_command(), *[a for f in files for a in ("-f", str(f))], "-p", project]
    done = subprocess.run(
        [*argv, "config"], env=dict(env), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    for service in config["services"].values():
        service.pop("ports", None)
        service.pop("build", None)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def down(compose: Path, project: str, env: Mapping[str, str]) -> None:
    argv = [*compose_command(), "-f", str(compose), "-p", project, "down", "-v"]
    subprocess.run([*argv, "--remove-orphans"], env=dict(env), capture_output=True, timeout=180)


def jobcheck(
    args: list[str], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def checks(report: Path) -> dict[str, dict[str, Any]]:
    data: dict[str, Any] = json.loads(report.read_text())
    return {c["id"]: c for c in data["checks"]}


def published_ports(sdk: Any, project: str) -> list[str]:
    found = []
    for container in sdk.containers.list(
        all=True, filters={"label": [f"com.docker.compose.project={project}"]}
    ):
        for inside, bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
            found += [f"{container.name} {inside}" for _ in bindings or []]
    return found


def forwarded_ports(messages: Sequence[str]) -> set[int]:
    return {int(p) for m in messages for p in re.findall(r"127\.0\.0\.1:(\d+)", m)}


def assert_nothing_left(sdk: Any, ports: set[int], process_marker: str = "") -> None:
    """No forwarder container (running or not), no listener on the forwarded ports, and no
    process whose command line holds ``process_marker`` (e.g. the ssh of a remote engine)."""
    deadline = time.monotonic() + GONE_DEADLINE_S
    while True:
        left = [c.name for c in sdk.containers.list(all=True, filters={"label": REACH_LABEL})]
        listening = [p for p in sorted(ports) if _listening(p)]
        processes = _processes(process_marker) if process_marker else []
        if not (left or listening or processes) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (left, listening, processes) == ([], [], []), (left, listening, processes)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid} {cmdline.strip()}")
    return found


def lease_containers(sdk: Any) -> list[str]:
    return [c.name for c in sdk.containers.list(filters={"label": REACH_LABEL})]


def wait_for(what: str, ready: Any, deadline_s: float = 120.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {deadline_s:g}s")
