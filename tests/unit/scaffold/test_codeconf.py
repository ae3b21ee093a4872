"""Celery's broker, backend and queues, and Django's DEBUG, read from the project's code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobcheck.scaffold.codeconf import Value, find

Make = Callable[[dict[str, str]], Path]


def test_celery_arguments_and_conf_update(make_project: Make) -> None:
    conf = find(
        make_project(
            {
                "app/worker.py": """
                    import os
                    from celery import Celery

                    PASSWORD = os.environ.get("REDIS_PASSWORD")
                    app = Celery("w", broker="amqp://guest@queue//")
                    app.conf.update({"result_backend": f"redis://:{PASSWORD}@redis:6379/1"})
                    app.conf.task_default_queue = "main"
                    app.conf.task_routes = {"app.worker.mail": {"queue": "emails"}}
                """
            }
        )
    )
    assert conf.broker == Value("amqp://guest@queue//", "", "app/worker.py:5")
    assert conf.backend == Value("redis://:${REDIS_PASSWORD}@redis:6379/1", "", "app/worker.py:6")
    assert conf.default_queue is not None and conf.default_queue.text == "main"
    assert conf.routed_queues == ["emails"]
    assert conf.debug is None


def test_django_settings_read_from_variables(make_project: Make) -> None:
    conf = find(
        make_project(
            {
                "config/settings.py": """
                    import environ
                    from decouple import config

                    env = environ.Env()
                    DEBUG = env.bool("DJANGO_DEBUG", default=True)
                    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="amqp://rabbitmq//")
                    CELERY_RESULT_BACKEND = config("CELERY_RESULT_BACKEND")
                """
            }
        )
    )
    assert conf.broker == Value("amqp://rabbitmq//", "CELERY_BROKER_URL", "config/settings.py:6")
    assert conf.backend == Value("", "CELERY_RESULT_BACKEND", "config/settings.py:7")
    assert conf.debug is not None and conf.debug.env == "DJANGO_DEBUG"
    assert conf.debug.describe() == "DJANGO_DEBUG, read at config/settings.py:5 (with a default)"


def test_debug_off_and_other_names_are_not_celery_settings(make_project: Make) -> None:
    conf = find(
        make_project(
            {
                "settings.py": 'DEBUG = False\nBROKER = "kafka://x"\nmy_backend = "x"\n',
            }
        )
    )
    assert (conf.broker, conf.backend, conf.debug) == (None, None, None)
