"""What a running Dramatiq worker's actors are declared with, read inside its container.

A Dramatiq actor's ``time_limit`` and ``max_retries`` live in the worker's code (the actor's
options, else the broker's TimeLimit and Retries middleware), not in the broker. So jobcheck
finds the ``dramatiq`` CLI among the container's processes (``docker top``), and runs, through
the engine with that process's own interpreter, a short Python that parses the same command
line with Dramatiq's own argument parser, imports the broker and modules as the CLI does
(``dramatiq.cli.import_broker``), and prints each actor's name, queue and options as one JSON
line. The defaults come from the middleware objects the broker really has (a broker without a
TimeLimit middleware has no time limit at all; without Retries, no retries).

Nothing is sent to the broker (the brokers connect lazily), the output is bounded, and only
names and numbers are printed: no option that could hold a secret, no URL.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jobcheck.outcomes import CheckError
from jobcheck.probes import containers, engine

Container = engine.Container

MARK: Final = "JOBCHECK-DRAMATIQ-ACTORS "
OUTPUT_LIMIT: Final = 64_000  # characters of JSON the script prints at the most
# The dramatiq CLI as a process shows it: "/opt/venv/bin/python /opt/venv/bin/dramatiq app.tasks"
# (a script: its interpreter first) or "python -m dramatiq app.tasks".
CLI: Final = re.compile(r"(?:^|\s)(?:\S*/)?dramatiq(?:-gevent)?\s|\s-m\s+dramatiq(?:\.cli)?\s")

# Runs in the worker's container with its interpreter: argv[1:] is the dramatiq CLI's arguments.
SCRIPT: Final = r"""
import io, json, re, sys
MARK = @MARK@
LIMIT = @LIMIT@
real = sys.stdout
def say(data):
    text = json.dumps(data, sort_keys=True)
    if len(text) > LIMIT:
        text = json.dumps({"error": "output", "seen": "%d characters of actors" % len(text)})
    real.write(MARK + text + "\n")
    real.flush()
def scrub(text):
    return re.sub(r"//[^/@\s]*@", "//***@", str(text))[:300]
def number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
sys.stdout = sys.stderr = io.StringIO()
try:
    from dramatiq.cli import import_broker, make_argument_parser
    from dramatiq.middleware import Retries, TimeLimit
except Exception as exc:
    say({"error": "dramatiq", "seen": scrub("%s: %s" % (type(exc).__name__, exc))})
    sys.exit(0)
try:
    args = make_argument_parser().parse_args(sys.argv[1:])
except SystemExit:
    say({"error": "argv", "seen": " ".join(sys.argv[1:])[:300]})
    sys.exit(0)
try:
    for path in args.path if isinstance(args.path, list) else [args.path]:
        sys.path.insert(0, path)
    import importlib
    _, broker = import_broker(args.broker)
    for module in args.modules:
        importlib.import_module(module)
except BaseException as exc:
    say({"error": "import", "seen": scrub("%s: %s" % (type(exc).__name__, exc))})
    sys.exit(0)
limits = [m for m in broker.middleware if isinstance(m, TimeLimit)]
retries = [m for m in broker.middleware if isinstance(m, Retries)]
middleware = {
    "time_limit": number(limits[0].time_limit) if limits else None,
    "max_retries": number(retries[0].max_retries) if retries else None,
    "min_backoff": number(retries[0].min_backoff) if retries else None,
    "max_backoff": number(retries[0].max_backoff) if retries else None,
    "has_time_limit": bool(limits),
    "has_retries": bool(retries),
}
actors = []
for name, actor in sorted(broker.actors.items()):
    options = actor.options
    actors.append({
        "name": str(name),
        "queue": str(actor.queue_name),
        "options": {k: number(options[k]) for k in
                    ("time_limit", "max_retries", "min_backoff", "max_backoff") if k in options},
        "retry_when": options.get("retry_when") is not None,
    })
say({"broker": type(broker).__name__, "middleware": middleware, "actors": actors,
     "queues": list(args.queues or [])})
""".replace("@MARK@", repr(MARK)).replace("@LIMIT@", str(OUTPUT_LIMIT))


@dataclass(frozen=True)
class Actor:
    """One actor's effective limits (ms; None: none), each with where it comes from."""

    name: str
    queue: str
    time_limit_ms: float | None
    time_limit_from: str  # "actor", "middleware default", "no TimeLimit middleware"
    max_retries: int | None  # None: retried forever (max_retries=None)
    max_retries_from: str
    max_backoff_ms: float | None
    retry_when: bool  # a retry_when function decides, not max_retries


@dataclass(frozen=True)
class WorkerActors:
    container: str
    command: str
    broker: str
    actors: tuple[Actor, ...]
    queues: tuple[str, ...]  # --queues: the queues this worker consumes (empty: all)


def cli_process(procs: Sequence[containers.Process]) -> containers.Process | None:
    """The dramatiq CLI's main process (its forked workers share its command line)."""
    matching = {p.pid: p for p in procs if CLI.search(p.args + " ")}
    mains = [p for p in matching.values() if p.ppid not in matching]
    return min(mains, key=lambda p: p.pid) if mains else None


def split_command(args: str) -> tuple[str, list[str]]:
    """(the interpreter, the CLI's arguments) of a dramatiq command line; ValueError when its
    interpreter is not a Python one to run the reader with."""
    words = args.split()
    at = next(
        (
            n
            for n, word in enumerate(words)
            if os.path.basename(word) in ("dramatiq", "dramatiq-gevent")
            or (word in ("dramatiq", "dramatiq.cli") and n > 0 and words[n - 1] == "-m")
        ),
        None,
    )
    if at is None or at == 0 or not os.path.basename(words[0]).startswith("python"):
        raise ValueError("no Python interpreter ahead of the dramatiq CLI")
    return words[0], words[at + 1 :]


def parse(output: str) -> Mapping[str, Any]:
    """The JSON the reader printed (the last marked line), or CheckError saying what was seen."""
    lines = [line for line in output.splitlines() if line.startswith(MARK)]
    if not lines:
        shown = " ".join(output.split())[-300:] or "no output"
        raise CheckError(f"the actors' reader printed no answer: {shown}")
    try:
        data: Any = json.loads(lines[-1][len(MARK) :])
    except ValueError:
        raise CheckError("the actors' reader printed no valid JSON") from None
    if not isinstance(data, dict):
        raise CheckError("the actors' reader printed no JSON object")
    return data


def actors_from(data: Mapping[str, Any]) -> tuple[str, tuple[Actor, ...], tuple[str, ...]]:
    """(broker class, actors, --queues) from the reader's JSON, the defaults applied as
    Dramatiq's middleware applies them."""
    middleware = data.get("middleware") or {}
    found = []
    for actor in data.get("actors") or []:
        options = actor.get("options") or {}
        found.append(_actor(actor, options, middleware))
    return str(data.get("broker", "")), tuple(found), tuple(data.get("queues") or ())


def _actor(actor: Mapping[str, Any], options: Mapping[str, Any], mw: Mapping[str, Any]) -> Actor:
    if not mw.get("has_time_limit"):
        limit, limit_from = None, "no TimeLimit middleware"
    elif "time_limit" in options:
        limit, limit_from = options["time_limit"] or None, "actor"
    else:
        limit, limit_from = mw.get("time_limit") or None, "middleware default"
    if not mw.get("has_retries"):
        retries: int | None = 0
        retries_from = "no Retries middleware"
    elif "max_retries" in options:
        retries, retries_from = options["max_retries"], "actor"
    else:
        retries, retries_from = mw.get("max_retries"), "middleware default"
    backoff = options.get("max_backoff", mw.get("max_backoff"))
    return Actor(
        name=str(actor.get("name", "")),
        queue=str(actor.get("queue", "")),
        time_limit_ms=limit,
        time_limit_from=limit_from,
        max_retries=None if retries is None else int(retries),
        max_retries_from=retries_from,
        max_backoff_ms=backoff,
        retry_when=bool(actor.get("retry_when")),
    )


def read(
    env: Mapping[str, str], container: Container, timeout_s: float, context: str | None = None
) -> WorkerActors:
    """The actors of the dramatiq worker running in ``container``; CheckError when there is
    none, or when its modules cannot be imported (saying what was seen)."""
    name = container.name or container.short_id
    process = cli_process(containers.processes(container))
    if process is None:
        raise CheckError(
            f"{name}: no dramatiq worker process (`dramatiq MODULE` or `python -m dramatiq "
            "MODULE`) runs in it"
        )
    try:
        python, argv = split_command(process.args)
    except ValueError as exc:
        raise CheckError(f"{name}: {process.shown()!r}: {exc}") from None
    result = engine.exec_in(env, container, [python, "-c", SCRIPT, *argv], timeout_s, context)
    if result.exit_code is None:
        raise CheckError(f"{name}: reading the actors took longer than {timeout_s:g}s")
    data = parse(result.output)
    if "error" in data:
        raise CheckError(f"{name}: {_failure(str(data['error']), str(data.get('seen', '')))}")
    broker, actors, queues = actors_from(data)
    return WorkerActors(name, process.shown(), broker, actors, queues)


def _failure(step: str, seen: str) -> str:
    if step == "dramatiq":
        return f"the worker's Python cannot import dramatiq ({seen})"
    if step == "argv":
        return f"dramatiq's parser refused the worker's arguments {seen!r}"
    if step == "import":
        return f"importing the worker's broker and modules failed: {seen}"
    return f"the actors' reader answered {step}: {seen}"
