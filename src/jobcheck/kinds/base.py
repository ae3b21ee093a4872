"""The one small interface every check kind implements: an options model and a ``run``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from jobcheck.process import ProcessResult, run_process
from jobcheck.results import Outcome
from jobcheck.secrets import Masker


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
    ) -> ProcessResult:
        """Run a process within this attempt's deadline; cancelled with the run."""
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
        )

    def cached(self, key: str, factory: Callable[[], Any]) -> Any:
        """A per-run shared object (a Docker client, say), built once under a lock."""
        with self.shared_lock:
            if key not in self.shared:
                self.shared[key] = factory()
            return self.shared[key]


OptionsT = TypeVar("OptionsT", bound=KindOptions)


@dataclass(frozen=True)
class Kind(Generic[OptionsT]):
    """A registered check kind. ``run`` returns an Outcome and never raises for a failure."""

    name: str
    options: type[OptionsT]
    run: Callable[[OptionsT, KindContext], Outcome]
    summary: str = ""
    docker: bool = False
    example: dict[str, Any] = field(default_factory=dict)


def process_failure(result: ProcessResult, what: str, mask: Masker) -> Outcome | None:
    """The common ways a process can fail to run at all: an ``error`` outcome, else None."""
    if result.not_found:
        return Outcome.errored(
            f"{what}: {result.not_found} was not found; install it or fix the path "
            f"(tried: {mask(result.command)})"
        )
    if result.cancelled:
        return Outcome.errored(f"{what}: cancelled (the run was interrupted)")
    if result.timed_out:
        return Outcome.errored(
            f"{what}: timed out after {result.duration_s:.1f}s and was killed with its "
            f"process group (command: {mask(result.command)})",
            output=mask(_joined_output(result)),
        )
    return None


def _joined_output(result: ProcessResult) -> str:
    parts = []
    if result.stdout.strip():
        parts.append(result.stdout.rstrip())
    if result.stderr.strip():
        parts.append(result.stderr.rstrip())
    return "\n".join(parts)


def joined_output(result: ProcessResult) -> str:
    """stdout then stderr, trimmed, for showing under a failure."""
    return _joined_output(result)
