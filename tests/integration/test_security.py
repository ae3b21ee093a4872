"""The security checks against a real RQ stack: each passes on the staging services and fails on
a test-only service built to break it (docker/overrides/itest-security.yaml): a debug API
without an upload limit, a privileged sidecar with the Docker socket, a process that logs its
connection string.

Compose project ``jobcheck-itest-security`` on 127.0.0.1:18410 (API), :18411 (the lax API) and
:16410 (Redis), brought up once for the module and removed with its volume at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.kinds import http, service
from jobcheck.results import Outcome, Status

from ._compose import DOCKER, Stack, env_file_values
from ._drills import expect, override, run_kind, stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

PROJECT = os.environ.get("JOBCHECK_ITEST_SECURITY_PROJECT", "jobcheck-itest-security")
API_PORT = os.environ.get("JOBCHECK_ITEST_SECURITY_API_PORT", "18410")
LAX_PORT = os.environ.get("JOBCHECK_ITEST_SECURITY_LAX_PORT", "18411")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_SECURITY_REDIS_PORT", "16410")
API = f"http://127.0.0.1:{API_PORT}"
LAX = f"http://127.0.0.1:{LAX_PORT}"
PASSWORD = env_file_values(DOCKER / "staging.env")["REDIS_PASSWORD"]
SECRET_NAME = r"(REDIS_PASSWORD|REDIS_URL's password)"


@pytest.fixture(scope="module")
def stack(engine_client: DockerClient) -> Iterator[Stack]:
    ports = {"API_PORT": API_PORT, "LAX_API_PORT": LAX_PORT, "REDIS_PORT": REDIS_PORT}
    files = [DOCKER / "compose.yaml", override("overrides", "itest-security.yaml")]
    with stack_up(engine_client, Stack(PROJECT, files, ports)) as up:
        yield up


def check(kind: Any, options: dict[str, Any], stack: Stack, label: str) -> Outcome:
    return run_kind(kind, options, stack, secrets=[PASSWORD], label=label)


# --- least privilege ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api", "worker"])
def test_least_privilege_passes_on_the_staging_services(stack: Stack, name: str) -> None:
    options = {"service": name, "non_root": True, "least_privilege": True}
    expect(
        check(service.KIND, options, stack, f"least-privilege {name}"),
        Status.PASS,
        rf"service '{name}': 1 container\(s\) running, healthy, non-root, "
        r"unprivileged \(no cap_add, no Docker socket\)",
    )


def test_least_privilege_fails_on_a_privileged_sidecar_with_the_docker_socket(
    stack: Stack,
) -> None:
    options = {"service": "sidecar-priv", "least_privilege": True}
    expect(
        check(service.KIND, options, stack, "least-privilege sidecar"),
        Status.FAIL,
        rf"{PROJECT}[_-]sidecar-priv[_-]1 runs privileged \(expected no `privileged: true`\); "
        rf"{PROJECT}[_-]sidecar-priv[_-]1 adds capabilities NET_ADMIN \(expected no cap_add\); "
        rf"{PROJECT}[_-]sidecar-priv[_-]1 mounts the Docker socket at /var/run/docker.sock "
        r"\(root on the host to anyone inside\)",
    )


def test_read_only_root_filesystem_fails_where_it_is_not_declared(stack: Stack) -> None:
    expect(
        check(service.KIND, {"service": "api", "read_only": True}, stack, "read-only api"),
        Status.FAIL,
        rf"{PROJECT}[_-]api[_-]1 has a writable root filesystem \(expected read_only: true\)",
    )


# --- secrets in logs ---------------------------------------------------------------------------


def test_no_secret_in_the_logs_of_the_staging_services(stack: Stack) -> None:
    for name in ("api", "worker", "redis"):
        options = {"service": name, "no_secrets_in_logs": True, "healthy": False}
        expect(
            check(service.KIND, options, stack, f"secrets-in-logs {name}"),
            Status.PASS,
            rf"service '{name}': 1 container\(s\) running, no secret in the logs",
        )


def test_a_secret_echoed_to_the_log_fails_by_name_and_count_never_by_value(stack: Stack) -> None:
    outcome = check(
        service.KIND,
        {"service": "*", "no_secrets_in_logs": True, "healthy": False},
        stack,
        "secrets-in-logs all services",
    )
    expect(
        outcome,
        Status.FAIL,
        rf"{PROJECT}[_-]leaky[_-]1 logs a secret: {SECRET_NAME} in 1 line \(values never shown\)",
    )
    assert PASSWORD not in outcome.message


def test_a_declared_secret_is_looked_for_even_when_the_container_lacks_it(stack: Stack) -> None:
    """The checklist's `secrets:` (values the run masks) count too, by the run's name for them:
    here a value the container's environment does not hold but its log line does."""
    declared = "connecting to"
    outcome = run_kind(
        service.KIND,
        {"service": "leaky", "no_secrets_in_logs": True, "healthy": False},
        stack,
        secrets=[PASSWORD, declared],
        env={"BROKER_SECRET": declared},
        label="secrets-in-logs declared",
    )
    expect(
        outcome,
        Status.FAIL,
        rf".*leaky[_-]1 logs a secret: BROKER_SECRET in 1 line, {SECRET_NAME} in 1 line "
        r"\(values never shown\)",
    )


# --- debug server and upload limit -------------------------------------------------------------


def test_no_debug_page_answers_on_the_staging_api(stack: Stack) -> None:
    expect(
        check(http.KIND, {"url": f"{API}/health", "no_debug": True}, stack, "no-debug api"),
        Status.PASS,
        rf"GET {API}/health answered 200 in \d+ms",
    )


def test_the_debug_api_fails_with_its_docs_and_schema_answering(stack: Stack) -> None:
    expect(
        check(http.KIND, {"url": f"{LAX}/health", "no_debug": True}, stack, "no-debug lax"),
        Status.FAIL,
        rf"GET {LAX}/health answered 200 but debug page /docs answered 200 \(Swagger UI\); "
        r"debug page /openapi.json answered 200 \(an OpenAPI schema\); body: .*",
    )


def test_an_upload_over_the_limit_is_refused_and_the_api_stays_healthy(stack: Stack) -> None:
    options = {
        "url": f"{API}/jobs/canary",
        "upload_limit": "1MiB",
        "health_url": f"{API}/health",
    }
    expect(
        check(http.KIND, options, stack, "upload-limit api"),
        Status.PASS,
        rf"POST {API}/jobs/canary answered 413 in \d+ms",
    )


def test_an_upload_over_the_limit_accepted_fails(stack: Stack) -> None:
    options = {
        "url": f"{LAX}/jobs/canary",
        "upload_limit": "1MiB",
        "health_url": f"{LAX}/health",
    }
    expect(
        check(http.KIND, options, stack, "upload-limit lax"),
        Status.FAIL,
        rf"POST {LAX}/jobs/canary answered 202, expected 413; body: .*",
    )
