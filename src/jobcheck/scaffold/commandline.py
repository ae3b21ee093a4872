"""What a compose service's command runs: the job framework's worker, scheduler or dashboard,
a web server, or a one-shot task — and the worker's queues and broker URL.

Commands are read as words, never run. ``sh -c "..."`` wrappers and ``&&`` chains are flattened
into one list of words, which is all the questions below need.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_WORD = re.compile(r"[^\s'\"&;|()]+")
_SERVERS = {"uvicorn", "gunicorn", "hypercorn", "daphne", "granian", "waitress-serve", "uwsgi"}
_SERVER_SUBCOMMANDS = {"flask": {"run"}, "manage.py": {"runserver", "run"}, "fastapi": {"run"}}
_ONESHOT = re.compile(r"^(migrate|collectstatic|loaddata|createsuperuser|init-?db|seed)$")
_SCRIPT_ROLES = (
    (re.compile(r"celery[-_]?worker"), "worker", "celery"),
    (re.compile(r"celery[-_]?beat"), "scheduler", "celery"),
    (re.compile(r"flower"), "dashboard", "celery"),
    (re.compile(r"rq[-_]?dashboard"), "dashboard", "rq"),
    (re.compile(r"rq[-_]?scheduler"), "scheduler", "rq"),
    (re.compile(r"rq[-_]?worker"), "worker", "rq"),
)
_CELERY_VALUE_OPTIONS = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader"}
_CELERY_VALUE_OPTIONS |= {"--config", "--workdir"}
_RQ_FLAGS = {"-b", "--burst", "-s", "--with-scheduler", "-q", "--quiet", "-v", "--verbose"}
_RQ_FLAGS |= {"--disable-job-desc-logging", "--disable-default-exception-handler"}
DEFAULT_QUEUES = {"rq": ["default"], "celery": ["celery"]}


@dataclass(frozen=True)
class Reading:
    """What one command is: ``role`` is '' when the words say nothing."""

    role: str = ""  # worker | scheduler | dashboard | oneshot | web
    framework: str = ""  # rq | celery | dramatiq | arq
    queues: list[str] = field(default_factory=list)
    broker_url: str = ""
    why: str = ""


def words(command: str) -> list[str]:
    return _WORD.findall(command)


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def read(command: str) -> Reading:
    """The first role the words show, in the order that keeps ``celery -A worker.celery beat``
    a scheduler and ``sh -c "alembic upgrade head && uvicorn ..."`` a web server."""
    tokens = words(command)
    for reader in (_celery, _rq, _dramatiq, _arq, _scripts):
        found = reader(tokens)
        if found is not None:
            return found
    if _server(tokens):
        return Reading("web", why="runs a web server")
    oneshot = _oneshot(tokens)
    if oneshot:
        return Reading("oneshot", why=f"runs `{oneshot}`")
    if any(re.search(r"(^|[-_./])worker([-_.]|$)", _base(t)) for t in tokens):
        return Reading("worker", why="its command starts a worker")
    return Reading()


def _celery(tokens: list[str]) -> Reading | None:
    for i, token in enumerate(tokens):
        if _base(token) != "celery":
            continue
        sub, rest = _subcommand(tokens[i + 1 :], _CELERY_VALUE_OPTIONS)
        broker = _option(tokens[i + 1 :], ("-b", "--broker"))
        if sub == "worker":
            queues = _celery_queues(rest) or DEFAULT_QUEUES["celery"]
            return Reading("worker", "celery", queues, broker, why="runs `celery worker`")
        if sub == "beat":
            return Reading("scheduler", "celery", why="runs `celery beat`")
        if sub == "flower":
            return Reading("dashboard", "celery", broker_url=broker, why="runs Flower")
    return None


def _subcommand(tokens: list[str], valued: set[str]) -> tuple[str, list[str]]:
    """The first word that is not an option (or an option's value), and the words after it."""
    skip = False
    for i, token in enumerate(tokens):
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = token in valued
        else:
            return token, tokens[i + 1 :]
    return "", []


def _option(tokens: list[str], names: tuple[str, ...]) -> str:
    for i, token in enumerate(tokens):
        name, eq, value = token.partition("=")
        if name in names:
            if eq:
                return value
            return tokens[i + 1] if i + 1 < len(tokens) else ""
    return ""


def _celery_queues(tokens: list[str]) -> list[str]:
    found = _option(tokens, ("-Q", "--queues"))
    if not found:
        glued = next((t[2:] for t in tokens if t.startswith("-Q") and len(t) > 2), "")
        found = glued
    return [q for q in found.split(",") if q]


def celery_time_limits(command: str) -> dict[str, str]:
    """``--time-limit`` / ``--soft-time-limit`` of a ``celery worker`` command, by the
    worker_limits option each sets (``time_limit``, ``soft_time_limit``)."""
    tokens = words(command)
    found = {
        "time_limit": _option(tokens, ("--time-limit",)),
        "soft_time_limit": _option(tokens, ("--soft-time-limit",)),
    }
    return {k: v for k, v in found.items() if v}


def shell_wrapped(command: str) -> str:
    """``sh``/``bash`` when the command runs through ``SHELL -c`` without ``exec`` in front of
    its last program; '' otherwise."""
    tokens = words(command)
    for i, token in enumerate(tokens[:-1]):
        if _base(token) in ("sh", "bash", "ash", "dash") and tokens[i + 1] == "-c":
            return "" if re.search(r"(^|[;&|]\s*|\s)exec\s", command) else _base(token)
    return ""


def names_queues(command: str) -> bool:
    """The command chooses its queues (``-Q``/``--queues``)."""
    return any(t == "--queues" or t.startswith(("-Q", "--queues=")) for t in words(command))


def _rq(tokens: list[str]) -> Reading | None:
    for i, token in enumerate(tokens):
        base = _base(token)
        if base == "rq" and tokens[i + 1 : i + 2] == ["worker"]:
            rest = tokens[i + 2 :]
        elif base in ("rqworker", "rq_worker"):
            rest = tokens[i + 1 :]
        else:
            continue
        url = _option(rest, ("-u", "--url"))
        queues = list(_rq_queues(rest)) or DEFAULT_QUEUES["rq"]
        return Reading("worker", "rq", queues, url, why="runs `rq worker`")
    if any(_base(t) in ("rq-dashboard", "rq_dashboard") for t in tokens):
        return Reading("dashboard", "rq", why="runs rq-dashboard")
    if any(_base(t) in ("rqscheduler", "rq-scheduler") for t in tokens):
        return Reading("scheduler", "rq", why="runs rqscheduler")
    return None


def _rq_queues(tokens: list[str]) -> Iterator[str]:
    """``rq worker --url X high default`` -> high, default: the words no option takes."""
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = "=" not in token and token not in _RQ_FLAGS
        elif re.fullmatch(r"[\w.:-]+", token):
            yield token


def _dramatiq(tokens: list[str]) -> Reading | None:
    if any(_base(t) == "dramatiq" for t in tokens):
        return Reading("worker", "dramatiq", why="runs `dramatiq`")
    if any(_base(t) == "periodiq" for t in tokens):
        return Reading("scheduler", "dramatiq", why="runs periodiq")
    return None


def _arq(tokens: list[str]) -> Reading | None:
    for i, token in enumerate(tokens):
        if _base(token) == "arq" and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            return Reading("worker", "arq", why="runs `arq`")
    return None


def _scripts(tokens: list[str]) -> Reading | None:
    """Start scripts named for what they run: ``/start-celeryworker``, ``/start-flower``."""
    for token in tokens:
        for pattern, role, framework in _SCRIPT_ROLES:
            if pattern.search(_base(token)):
                queues = DEFAULT_QUEUES.get(framework, []) if role == "worker" else []
                return Reading(role, framework, queues, why=f"runs `{token}`")
    return None


def _server(tokens: list[str]) -> bool:
    pairs = itertools.pairwise([*tokens, ""])
    return any(
        _base(a) in _SERVERS or b in _SERVER_SUBCOMMANDS.get(_base(a), set()) for a, b in pairs
    )


def server_port(command: str) -> str:
    """The port a web server command listens on (``--port 8000``, ``-b 0.0.0.0:8000``,
    ``runserver 0.0.0.0:8000``); '' when it does not say."""
    tokens = words(command)
    for i, token in enumerate(tokens):
        name, eq, value = token.partition("=")
        if name in ("--port", "-p", "--bind", "-b") and not eq and i + 1 < len(tokens):
            value = tokens[i + 1]
        elif not (eq and name in ("--port", "--bind")):
            value = token if re.fullmatch(r"[\w.]+:\d+", token) and _server(tokens) else ""
        port = value.rsplit(":", 1)[-1]
        if port.isdigit():
            return port
    return ""


def _oneshot(tokens: list[str]) -> str:
    text = " ".join(tokens)
    upgrade = re.search(r"\b(alembic|flask\s+db)\s+upgrade\b", text)
    if upgrade:
        return f"{upgrade.group(0)}"
    return next((t for t in tokens if _ONESHOT.match(t)), "")
