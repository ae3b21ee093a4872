from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobcheck.scaffold import topology

COMPOSE = """
    services:
      api:
        build: ./api
        command: ["uvicorn", "app:app", "--host", "0.0.0.0"]
        ports: ["127.0.0.1:${API_PORT:-8000}:8000"]
        env_file: [../config/api.env, {path: .env, required: false}]
        environment: {REDIS_URL: "redis://redis:6379/0", EMPTY: null}
        depends_on:
          setup: {condition: service_completed_successfully}
      setup:
        build: ./api
        command: python -m app.bootstrap
      migrate:
        build: ./api
        command: sh -c "alembic upgrade head"
      init-db:
        image: app:1.0
        command: python -m app.db init
        restart: no
      worker:
        build: ./api
        command: rq worker high default
        environment: [RQ_QUEUES=high]
      jobs:
        build: ./api
      flower:
        image: mher/flower:2.0
        ports: ["5555:5555"]
      dashboard:
        image: eoranged/rq-dashboard:v0.8
        ports: ["9181:9181"]
      redis:
        image: redis:7.2-alpine
      cache:
        build: ./cache
      marked:
        image: app:1.0
        command: python -m app.warm
        x-jobcheck-oneshot: true
"""


def roles(root: Path) -> dict[str, str]:
    return {s.name: s.role for s in topology.services(root, "docker/compose.yaml")}


def test_roles_come_from_commands_images_and_dependants(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    root = make_project({"docker/compose.yaml": COMPOSE})
    assert roles(root) == {
        "api": "web",
        "setup": "oneshot",  # api waits for it to complete
        "migrate": "oneshot",  # alembic upgrade
        "init-db": "oneshot",  # restart: no (YAML reads False) and a setup name
        "worker": "worker",
        "jobs": "other",  # a name alone says nothing
        "flower": "dashboard",
        "dashboard": "dashboard",
        "redis": "datastore",
        "cache": "other",
        "marked": "oneshot",
    }


def test_service_details(make_project: Callable[[dict[str, str]], Path]) -> None:
    root = make_project({"docker/compose.yaml": COMPOSE})
    found = {s.name: s for s in topology.services(root, "docker/compose.yaml")}
    api = found["api"]
    assert (api.published, api.target) == ("${API_PORT:-8000}", "8000")
    assert api.build == "docker/api"
    assert api.env_files == ["config/api.env", "docker/.env"]
    assert api.environment == {"REDIS_URL": "redis://redis:6379/0", "EMPTY": ""}
    assert api.waits_for_completion == ["setup"]
    assert found["worker"].queues == ["high", "default"]
    assert found["init-db"].restart == "no"
    assert found["setup"].why == "others wait for it with condition: service_completed_successfully"


def test_the_first_folder_with_a_compose_file_wins(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    root = make_project({"deploy/compose.yml": "services: {}\n", "docker/compose.yaml": "x: 1\n"})
    assert topology.compose_files(root) == ["docker/compose.yaml"]


def test_unreadable_compose_is_no_services(make_project: Callable[[dict[str, str]], Path]) -> None:
    root = make_project({"compose.yaml": "services: [\n"})
    assert topology.services(root, "compose.yaml") == []


def test_loopback_only_ports_are_the_ones_a_stack_reference_reads(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    compose = """
        services:
          a: {image: x:1, ports: ["127.0.0.1:${A_PORT:-8000}:8000"]}
          b: {image: x:1, ports: ["8004:8000"]}
          c: {image: x:1, ports: ["0.0.0.0:8005:8000"]}
          d: {image: x:1, ports: [{target: 80, published: 8080, host_ip: 127.0.0.1}]}
          e: {image: x:1, ports: [{target: 80, published: 8081}]}
        """
    root = make_project({"compose.yaml": compose})
    found = {s.name: s.loopback for s in topology.services(root, "compose.yaml")}
    assert found == {"a": True, "b": False, "c": False, "d": True, "e": False}


def test_compose_merges_the_override_file(make_project: Callable[[dict[str, str]], Path]) -> None:
    root = make_project(
        {
            "docker-compose.yml": """
                services:
                  api:
                    build: .
                    environment: [A=1, B=2]
                  worker:
                    command: celery -A app worker
            """,
            "docker-compose.override.yml": """
                services:
                  api:
                    command: uvicorn app:app --port 9000
                    ports: ["127.0.0.1:9000:9000"]
                    environment: {B: "3"}
            """,
        }
    )
    files = topology.compose_files(root, {})
    assert files == ["docker-compose.yml", "docker-compose.override.yml"]
    api = topology.services(root, files)[0]
    assert (api.role, api.target, api.loopback, api.environment) == (
        "web", "9000", True, {"A": "1", "B": "3"},
    )  # fmt: skip
    # COMPOSE_FILE from the environment wins, as it does for Compose
    assert topology.compose_files(root, {"COMPOSE_FILE": "docker-compose.yml"}) == [
        "docker-compose.yml"
    ]


def test_an_unpublished_web_service_has_its_container_port(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    root = make_project(
        {
            "compose.yaml": """
                services:
                  web: {command: "gunicorn -b 0.0.0.0:5000 app:app"}
                  api: {image: shop/api:1, expose: ["8080"], command: uvicorn app:app}
            """
        }
    )
    web, api = topology.services(root, ["compose.yaml"])
    assert (web.web, web.target, web.published) == (True, "5000", "")
    assert (api.web, api.target) == (True, "8080")


def test_the_makefile_compose_files_not_a_follow_flag(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    root = make_project(
        {
            "compose.yaml": "services: {}\n",
            "compose.prod.yaml": "services: {}\n",
            "Makefile": "logs:\n\tdocker compose logs -f worker\n"
            "up:\n\t$(COMPOSE) -f compose.yaml -f compose.prod.yaml up -d\n",
        }
    )
    assert topology.compose_files(root, {}) == ["compose.yaml", "compose.prod.yaml"]
