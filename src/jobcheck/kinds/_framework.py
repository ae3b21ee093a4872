"""The framework options the integration kinds share, declared and read once: the broker URLs
(validated alike, ``url`` the one given), and for the kinds that take ``framework`` (queue,
worker_limits, broker_restart) the framework, its queue and the URL option it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal

from pydantic import Field, field_validator

from jobcheck.kinds.base import KindOptions
from jobcheck.probes import broker_url
from jobcheck.probes.framework import DEFAULT_QUEUE

Framework = Literal["rq", "celery", "arq", "dramatiq"]
# The option that names each framework's broker.
URL_OPTION: Final = {
    "rq": "redis_url",
    "arq": "redis_url",
    "celery": "broker_url",
    "dramatiq": "broker_url",
}


class BrokerURLs(KindOptions):
    """``redis_url``, ``broker_url`` (and ``backend_url`` where a kind has it) validated as
    broker URLs; ``url``: the broker, whichever of the two names it. The kinds declare the
    fields themselves, each with its own words."""

    if TYPE_CHECKING:
        redis_url: str | None
        broker_url: str | None

    @field_validator("redis_url", "broker_url", "backend_url", check_fields=False)
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        return broker_url.validate(value) if value is not None else None

    @property
    def url(self) -> str | None:
        return self.broker_url or self.redis_url


class FrameworkOptions(BrokerURLs):
    """``framework``, its broker and ``queue`` (default: the framework's own)."""

    framework: Framework = Field("rq", description="Whose workers: rq, celery, arq or dramatiq")
    redis_url: str | None = Field(None, description="RQ: the queue's Redis")
    broker_url: str | None = Field(None, description="Celery: the broker (redis:// or amqp://)")
    queue: str | None = Field(None, description="The queue (default: rq default, celery celery)")

    @property
    def queue_name(self) -> str:
        return self.queue or DEFAULT_QUEUE[self.framework]

    def require_url(self, wanted: Mapping[str, str] = URL_OPTION) -> None:
        """ValueError (a load error) when the framework's broker URL is not given."""
        if self.url is None:
            raise ValueError(f"framework {self.framework} needs {wanted[self.framework]}")
