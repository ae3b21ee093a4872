"""The one small interface every check kind implements: an options model and a ``run``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from jobcheck.metrics import BaselineSource
from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.process import ProcessResult, run_process
from jobcheck.results import Outcome
from jobcheck.secrets import Masker

__all__ = [
    "CheckError",
    "CheckFailed",
    "Footprint",
    "Kind",
    "KindContext",
    "KindOptions",
    "OptionProblem",
    "Prepared",
    "Recheck",
    "StackInfo",
    "empty_dict",
    "empty_list",
]


OptionsT = TypeVar("OptionsT", bound="KindOptions")


def empty_list() -> list[Any]:
    """``Field(default_factory=empty_list)`` in a pydantic model, for ``list``: pydantic reads
    a default factory's signature, and a builtin's is parsed from its text with ``tokenize``,
    whose first use compiles a large regex (~6 ms of every run's start-up)."""
    return []


def empty_dict() -> dict[str, Any]:
    """``Field(default_factory=empty_dict)``, for ``dict`` (see ``empty_list``)."""
    return {}


class KindOptions(BaseModel):
    """Base for every kind's ``with:`` options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StackInfo:
    """The checklist's ``stack:`` section, resolved to absolute paths."""

    compose: list[Path]
    project: str
    env_file: Path | None = None
    up: bool = False
    build: bool = True
    wait_s: float = 180.0
    build_args: dict[str, str] = field(default_factory=dict)
    context: str | None = None  # a Docker context's name (`docker context create`)


class Recheck(Protocol):
    """Runs checks of the checklist again, now, one attempt each, in order: each within its
    own timeout, this attempt's deadline and ``within_s`` in all (``KindContext.recheck``)."""

    def __call__(self, ids: Sequence[str], *, within_s: float | None = None) -> list[Outcome]: ...


def _no_recheck(ids: Sequence[str], *, within_s: float | None = None) -> list[Outcome]:
    raise CheckError(
        "this check runs other checks of its checklist again, which only a checklist run can "
        f"do (asked for: {', '.join(ids)})"
    )


@dataclass
class KindContext:
    """Everything a kind may use. Kinds never print, exit or touch global state."""

    check_id: str
    base_dir: Path
    env: Mapping[str, str]
    timeout_s: float
    mask: Masker
    cancel: threading.Event = field(default_factory=threading.Event)
    stack: StackInfo | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    shared_lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.monotonic)
    # The runner provides it for the kinds whose options name other checks to run again
    # (``Kind.recheck_option``); elsewhere it raises CheckError.
    recheck: Recheck = _no_recheck
    # Earlier runs' figures, for the checks that measure (None: no history, e.g. in tests)
    baselines: BaselineSource | None = None

    @property
    def deadline(self) -> float:
        return self.started + self.timeout_s

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return self.cancel.is_set() or time.monotonic() >= self.deadline

    def sleep(self, seconds: float) -> bool:
        """Sleep at most ``seconds`` (less near the deadline); False when cancelled or expired."""
        self.cancel.wait(min(seconds, self.remaining()))
        return not self.expired()

    def path(self, value: str | os.PathLike[str]) -> Path:
        """A path from the checklist, relative to the checklist's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        stdin: bytes | None = None,
        background_allowed: bool = False,
    ) -> ProcessResult:
        """Run a process within this attempt's deadline; cancelled with the run. What it
        daemonized is killed when it ends unless ``background_allowed`` (docs/processes.md)."""
        limit = self.remaining() if timeout_s is None else min(timeout_s, self.remaining())
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        return run_process(
            argv,
            timeout_s=limit,
            cwd=cwd or self.base_dir,
            env=full_env,
            cancel=self.cancel,
            stdin=stdin,
            background_allowed=background_allowed,
        )

    def cached(self, key: str, factory: Callable[[], Any]) -> Any:
        """A per-run shared object (a Docker client, say), built once under a lock."""
        with self.shared_lock:
            if key not in self.shared:
                self.shared[key] = factory()
            return self.shared[key]


class OptionProblem(ValueError):
    """Raised by a kind's ``prepare`` hook: a load error at one option, with the usual parts."""

    def __init__(
        self, option: str, problem: str, *, expected: str = "", seen: str = "", hint: str = ""
    ) -> None:
        super().__init__(problem)
        self.option = option
        self.problem = problem
        self.expected = expected
        self.seen = seen
        self.hint = hint


@dataclass(frozen=True)
class Prepared:
    """What a ``prepare`` hook returns: the raw options to interpolate and validate, and the
    options whose parts (list items made from one string) point back at the option's line."""

    options: dict[str, Any]
    collapsed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Footprint:
    """The compose services a check uses, and those it stops or restarts while it runs."""

    uses: frozenset[str] = frozenset()
    disrupts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Kind(Generic[OptionsT]):
    """A registered check kind. ``run`` returns an Outcome or raises CheckFailed / CheckError;
    the runner maps those (and any other exception) to a result and masks it."""

    name: str
    options: type[OptionsT]
    run: Callable[[OptionsT, KindContext], Outcome]
    summary: str = ""
    # Docker-backed: needs the engine, and the staging stack when the run brings it up.
    docker: bool = False
    # False: the result depends on more than files and env (a live service), so `cache:` is
    # refused; a Docker-backed kind is never cached either way (``kinds.cache_refusal``).
    cacheable: bool = True
    # Talks to the staging stack without Docker (through its published ports, like `http`):
    # when the run brings the stack up, waits for it and ends with its failure.
    uses_stack: bool = False
    # Mostly waits (on the network, a queue, a container) rather than using a CPU: runs under
    # `--wait-jobs`, beside the `--jobs` slots that CPU-bound checks (command, lint, ...) take.
    waits: bool = False
    example: dict[str, Any] = field(default_factory=dict)
    # Called with the raw ``with:`` mapping before interpolation; plugin kinds may use it too.
    prepare: Callable[[dict[str, Any]], Prepared] | None = None
    # The services its options name that it uses or disrupts (``service``, ``worker``); the
    # loader adds those named by `${stack.SERVICE.PORT}` and broker URLs (``footprint.py``).
    footprint: Callable[[OptionsT], Footprint] | None = None
    # Reaches the workers through the broker it names (a canary, a queue's live workers): it
    # uses the compose services that depend on that broker too (the workers, the API).
    uses_workers: bool = False
    # The option that lists ids of other checks it runs again (``ctx.recheck``): the loader
    # checks they exist (and rerun nothing themselves).
    recheck_option: str = ""
    # Puts the stack back in a ``finally`` that outlives Ctrl-C (a rollback drill's redeploy):
    # an interrupted run waits for it, up to the check's timeout, before it reports.
    restores: bool = False


def process_failure(result: ProcessResult, what: str) -> None:
    """The common ways a process can fail to run at all: raise CheckError, else return."""
    if result.not_found:
        raise CheckError(
            f"{what}: {result.not_found} was not found; install it or fix the path "
            f"(tried: {result.command})"
        )
    if result.cancelled:
        raise CheckError(f"{what}: cancelled (the run was interrupted)")
    if result.timed_out:  # after its timeout, not after the kill's grace (docs/processes.md)
        took = f"{result.timeout_s or result.duration_s:.1f}".removesuffix(".0") + "s"
        raise CheckError(
            f"{what}: timed out after {took} and was killed with its "
            f"process group (command: {result.command})",
            output=joined_output(result),
        )


def joined_output(result: ProcessResult) -> str:
    """stdout then stderr, trimmed, for showing under a failure."""
    parts = []
    if result.stdout.strip():
        parts.append(result.stdout.rstrip())
    if result.stderr.strip():
        parts.append(result.stderr.rstrip())
    return "\n".join(parts)
