"""The API, as FastAPI + arq projects write it: one pool opened at startup, a route that
enqueues (JSON body with the job's arguments) and one that answers a job's status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from app.settings import QUEUE_NAME, REDIS_SETTINGS

FUNCTIONS = {"send_email", "sleep", "canary", "fail"}


class TaskIn(BaseModel):
    function: str = "send_email"
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.redis = await create_pool(REDIS_SETTINGS, default_queue_name=QUEUE_NAME)
    yield
    await app.state.redis.aclose()


app = FastAPI(title="fastapi-arq sample", lifespan=lifespan)


def pool() -> ArqRedis:
    redis: ArqRedis = app.state.redis
    return redis


@app.get("/health")
async def health() -> dict[str, bool]:
    await pool().ping()
    return {"ok": True}


@app.post("/tasks", status_code=202)
async def enqueue(task: TaskIn) -> dict[str, str]:
    if task.function not in FUNCTIONS:
        raise HTTPException(400, f"function must be one of {sorted(FUNCTIONS)}")
    job = await pool().enqueue_job(task.function, *task.args, **task.kwargs)
    if job is None:
        raise HTTPException(409, "job already exists")
    return {"id": job.job_id, "status": "queued"}


@app.post("/jobs/sleep", status_code=202)
async def enqueue_sleep(seconds: float = 5) -> dict[str, str]:
    job = await pool().enqueue_job("sleep", seconds)
    assert job is not None
    return {"id": job.job_id, "status": "queued"}


@app.get("/tasks/{job_id}")
async def status(job_id: str) -> dict[str, Any]:
    job = Job(job_id, pool(), _queue_name=QUEUE_NAME)
    state = await job.status()
    if state == JobStatus.not_found:
        raise HTTPException(404, "no such job")
    answer: dict[str, Any] = {"id": job_id, "status": state.value}
    if state == JobStatus.complete:
        info = await job.result_info()
        if info is not None:
            answer["status"] = "complete" if info.success else "failed"
            answer["result"] = repr(info.result) if not info.success else info.result
    return answer
