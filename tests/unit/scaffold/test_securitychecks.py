"""The security checks ``init`` writes for an HTTP API: the response header (a blocker where the
code sets it, a warning saying why where it does not) and no debug page (a warning where
FastAPI serves its docs pages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from jobcheck.loading import load_checklist
from jobcheck.scaffold import init_checklist
from jobcheck.scaffold.headers import nosniff_source

COMPOSE = """
    services:
      web:
        build: .
        command: ["gunicorn", "--bind", "0.0.0.0:5000", "app:create_app()"]
        ports: ["127.0.0.1:5000:5000"]
    """

FLASK_HOOK = """
    from flask import Flask


    def create_app() -> Flask:
        app = Flask(__name__)

        @app.get("/health")
        def health() -> dict[str, bool]:
            return {"ok": True}

        @app.after_request
        def secure(response):
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response

        return app
    """

Make = Callable[[dict[str, str]], Path]


def checks_of(root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    path = init_checklist(root, force=False, environ={}, compose_cli=lambda: "docker-compose")
    load_checklist(path, {})
    text = path.read_text(encoding="utf-8")
    return text, {c["id"]: c for c in yaml.safe_load(text)["checks"]}


def comments(text: str) -> str:
    """The checks' comments as one line each, unwrapped."""
    return text.replace("\n  # ", " ")


def test_a_header_the_code_sets_is_a_blocker(make_project: Make) -> None:
    root = make_project({"compose.yaml": COMPOSE, "app/__init__.py": FLASK_HOOK})
    text, checks = checks_of(root)
    headers = checks["web-headers"]
    assert headers["with"] == {
        "url": "http://${stack.web.5000}/health", "status": 200,
        "headers": {"X-Content-Type-Options": "nosniff"},
    }  # fmt: skip
    assert "severity" not in headers and headers["needs"] == ["web-health"]
    assert "The code sets it (app/__init__.py:13)." in comments(text)
    assert checks["web-no-debug"]["with"] == {
        "url": "http://${stack.web.5000}/health",
        "no_debug": True,
    }
    assert "severity" not in checks["web-no-debug"]
    assert checks["web-headers"]["tags"] == ["integration", "security"]


def test_a_library_that_sends_it_counts(make_project: Make) -> None:
    hook = FLASK_HOOK[
        FLASK_HOOK.index("        @app.after_request") : FLASK_HOOK.index("        return app")
    ]
    app = FLASK_HOOK.replace(hook, "        Talisman(app, force_https=False)\n").replace(
        "from flask import Flask\n",
        "from flask import Flask\n    from flask_talisman import Talisman\n",
    )
    root = make_project({"compose.yaml": COMPOSE, "app/__init__.py": app})
    assert nosniff_source(root) == "app/__init__.py:12 (flask-talisman)"
    _, checks = checks_of(root)
    assert "severity" not in checks["web-headers"]


def test_a_call_named_like_a_library_but_not_imported_from_it_does_not(make_project: Make) -> None:
    root = make_project({"app.py": "def Talisman(app): ...\n\nTalisman(None)\n"})
    assert nosniff_source(root) == ""


def test_fastapi_docs_make_no_debug_a_warning_and_docs_url_none_a_blocker(
    make_project: Make,
) -> None:
    api = """
        from fastapi import FastAPI

        app = FastAPI({options})


        @app.get("/healthz")
        def healthz() -> dict[str, bool]:
            return {{"ok": True}}
        """
    compose = COMPOSE.replace("gunicorn", "uvicorn").replace('"app:create_app()"', '"app:app"')
    root = make_project({"compose.yaml": compose, "app.py": api.format(options="")})
    text, checks = checks_of(root)
    assert checks["web-no-debug"]["severity"] == "warning"
    assert "(`FastAPI(docs_url=None, redoc_url=None, openapi_url=None)`)" in comments(text)
    assert checks["web-headers"]["severity"] == "warning"

    root = make_project({"app.py": api.format(options="docs_url=None")})
    _, checks = checks_of_again(root)
    assert "severity" not in checks["web-no-debug"]


def checks_of_again(root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    (root / "jobcheck.yaml").unlink()
    return checks_of(root)


def test_no_route_found_makes_them_examples(make_project: Make) -> None:
    root = make_project({"compose.yaml": COMPOSE})
    text, checks = checks_of(root)
    assert not {"web-health", "web-headers", "web-no-debug"} & set(checks)
    assert "  # - id: web-headers\n" in text and "  # - id: web-no-debug\n" in text
    assert "  # Uncomment with web-health, once its url is a route the app has.\n" in text
