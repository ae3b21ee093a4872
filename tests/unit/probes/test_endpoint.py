"""Which engine: DOCKER_HOST, contexts made by the real docker CLI, the order between them, and
an ssh:// engine that does not answer (the real ssh client against a closed port)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from jobcheck.probes import endpoint, engine
from jobcheck.probes.endpoint import Endpoint

DOCKER_CLI = shutil.which("docker")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_context(config: Path, name: str, host: str) -> None:
    if DOCKER_CLI is None:
        pytest.fail("the docker CLI is missing: bash scripts/engine.sh", pytrace=False)
    done = subprocess.run(
        [DOCKER_CLI, "context", "create", name, "--docker", f"host={host}"],
        env={"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin", "HOME": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_default_is_the_local_socket_and_says_docker_host_is_unset(tmp_path: Path) -> None:
    where = endpoint.resolve({"HOME": str(tmp_path)})
    assert where == Endpoint("unix:///var/run/docker.sock", "")
    assert str(where) == "unix:///var/run/docker.sock (DOCKER_HOST is unset)"
    assert not where.chosen and where.on == ""


def test_docker_host_is_named_in_messages(tmp_path: Path) -> None:
    where = endpoint.resolve({"DOCKER_HOST": "ssh://deploy@staging:2200", "HOME": str(tmp_path)})
    assert str(where) == "ssh://deploy@staging:2200 (DOCKER_HOST)"
    assert where.ssh and where.on == " on ssh://deploy@staging:2200"
    assert where.hint() == "try `ssh -p 2200 deploy@staging docker version` from this machine"
    assert where.cli_env({"DOCKER_HOST": where.url}) == {"DOCKER_HOST": where.url}
    local = endpoint.resolve({"DOCKER_HOST": "unix:///run/docker.sock"})
    assert local.chosen and not local.remote and local.on == ""  # messages stay as they were


def test_contexts_made_by_the_docker_cli_and_the_order_docker_uses(tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    make_context(config, "staging", "ssh://root@10.0.0.5:2222")
    make_context(config, "other", "tcp://127.0.0.1:2375")
    env = {"DOCKER_CONFIG": str(config)}

    checklist = endpoint.resolve({**env, "DOCKER_HOST": "unix:///x.sock"}, "staging")
    assert checklist.url == "ssh://root@10.0.0.5:2222"
    assert str(checklist) == "ssh://root@10.0.0.5:2222 (context staging (stack.context))"
    # DOCKER_HOST beats DOCKER_CONTEXT, as in the docker CLI
    both = endpoint.resolve({**env, "DOCKER_HOST": "unix:///x.sock", "DOCKER_CONTEXT": "other"})
    assert str(both) == "unix:///x.sock (DOCKER_HOST)"
    named = endpoint.resolve({**env, "DOCKER_CONTEXT": "other"})
    assert str(named) == "tcp://127.0.0.1:2375 (context other (DOCKER_CONTEXT))"
    assert named.hint() == "try `docker -H tcp://127.0.0.1:2375 version` from this machine"

    used = subprocess.run(
        [str(DOCKER_CLI), "context", "use", "staging"],
        env={"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin", "HOME": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert used.returncode == 0, used.stderr
    current = endpoint.resolve(env)
    assert str(current) == "ssh://root@10.0.0.5:2222 (context staging (docker context use))"
    assert endpoint.resolve({**env, "DOCKER_CONTEXT": "default"}).url == endpoint.DEFAULT_SOCKET

    # the Compose CLI reads no contexts: it gets the context's engine as DOCKER_HOST
    assert checklist.cli_env({**env, "DOCKER_CONTEXT": "other", "DOCKER_HOST": "unix:///x"}) == {
        **env,
        "DOCKER_HOST": "ssh://root@10.0.0.5:2222",
    }


def test_a_missing_context_is_one_line_saying_how_to_create_it(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    with pytest.raises(engine.EngineUnreachable) as caught:
        engine.client(env, timeout_s=2, context="staging")
    assert str(caught.value) == (
        "Docker engine unreachable at context staging (stack.context): "
        f"Docker context 'staging' does not exist (looked in {tmp_path}/contexts); create it "
        "with `docker context create staging --docker host=ssh://USER@HOST`; "
        "`docker context ls` lists the contexts"
    )


def test_an_ssh_engine_that_refuses_is_one_line_in_ssh_s_words(tmp_path: Path) -> None:
    port = closed_port()
    env = {"DOCKER_HOST": f"ssh://root@127.0.0.1:{port}", "PATH": "/usr/bin:/bin"}
    with pytest.raises(engine.EngineUnreachable) as caught:
        engine.client(env, timeout_s=5)
    assert str(caught.value) == (
        f"Docker engine unreachable at ssh://root@127.0.0.1:{port} (DOCKER_HOST): ssh: connect "
        f"to host 127.0.0.1 port {port}: Connection refused; try `ssh -p {port} "
        "root@127.0.0.1 docker version` from this machine"
    )


def test_ssh_argv_is_what_the_sdk_runs() -> None:
    assert endpoint.ssh_argv("ssh://me@h:22", "docker system dial-stdio") == [
        "ssh", "-l", "me", "-p", "22", "--", "h", "docker system dial-stdio",
    ]  # fmt: skip
    assert endpoint.ssh_command("ssh://h", "docker version") == "ssh h docker version"
