from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jobcheck.scaffold import routechoice, routes

FASTAPI = {
    "src/shop/main.py": """
        from fastapi import FastAPI

        from shop.api import orders
        from .api.status import router as status_router

        app = FastAPI(docs_url=None)
        app.include_router(orders.router, prefix="/api")
        app.include_router(status_router)
        """,
    "src/shop/api/__init__.py": "",
    "src/shop/api/orders.py": """
        from typing import Annotated

        from fastapi import APIRouter, Form

        router = APIRouter(prefix="/orders")


        @router.get("")
        def list_orders() -> list[int]:
            return []


        @router.post("/jobs")
        def enqueue(email: Annotated[str, Form()], kind: str = Form("x")) -> dict[str, object]:
            return {"data": {"job_id": 1}}


        @router.get("/jobs/{job_id}")
        def job(job_id: str) -> dict[str, object]:
            state = {"job_state": "queued"}
            return {"ok": True, "job": state}
        """,
    "src/shop/api/status.py": """
        from fastapi import APIRouter

        router = APIRouter(prefix="/internal")


        @router.api_route("/readyz", methods=["GET", "HEAD"])
        def ready() -> str:
            return "ok"
        """,
    "tests/test_main.py": "from fastapi import FastAPI\napp = FastAPI()\n@app.get('/health')\n",
}

FLASK = {
    "app/__init__.py": """
        from flask import Flask

        from app.views import bp


        def create_app() -> Flask:
            app = Flask(__name__)
            app.register_blueprint(bp, url_prefix="/v2")
            return app
        """,
    "app/views.py": """
        from flask import Blueprint, request

        bp = Blueprint("main", __name__, url_prefix="/main")


        @bp.route("/ping")
        def ping() -> str:
            return "pong"


        @bp.route("/tasks", methods=["POST"])
        def run() -> dict[str, str]:
            return {"id": request.form.get("type", "")}


        @bp.get("/tasks/<int:task_id>")
        def status(task_id: int) -> dict[str, str]:
            return {}
        """,
}

DJANGO = {
    "site/urls.py": """
        from django.urls import include, path

        urlpatterns = [
            path("admin/", admin.site.urls),
            path("api/", include("shop.urls")),
        ]
        """,
    "shop/urls.py": """
        from django.urls import path, re_path

        from . import views

        urlpatterns = [
            path("healthz/", views.healthz),
            re_path(r"^orders/(?P<pk>[0-9]+)/$", views.order),
        ]
        """,
}


def found(root: Path) -> dict[str, list[str]]:
    return {r.path: sorted(r.methods) for r in routes.find(root).routes}


def test_fastapi_routers_get_their_prefixes_through_imports(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    root = make_project(FASTAPI)
    assert found(root) == {
        "/api/orders": ["GET"],
        "/api/orders/jobs": ["POST"],
        "/api/orders/jobs/{job_id}": ["GET"],
        "/internal/readyz": ["GET", "HEAD"],
    }
    assert routes.find(root).fastapi_docs is False  # docs_url=None
    probe = routechoice.health_probe(routes.find(root))
    assert probe is not None and (probe.path, probe.health) == ("/internal/readyz", True)
    assert probe.why == "/internal/readyz is the app's health route (src/shop/api/status.py:6)"


def test_flask_blueprint_prefixes(make_project: Callable[[dict[str, str]], Path]) -> None:
    root = make_project(FLASK)
    assert found(root) == {
        "/v2/main/ping": ["GET"],
        "/v2/main/tasks": ["POST"],
        "/v2/main/tasks/<int:task_id>": ["GET"],
    }
    endpoints = routechoice.job_endpoints(routes.find(root))
    assert endpoints is not None
    post, get = endpoints
    assert (post.path, post.form) == ("/v2/main/tasks", ("type",))
    assert routechoice.status_url_template(get) == "/v2/main/tasks/{id}"


def test_django_urlpatterns_and_includes(make_project: Callable[[dict[str, str]], Path]) -> None:
    root = make_project(DJANGO)
    assert found(root) == {
        "/admin/": ["GET"],
        "/api/healthz/": ["GET"],
        "/api/orders/(?P<pk>[0-9]+)/": ["GET"],
    }
    probe = routechoice.health_probe(routes.find(root))
    assert probe is not None and probe.path == "/api/healthz/"


def test_handlers_form_and_answer_fields(make_project: Callable[[dict[str, str]], Path]) -> None:
    by_path = {r.path: r for r in routes.find(make_project(FASTAPI)).routes}
    post, get = by_path["/api/orders/jobs"], by_path["/api/orders/jobs/{job_id}"]
    assert post.form == ("email", "kind")
    assert routechoice.answer_field(post, "id") == "data.job_id"
    assert routechoice.answer_field(get, "status") == "job.job_state"  # through `state = {...}`


@pytest.mark.parametrize(
    ("declared", "expected", "health"),
    [
        ({"/": "get", "/ping": "get", "/status": "get"}, "/ping", True),
        ({"/healthz": "get", "/api/health": "get"}, "/api/health", True),  # health first
        ({"/": "get", "/items/{id}": "get"}, "/", False),
        ({"/items": "get", "/items/{id}": "get"}, "/docs", False),  # FastAPI's own page
        ({"/health": "post"}, "/docs", False),  # a POST is no probe
    ],
)
def test_choosing_the_probe(
    make_project: Callable[[dict[str, str]], Path],
    declared: dict[str, str],
    expected: str,
    health: bool,
) -> None:
    handlers = "".join(
        f"@app.{verb}({path!r})\ndef h{i}() -> None: ...\n"
        for i, (path, verb) in enumerate(declared.items())
    )
    root = make_project({"main.py": f"from fastapi import FastAPI\napp = FastAPI()\n{handlers}"})
    probe = routechoice.health_probe(routes.find(root))
    assert probe is not None and (probe.path, probe.health) == (expected, health)


def test_no_route_at_all(make_project: Callable[[dict[str, str]], Path]) -> None:
    root = make_project({"worker.py": "import rq\n", "broken.py": "def (:\n"})
    assert routechoice.health_probe(routes.find(root)) is None


def test_prefixes_from_settings_tuples_and_what_cannot_be_resolved(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    root = make_project(
        {
            "app/core/config.py": """
                import os
                from pydantic_settings import BaseSettings

                V2 = os.getenv("V2_PREFIX", "/v2")

                class Settings(BaseSettings):
                    API_V1_STR: str = "/backend-api/v1"

                settings = Settings()
            """,
            "app/main.py": """
                import os
                from fastapi import FastAPI, APIRouter
                from app.core.config import settings, V2

                app = FastAPI()
                v1 = APIRouter()
                v2 = APIRouter()
                hidden = APIRouter()

                @v1.get("/healthz")
                def healthz(): ...

                @v2.get("/items")
                def items(): ...

                @hidden.get("/status")
                def status(): ...

                app.include_router(v1, prefix=settings.API_V1_STR)
                app.include_router(v2, prefix=f"{V2}/api")
                app.include_router(hidden, prefix=os.environ["HIDDEN"])
            """,
            "site/urls.py": """
                from django.urls import include, path

                urlpatterns = [path("api/", include(("site.api.urls", "api"), namespace="api"))]
            """,
            "site/api/urls.py": """
                from django.urls import path

                urlpatterns = [path("ping/", ping)]
            """,
        }
    )
    found = routes.find(root)
    paths = {r.path for r in found.routes}
    assert {"/backend-api/v1/healthz", "/v2/api/items", "/api/ping/"} <= paths
    assert [r.path for r in found.unresolved] == ["/{?os.environ['HIDDEN']}/status"]
    probe = routechoice.health_probe(found)
    assert probe is not None and probe.path == "/backend-api/v1/healthz"  # never /status
