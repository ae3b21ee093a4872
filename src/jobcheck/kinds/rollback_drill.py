"""``rollback_drill``: the deployment and the rollback rehearsed in staging, with jobs in flight.

The real ``deploy`` command deploys the new release; its workers (the ``worker`` service) are
stopped, as in a switchover, and ``inflight.count`` jobs are enqueued the new release's way;
then the real ``rollback`` command runs, and the previous release's workers must finish each of
those jobs within ``deadline``. The ``recheck`` checks of the checklist run again against the
rolled-back stack (``KindContext.recheck``). Whatever happened, ``redeploy`` runs last — in a
``finally``, with its own deadline, even after Ctrl-C — so the stack is left at the new
release, or the message says it could not be.

Commands run as the ``command`` kind runs them: a string is split before interpolation (a value
never becomes shell syntax), in its own process group, bounded, its output kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator, model_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds import _inflight
from jobcheck.kinds._drill import Timeline, start_again
from jobcheck.kinds.base import (
    CheckError,
    CheckFailed,
    Footprint,
    Kind,
    KindContext,
    KindOptions,
    OptionProblem,
    Prepared,
    empty_dict,
    empty_list,
    joined_output,
)
from jobcheck.probes import containers, engine
from jobcheck.probes.framework import Adapter
from jobcheck.process import ProcessResult, run_process, split_command, tail_lines
from jobcheck.results import Outcome, Status

DockerClient = engine.DockerClient
Container = engine.Container

COMMANDS = ("deploy", "rollback", "redeploy")
OUTPUT_LINES = 12  # of a failed step's output, in the message's findings


class Options(KindOptions):
    deploy: str | list[str] = Field(
        description="The real deployment command of the new release (a string split like a "
        "shell would, or a list)"
    )
    rollback: str | list[str] = Field(description="The real rollback command")
    redeploy: bool | str | list[str] = Field(
        True,
        description="At the end, on every path: true runs deploy again, a command runs that, "
        "false leaves the stack at the previous release (and says so)",
    )
    recheck: list[str] = Field(
        default_factory=empty_list,
        description="Ids of checks of this checklist to run again against the rolled-back stack",
    )
    inflight: _inflight.Inflight | None = Field(
        None,
        description="Jobs enqueued while the new release's workers are stopped: the job kind's "
        "enqueue options plus count; each must finish on the previous release within deadline",
    )
    worker: str = Field("worker", description="The compose service running the workers")
    project: str | None = Field(None, description="Compose project (default: the stack's)")
    deadline: Duration = Field(
        120.0,
        description="Bound on each command, and on the in-flight jobs after the rollback",
    )
    cwd: str | None = Field(None, description="The commands' folder, relative to the checklist")
    env: dict[str, str] = Field(
        default_factory=empty_dict, description="Extra environment variables"
    )
    shell: bool = Field(False, description="Run the commands through /bin/sh -c")

    @field_validator("deploy", "rollback", "redeploy")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if value == [] or (isinstance(value, str) and not value.strip()):
            raise ValueError("the command is empty")
        return value

    @field_validator("recheck")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        doubled = sorted({i for i in value if value.count(i) > 1})
        if doubled:
            raise ValueError(f"`{doubled[0]}` is named twice")
        return value

    @model_validator(mode="after")
    def _positive(self) -> Options:
        if self.deadline <= 0:
            raise ValueError("deadline must be more than 0")
        return self

    def argv(self, step: str) -> list[str]:
        again = step == "redeploy" and self.redeploy is True
        command = self.deploy if again else getattr(self, step)
        if self.shell:
            script = command if isinstance(command, str) else " ".join(command)
            return ["/bin/sh", "-c", script]
        return split_command(command)


def prepare(options: dict[str, Any]) -> Prepared:
    """Split the command strings before interpolation, as the ``command`` kind does."""
    if options.get("shell") is True:
        return Prepared(options)
    split = dict(options)
    for name in COMMANDS:
        value = options.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            split[name] = split_command(value)
        except ValueError as exc:
            raise OptionProblem(
                name,
                f"cannot split the command: {str(exc).lower()}",
                expected="a command with balanced quotes",
                seen=value,
                hint="close the quote, or give the command as a list",
            ) from None
    collapsed = frozenset(n for n in COMMANDS if split.get(n) is not options.get(n))
    return Prepared(split, collapsed=collapsed)


@dataclass
class Step:
    """One command of the drill, as it ran."""

    name: str
    result: ProcessResult

    @property
    def ok(self) -> bool:
        return self.result.returncode == 0 and not (self.result.timed_out or self.result.cancelled)

    def problem(self) -> str:
        """'rollback exited 1 after 12.3s: <last line>' (the whole tail goes to the output)."""
        r = self.result
        took = format_duration(r.duration_s)
        if r.not_found:
            return f"{self.name}: {r.not_found} was not found (tried: {r.command})"
        if r.cancelled:
            return f"{self.name} was interrupted after {took}"
        if r.timed_out:
            return f"{self.name} timed out after {took} and was killed with its process group"
        last = tail_lines(joined_output(r), 1).strip()
        return f"{self.name} exited {r.returncode} after {took}" + (f": {last}" if last else "")

    def as_details(self) -> dict[str, Any]:
        r = self.result
        took = round(r.duration_s, 3)
        return {"command": r.command, "exit_code": r.returncode, "duration_s": took}


@dataclass
class Drill(Timeline):
    """What happened, in order: the timeline, each step, and the problems found."""

    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)  # what the drill could not tell
    outputs: list[str] = field(default_factory=list)

    def ran(self, step: Step) -> bool:
        self.steps.append(step)
        self.log(f"{step.name}: `{step.result.command}` " + ("ok" if step.ok else step.problem()))
        if not step.ok:
            self.problems.append(step.problem())
            output = tail_lines(joined_output(step.result), OUTPUT_LINES)
            if output:
                self.outputs.append(f"--- {step.name} output (last lines) ---\n{output}")
        return step.ok

    def took(self) -> str:
        return ", ".join(
            f"{s.name} {format_duration(s.result.duration_s)}" for s in self.steps if s.ok
        )


def run_step(options: Options, ctx: KindContext, name: str, budget_s: float) -> Step:
    """A command within ``min(deadline, budget_s)``, cancelled with the run."""
    cwd = ctx.path(options.cwd) if options.cwd else ctx.base_dir
    limit = max(0.0, min(options.deadline, budget_s))
    result = ctx.run(options.argv(name), cwd=cwd, env=options.env, timeout_s=limit)
    return Step(name, result)


def redeploy(options: Options, ctx: KindContext) -> Step:
    """The last step, on every path: its own deadline and no cancel event, so neither the end
    of the check's time nor Ctrl-C can leave the stack half-deployed."""
    cwd = ctx.path(options.cwd) if options.cwd else ctx.base_dir
    result = run_process(
        options.argv("redeploy"),
        timeout_s=options.deadline,
        cwd=cwd,
        env={**ctx.env, **options.env},
        cancel=threading.Event(),
    )
    return Step("redeploy", result)


def image_ids(running: Sequence[Container]) -> set[str]:
    return {str(c.attrs.get("Image", "")) for c in running}


def short(image: str) -> str:
    return image.removeprefix("sha256:")[:12]


def _running(sdk: DockerClient, which: containers.Selector) -> list[Container]:
    return [c for c in containers.select(sdk, which) if c.status == "running"]


def stop_workers(running: list[Container], drill: Drill) -> None:
    """Stop the new release's workers with their own grace period, one after the other (a
    worker finishing its job must not take a job of the drill's)."""
    for container in running:
        grace = engine.stop_grace_s(container)
        start = time.monotonic()
        container.stop(timeout=round(grace))
        container.reload()
        code = engine.state_of(container).exit_code
        took = format_duration(time.monotonic() - start)
        drill.log(
            f"stopped {container.name}: exit {code} after {took} (grace {format_duration(grace)})"
        )


def wait_ready(
    sdk: DockerClient,
    which: containers.Selector,
    until: float,
    sleep: Callable[[float], bool] | None = None,
) -> bool:
    """The service's containers running and healthy (stopped ones left aside), by ``until``;
    ``sleep`` returns False to give up early (the run's cancellation); without it, only
    ``until`` ends the wait (the clean-up's)."""
    while True:
        states = [engine.state_of(c) for c in containers.select(sdk, which)]
        live = [s for s in states if s.state != "exited"]
        if live and all(s.ready for s in live):
            return True
        left = until - time.monotonic()
        if left <= 0:
            return False
        if sleep is None:
            time.sleep(min(1.0, left))
        elif not sleep(min(1.0, left)):
            return False


def rechecked(
    ctx: KindContext, ids: list[str], drill: Drill, within_s: float
) -> list[dict[str, Any]]:
    """The checks named in ``recheck``, run again now (``within_s`` in all: the redeploy keeps
    its time); their problems join the drill's."""
    if not ids:
        return []
    results = []
    for check_id, outcome in zip(ids, ctx.recheck(ids, within_s=within_s), strict=True):
        first = outcome.message.splitlines()[0] if outcome.message else ""
        drill.log(f"recheck {check_id}: {outcome.status}")
        if outcome.status not in (Status.PASS, Status.WAIVED):
            word = {Status.FAIL: "failed", Status.ERROR: "errored"}.get(outcome.status, "ended")
            drill.problems.append(f"after the rollback {check_id} {word}: {first}")
        results.append({"id": check_id, "status": str(outcome.status), "message": first})
    return results


class _Run:
    """One drill against the engine: the steps in order, then the verdict."""

    def __init__(self, options: Options, ctx: KindContext, sdk: DockerClient) -> None:
        self.options = options
        self.ctx = ctx
        self.sdk = sdk
        self.which = containers.Selector(engine.project_for(ctx, options.project), options.worker)
        self.drill = Drill()
        self.stopped: list[Container] = []
        self.batch: _inflight.Batch | None = None
        self.adapter: Adapter | None = None
        self.left = ""  # where the stack is left, once the redeploy said so
        self.rolled_back = False
        self.details: dict[str, Any] = {}
        # What the redeploy, at the end, gets whatever happens before: its deadline and the
        # wait for the workers' health.
        self.reserve = options.deadline * 2 if options.redeploy is not False else 0.0

    def budget(self) -> float:
        return self.ctx.remaining() - self.reserve

    def __call__(self) -> Outcome:
        if self.budget() <= 0:
            raise CheckError(
                f"the check's timeout ({format_duration(self.ctx.timeout_s)}) leaves no time "
                f"for the drill: the redeploy alone gets {format_duration(self.reserve)} "
                "(twice deadline: the command, then the workers' health); raise `timeout:`"
            )
        try:
            self.rehearse()
        except CheckFailed as exc:
            self.drill.problems.append(exc.message)
        except CheckError as exc:
            self.drill.unknowns.append(exc.message)
        finally:
            self.put_back()
            if self.adapter is not None:
                self.adapter.close()
        return self.outcome()

    def rehearse(self) -> None:
        if not self.drill.ran(run_step(self.options, self.ctx, "deploy", self.budget())):
            return
        until = time.monotonic() + min(self.options.deadline, max(0.0, self.budget()))
        if not wait_ready(self.sdk, self.which, until, self.ctx.sleep):
            self.drill.problems.append(
                f"deploy exited 0, but {self.which} is not running and healthy "
                f"{format_duration(self.options.deadline)} later"
            )
            return
        self.drill.log(f"{self.options.worker} ready at the new release")
        new_images = image_ids(_running(self.sdk, self.which))
        if self.options.inflight is not None and not self.in_flight():
            return
        self.rolled_back = self.drill.ran(
            run_step(self.options, self.ctx, "rollback", self.budget())
        )
        if not self.rolled_back:
            return
        if self.batch is not None:
            self.follow()
        self.check_rolled_back(new_images)
        self.details["recheck"] = rechecked(
            self.ctx, self.options.recheck, self.drill, max(0.0, self.budget())
        )

    def in_flight(self) -> bool:
        """Stop the new release's workers and enqueue the jobs; False when that failed."""
        inflight = self.options.inflight
        assert inflight is not None
        running = _running(self.sdk, self.which)
        if not running:
            self.drill.problems.append(
                f"{self.which} has no running container after the deploy: no new release's "
                "worker to stop"
            )
            return False
        self.stopped = running
        stop_workers(running, self.drill)
        self.adapter = inflight.adapter()
        self.batch = _inflight.enqueue(inflight, self.ctx, self.adapter)
        ids = ", ".join(t.job_id for t in self.batch.traces[:3])
        more = "" if inflight.count <= 3 else f" and {inflight.count - 3} more"
        self.drill.log(f"enqueued {inflight.count} job(s) on the new release: {ids}{more}")
        return True

    def follow(self) -> None:
        assert self.batch is not None and self.options.inflight is not None
        inflight = self.options.inflight
        deadline = min(self.options.deadline, max(0.0, self.budget()))
        _inflight.follow(self.batch, self.ctx, time.monotonic() + deadline, inflight.interval)
        states = ", ".join(sorted({t.shown for t in self.batch.traces}))
        self.drill.log(f"in-flight jobs: {states}")
        problem = _inflight.verdict(self.batch, deadline, inflight.queue_name)
        if problem:
            self.drill.problems.append(problem)
        self.details["inflight"] = _inflight.details(self.batch)

    def check_rolled_back(self, new_images: set[str]) -> None:
        """A rollback that left the workers on the new release's image rehearsed nothing."""
        now = image_ids(_running(self.sdk, self.which))
        self.details["images"] = {
            "new": sorted(short(i) for i in new_images),
            "after_rollback": sorted(short(i) for i in now),
        }
        if new_images and now and now <= new_images:
            self.drill.unknowns.append(
                f"rollback exited 0, but {self.which} still runs the new release's image "
                f"({', '.join(sorted(short(i) for i in now))}): the drill cannot tell whether "
                "the previous release takes the new one's jobs; does the rollback command "
                "deploy another image tag?"
            )
            return
        shown = ", ".join(sorted(short(i) for i in now))
        self.drill.log(f"{self.options.worker} runs image {shown} after the rollback")

    def put_back(self) -> None:
        """The new release deployed again (``left`` says where the stack is left)."""
        if self.options.redeploy is False:
            if not self.rolled_back:  # nothing replaced the workers it stopped
                start_again(self.stopped, self.drill)
                return
            self.drill.log("redeploy: false, the stack is left at the previous release")
            self.left = "left at the previous release (redeploy: false)"
            return
        step = redeploy(self.options, self.ctx)
        ok = self.drill.ran(step)
        # The workers it stopped that are still there and stopped (a redeploy that failed
        # before recreating them); one gone was replaced by the redeploy, not a problem.
        start_again(self.stopped, self.drill)
        if not ok:
            self.drill.problems[-1] += (
                "; the stack may be left at the previous release: deploy the new one "
                f"by hand (`{step.result.command}`)"
            )
            return
        if not wait_ready(self.sdk, self.which, time.monotonic() + self.options.deadline):
            self.drill.problems.append(
                f"redeployed, but {self.which} is not running and healthy "
                f"{format_duration(self.options.deadline)} later"
            )
            return
        self.drill.log(f"{self.options.worker} ready at the new release")
        self.left = "the new release is deployed again"

    def outcome(self) -> Outcome:
        drill = self.drill
        self.details["steps"] = [s.as_details() for s in drill.steps]
        output = "\n".join([drill.timeline, *drill.outputs])
        left = [self.left] if self.left else []
        if drill.problems:
            message = "; ".join([*drill.problems, *drill.unknowns, *left])
            return Outcome.failed(message, output=output, details=self.details)
        if drill.unknowns:
            message = "; ".join([*drill.unknowns, *left])
            return Outcome.errored(message, output=output, details=self.details)
        return Outcome.passed(self.passed_message(), output=output, details=self.details)

    def passed_message(self) -> str:
        parts = ["rollback rehearsed"]
        if self.batch is not None:
            parts.append(_inflight.finished_words(self.batch))
        if self.options.recheck:
            parts.append(f"{', '.join(self.options.recheck)} passed after the rollback")
        return "; ".join([*parts, self.drill.took(), self.left])


def run(options: Options, ctx: KindContext) -> Outcome:
    return engine.docker_check(ctx, lambda sdk: _Run(options, ctx, sdk)())


def footprint(options: Options) -> Footprint:
    """The compose services the drill stops and replaces: the workers (what the deploy and
    rollback commands recreate besides, the check declares with `disrupts:`)."""
    workers = frozenset({options.worker})
    return Footprint(uses=workers, disrupts=workers)


KIND = Kind(
    name="rollback_drill",
    options=Options,
    run=run,
    prepare=prepare,
    waits=True,
    docker=True,
    restores=True,
    recheck_option="recheck",
    footprint=footprint,
    summary="rollback rehearsal: deploy, stop the workers, enqueue jobs, roll back; the "
    "previous release must finish them; rechecks; the new release deployed again",
    example={
        "deploy": "docker compose -p staging up -d --no-deps api worker",
        "rollback": "env APP_TAG=previous docker compose -p staging up -d --no-deps api worker",
        "recheck": ["api-health"],
        "inflight": {
            "via": "rq",
            "redis_url": "redis://127.0.0.1:6379/0",
            "task": "app.jobs.canary",
            "count": 5,
        },
        "deadline": "60s",
    },
)
