"""The broker setup, as Dramatiq apps write it: one module that picks the broker from the URL,
adds the Results middleware, and sets it as the global broker before any actor is declared.

Tunable per stack (env): ``DRAMATIQ_HEARTBEAT_TIMEOUT`` (ms: how old a worker's heartbeat is
before the Redis broker requeues its unacked messages) and ``DRAMATIQ_MAINTENANCE_CHANCE``
(how many broker calls in a million do that maintenance; Dramatiq's default is 1000).
``DRAMATIQ_TIME_LIMIT`` (ms) is the TimeLimit middleware's default for actors that set none
(Dramatiq's own default, 600000, when unset).
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.middleware import TimeLimit
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from periodiq import PeriodiqMiddleware

BROKER_URL = os.environ.get("BROKER_URL", "redis://localhost:6379/0")
RESULTS_URL = os.environ.get("RESULTS_URL", "redis://localhost:6379/1")


def _broker() -> dramatiq.Broker:
    if BROKER_URL.startswith("amqp"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=BROKER_URL)
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(
        url=BROKER_URL,
        heartbeat_timeout=int(os.environ.get("DRAMATIQ_HEARTBEAT_TIMEOUT", "60000")),
        maintenance_chance=int(os.environ.get("DRAMATIQ_MAINTENANCE_CHANCE", "1000")),
    )


broker = _broker()
if os.environ.get("DRAMATIQ_TIME_LIMIT"):
    for middleware in broker.middleware:
        if isinstance(middleware, TimeLimit):
            middleware.time_limit = int(os.environ["DRAMATIQ_TIME_LIMIT"])
broker.add_middleware(Results(backend=RedisBackend(url=RESULTS_URL)))
# periodiq (Dramatiq's scheduler, `periodiq app.tasks`: overrides/periodiq.yaml) reads the
# actors' `periodic` option, which this middleware declares.
broker.add_middleware(PeriodiqMiddleware(skip_delay=30))
dramatiq.set_broker(broker)
