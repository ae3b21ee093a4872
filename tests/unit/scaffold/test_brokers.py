from __future__ import annotations

import pytest

from jobcheck.scaffold import brokers
from jobcheck.scaffold.topology import Service

REDIS = Service("redis", image="redis:7", published="6379", target="6379", role="datastore")
LOCKED = Service(
    "redis", image="redis:7", command="redis-server --requirepass ${REDIS_PASSWORD}",
    published="${REDIS_PORT:-6380}", target="6379", role="datastore",
)  # fmt: skip
RABBIT = Service("rabbitmq", image="rabbitmq:3", published="5673", target="5672", role="datastore")


def lookup(*services: Service, values: dict[str, str] | None = None) -> brokers.Lookup:
    return brokers.Lookup(list(services), {}, values or {})


@pytest.mark.parametrize(
    ("raw", "services", "values", "expected"),
    [
        ("redis://redis:6379/1", [REDIS], {}, "redis://${stack.redis.6379}/1"),
        ("redis://:${REDIS_PASSWORD}@redis:6379/0", [REDIS], {},
         "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0"),
        ("redis://redis", [LOCKED], {}, "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0"),
        ("redis://redis:6379", [REDIS], {"REDIS_PASSWORD": "x"},
         "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0"),
        ("${BROKER}", [REDIS], {"BROKER": "redis://redis:6379/3"}, "redis://${stack.redis.6379}/3"),
        ("amqp://app:$RABBIT_PASS@rabbitmq:5672/vhost", [RABBIT], {},
         "amqp://app:${RABBIT_PASS:-}@${stack.rabbitmq.5672}/vhost"),
        # a localhost URL (the app runs on the host) names the service publishing that port
        ("amqp://guest@localhost:5673//", [RABBIT], {}, "amqp://guest@${stack.rabbitmq.5672}//"),
        # unpublished: reached through the engine all the same
        ("redis://cache:6379/2", [Service("cache", image="redis:7", role="datastore")], {},
         "redis://${stack.cache.6379}/2"),
        ("redis://localhost:6379/0", [], {}, "redis://127.0.0.1:6379/0"),
    ],
)  # fmt: skip
def test_host_urls(
    raw: str, services: list[Service], values: dict[str, str], expected: str
) -> None:
    found = brokers.host_url(raw, "test", lookup(*services, values=values))
    assert isinstance(found, brokers.HostURL) and found.url == expected


def test_a_literal_password_becomes_a_reference_named_after_its_key() -> None:
    values = {"REDIS_PASSWORD": "hunter2-but-longer", "OTHER": "x"}
    raw = "redis://:hunter2-but-longer@redis:6379/0"
    found = brokers.host_url(raw, "CELERY_BROKER_URL in .env", lookup(REDIS, values=values))
    assert isinstance(found, brokers.HostURL)
    assert found.url == "redis://:${REDIS_PASSWORD:-}@${stack.redis.6379}/0"
    assert "hunter2" not in found.url + found.note
    assert found.note.startswith("the URL in CELERY_BROKER_URL in .env has a literal password")


@pytest.mark.parametrize(
    ("raw", "services", "why"),
    [
        ("redis://cache.internal:6379", [REDIS],
         "test: its host 'cache.internal' is not a service of the compose file"),
        ("sqs://key@queue", [],
         "test is a sqs:// URL (jobcheck reads redis:// and amqp:// brokers)"),
        ("${MISSING}", [], "test is ${MISSING}, which no env file sets"),
    ],
)  # fmt: skip
def test_unusable_urls_say_why(raw: str, services: list[Service], why: str) -> None:
    assert brokers.host_url(raw, "test", lookup(*services)) == why


def test_find_prefers_the_worker_command_then_env_then_the_datastore() -> None:
    worker = Service("worker", command="rq worker", role="worker", framework="rq")
    env = {"worker": {"REDIS_URL": "redis://redis:6379/4"}}
    found = brokers.find("redis", worker, brokers.Lookup([worker, REDIS], env, {}))
    assert isinstance(found, brokers.HostURL)
    assert (found.url, found.source) == (
        "redis://${stack.redis.6379}/4",
        "REDIS_URL of the worker service",
    )
    worker.broker_url = "redis://redis:6379/5"
    found = brokers.find("redis", worker, brokers.Lookup([worker, REDIS], env, {}))
    assert isinstance(found, brokers.HostURL) and found.url == "redis://${stack.redis.6379}/5"
    found = brokers.find("redis", Service("w"), brokers.Lookup([REDIS], {}, {}))
    assert isinstance(found, brokers.HostURL) and found.source.startswith("the redis service")


def test_celery_settings_in_the_code_come_before_the_datastore() -> None:
    from jobcheck.scaffold.codeconf import Value

    worker = Service("worker", command="celery -A app worker", role="worker", framework="celery")
    redis = Service("redis", image="redis:7", role="datastore", target="6379")
    values = {"RABBITMQ_DEFAULT_PASS": "Zq8vN2rT5kLw9pXe4HsA"}
    literal = Value("amqp://user:Zq8vN2rT5kLw9pXe4HsA@rabbitmq:5672//", "", "app/worker.py:4")
    services = [worker, redis, RABBIT]
    code = {"broker": literal}
    found = brokers.find("broker", worker, brokers.Lookup(services, {}, values, code))
    assert isinstance(found, brokers.HostURL)
    assert found.url == "amqp://user:${RABBITMQ_DEFAULT_PASS:-}@${stack.rabbitmq.5672}//"
    assert found.source == "app/worker.py:4"
    # read from a variable: the stack's value wins over the code's default
    read = Value("amqp://guest@rabbitmq//", "CELERY_BROKER_URL", "app/settings.py:9")
    env = {"worker": {"CELERY_BROKER_URL": "redis://redis:6379/0"}}
    found = brokers.find("broker", worker, brokers.Lookup(services, env, {}, {"broker": read}))
    assert isinstance(found, brokers.HostURL) and found.url == "redis://${stack.redis.6379}/0"
    assert found.source == "CELERY_BROKER_URL of the worker service (read at app/settings.py:9)"
    found = brokers.find("broker", worker, brokers.Lookup(services, {}, {}, {"broker": read}))
    assert (
        isinstance(found, brokers.HostURL) and found.url == "amqp://guest@${stack.rabbitmq.5672}//"
    )
    # nothing anywhere: the RabbitMQ service, not Redis, for a Celery broker
    found = brokers.find("broker", worker, brokers.Lookup(services, {}, {}))
    assert isinstance(found, brokers.HostURL) and found.url.startswith("amqp://")
