"""Shared by ``job`` and ``shutdown``: how a canary is enqueued and followed (DESIGN.md §7).

``via: http`` drives the service's own API (a JSON ``body`` or ``form`` fields; the id and the
status found at ``id_field`` / ``status_field``; ``done`` / ``failed`` say which status words
end a job). ``via: rq`` and ``via: celery`` go through the framework's adapter with ``task``.
With a broker URL, a stuck job's message counts the live workers on its queue.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from jobcheck.durations import Duration
from jobcheck.kinds._framework import BrokerURLs, Framework
from jobcheck.kinds.base import KindContext, empty_dict, empty_list
from jobcheck.probes.canary import (
    DEFAULT_DONE,
    DEFAULT_FAILED,
    AdapterChannel,
    Channel,
    HttpChannel,
    Vocabulary,
)
from jobcheck.probes.framework import DEFAULT_QUEUE, Adapter, adapter_for

Via = Literal["http", "rq", "celery", "arq", "dramatiq"]
REDIS_ONLY = ("rq", "arq")  # frameworks whose broker option is redis_url
FormValue = str | int | float | bool


class CanaryOptions(BrokerURLs):
    via: Via = Field("http", description="Enqueue through the API, RQ, Celery, arq or Dramatiq")
    framework: Framework | None = Field(
        None,
        description="via http: the framework behind the API, to count its workers when a job "
        "is stuck (default: rq with redis_url, celery with broker_url)",
    )
    enqueue_url: str | None = Field(None, description="via http: the request that enqueues")
    status_url: str | None = Field(None, description="via http: GET here, with {id}")
    method: Literal["POST", "PUT", "GET"] = Field("POST", description="via http: enqueue method")
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, description="via http: the enqueue body: a string, or a mapping sent as JSON"
    )
    form: dict[str, FormValue] | None = Field(
        None, description="via http: form fields, sent form-encoded"
    )
    headers: dict[str, str] = Field(
        default_factory=empty_dict, description="via http: extra headers"
    )
    id_field: str = Field(
        "id", description="via http: dotted path to the job id, e.g. data.task_id"
    )
    status_field: str = Field("status", description="via http: dotted path to the status word")
    done: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DONE), description="Status words meaning finished"
    )
    failed: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FAILED), description="Status words meaning failed"
    )
    redis_url: str | None = Field(None, description="RQ's Redis (via rq; via http: to count)")
    broker_url: str | None = Field(
        None, description="Celery's broker, redis:// or amqp:// (via celery; via http: to count)"
    )
    backend_url: str | None = Field(
        None, description="via celery: the result backend; via dramatiq: the Results backend"
    )
    task: str | None = Field(
        None,
        description="The task: RQ's dotted function, Celery's name, arq's function name, "
        "Dramatiq's actor name",
    )
    function: str | None = Field(None, description="via rq: the dotted function (as task)")
    args: list[Any] = Field(default_factory=empty_list, description="Positional arguments")
    kwargs: dict[str, Any] = Field(default_factory=empty_dict, description="Keyword arguments")
    queue: str | None = Field(
        None,
        description="The queue (default: rq default, celery celery, arq arq:queue, "
        "dramatiq default)",
    )
    interval: Duration = Field(0.25, description="Pause between status polls")
    request_timeout: Duration = Field(5.0, description="Per HTTP request or broker call")

    @field_validator("enqueue_url", "status_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("id_field", "status_field")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value or any(not part for part in value.split(".")):
            raise ValueError(f"expected a dotted path such as data.task_id, got {value!r}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> CanaryOptions:
        if self.via == "http":
            self._http_complete()
        elif self.url is None:
            wanted = "redis_url" if self.via in REDIS_ONLY else "broker_url"
            raise ValueError(f"via {self.via} needs {wanted} and task")
        elif self.task_name is None:
            raise ValueError(f"via {self.via} needs a task (e.g. app.tasks.canary)")
        elif self.via == "rq" and "." not in self.task_name:
            raise ValueError(
                f"via rq: the task is a dotted function name the worker can import, "
                f"got {self.task_name!r}"
            )
        if self.task and self.function and self.task != self.function:
            raise ValueError("task and function name the same thing: give one")
        if self.interval <= 0:
            raise ValueError("interval must be more than 0")
        return self

    def _http_complete(self) -> None:
        if not self.enqueue_url or not self.status_url:
            raise ValueError(f"via http needs {self.enqueue_words} and status_url (with {{id}})")
        if "{id}" not in self.status_url:
            raise ValueError("status_url must contain {id}, where the job id goes")
        if self.body is not None and self.form is not None:
            raise ValueError("give body (JSON or text) or form (form-encoded), not both")

    # what the enqueue URL must hold, for the message (the drill's has {seconds})
    enqueue_words: ClassVar[str] = "enqueue_url"

    @property
    def task_name(self) -> str | None:
        return self.task or self.function

    @property
    def framework_name(self) -> str | None:
        """Whose queue: via rq/celery that one; via http as said, else guessed from the URL."""
        if self.via != "http":
            return self.via
        if self.framework is not None:
            return self.framework
        if self.redis_url:
            return "rq"
        return "celery" if self.broker_url else None

    @property
    def queue_name(self) -> str | None:
        framework = self.framework_name
        return self.queue or (DEFAULT_QUEUE[framework] if framework else None)

    def adapter(self) -> Adapter | None:
        """The framework adapter on the broker, when there is a broker to ask."""
        framework, url = self.framework_name, self.url
        if framework is None or url is None:
            return None
        return adapter_for(
            framework, url, backend_url=self.backend_url, timeout_s=self.request_timeout
        )

    def channel(
        self,
        ctx: KindContext,
        adapter: Adapter | None,
        *,
        enqueue_url: str | None = None,
        body: Any = None,
        form: dict[str, Any] | None = None,
        args: list[Any] | None = None,
        job_timeout_s: float | None = None,
    ) -> Channel:
        """The channel this check enqueues through (the drill overrides the url, body, args)."""
        if self.via == "http":
            assert self.enqueue_url and self.status_url
            return HttpChannel(
                enqueue_url or self.enqueue_url,
                self.status_url,
                self.request_timeout,
                ctx.mask,
                vocabulary=Vocabulary.of(self.done, self.failed),
                method=self.method,
                body=body if body is not None else self.body,
                form=form if form is not None else self.form,
                headers=self.headers,
                id_field=self.id_field,
                status_field=self.status_field,
            )
        assert adapter is not None and self.task_name and self.queue_name
        return AdapterChannel(
            adapter,
            self.task_name,
            args if args is not None else self.args,
            self.kwargs,
            self.queue_name,
            job_timeout_s=job_timeout_s,
            via=self.via,
        )
