"""HTTP API in the shape most FastAPI + Celery projects have: POST /tasks, GET /tasks/{id}.

    POST /tasks {"type": 1}            -> 202 {"task_id": "..."}   (1 canary, 2 sleep, 3 fail)
    POST /tasks {"seconds": 5}         -> 202 {"task_id": "..."}   (sleep 5 s)
    GET  /tasks/{task_id}              -> {"task_id", "task_status", "task_result"}
    GET  /health                       -> {"ok": true, "broker": "ok", "backend": "ok"}

Like every AsyncResult-based endpoint, an unknown id reads PENDING: Celery cannot tell a task
that is waiting from one it never heard of.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from celery.result import AsyncResult
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from app import probes, tasks
from app.celery_app import app as celery_app
from app.celery_app import settings

log = logging.getLogger("app.api")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# `type` as number or name; `seconds` alone means a sleep task.
TASK_TYPES = {
    1: "canary",
    2: "sleep",
    3: "fail",
    "canary": "canary",
    "sleep": "sleep",
    "fail": "fail",
}
DEFAULT_SLEEP_S = 1.0


class TaskRequest(BaseModel):
    type: int | str | None = None
    seconds: float | None = Field(default=None, ge=0)


def create_app() -> FastAPI:
    debug = settings.debug
    api = FastAPI(
        title="jobcheck Celery demo service",
        debug=debug,
        docs_url="/docs" if debug else None,
        redoc_url=None,
        openapi_url="/openapi.json" if debug else None,
    )
    # Registered first, so the security headers (outermost) are set on a 413 too.
    api.middleware("http")(body_limit(settings.max_body_bytes))
    api.middleware("http")(security_headers)
    api.get("/health")(health)
    api.post("/tasks", status_code=202)(run_task)
    api.get("/tasks/{task_id}")(get_status)
    return api


def body_limit(limit: int) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Any]:
    """Refuse a request whose declared body is over ``limit`` bytes (0: no limit) before
    reading it: an upload limit, as a proxy in front would enforce it."""

    async def refuse_large(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length", "")
        if limit and length.isdigit() and int(length) > limit:
            log.warning("refused a %s-byte body (limit %s)", length, limit)
            return JSONResponse(
                {"detail": f"request body over {limit} bytes"},
                status_code=413,
                headers={"Connection": "close"},
            )
        return await call_next(request)

    return refuse_large


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    return response


def health() -> JSONResponse:
    problems = {
        "broker": probes.ping(settings.broker_url),
        "backend": probes.ping(settings.result_backend),
    }
    body: dict[str, Any] = {"ok": not any(problems.values())}
    body.update({name: problem or "ok" for name, problem in problems.items()})
    if not body["ok"]:
        log.warning("health: %s", problems)
    return JSONResponse(body, status_code=200 if body["ok"] else 503)


def run_task(payload: TaskRequest) -> dict[str, str]:
    kind = _task_kind(payload)
    try:
        if kind == "sleep":
            seconds = payload.seconds if payload.seconds is not None else DEFAULT_SLEEP_S
            limit = settings.max_sleep_s
            if seconds > limit:
                raise HTTPException(422, f"seconds must be at most {limit} (the worker's grace)")
            task = tasks.sleep.delay(seconds)
        elif kind == "fail":
            task = tasks.fail.delay()
        else:
            task = tasks.canary.delay()
    except OperationalError as exc:
        raise HTTPException(503, f"broker unavailable: {_describe(exc)}") from None
    log.info("sent %s as %s", kind, task.id)
    return {"task_id": task.id}


def get_status(task_id: str) -> dict[str, Any]:
    result = AsyncResult(task_id, app=celery_app)
    try:
        status = result.status
        value = result.result
    except (RedisError, OperationalError) as exc:
        raise HTTPException(503, f"result backend unavailable: {_describe(exc)}") from None
    return {"task_id": task_id, "task_status": status, "task_result": _jsonable(value)}


def _task_kind(payload: TaskRequest) -> str:
    if payload.type is None:
        return "sleep" if payload.seconds is not None else "canary"
    key = payload.type.strip().lower() if isinstance(payload.type, str) else payload.type
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    kind = TASK_TYPES.get(key)
    if kind is None:
        raise HTTPException(422, "type must be 1 (canary), 2 (sleep) or 3 (fail)")
    if payload.seconds is not None and kind != "sleep":
        raise HTTPException(422, f"seconds only applies to sleep tasks, not {kind}")
    return kind


def _jsonable(value: Any) -> Any:
    # A failed task's result is its exception; a started one's is {"pid", "hostname"}.
    if isinstance(value, BaseException):
        return _describe(value)
    return value


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


app = create_app()
