"""Choosing among the app's routes: the path the http check asks for (a health route, else
a GET route that exists), and the endpoints a job goes in and is followed through."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobcheck.scaffold.routes import Route, Routes

HEALTH_WORDS = (
    "health", "healthz", "healthcheck", "health-check", "health_check", "livez", "readyz",
    "ping", "status", "ready", "readiness", "live", "liveness", "alive", "heartbeat",
)  # fmt: skip


@dataclass(frozen=True)
class Probe:
    """The path the http check asks for, and why that one."""

    path: str
    health: bool  # a health-like route, not a fallback
    route: Route | None = None  # None for FastAPI's /docs

    @property
    def why(self) -> str:
        where = f" ({self.route.where})" if self.route else ""
        if self.health:
            return f"{self.path} is the app's health route{where}"
        if self.route is None:
            return f"no health route found; {self.path} is FastAPI's own documentation page"
        return f"no health route found; {self.path} is a GET route that exists{where}"


def health_probe(found: Routes) -> Probe | None:
    candidates = [r for r in found.get() if not r.has_params]
    health = sorted(
        ((_health_rank(r.path), r.path.count("/"), r.path, r) for r in candidates),
        key=lambda item: item[:3],
    )
    if health and health[0][0] < len(HEALTH_WORDS):
        return Probe(health[0][2], True, health[0][3])
    root = next((r for r in candidates if r.path == "/"), None)
    if root is not None:
        return Probe("/", False, root)
    if found.fastapi_docs:
        return Probe("/docs", False)
    usable = sorted((r for r in candidates if "admin" not in r.path), key=lambda r: len(r.path))
    return Probe(usable[0].path, False, usable[0]) if usable else None


def _health_rank(path: str) -> int:
    segments = [s for s in path.lower().split("/") if s]
    last = segments[-1] if segments else ""
    return HEALTH_WORDS.index(last) if last in HEALTH_WORDS else len(HEALTH_WORDS)


def job_endpoints(found: Routes) -> tuple[Route, Route] | None:
    """A POST that enqueues (``/tasks``) and the GET that reports on one (``/tasks/{id}``)."""
    for post in found.routes:
        if "POST" not in post.methods or post.has_params:
            continue
        if not re.search(r"task|job", post.path, re.IGNORECASE):
            continue
        base = post.path.rstrip("/")
        for get in found.get():
            rest = get.path[len(base) :] if get.path.startswith(base + "/") else ""
            if rest and get.has_params and rest.strip("/").count("/") == 0:
                return post, get
    return None


def answer_field(route: Route, wanted: str) -> str:
    """The deepest answer field that names the job's id (``data.task_id``) or its status
    (``task_status``); '' when the handler builds no such dict (the kind's default then)."""
    words = ("id",) if wanted == "id" else ("status", "state")
    lasts = ((p, p.rsplit(".", 1)[-1].lower()) for p in route.answers)
    fits = [p for p, last in lasts if any(last == w or last.endswith("_" + w) for w in words)]
    return max(fits, key=lambda p: (p.count("."), len(p))) if fits else ""


def status_url_template(route: Route) -> str:
    """``/tasks/{task_id}`` or ``/tasks/<task_id>`` -> ``/tasks/{id}`` for the job kind."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "{id}", route.path)
