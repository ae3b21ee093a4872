"""Container healthchecks: `python -m app.healthcheck api|worker`. Exit 0 when healthy."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request

API_HEALTH_URL = "http://127.0.0.1:8000/health"
TIMEOUT_S = 4.0


def check_api() -> str | None:
    try:
        with urllib.request.urlopen(API_HEALTH_URL, timeout=TIMEOUT_S) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        return f"/health answered {exc.code}: {exc.read(200).decode(errors='replace')}"
    except (OSError, ValueError) as exc:
        return f"/health unreachable: {exc}"
    return None if body.get("ok") is True else f"/health body: {body}"


def check_worker() -> str | None:
    """The worker of this container answers a ping through the broker (`celery inspect ping
    -d celery@$HOSTNAME`, without the CLI's start-up cost)."""
    # Imported here: the api check runs every few seconds and needs no Celery.
    from app.celery_app import app

    name = f"celery@{socket.gethostname()}"
    try:
        # Our own connection, closed politely on the way out. The reply still goes out
        # through Celery's producer pool, whose connection dies with this process: RabbitMQ
        # logs "client unexpectedly closed TCP connection" once per check (harmless).
        with app.connection_for_write() as connection:
            replies = app.control.ping(
                destination=[name], timeout=TIMEOUT_S - 1, connection=connection
            )
    except Exception as exc:  # any failure to ask the broker means unhealthy
        return f"cannot ping {name}: {type(exc).__name__}: {exc}"
    if any(name in reply for reply in replies):
        return None
    return f"no answer from {name} within {TIMEOUT_S - 1:.0f}s"


CHECKS = {"api": check_api, "worker": check_worker}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: python -m app.healthcheck {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    problem = CHECKS[argv[0]]()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
