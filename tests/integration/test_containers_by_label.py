"""A staging environment that is not a compose project of ours: containers started with
`docker run` (no compose labels), selected by `labels` or a `name` glob — the service checks
and the graceful-stop drill against a real RQ worker pair and Redis.

Own names (jc-remote-lbl-*), network jc-remote-lbl-net, Redis on 127.0.0.1:16802; only
containers with those names are removed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds import service, shutdown
from jobcheck.kinds.base import Kind, KindContext
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

from ._compose import DOCKER, Stack, env_file_values, prepare_images

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

PREFIX = "jc-remote-lbl-"
NETWORK = "jc-remote-lbl-net"
REDIS_PORT = 16802
APP_IMAGE = "jobcheck/demo-service:staging"
REDIS_IMAGE = "jobcheck/demo-redis:staging"
STAGING = env_file_values(DOCKER / "staging.env")
PASSWORD = STAGING["REDIS_PASSWORD"]
REDIS = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
WORKER_LABELS = {"app": "jc-remote-worker", "tier": "staging"}


def has_image(sdk: DockerClient, image: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        sdk.images.get(image)
    except ImageNotFound:
        return False
    return True


def remove_ours(sdk: DockerClient) -> None:
    for container in sdk.containers.list(all=True, filters={"name": PREFIX}):
        if container.name.startswith(PREFIX):
            container.remove(force=True)
    for network in sdk.networks.list(names=[NETWORK]):
        network.remove()


def wait_healthy(sdk: DockerClient, names: list[str], deadline_s: float = 90) -> None:
    until = time.monotonic() + deadline_s
    while True:
        states = [sdk.containers.get(n).attrs["State"] for n in names]
        if all((s.get("Health") or {}).get("Status") == "healthy" for s in states):
            return
        if time.monotonic() > until:
            pytest.fail(f"not healthy within {deadline_s}s: {states}", pytrace=False)
        time.sleep(1)


@pytest.fixture(scope="module")
def plain_containers(engine_client: DockerClient) -> Iterator[list[str]]:
    sdk = engine_client
    if not all(has_image(sdk, image) for image in (APP_IMAGE, REDIS_IMAGE)):
        # A fresh machine: no module that builds the demo stack has run yet (they run later).
        prepare_images()
        Stack(f"{PREFIX}build", [DOCKER / "compose.yaml"]).build()
    remove_ours(sdk)
    sdk.networks.create(NETWORK)
    health = {"test": ["CMD", "python", "-m", "app.healthcheck", "worker"]}
    sdk.containers.run(
        REDIS_IMAGE,
        name=f"{PREFIX}redis",
        user="redis",
        environment={"REDIS_PASSWORD": PASSWORD},
        network=NETWORK,
        ports={"6379/tcp": ("127.0.0.1", REDIS_PORT)},
        healthcheck={
            "test": ["CMD-SHELL", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'],
            "interval": 1_000_000_000,
        },
        detach=True,
    )
    wait_healthy(sdk, [f"{PREFIX}redis"])
    workers = [f"{PREFIX}worker-{n}" for n in (1, 2)]
    for name in workers:
        sdk.containers.run(
            APP_IMAGE,
            ["python", "-m", "app.worker"],
            name=name,
            labels=WORKER_LABELS,
            environment={**STAGING, "REDIS_URL": f"redis://:{PASSWORD}@{PREFIX}redis:6379/0"},
            network=NETWORK,
            user="10001:10001",
            stop_signal="SIGTERM",
            healthcheck={**health, "interval": 2_000_000_000, "start_period": 20_000_000_000},
            detach=True,
        )
    sdk.containers.run(
        APP_IMAGE,
        ["python", "-c", "raise SystemExit(3)"],
        name=f"{PREFIX}batch-1",
        labels={"app": "jc-remote-batch"},
        detach=True,
    )
    wait_healthy(sdk, workers)
    yield workers
    remove_ours(sdk)


def check(kind: Kind[Any], with_: dict[str, Any], tmp_path: Path, timeout_s: float = 90) -> Outcome:
    ctx = KindContext(
        check_id="by-label", base_dir=tmp_path, env={}, timeout_s=timeout_s, mask=Masker()
    )
    return attempt(kind, kind.options.model_validate(with_), ctx)


def test_service_by_labels_without_any_compose_project(
    plain_containers: list[str], tmp_path: Path
) -> None:
    outcome = check(
        service.KIND,
        {"labels": {"app": "jc-remote-worker"}, "healthy": True, "min_containers": 2,
         "non_root": True, "env_keys": ["REDIS_URL"]},
        tmp_path,
    )  # fmt: skip
    assert (outcome.status, outcome.message) == (
        Status.PASS,
        "containers labelled app=jc-remote-worker: 2 container(s) running, healthy, non-root, "
        "1 env key set",
    )


def test_service_by_name_glob_and_by_two_labels(
    plain_containers: list[str], tmp_path: Path
) -> None:
    by_name = check(service.KIND, {"name": "jc-remote-lbl-worker-*", "healthy": True}, tmp_path)
    assert (by_name.status, by_name.message) == (
        Status.PASS,
        "containers named 'jc-remote-lbl-worker-*': 2 container(s) running, healthy",
    )
    both = check(
        service.KIND, {"labels": WORKER_LABELS, "name": "*-worker-2", "min_containers": 1}, tmp_path
    )
    assert both.message.startswith(
        "containers labelled app=jc-remote-worker, tier=staging and named '*-worker-2': "
        "1 container(s) running"
    ), both.message


def test_an_exited_labelled_container_fails_and_none_found_fails(
    plain_containers: list[str], tmp_path: Path
) -> None:
    exited = check(service.KIND, {"labels": {"app": "jc-remote-batch"}}, tmp_path)
    assert exited.status is Status.FAIL
    assert exited.message.startswith("jc-remote-lbl-batch-1 is exited (exit code 3)"), (
        exited.message
    )
    none = check(service.KIND, {"name": "jc-remote-lbl-nothing-*"}, tmp_path)
    assert (none.status, none.message) == (
        Status.FAIL,
        "containers named 'jc-remote-lbl-nothing-*': 0 container(s), expected at least 1",
    )


def test_graceful_stop_drill_of_workers_selected_by_label(
    plain_containers: list[str], tmp_path: Path, engine_client: DockerClient
) -> None:
    outcome = check(
        shutdown.KIND,
        {"via": "rq", "redis_url": REDIS, "labels": {"app": "jc-remote-worker"}, "seconds": 4,
         "grace": "20s", "deadline": "60s"},
        tmp_path,
        timeout_s=180,
    )  # fmt: skip
    assert outcome.status is Status.PASS, outcome.message + "\n" + outcome.output
    assert "finished during the graceful stop" in outcome.message
    assert outcome.message.endswith("after the restart"), outcome.message
    assert "; the workers healthy again " in outcome.message
    assert "stopping jc-remote-lbl-worker-1, jc-remote-lbl-worker-2 (grace 20s)" in outcome.output
    for name in plain_containers:  # started again
        assert engine_client.containers.get(name).status == "running"
