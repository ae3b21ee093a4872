"""A remote engine's stack that publishes nothing, checked from here without `ssh -L`: OpenSSH's
sshd on 127.0.0.1:22022 (throwaway keys, `AllowTcpForwarding no`, so no ssh forward could
help) stands for the staging host; `DOCKER_HOST=ssh://root@127.0.0.1:22022` brings the RQ
stack up with no port published and `${stack.SERVICE.PORT}` reaches Redis and the API through
the engine's exec streams, over ssh. Queue, canaries and a broker restart pass; after the run
and after a SIGKILL nothing is left: no forwarder container, no listening port, no ssh.

Own compose project (jc-h19-reach-remote), sshd on 22022, no published port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reach_stacks import (
    DOCKER,
    assert_nothing_left,
    checks,
    down,
    forwarded_ports,
    jobcheck,
    lease_containers,
    published_ports,
    unpublished,
    wait_for,
)
from sshd_server import INSTALL_HINT, SSHD, SshServer
from test_reach_unpublished_docker import HEADER, RQ, SLEEPER, VIA

from jobcheck.probes import engine

pytestmark = pytest.mark.docker

PROJECT = "jc-h19-reach-remote"
SSH_PORT = 22022


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.is_file():
        pytest.fail(f"{SSHD} is missing: {INSTALL_HINT}", pytrace=False)
    server = SshServer(tmp_path_factory.mktemp("sshd"), SSH_PORT)
    server.prepare()
    assert "AllowTcpForwarding no" in (server.folder / "sshd_config").read_text()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local_sdk() -> Iterator[Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    client = engine.client(env)
    yield client
    client.close()


@pytest.fixture(scope="module")
def remote(sshd: SshServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The checklist's folder, the stack up through sshd; removed (through the local socket)
    after."""
    folder = tmp_path_factory.mktemp("reach-remote")
    local = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    compose = unpublished([DOCKER / "compose.yaml"], PROJECT, folder / "compose.yaml", local)
    down(compose, PROJECT, local)
    (folder / "header.yaml").write_text(
        HEADER.format(
            name="remote",
            env_files=f"[{DOCKER / 'staging.env'}]",
            compose=compose,
            project=PROJECT,
        )
    )
    write(folder, RQ)
    # Up through the local socket: docker-compose v1 over ssh needs paramiko, which this is
    # not about (test_remote_engine_docker.py brings a stack up over ssh); the checks below
    # reach the same engine through sshd only.
    done = jobcheck(["stack", "up", "--no-build"], local, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    yield folder
    down(compose, PROJECT, local)


def accepted_logins(server: SshServer) -> int:
    return server.log.read_text().count("Accepted publickey for root from 127.0.0.1")


def remote_env(sshd: SshServer) -> dict[str, str]:
    env = sshd.client_env({**os.environ, "DOCKER_HOST": sshd.url})
    env.pop("DOCKER_CONTEXT", None)
    return env


def write(folder: Path, checks_text: str) -> None:
    (folder / "jobcheck.yaml").write_text((folder / "header.yaml").read_text() + checks_text)


def test_an_unpublished_stack_on_an_ssh_engine_passes_its_checks_without_ssh_forwards(
    sshd: SshServer, remote: Path, local_sdk: Any
) -> None:
    write(remote, RQ)
    logins = accepted_logins(sshd)
    args = ["run", "--no-stack-up", "--json", "out.json", "--no-color"]
    done = jobcheck(args, remote_env(sshd), remote)
    found = checks(remote / "out.json")
    assert published_ports(local_sdk, PROJECT) == []
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert {c["status"] for c in found.values()} == {"pass"}
    assert found["queue"]["message"].endswith(f"; redis {VIA}")
    assert found["canary-http"]["message"].endswith(f"; api {VIA}; redis {VIA}")
    assert f" on {sshd.url}; redis {VIA}" in found["broker-restart"]["message"]
    assert accepted_logins(sshd) > logins  # through sshd, which forwards no TCP port
    sshd.close_master()  # the shared ssh connection is ssh's, not jobcheck's (ControlPersist)
    ports = forwarded_ports([c["message"] for c in found.values()]) - {SSH_PORT}
    assert_nothing_left(local_sdk, ports, process_marker=f"-p {SSH_PORT}")


def test_a_killed_run_leaves_nothing_on_the_remote_engine(
    sshd: SshServer, remote: Path, local_sdk: Any
) -> None:
    write(remote, SLEEPER)
    process = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", "run", "--no-stack-up", "--no-color"],
        env=remote_env(sshd),
        cwd=remote,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for("the forward's container", lambda: lease_containers(local_sdk), 90)
        time.sleep(1)
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == -signal.SIGKILL, output
    sshd.close_master()
    assert_nothing_left(local_sdk, set(), process_marker="time.sleep(297)")
    assert_nothing_left(local_sdk, set(), process_marker=f"-p {SSH_PORT}")
