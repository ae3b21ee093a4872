"""Checks on the job system itself, for RQ and Celery: the queue is served, a canary job
round-trips, Celery's workers run with a task time limit, and a worker stopped mid-job loses
nothing.

Options come from the project: the queues a worker listens on (``rq worker high default``,
``celery worker -Q a,b``), the broker as the host reaches it (its published port on
127.0.0.1, its password as a ``${NAME}`` reference). A kind that does not take an option yet
(Celery's ``framework``/``broker_url``/``task``) gets a note instead of a check that would
not load.
"""

from __future__ import annotations

from typing import Any

from jobcheck.scaffold import asyncjobs, brokers, codeconf, commandline, routechoice
from jobcheck.scaffold.draft import Draft, check, lit, note, slug
from jobcheck.scaffold.setting import Setting
from jobcheck.scaffold.stackchecks import host_address
from jobcheck.scaffold.topology import Service

MAX_QUEUES = 3
DRILL_SECONDS = 5
RQ_CANARY = "os.getpid"  # importable by every RQ worker: no job of the project's needed
RQ_SLEEP = "time.sleep"
CELERY_CANARY = "celery.accumulate"  # built into every Celery app; returns its arguments
CELERY_OPTIONS = ("broker_url", "task")
HOST_WORKER = "workers outside the stack"
SCHEDULER_PATTERNS = {"dramatiq": r"\bperiodiq\b"}  # the scheduler kind knows RQ's and Celery's


def job_checks(setting: Setting) -> list[Draft]:
    workers = setting.project.with_role("worker")
    drafts: list[Draft] = [*_schedulers(setting), *_stop_configs(setting, workers)]
    if not workers:
        workers = _host_workers(setting)
    for framework in dict.fromkeys(w.framework for w in workers):
        mine = [w for w in workers if w.framework == framework]
        if framework == "rq":
            drafts += _rq(setting, mine)
        elif framework == "celery":
            drafts += _celery(setting, mine)
        elif framework in asyncjobs.FRAMEWORKS:
            drafts += asyncjobs.checks(setting, mine, framework)
        else:
            names = ", ".join(w.name for w in mine)
            what = f"{framework} workers" if framework else "workers of an unknown framework"
            drafts.append(
                note(
                    f"{what} ({names}): jobcheck's queue, job and shutdown kinds read RQ, "
                    "Celery, arq and Dramatiq, so these get the running and compose checks only."
                )
            )
    return drafts


def _host_workers(setting: Setting) -> list[Service]:
    """No worker service in the compose files, but the code configures Celery's broker: the
    workers run elsewhere (on the host), and the queue and canary checks still tell whether
    they serve the broker. No drill: jobcheck stops only compose services."""
    project = setting.project
    if project.job_library != "celery" or project.code.broker is None:
        return []
    default = project.code.default_queue
    queues = [default.text if default is not None else "celery", *project.code.routed_queues]
    return [
        Service(
            HOST_WORKER, role="worker", framework="celery", queues=list(dict.fromkeys(queues)),
            why="no worker service in the compose files; the code configures Celery",
        )
    ]  # fmt: skip


def _schedulers(setting: Setting) -> list[Draft]:
    """Exactly one beat/scheduler: two send every periodic job twice."""
    schedulers = setting.project.with_role("scheduler")
    if not schedulers or not setting.has("scheduler"):
        return []
    frameworks = {s.framework for s in schedulers}
    options: dict[str, Any] = {"framework": frameworks.pop() if len(frameworks) == 1 else "any"}
    if options["framework"] not in ("rq", "celery", "any"):
        patterns = [SCHEDULER_PATTERNS.get(s.framework, "") for s in schedulers]
        if not all(patterns):
            return [
                note(
                    f"No scheduler check: the scheduler kind counts RQ, Celery and "
                    f"periodiq schedulers, and {schedulers[0].name} runs "
                    f"{schedulers[0].framework or 'something else'}."
                )
            ]
        options = {"framework": "any", "patterns": sorted(set(patterns))}
    options |= {"min": 1, "max": 1}
    names = ", ".join(s.name for s in schedulers)
    first = schedulers[0].name
    scale = setting.compose("up", "-d", "--no-deps", "--scale", f"{first}=1", first)
    draft = check(
        "scheduler-single", "Exactly one scheduler runs", "scheduler", options,
        expect=f"one scheduler process in the stack ({names}): periodic jobs are sent once",
        rollback=f"scale the scheduler back to one (`{scale}`)",
        tags=["integration"],
    )  # fmt: skip
    draft.notes = [f"{s.name} is a scheduler ({s.why})." for s in schedulers]
    return [draft]


def _stop_configs(setting: Setting, workers: list[Service]) -> list[Draft]:
    """A worker started through ``sh -c "... && celery worker"`` has a shell as PID 1, which
    does not pass ``docker stop``'s SIGTERM on: the worker is killed mid-job at the end of the
    grace period. ``exec`` in the command (or ``init: true``) fixes it."""
    if not setting.has("stop_config"):
        return []
    drafts = []
    for worker in workers:
        shell = commandline.shell_wrapped(worker.command)
        if not shell:
            continue
        restart = setting.compose("up", "-d", "--no-deps", worker.name)
        draft = check(
            f"{slug(worker.name)}-stop-config", f"docker stop reaches the {worker.name} worker",
            "stop_config", {"service": lit(worker.name)},
            expect=f"{worker.name}'s worker gets SIGTERM from `docker stop` (it is PID 1 or an "
            "init's child) and has a grace period to finish its job",
            rollback=f"start the worker with `exec` in its command (`{shell} \"... && exec "
            f"...\"`) or set `init: true`, then `{restart}`",
            tags=["integration", "drill"],
        )  # fmt: skip
        draft.notes = [
            f"{worker.name} starts through `{shell} -c`: its PID 1 is the shell, which does not "
            "pass SIGTERM on unless the command uses `exec`."
        ]
        drafts.append(draft)
    return drafts


def _lookup(setting: Setting) -> brokers.Lookup:
    project = setting.project
    environments = {s.name: project.environment(s) for s in project.services}
    code = {"broker": project.code.broker, "backend": project.code.backend}
    found = {purpose: value for purpose, value in code.items() if value is not None}
    return brokers.Lookup(project.services, environments, project.env_values(), found)


def _queues(workers: list[Service]) -> list[str]:
    return list(dict.fromkeys(q for w in workers for q in w.queues))[:MAX_QUEUES]


def _unreachable(framework: str, why: str) -> Draft:
    return note(
        f"No {framework} queue, canary or drill checks: {why}. Looked in the worker's "
        "command (--url, -b), the code (Celery(...), conf, settings modules), the services' "
        "environment and the env files, then for a broker service in the compose files.",
    )


# -- RQ -----------------------------------------------------------------------------------------


def _rq(setting: Setting, workers: list[Service]) -> list[Draft]:
    found = brokers.find("redis", workers[0], _lookup(setting))
    if isinstance(found, str):
        return [_unreachable("RQ", found), *_http_canary(setting, {})]
    queues = _queues(workers) or ["default"]
    notes = [f"Redis: {found.source}." + (f" {found.note}." if found.note else "")]
    drafts = []
    if setting.has("queue"):
        worker = workers[0].name
        drafts += [_queue(setting, "rq", found, q, worker, i == 0) for i, q in enumerate(queues)]
    if setting.has("job"):
        options = {"via": "rq", "redis_url": found.url, "queue": lit(queues[0])}
        options |= {"function": RQ_CANARY, "deadline": "30s"}
        drafts.append(_canary(options, queues[0], "RQ"))
        drafts += _http_canary(setting, {"redis_url": found.url})
    if setting.has("shutdown"):
        options = {"via": "rq", "redis_url": found.url, "queue": lit(queues[0])}
        drafts.append(_drill(setting, workers[0], options | {"function": RQ_SLEEP}))
    if drafts:
        drafts[0].notes[:0] = notes
    return _drill_last(drafts)


def _drill_last(drafts: list[Draft]) -> list[Draft]:
    """The drill stops the worker: it runs after the queue and canary checks (``after``: order
    only, whatever they ended), never beside them, or they would see no live worker and fail
    for the drill's sake; and a failing queue check does not hide the drill's result."""
    others = [d.id for d in drafts if d.data and not d.commented and d.data["kind"] != "shutdown"]
    for drill in (d for d in drafts if d.data and d.data["kind"] == "shutdown"):
        needs = drill.data.get("needs", [])
        after = [
            o for o in dict.fromkeys([*drill.data.get("after", []), *others]) if o not in needs
        ]
        drill.data["after"] = after
    return drafts


def _queue(
    setting: Setting, framework: str, url: brokers.HostURL, queue: str, worker: str, first: bool
) -> Draft:
    key = "redis_url" if framework == "rq" else "broker_url"
    options: dict[str, Any] = {} if framework == "rq" else {"framework": framework}  # rq: default
    options |= {key: url.url, "queue": lit(queue), "min_workers": 1}
    promises = [f"at least one live worker on `{queue}`"]
    if framework == "rq":
        options["failed_not_grown"] = True
        promises.append("the failed-job registry does not grow")
    if first and url.scheme.startswith("redis"):
        options["maxmemory_policy"] = "noeviction"
        promises.append("Redis never evicts queued jobs (maxmemory-policy noeviction)")
    requeue = "requeue failed jobs with `rq requeue --all`" if framework == "rq" else (
        "let them drain what waited in the broker"
    )  # fmt: skip
    back = "start the workers again" if worker == HOST_WORKER else (
        f"bring the workers back (`{setting.compose('up', '-d', '--no-deps', worker)}`)"
    )  # fmt: skip
    return check(
        f"queue-{slug(queue)}", f"The {queue} queue is served", "queue", options,
        expect=", ".join(promises),
        rollback=f"{back} and {requeue}",
        tags=["integration"],
    )  # fmt: skip


def _canary(options: dict[str, Any], queue: str, framework: str) -> Draft:
    return check(
        "canary-job", f"A canary job round-trips through {framework}", "job", options,
        expect=f"a job enqueued on `{queue}` is finished by a worker within 30s",
        rollback="redeploy the previous worker image; jobs enqueued meanwhile stay in the broker",
        tags=["integration"], retry_safe=True,
    )  # fmt: skip


def _http_canary(setting: Setting, diagnostics: dict[str, Any]) -> list[Draft]:
    """The app's own enqueue endpoint (``POST /tasks``, ``GET /tasks/{id}``): the round-trip a
    user makes. Written as an example until the job kind takes form fields and id paths."""
    project = setting.project
    endpoints = routechoice.job_endpoints(project.routes)
    web = next((s for s in project.services if s.web), None)
    if endpoints is None or web is None:
        return []
    post, get = endpoints
    base = f"http://{host_address(web, project.env_values())}"
    options: dict[str, Any] = {"via": "http", "enqueue_url": base + lit(post.path)}
    options["status_url"] = base + lit(routechoice.status_url_template(get))
    if post.form:
        options["form"] = {lit(name): "TODO" for name in post.form}
    elif post.body:
        options["body"] = {lit(name): "TODO" for name in post.body}
    id_field, status_field = (
        routechoice.answer_field(post, "id"),
        routechoice.answer_field(get, "status"),
    )
    if id_field:
        options["id_field"] = lit(id_field)
    if status_field:
        options["status_field"] = lit(status_field)
    options |= diagnostics
    draft = check(
        "canary-job-http", f"A job enqueued through POST {post.path} finishes", "job", options,
        expect=f"POST {post.path} enqueues a job that GET {get.path} reports finished within 30s",
        rollback="redeploy the previous API and worker images",
        tags=["integration"],
    )  # fmt: skip
    draft.notes = [f"The app's own endpoints: POST {post.path} ({post.where}), GET {get.path}."]
    fields = post.form or post.body
    if fields:
        what = "form field" if post.form else "JSON field"
        draft.commented = True
        draft.notes.append(
            f"Replace each TODO ({what} {', '.join(fields)}) with a value that makes a short "
            "job, then uncomment."
        )
    if not setting.has("job", "form", "id_field", "status_field"):
        draft.commented = True
        draft.notes.append("This jobcheck's job kind takes no form/body/id_field yet.")
    return [draft]


def _drill(setting: Setting, worker: Service, options: dict[str, Any]) -> Draft:
    options = {"service": lit(worker.name), **options}
    options |= {"seconds": DRILL_SECONDS, "stop_after": 1, "deadline": "60s"}
    extra: dict[str, Any] = {}
    if setting.has("service"):
        extra["needs"] = [f"{slug(worker.name)}-running"]
    return check(
        f"{slug(worker.name)}-shutdown", f"Stopping {worker.name} mid-job loses nothing",
        "shutdown", options,
        expect=f"a {DRILL_SECONDS}s job running when {worker.name} is stopped (with its grace "
        "period) finishes, or is re-queued and finishes after the restart: never lost",
        rollback=f"give {worker.name} a longer stop_grace_period (or make its jobs re-queue "
        f"on SIGTERM) and `{setting.compose('up', '-d', '--no-deps', worker.name)}`",
        tags=["integration", "drill"], **extra,
    )  # fmt: skip


# -- Celery -------------------------------------------------------------------------------------


def _celery(setting: Setting, workers: list[Service]) -> list[Draft]:
    lookup = _lookup(setting)
    broker = brokers.find("broker", workers[0], lookup)
    if isinstance(broker, str):
        return [_unreachable("Celery", broker), *_http_canary(setting, {})]
    backend = brokers.find("backend", workers[0], lookup)
    queues = _queues(workers) or ["celery"]
    notes = [
        f"Celery broker: {broker.source}"
        + (f"; results: {backend.source}." if isinstance(backend, brokers.HostURL) else ".")
    ]
    notes += [f"{u.note}." for u in (broker, backend) if isinstance(u, brokers.HostURL) and u.note]
    drafts: list[Draft] = []
    if setting.has("queue", "framework", "broker_url"):
        worker = workers[0].name
        drafts += [
            _queue(setting, "celery", broker, q, worker, i == 0) for i, q in enumerate(queues)
        ]
    follow: dict[str, Any] = {"via": "celery", "broker_url": broker.url}
    if isinstance(backend, brokers.HostURL):
        follow["backend_url"] = backend.url
    follow["queue"] = lit(queues[0])
    if setting.has("job", *CELERY_OPTIONS):
        options = {**follow, "task": CELERY_CANARY, "args": ["jobcheck-canary"], "deadline": "30s"}
        drafts.append(_no_backend(_canary(options, queues[0], "Celery"), backend))
        drafts += _http_canary(setting, {})
    if setting.has("worker_limits", "framework", "broker_url", "time_limit", "soft_time_limit"):
        drafts.append(_celery_limits(setting, broker, queues[0], workers[0]))
    hosted = workers[0].name == HOST_WORKER
    if hosted:
        notes.append(f"The workers run outside the stack ({workers[0].why}): no shutdown drill.")
    elif setting.has("shutdown", *CELERY_OPTIONS):
        drafts.append(_no_backend(_celery_drill(setting, workers[0], follow), backend))
    kinds = (("queue", "framework", "broker_url"), ("job", *CELERY_OPTIONS))
    if not all(setting.has(*k) for k in (*kinds, ("shutdown", *CELERY_OPTIONS))):
        notes.append(
            "Some Celery checks are missing: this jobcheck's queue/job/shutdown kinds do not "
            "take framework, broker_url and task yet. Upgrade, then `jobcheck init --force`."
        )
    if drafts:
        drafts[0].notes[:0] = notes
        return _drill_last(drafts)
    return [note(*notes)]


def _celery_limits(setting: Setting, broker: brokers.HostURL, queue: str, worker: Service) -> Draft:
    """The running workers have a hard task time limit: without one a stuck task holds its
    worker process forever. A blocker when the project sets one (in its Celery settings or the
    worker's ``--time-limit``), else a warning saying none was found."""
    given = {} if worker.name == HOST_WORKER else commandline.celery_time_limits(worker.command)
    where: dict[str, str] = {}
    for option in ("time_limit", "soft_time_limit"):
        value = getattr(setting.project.code, option)
        if option in given:
            where[option] = f"`--{option.replace('_', '-')} {given[option]}` ({worker.name})"
        elif value is not None and value.text == codeconf.COMPUTED:
            where[option] = f"task_{option} (computed at run time, {value.where})"
        elif value is not None and (value.env or value.text not in ("", "0", "0.0")):
            where[option] = f"task_{option} ({value.describe()})"
    options: dict[str, Any] = {"framework": "celery", "broker_url": broker.url}
    options |= {"queue": lit(queue), "time_limit": "required"}
    limits = "task_time_limit"
    if "soft_time_limit" in where:
        options["soft_time_limit"] = "required"
        limits += " and task_soft_time_limit"
    draft = check(
        "worker-limits", "Every task has a hard time limit on the running workers",
        "worker_limits", options,
        expect=f"the workers on `{queue}` run with {limits} set",
        rollback=f"set {limits} again and restart the workers",
        tags=["integration"],
    )  # fmt: skip
    if "time_limit" in where:
        draft.notes = [f"Time limits the project sets: {'; '.join(where.values())}."]
    else:
        draft.data["severity"] = "warning"
        draft.notes = [
            "No task_time_limit found in the code or the worker's command: a stuck task holds "
            "its worker process forever. A warning until one is set (task_time_limit, or "
            "`celery worker --time-limit`); then drop `severity: warning`. The check reads the "
            "running workers' configuration, whatever the code says."
        ]
    return draft


def _no_backend(draft: Draft, backend: brokers.HostURL | str) -> Draft:
    """A Celery canary is followed through its result backend: with none, the check is an
    example saying so, never a check the job kind would refuse."""
    if isinstance(backend, brokers.HostURL):
        return draft
    draft.commented = True
    draft.notes.append(
        f"Not written: no Celery result backend found ({backend}; looked for backend= and "
        "result_backend in the code and CELERY_RESULT_BACKEND in the environment), and the "
        "canary is followed through it. Set backend_url, then uncomment."
    )
    return draft


def _celery_drill(setting: Setting, worker: Service, follow: dict[str, Any]) -> Draft:
    sleeper = next((t for t in setting.project.tasks if t.sleeps), None)
    task = sleeper.name if sleeper is not None else "TODO.sleep"
    drill = _drill(setting, worker, {**follow, "task": lit(task)})
    if sleeper is not None:
        drill.notes = [f"{task} ({sleeper.where}) sleeps for the seconds it is given."]
        return drill
    found = ", ".join(t.name for t in setting.project.tasks[:5]) or "none found"
    drill.commented = True
    drill.notes = [
        "The drill needs a task that sleeps for the seconds it is given, e.g.",
        "`@app.task def sleep(seconds): time.sleep(seconds)`; tasks found: " + found + ".",
    ]
    return drill
