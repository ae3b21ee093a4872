"""A staging engine on another host, for real: OpenSSH's sshd on 127.0.0.1 (throwaway keys, key
auth only) forwards ``ssh://root@127.0.0.1:PORT`` to this machine's own engine, and
`jobcheck run` brings the demo stack up through it and checks it (the Docker SDK over ssh) —
chosen by DOCKER_HOST, then by a Docker context. With sshd stopped, every Docker check is one
fast `error` line naming the engine.

Both Compose CLIs, for real, where they differ: v2 (`docker compose`, the default) reaches
ssh:// through the docker CLI's connection helper and names containers `p-s-1`; v1
(`docker-compose`, on the system Python) goes through docker-py's SSH adapter, which cannot load
without paramiko even when it runs the system's ssh (Debian's python3-paramiko, installed by
scripts/engine.sh), and names them `p_s_1`.

Own compose project (jc-remote-ssh), ports 18801/16801, sshd on 2222 and 2223.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sshd_server import INSTALL_HINT, SSHD, SshServer

from jobcheck.probes import engine

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "jc-remote-ssh"
PORTS = {"API_PORT": "18801", "REDIS_PORT": "16801"}
RUN_TIMEOUT_S = 420


def checklist(stack_extra: str = "") -> str:
    return f"""\
version: 1
name: remote engine
defaults: {{owner: "@team", expect: healthy, rollback: redeploy, timeout: 90s}}
stack:
  compose: [{ROOT}/docker/compose.yaml]
  env_file: {ROOT}/docker/staging.env
  project: {PROJECT}
  up: true
  build: false
  wait: 240s
{stack_extra}checks:
  - {{id: api-up, kind: service, with: {{service: api, healthy: true, wait: 60s}}}}
  - id: worker-up
    kind: service
    with: {{service: worker, healthy: true, wait: 60s, exec: "python -c 'import app.jobs'"}}
  - {{id: redis-up, kind: service, with: {{service: redis, healthy: true, wait: 60s}}}}
"""


def jobcheck(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def accepted_logins(server: SshServer) -> int:
    return server.log.read_text().count("Accepted publickey for root from 127.0.0.1")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.is_file():
        pytest.fail(f"{SSHD} is missing: {INSTALL_HINT}", pytrace=False)
    server = SshServer(tmp_path_factory.mktemp("sshd"), 2222)
    server.prepare()
    server.start()
    yield server
    server.stop()


def down_locally() -> None:
    """Remove the project through the local socket (with v2 when there: it removes what
    either CLI created)."""
    env = {k: v for k, v in {**os.environ, **PORTS}.items() if k != "DOCKER_HOST"}
    has_v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    down = [
        *(["docker", "compose"] if has_v2.returncode == 0 else ["docker-compose"]),
        "-f", str(ROOT / "docker" / "compose.yaml"), "-p", PROJECT,
        "--env-file", str(ROOT / "docker" / "staging.env"), "down", "-v", "--remove-orphans",
    ]  # fmt: skip
    subprocess.run(down, env=env, capture_output=True, timeout=180)


@pytest.fixture(scope="module")
def remote_stack() -> Iterator[None]:
    """Tear the project down (through the local socket) when the module is done."""
    down_locally()
    yield
    down_locally()


# JOBCHECK_COMPOSE -> the name that CLI gives the api container
API_CONTAINER = {"v2": f"{PROJECT}-api-1", "v1": f"{PROJECT}_api_1"}


@pytest.mark.parametrize("compose", list(API_CONTAINER))
def test_docker_host_over_ssh_brings_the_stack_up_and_checks_it(
    sshd: SshServer, remote_stack: None, tmp_path: Path, compose: str
) -> None:
    down_locally()  # each CLI creates the stack itself
    (tmp_path / "jobcheck.yaml").write_text(checklist())
    env = sshd.client_env({**os.environ, **PORTS, "DOCKER_HOST": sshd.url})
    env.pop("DOCKER_CONTEXT", None)
    env["JOBCHECK_COMPOSE"] = compose
    sshd.close_master()
    logins = accepted_logins(sshd)
    done = jobcheck(["run", "--json", "out.json", "--no-color"], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"stack: engine {sshd.url} (DOCKER_HOST)" in done.stdout + done.stderr
    checks = report(tmp_path / "out.json")["checks"]
    assert [(c["id"], c["status"]) for c in checks] == [
        ("api-up", "pass"),
        ("worker-up", "pass"),
        ("redis-up", "pass"),
    ]
    for check in checks:
        assert check["message"].endswith(f" on {sshd.url}"), check["message"]
    # Through sshd, not the local socket: compose and the SDK each logged in.
    assert accepted_logins(sshd) > logins
    sdk = engine.client({k: v for k, v in os.environ.items() if k != "DOCKER_HOST"})
    try:
        containers = engine.containers(sdk, PROJECT)
        assert {c.labels[engine.SERVICE_LABEL] for c in containers} == {"api", "worker", "redis"}
        assert API_CONTAINER[compose] in {c.name for c in containers}, containers
    finally:
        sdk.close()


def test_a_docker_context_wins_over_a_dead_docker_host(
    sshd: SshServer, remote_stack: None, tmp_path: Path
) -> None:
    docker_cli = shutil.which("docker") or "docker"
    config = tmp_path / "docker-config"
    env = sshd.client_env({**os.environ, **PORTS, "DOCKER_CONFIG": str(config)})
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine-here.sock"
    env.pop("DOCKER_CONTEXT", None)
    created = subprocess.run(
        [docker_cli, "context", "create", "jc-remote", "--docker", f"host={sshd.url}"],
        env={k: v for k, v in env.items() if k != "DOCKER_HOST"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    stack_extra = "  context: jc-remote\n"
    (tmp_path / "jobcheck.yaml").write_text(checklist(stack_extra))
    sshd.close_master()
    logins = accepted_logins(sshd)
    done = jobcheck(["run", "--json", "out.json", "--no-color"], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"stack: engine {sshd.url} (context jc-remote (stack.context))" in done.stdout + done.stderr
    )
    checks = report(tmp_path / "out.json")["checks"]
    assert {c["status"] for c in checks} == {"pass"}
    assert all(c["message"].endswith(f" on {sshd.url}") for c in checks)
    assert accepted_logins(sshd) > logins


UNREACHABLE_CHECKS = """\
checks:
  - {id: api-up, kind: service, timeout: 60s, with: {service: api, wait: 50s}}
  - {id: by-label, kind: service, timeout: 60s, with: {labels: {app: worker}, wait: 50s}}
  - id: drill
    kind: shutdown
    timeout: 60s
    with: {via: rq, redis_url: "redis://:pw-123456@127.0.0.1:1/0", name: "staging-worker-*"}
  - {id: api-again, kind: service, timeout: 60s, with: {service: api, running: true}}
"""


@pytest.mark.parametrize("up", [False, True], ids=["checks", "stack-up"])
def test_with_sshd_stopped_every_docker_check_is_one_fast_error_naming_the_engine(
    tmp_path: Path, up: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not SSHD.is_file():
        pytest.fail(f"{SSHD} is missing: {INSTALL_HINT}", pytrace=False)
    server = SshServer(tmp_path / "sshd", 2223)
    server.prepare()
    server.start()
    env = server.client_env({**os.environ, "DOCKER_HOST": server.url})
    # The SDK's ssh runs with this process's environment (os.environ), not the env given.
    monkeypatch.setenv("PATH", env["PATH"])
    try:  # the same address works while sshd runs ...
        engine.client(env).close()
    finally:
        server.stop()
    (tmp_path / "jobcheck.yaml").write_text(
        f"""\
version: 1
name: unreachable remote engine
defaults: {{owner: "@team", expect: healthy, rollback: redeploy}}
stack: {{compose: [{ROOT}/docker/compose.yaml], project: {PROJECT}, up: {str(up).lower()}}}
"""
        + UNREACHABLE_CHECKS
    )
    start = time.monotonic()
    done = jobcheck(["run", "--json", "out.json", "--no-color"], env, tmp_path)
    took = time.monotonic() - start
    assert done.returncode == 1, done.stdout + done.stderr
    assert took < 25, f"took {took:.1f}s: the unreachable engine was waited for per check"
    reason = (
        f"Docker engine unreachable at {server.url} (DOCKER_HOST): ssh: connect to host "
        f"127.0.0.1 port 2223: Connection refused; try `ssh -p 2223 root@127.0.0.1 docker "
        "version` from this machine"
    )
    checks = report(tmp_path / "out.json")["checks"]
    assert [c["status"] for c in checks] == ["error"] * 4
    for check in checks:
        assert "\n" not in check["message"]
        assert reason in check["message"], check["message"]
