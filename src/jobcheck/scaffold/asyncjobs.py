"""Checks on the job system for arq and Dramatiq workers, as ``jobchecks`` writes them for RQ
and Celery: the queue is served, a canary round-trips, a worker stopped mid-job loses nothing.

The worker is found by its command (``arq app.worker.WorkerSettings``, ``dramatiq app.tasks``:
``commandline``); its jobs are read statically from the project's source:

- arq: the names listed in a ``functions = [...]`` of a ``WorkerSettings`` class (its
  ``queue_name`` too); a function taking only ``ctx`` is the canary, one that sleeps its first
  argument the drill's job.
- Dramatiq: functions decorated ``@dramatiq.actor`` (``actor_name=`` and ``queue_name=``
  honoured); a ``Results`` middleware with a Redis backend gives ``backend_url``.

The broker URL comes from the worker's environment (``REDIS_URL``, ``BROKER_URL``...), as the
host reaches it (``brokers``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from jobcheck.scaffold import brokers, pysource
from jobcheck.scaffold.draft import Draft, check, lit, note, slug
from jobcheck.scaffold.setting import Setting
from jobcheck.scaffold.topology import Service

FRAMEWORKS: Final = ("arq", "dramatiq")
NAMES: Final = {"arq": "arq", "dramatiq": "Dramatiq"}
DEFAULT_QUEUE: Final = {"arq": "arq:queue", "dramatiq": "default"}
DRILL_SECONDS: Final = 5


@dataclass(frozen=True)
class Job:
    name: str  # arq: the function's name; Dramatiq: the actor's name
    where: str  # file:line
    takes_nothing: bool  # a canary needs no argument (arq's ctx aside)
    sleeps: bool  # sleeps its first argument's seconds
    queue: str = ""


@dataclass
class Found:
    jobs: list[Job] = field(default_factory=list)
    queue: str = ""  # arq: WorkerSettings.queue_name
    results: bool = False  # Dramatiq: a Results middleware is set up

    def canary(self) -> Job | None:
        return next((j for j in self.jobs if j.takes_nothing), None)

    def sleeper(self) -> Job | None:
        return next((j for j in self.jobs if j.sleeps), None)


def find(root: Path, framework: str) -> Found:
    found = Found()
    marker = "WorkerSettings" if framework == "arq" else "dramatiq"
    for module in pysource.modules(root, markers=(marker,)):
        if framework == "arq":
            _arq_module(module, found)
        else:
            _dramatiq_module(module, found)
    return found


# --- arq ----------------------------------------------------------------------------------------


def _arq_module(module: pysource.Module, found: Found) -> None:
    functions = {
        node.name: node
        for node in ast.walk(module.tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for node in ast.walk(module.tree):
        if not (isinstance(node, ast.ClassDef) and node.name.endswith("WorkerSettings")):
            continue
        for statement in node.body:
            name, value = _assignment(statement)
            if name == "functions" and isinstance(value, ast.List | ast.Tuple):
                for element in value.elts:
                    func = functions.get(getattr(element, "id", ""))
                    if func is not None:
                        found.jobs.append(_job(func, module.path, skip=1))
            elif name == "queue_name" and isinstance(value, ast.Constant):
                found.queue = str(value.value)


def _assignment(statement: ast.stmt) -> tuple[str, ast.expr | None]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        return getattr(statement.targets[0], "id", ""), statement.value
    if isinstance(statement, ast.AnnAssign):
        return getattr(statement.target, "id", ""), statement.value
    return "", None


def _job(
    func: ast.FunctionDef | ast.AsyncFunctionDef, path: str, *, skip: int, name: str = "",
    queue: str = "",
) -> Job:  # fmt: skip
    params = [a.arg for a in func.args.args][skip:]
    required = len(params) - len(func.args.defaults)
    return Job(
        name or func.name, f"{path}:{func.lineno}", required <= 0, _sleeps(func, params), queue
    )


SECONDS_NAMES: Final = {"seconds", "secs", "duration", "delay", "timeout"}


def _sleeps(func: ast.FunctionDef | ast.AsyncFunctionDef, params: list[str]) -> bool:
    """Sleeps its first argument: ``sleep(seconds)``, or sleeps in a loop bounded by a first
    argument named like a duration (``while time.monotonic() < end: time.sleep(0.1)``)."""
    if not params:
        return False
    for node in ast.walk(func):
        if (
            params[0] in SECONDS_NAMES
            and isinstance(node, ast.Call)
            and pysource.callee(node) == "sleep"
        ):
            return True
        if isinstance(node, ast.Call) and pysource.callee(node) == "sleep" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Call) and first.args:  # sleep(float(seconds))
                first = first.args[0]
            if isinstance(first, ast.Name) and first.id == params[0]:
                return True
    return False


# --- Dramatiq -----------------------------------------------------------------------------------


def _dramatiq_module(module: pysource.Module, found: Found) -> None:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and pysource.callee(node) == "Results":
            found.results = True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call is not None else decorator
            called = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if called != "actor":
                continue
            name = pysource.keyword_text(call, "actor_name") if call is not None else ""
            queue = pysource.keyword_text(call, "queue_name") if call is not None else ""
            found.jobs.append(_job(node, module.path, skip=0, name=name, queue=queue))


# --- the checks ---------------------------------------------------------------------------------


def checks(setting: Setting, workers: list[Service], framework: str) -> list[Draft]:
    project = setting.project
    environments = {s.name: project.environment(s) for s in project.services}
    lookup = brokers.Lookup(project.services, environments, project.env_values())
    purposes = ("redis", "broker") if framework == "arq" else ("broker", "redis")
    url: brokers.HostURL | str = ""
    for purpose in purposes:
        url = brokers.find(purpose, workers[0], lookup)
        if isinstance(url, brokers.HostURL):
            break
    name = NAMES[framework]
    if isinstance(url, str):
        return [
            note(
                f"No {name} queue checks: {url}.",
                'Publish the broker on 127.0.0.1 (`ports: ["127.0.0.1:6379:6379"]`) and run '
                "`jobcheck init --force` again.",
            )
        ]
    found = find(project.root, framework)
    queue = found.queue or next((j.queue for j in found.jobs if j.queue), "")
    queue = queue or DEFAULT_QUEUE[framework]
    key = "redis_url" if framework == "arq" else "broker_url"
    target = {key: url.url, "queue": lit(queue)}
    if framework == "dramatiq" and found.results:
        backend = brokers.find("backend", workers[0], lookup)
        if isinstance(backend, brokers.HostURL) and backend.scheme.startswith("redis"):
            target["backend_url"] = backend.url
    notes = [f"{name} broker: {url.source}." + (f" {url.note}." if url.note else "")]
    worker = workers[0].name
    drafts = [_queue(setting, framework, target, url, worker)]
    canary = found.canary()
    drafts.append(_canary(framework, target, canary, found))
    drafts.append(_drill(setting, workers[0], framework, target, found.sleeper(), found))
    if framework == "dramatiq" and "backend_url" not in target:
        where = "its Redis URL was not found" if found.results else "none is set up"
        notes.append(
            f"Results middleware: {where}; the canary is followed through the broker (acked, "
            "dead-lettered) — add backend_url (the Results backend's redis://) to read results."
        )
    drafts[0].notes[:0] = notes
    others = [d.id for d in drafts if not d.commented and d.data["kind"] != "shutdown"]
    drafts[-1].data["needs"] = others
    return drafts


def _queue(
    setting: Setting, framework: str, target: dict[str, Any], url: brokers.HostURL, worker: str
) -> Draft:
    options = {"framework": framework, **target, "min_workers": 1}
    promises = [f"at least one live {NAMES[framework]} worker on `{target['queue']}`"]
    if url.scheme.startswith("redis"):
        options["maxmemory_policy"] = "noeviction"
        promises.append("Redis never evicts queued jobs (maxmemory-policy noeviction)")
    options.pop("backend_url", None)
    return check(
        f"queue-{slug(framework)}", f"The {NAMES[framework]} queue is served", "queue", options,
        expect=", ".join(promises),
        rollback=f"bring the workers back (`{setting.compose('up', '-d', '--no-deps', worker)}`)",
        tags=["integration"],
    )  # fmt: skip


def _canary(framework: str, target: dict[str, Any], job: Job | None, found: Found) -> Draft:
    task = job.name if job is not None else "TODO"
    options = {"via": framework, **target, "task": lit(task), "deadline": "30s"}
    draft = check(
        f"canary-{slug(framework)}", f"A canary job round-trips through {NAMES[framework]}",
        "job", options,
        expect=f"`{task}` enqueued on `{target['queue']}` is finished by a worker within 30s",
        rollback="redeploy the previous worker image; jobs enqueued meanwhile stay in the broker",
        tags=["integration"], retry_safe=True,
    )  # fmt: skip
    if job is not None:
        draft.notes = [f"{task} ({job.where}) takes no argument."]
    else:
        draft.commented = True
        names = ", ".join(j.name for j in found.jobs[:5]) or "none found"
        draft.notes = [f"Name a job that takes no argument (found: {names}), then uncomment."]
    return draft


def _drill(
    setting: Setting, worker: Service, framework: str, target: dict[str, Any], job: Job | None,
    found: Found,
) -> Draft:  # fmt: skip
    task = job.name if job is not None else "TODO.sleep"
    options = {"service": lit(worker.name), "via": framework, **target, "task": lit(task)}
    options |= {"seconds": DRILL_SECONDS, "stop_after": 1, "deadline": "60s"}
    draft = check(
        f"{slug(worker.name)}-shutdown", f"Stopping {worker.name} mid-job loses nothing",
        "shutdown", options,
        expect=f"a {DRILL_SECONDS}s job running when {worker.name} is stopped (with its grace "
        "period) finishes, or runs again after the restart: never lost",
        rollback=f"give {worker.name} a longer stop_grace_period and "
        f"`{setting.compose('up', '-d', '--no-deps', worker.name)}`",
        tags=["integration", "drill"],
    )  # fmt: skip
    if job is not None:
        draft.notes = [f"{task} ({job.where}) sleeps for the seconds it is given."]
    else:
        draft.commented = True
        names = ", ".join(j.name for j in found.jobs[:5]) or "none found"
        draft.notes = [
            "The drill needs a job that sleeps for the seconds it is given (found: "
            f"{names}), then uncomment."
        ]
    return draft
