"""The Compose CLI wrapper: which CLI, its argv, its environment (no engine needed)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from jobcheck.kinds.base import StackInfo
from jobcheck.probes import engine
from jobcheck.staging import compose_cli


def make_stack(tmp_path: Path, env_file: bool = True, **kw: object) -> StackInfo:
    folder = tmp_path / "docker"
    folder.mkdir(exist_ok=True)
    (folder / "compose.yaml").write_text("services: {}\n")
    (folder / "override.yaml").write_text("services: {}\n")
    path = None
    if env_file:
        path = folder / "staging.env"
        path.write_text("REDIS_PASSWORD=s3cret-value\nAPI_PORT=8100\n")
    return StackInfo(
        compose=[folder / "compose.yaml", folder / "override.yaml"],
        project="demo",
        env_file=path,
        **kw,  # type: ignore[arg-type]
    )


def fake_cli(tmp_path: Path, name: str, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_argv_has_every_file_the_project_and_the_env_file(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    runner = compose_cli.Compose(stack, compose_cli.ComposeCLI(("docker", "compose"), "2.29.0"), {})
    folder = tmp_path / "docker"
    assert runner.argv("ps", "-q") == [
        "docker", "compose",
        "-f", str(folder / "compose.yaml"),
        "-f", str(folder / "override.yaml"),
        "-p", "demo",
        "--env-file", str(folder / "staging.env"),
        "ps", "-q",
    ]  # fmt: skip


def test_argv_without_env_file(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, env_file=False)
    runner = compose_cli.Compose(stack, compose_cli.ComposeCLI(("docker-compose",), "1.29.2"), {})
    assert runner.argv("down")[:1] == ["docker-compose"]
    assert "--env-file" not in runner.argv("down")


def test_dotenv_keys_survive_env_file(tmp_path: Path) -> None:
    """--env-file makes Compose skip the folder's .env, where the base images are chosen."""
    stack = make_stack(tmp_path, build_args={"EXTRA": "from-checklist", "API_PORT": "9000"})
    (tmp_path / "docker" / ".env").write_text(
        "BASE_IMAGE=jobcheck/base:bookworm\nREDIS_IMAGE=jobcheck/base:bookworm\n"
        "API_PORT=7000\nREDIS_PORT=7001\n"
    )
    env = compose_cli.compose_env(stack, {"PATH": "/bin", "REDIS_PORT": "6400"})
    assert env["BASE_IMAGE"] == "jobcheck/base:bookworm"  # only in .env: passed on
    assert env["REDIS_PORT"] == "6400"  # the shell wins over .env
    assert env["API_PORT"] == "9000"  # build_args win over everything
    assert env["EXTRA"] == "from-checklist"
    assert "REDIS_PASSWORD" not in env  # the env file itself is read by Compose, not by us


def test_dotenv_key_also_in_env_file_is_left_to_compose(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    (tmp_path / "docker" / ".env").write_text("API_PORT=7000\n")
    assert "API_PORT" not in compose_cli.compose_env(stack, {})


def test_a_context_reaches_compose_as_docker_host(tmp_path: Path) -> None:
    """docker-compose v1 reads no contexts: the context's engine is passed as DOCKER_HOST."""
    config = tmp_path / "docker-config"
    cli = shutil.which("docker") or "docker"
    made = subprocess.run(
        [cli, "context", "create", "staging", "--docker", "host=ssh://deploy@10.1.2.3"],
        env={"DOCKER_CONFIG": str(config), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    stack = dataclasses.replace(make_stack(tmp_path), context="staging")
    env = compose_cli.compose_env(
        stack,
        {"DOCKER_CONFIG": str(config), "DOCKER_HOST": "unix:///x.sock", "DOCKER_CONTEXT": "y"},
    )
    assert env["DOCKER_HOST"] == "ssh://deploy@10.1.2.3"
    assert "DOCKER_CONTEXT" not in env


def test_detect_prefers_the_plugin(tmp_path: Path) -> None:
    bin_dir = fake_cli(
        tmp_path, "docker", 'if [ "$1" = compose ]; then echo 2.29.1; else exit 1; fi'
    )
    fake_cli(tmp_path, "docker-compose", "echo 1.29.2")
    found = compose_cli.detect({"PATH": str(bin_dir)})
    assert found == compose_cli.ComposeCLI(("docker", "compose"), "2.29.1")


def test_detect_falls_back_to_docker_compose(tmp_path: Path) -> None:
    bin_dir = fake_cli(
        tmp_path, "docker", "echo \"docker: 'compose' is not a docker command.\" >&2; exit 1"
    )
    fake_cli(tmp_path, "docker-compose", "echo 1.29.2")
    found = compose_cli.detect({"PATH": str(bin_dir)})
    assert found.argv == ("docker-compose",) and found.version == "1.29.2"
    assert found.name == "docker-compose"


def test_detect_can_be_forced(tmp_path: Path) -> None:
    bin_dir = fake_cli(tmp_path, "docker", "echo 2.29.1")
    fake_cli(tmp_path, "docker-compose", "echo 1.29.2")
    found = compose_cli.detect({"PATH": str(bin_dir), compose_cli.FORCE_ENV: "docker-compose"})
    assert found.argv == ("docker-compose",)


@pytest.mark.parametrize(
    ("forced", "argv"), [("v1", ("docker-compose",)), ("V2", ("docker", "compose"))]
)
def test_detect_can_be_forced_by_version(
    tmp_path: Path, forced: str, argv: tuple[str, ...]
) -> None:
    bin_dir = fake_cli(tmp_path, "docker", "echo 2.40.3")
    fake_cli(tmp_path, "docker-compose", "echo 1.29.2")
    found = compose_cli.detect({"PATH": str(bin_dir), compose_cli.FORCE_ENV: forced})
    assert found.argv == argv


def test_a_forced_cli_that_is_missing_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(compose_cli.ComposeError, match="tried `docker-compose`"):
        compose_cli.detect({"PATH": str(empty), compose_cli.FORCE_ENV: "v1"})


def test_detect_names_what_it_tried(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(compose_cli.ComposeError) as caught:
        compose_cli.detect({"PATH": str(empty)})
    message = str(caught.value)
    assert "tried `docker compose` and `docker-compose`" in message
    assert "\n" not in message


def test_check_turns_a_failed_call_into_one_line(tmp_path: Path) -> None:
    bin_dir = fake_cli(
        tmp_path, "docker-compose", 'echo "building..."; echo "ERROR: no such image" >&2; exit 3'
    )
    stack = make_stack(tmp_path)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    runner = compose_cli.Compose(stack, compose_cli.ComposeCLI(("docker-compose",), "1.29.2"), env)
    with pytest.raises(compose_cli.ComposeError) as caught:
        runner.build()
    assert str(caught.value) == "`docker-compose build` exited 3: ERROR: no such image"
    assert "building..." in caught.value.output


def test_check_times_out(tmp_path: Path) -> None:
    bin_dir = fake_cli(tmp_path, "docker-compose", "sleep 30")
    runner = compose_cli.Compose(
        make_stack(tmp_path),
        compose_cli.ComposeCLI(("docker-compose",), "1.29.2"),
        {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    with pytest.raises(
        compose_cli.ComposeError, match=r"`docker-compose ps` gave no result within 300ms"
    ):
        runner.check("ps", timeout_s=0.3)


def state(
    name: str, state: str = "running", health: str = "healthy", restarts: int = 0, **kw: object
) -> engine.ContainerState:
    return engine.ContainerState(
        service=name.split("_")[1],
        name=name,
        state=state,
        health=health,
        restarts=restarts,
        exit_code=int(kw.get("exit_code", 0)),  # type: ignore[call-overload]
        oom_killed=bool(kw.get("oom_killed", False)),
        ports=[],
    )


def test_summary_and_stuck() -> None:
    states = [state("p_api_1", health="starting"), state("p_api_2")]
    assert compose_cli._summary(states) == "running/healthy, running/starting"
    assert compose_cli._summary([]) == "no container"
    assert compose_cli._stuck(states, {}) == ""
    dead = [state("p_worker_1", state="exited", health="", exit_code=2, oom_killed=True)]
    assert compose_cli._stuck(dead, {}) == "p_worker_1 exited with code 2 (OOM-killed)"
    looping = [state("p_worker_1", state="restarting", health="", restarts=5)]
    assert (
        compose_cli._stuck(looping, {"p_worker_1": 1}) == "p_worker_1 keeps restarting (5 restarts)"
    )
    assert compose_cli._stuck(looping, {"p_worker_1": 4}) == ""


BUILD_NO_REGISTRY = "\n".join(
    [
        "Building api",
        "Step 1/9 : FROM python:3.11-slim",
        'ERROR: Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid on '
        "127.0.0.53:53: no such host",
        "ERROR: Service 'api' failed to build : Build failed",
    ]
)
BUILDKIT_STEP = "\n".join(
    [
        "#7 [api 4/6] RUN pip install --no-index -r requirements.txt",
        "#7 1.204 ERROR: Could not find a version that satisfies the requirement fastapi",
        '#7 ERROR: process "/bin/sh -c pip install --no-index -r requirements.txt" did not '
        "complete successfully: exit code: 1",
        'failed to solve: process "/bin/sh -c pip install" did not complete successfully: '
        "exit code: 1",
    ]
)
PULL_DENIED = "\n".join(
    [
        "Pulling redis (example/redis:7)...",
        "ERROR: pull access denied for example/redis, repository does not exist or may require "
        "'docker login'",
    ]
)
PORT_TAKEN = "\n".join(
    [
        "Creating shop_api_1 ... error",
        "ERROR: for api  Cannot start service api: driver failed programming external "
        "connectivity: Bind for 127.0.0.1:8000 failed: port is already allocated",
        "ERROR: Encountered errors while bringing up the project.",
    ]
)


@pytest.mark.parametrize(
    ("output", "cause"),
    [
        (
            BUILD_NO_REGISTRY,
            'ERROR: Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid on '
            "127.0.0.53:53: no such host",
        ),
        (
            BUILDKIT_STEP,
            'failed to solve: process "/bin/sh -c pip install" did not complete successfully: '
            "exit code: 1",
        ),
        (
            PULL_DENIED,
            "ERROR: pull access denied for example/redis, repository does not exist or may "
            "require 'docker login'",
        ),
        (
            PORT_TAKEN,
            "ERROR: for api Cannot start service api: driver failed programming external "
            "connectivity: Bind for 127.0.0.1:8000 failed: port is already allocated",
        ),
        ("just one line\n", "just one line"),
        ("", "(no output)"),
    ],
)
def test_cause_of_a_failed_compose_call(output: str, cause: str) -> None:
    assert compose_cli.cause_of(output) == cause


def test_a_failed_build_says_its_cause_not_its_last_line(tmp_path: Path) -> None:
    script = "cat >&2 <<'END'\n" + BUILD_NO_REGISTRY + "\nEND\nexit 1"
    bin_dir = fake_cli(tmp_path, "docker-compose", script)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    cli = compose_cli.ComposeCLI(("docker-compose",), "1.29.2")
    runner = compose_cli.Compose(make_stack(tmp_path), cli, env)
    with pytest.raises(compose_cli.ComposeError) as caught:
        runner.build()
    assert str(caught.value) == (
        '`docker-compose build` exited 1: ERROR: Get "https://registry.invalid/v2/": dial tcp: '
        "lookup registry.invalid on 127.0.0.53:53: no such host"
    )


def test_dotenv_values_follow_composes_grammar_not_a_second_one(tmp_path: Path) -> None:
    """The folder's .env is read as Compose reads it (``dotenv_files``: ``${VAR:-default}``,
    ``${VAR:+alt}``, earlier keys, single quotes literal), against the environment given."""
    stack = make_stack(tmp_path)
    (tmp_path / "docker" / ".env").write_text(
        "TAG=${RELEASE:-dev}\nIMAGE=app:${TAG}\nDEBUG=${VERBOSE:+1}\nRAW='${TAG}'\n"
    )
    env = compose_cli.compose_env(stack, {"RELEASE": "1.4"})
    assert (env["TAG"], env["IMAGE"], env["DEBUG"], env["RAW"]) == ("1.4", "app:1.4", "", "${TAG}")


def test_a_required_dotenv_reference_unset_is_a_compose_error(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    (tmp_path / "docker" / ".env").write_text("TOKEN=${DEPLOY_TOKEN:?set it}\n")
    with pytest.raises(compose_cli.ComposeError, match=r"\.env: line 1: TOKEN"):
        compose_cli.compose_env(stack, {})
