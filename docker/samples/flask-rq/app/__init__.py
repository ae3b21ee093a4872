"""A Flask + RQ sample, shaped like the public flask-redis-queue projects.

    POST /tasks  (form: type=N)   -> 202 {"status": "success", "data": {"task_id": "..."}}
    GET  /tasks/<task_id>         -> {"status": "success", "data": {"task_id", "task_status",
                                      "task_result"}}   (404 {"status": "error"} if unknown)

type=N sleeps N seconds (0-25) and returns true; type=fail raises. There is no /health route,
on purpose: most such projects have none.
"""

from __future__ import annotations

import os

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        REDIS_URL=os.environ.get("REDIS_URL", "redis://redis:6379/0"),
        QUEUES=["default"],
    )

    from app.views import main_blueprint

    app.register_blueprint(main_blueprint)
    return app
