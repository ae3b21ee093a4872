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


def test_celery_time_limits_in_their_usual_shapes(make_project: Make) -> None:
    conf = find(
        make_project(
            {
                "app/celery_app.py": """
                    import os
                    from celery import Celery

                    app = Celery("w", broker="redis://redis:6379/0")
                    app.conf.task_time_limit = 30 * 60
                    app.conf.update(task_soft_time_limit=int(os.getenv("SOFT_LIMIT", "1500")))
                """
            }
        )
    )
    assert conf.time_limit == Value("1800", "", "app/celery_app.py:5")
    assert conf.soft_time_limit == Value("1500", "SOFT_LIMIT", "app/celery_app.py:6")


def test_django_and_old_style_time_limits(make_project: Make) -> None:
    conf = find(
        make_project(
            {
                "config/settings.py": "CELERY_TASK_TIME_LIMIT = 300.0\n",
                "old/celeryconfig.py": "CELERYD_TASK_SOFT_TIME_LIMIT = 240\n",
            }
        )
    )
    assert conf.time_limit == Value("300.0", "", "config/settings.py:1")
    assert conf.soft_time_limit == Value("240", "", "old/celeryconfig.py:1")


def test_a_limit_of_none_is_no_limit_and_a_computed_one_is_set(make_project: Make) -> None:
    conf = find(
        make_project(
            {
                "app/worker.py": """
                    from celery import Celery

                    app = Celery("w", broker="redis://redis:6379/0")
                    app.conf.task_time_limit = None
                    app.conf.task_soft_time_limit = settings.soft_limit_s or None
                """
            }
        )
    )
    assert conf.time_limit is None
    assert conf.soft_time_limit == Value("(computed)", "", "app/worker.py:5")
