"""HTTP API: health, and canary/sleep jobs on the RQ queue."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app import jobs
from app.queueing import connection, queue, settings

log = logging.getLogger("app.api")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# Keep finished canaries around long enough to be read back, not forever.
RESULT_TTL_S = 3600
FAILURE_TTL_S = 24 * 3600


def create_app() -> FastAPI:
    debug = settings().debug
    app = FastAPI(
        title="jobcheck demo service",
        debug=debug,
        docs_url="/docs" if debug else None,
        redoc_url=None,
        openapi_url="/openapi.json" if debug else None,
    )
    # Registered first, so the security headers (outermost) are set on a 413 too.
    app.middleware("http")(body_limit(settings().max_body_bytes))
    app.middleware("http")(security_headers)
    app.get("/health")(health)
    app.post("/jobs/canary", status_code=202)(enqueue_canary)
    app.post("/jobs/sleep", status_code=202)(enqueue_sleep)
    app.get("/jobs/{job_id}")(job_status)
    return app


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
    try:
        connection().ping()
    except RedisError as exc:
        log.warning("health: redis unreachable: %s", exc)
        return JSONResponse({"ok": False, "redis": _describe(exc)}, status_code=503)
    return JSONResponse({"ok": True, "redis": "ok"})


def enqueue_canary() -> dict[str, str]:
    return _enqueue(jobs.canary, job_timeout=30)


def enqueue_sleep(seconds: Annotated[float, Query(ge=0)]) -> dict[str, str]:
    limit = settings().max_sleep_s
    if seconds > limit:
        raise HTTPException(422, f"seconds must be at most {limit} (the worker's grace period)")
    # Idempotent, so safe to retry: a worker killed mid-job (cold shutdown) gets the job
    # back from the abandoned-job sweep instead of losing it.
    return _enqueue(jobs.sleep, seconds, job_timeout=int(seconds) + 30, retry=Retry(max=2))


def job_status(job_id: str) -> dict[str, Any]:
    try:
        job = Job.fetch(job_id, connection=connection())
    except NoSuchJobError:
        raise HTTPException(404, f"no job {job_id}") from None
    except RedisError as exc:
        raise HTTPException(503, f"queue unavailable: {_describe(exc)}") from None
    status = job.get_status(refresh=False)
    body: dict[str, Any] = {
        "id": job.id,
        "status": status.value if status is not None else "unknown",
        "function": job.func_name,
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
    }
    if status == JobStatus.FINISHED:
        body["result"] = job.return_value()
    return body


def _enqueue(
    func: Callable[..., Any], *args: Any, job_timeout: int, retry: Retry | None = None
) -> dict[str, str]:
    try:
        job = queue().enqueue(
            func,
            *args,
            job_timeout=settings().job_timeout_s or job_timeout,
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            retry=retry,
        )
    except RedisError as exc:
        raise HTTPException(503, f"queue unavailable: {_describe(exc)}") from None
    log.info("enqueued %s as %s", job.func_name, job.id)
    return {"id": job.id, "status": "queued"}


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


app = create_app()
