"""Helpers for the arq and Dramatiq sample stacks (test_arq_stack.py, test_dramatiq_stack.py):
a compose project of their own brought up once per module, and kinds run against it with a
context that names the project (no `stack:` section, as in a checklist that gives `project`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobcheck.attempts import attempt
from jobcheck.kinds.base import Kind, KindContext
from jobcheck.results import Outcome
from jobcheck.secrets import Masker

from ._compose import ROOT, Stack, answering, attempt_twice_if_dropped, prepare_images, wait_for

if TYPE_CHECKING:
    from docker import DockerClient


def run_check(
    kind: Kind[Any], options: dict[str, Any], secrets: list[str], timeout_s: float = 120.0
) -> Outcome:
    """One attempt of ``kind`` with ``options`` validated as at load time."""
    ctx = KindContext(
        check_id="itest",
        base_dir=ROOT,
        env=dict(os.environ),
        timeout_s=timeout_s,
        mask=Masker(secrets),
    )
    return attempt_twice_if_dropped(
        lambda: attempt(kind, kind.options.model_validate(options), ctx)
    )


def stack_up(
    sdk: DockerClient, stack: Stack, ready_url: str, build: bool = True
) -> Iterator[Stack]:
    """Build, start and wait for ``stack``; remove it with its volumes at the end."""
    prepare_images()
    stack.down()
    try:
        built = stack.build() if build else 0.0
        start = time.monotonic()
        stack.up()
        stack.wait_ready(sdk)
        wait_for("web answering", lambda: answering(ready_url), 90.0)
        print(f"\n{stack.project}: build {built:.1f}s, up {time.monotonic() - start:.1f}s")
        yield stack
    finally:
        if os.environ.get("JOBCHECK_KEEP_STACK") != "1":
            stack.down()


def recreate(sdk: DockerClient, stack: Stack, service: str, **variables: str) -> Stack:
    """``service`` recreated with other variables (e.g. a worker setting); the new Stack."""
    changed = Stack(stack.project, stack.files, {**stack.variables, **variables})
    changed.up(service)
    changed.wait_ready(sdk)
    return changed


def sample(name: str) -> Path:
    return ROOT / "docker" / "samples" / name
