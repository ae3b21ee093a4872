"""Docker SDK access without an engine: the unreachable error, states read from attrs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from jobcheck.probes import engine


def test_unreachable_socket_is_one_line_with_what_was_tried_and_how_to_start(
    tmp_path: Path,
) -> None:
    sock = tmp_path / "nope.sock"
    with pytest.raises(engine.EngineUnreachable) as caught:
        engine.client({"DOCKER_HOST": f"unix://{sock}"}, timeout_s=2)
    message = str(caught.value)
    assert message == (
        f"Docker engine unreachable at unix://{sock} (DOCKER_HOST): no such socket; start it with "
        "`sudo dockerd &`, `bash scripts/engine.sh` or `systemctl start docker`"
    )


def test_unreachable_tcp_port_is_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(engine.EngineUnreachable) as caught:
        engine.client({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, timeout_s=2)
    assert f"tcp://127.0.0.1:{port} (DOCKER_HOST): connection refused;" in str(caught.value)


def test_default_address_says_docker_host_is_unset() -> None:
    assert engine.engine_address({}) == "unix:///var/run/docker.sock (DOCKER_HOST is unset)"


class FakeContainer:
    """Just the attributes engine reads, shaped like the SDK's Container."""

    def __init__(self, attrs: dict[str, Any], labels: dict[str, str], name: str) -> None:
        self.attrs = attrs
        self.labels = labels
        self.name = name
        self.short_id = "abc123"


def test_state_of_reads_health_restarts_oom_and_ports() -> None:
    attrs = {
        "RestartCount": 2,
        "State": {
            "Status": "running",
            "ExitCode": 0,
            "OOMKilled": True,
            "Health": {
                "Status": "unhealthy",
                "Log": [
                    {"ExitCode": 0, "Output": ""},
                    {"ExitCode": 1, "Output": "redis down\n  retry\n"},
                ],
            },
        },
        "NetworkSettings": {
            "Ports": {
                "8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000"}],
                "9000/tcp": None,
                "53/udp": [{"HostIp": "", "HostPort": "5353"}],
            }
        },
        "Config": {"StopTimeout": 30, "User": "10001:10001", "Env": ["A=1", "REDIS_URL=redis://x"]},
    }
    container = FakeContainer(attrs, {engine.SERVICE_LABEL: "api"}, "p_api_1")
    state = engine.state_of(container)  # type: ignore[arg-type]
    assert state == engine.ContainerState(
        service="api",
        name="p_api_1",
        state="running",
        health="unhealthy",
        restarts=2,
        exit_code=0,
        oom_killed=True,
        ports=["0.0.0.0:5353->53/udp", "127.0.0.1:8000->8000/tcp"],
        health_log="exit 1: redis down retry",
    )
    assert not state.ready
    assert engine.stop_grace_s(container) == 30.0  # type: ignore[arg-type]
    assert engine.configured_user(container) == "10001:10001"  # type: ignore[arg-type]
    assert engine.env_keys(container) == {"A", "REDIS_URL"}  # type: ignore[arg-type]


def test_state_without_healthcheck_is_ready_when_running() -> None:
    container = FakeContainer({"State": {"Status": "running"}}, {}, "p_x_1")
    state = engine.state_of(container)  # type: ignore[arg-type]
    assert state.health == "" and state.ready
    assert engine.stop_grace_s(container) == 10.0  # type: ignore[arg-type]
