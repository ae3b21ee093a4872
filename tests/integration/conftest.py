"""The real engine and the real staging stack, brought up once per session.

The stack runs as its own compose project (``jobcheck-itest``) on its own ports (18000, 16379),
so a demo stack on 8000/6379 is left alone. Images stay cached between sessions; the
containers and the Redis volume are removed at the end unless JOBCHECK_KEEP_STACK=1.

An unreachable engine FAILS every docker-marked test (CI must not go green without Docker),
unless JOBCHECK_ALLOW_NO_DOCKER=1 is set: then they are skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds.base import Kind, KindContext, StackInfo
from jobcheck.probes import engine
from jobcheck.process import run_process
from jobcheck.results import Outcome
from jobcheck.secrets import Masker
from jobcheck.staging import compose_cli, lifecycle

from ._compose import build_lock
from ._groups import GROUPS
from ._stack import PROJECT, ROOT, UP_WAIT_S, heal, password, stack_env

if TYPE_CHECKING:
    from docker import DockerClient


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--itest-group",
        default=None,
        choices=sorted(GROUPS),
        help="run only this group's integration modules (tests/integration/_groups.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --itest-group, keep that group's modules; a module in no group is a usage error
    (scripts/test.sh runs the groups only: it would never run)."""
    group = config.getoption("itest_group")
    if group is None:
        return
    grouped = {name for names in GROUPS.values() for name in names}
    here = Path(__file__).parent
    modules = {item.path.name for item in items if item.path.parent == here}
    if modules - grouped:
        raise pytest.UsageError(
            f"tests/integration: {', '.join(sorted(modules - grouped))} in no group of "
            "tests/integration/_groups.py (add it to one)"
        )
    wanted = set(GROUPS[group])
    kept = [item for item in items if item.path.parent != here or item.path.name in wanted]
    dropped = [item for item in items if item not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def engine_client() -> Iterator[DockerClient]:
    try:
        sdk = engine.client()
    except engine.EngineUnreachable as exc:
        if os.environ.get("JOBCHECK_ALLOW_NO_DOCKER") == "1":
            pytest.skip(f"{exc} (skipped: JOBCHECK_ALLOW_NO_DOCKER=1)")
        pytest.fail(
            f"{exc}\nThe docker-marked tests need the engine; set JOBCHECK_ALLOW_NO_DOCKER=1 "
            "to skip them instead.",
            pytrace=False,
        )
    yield sdk
    sdk.close()


@pytest.fixture(autouse=True)
def _docker_tests_need_the_engine(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("engine_client")


def _base_images_chosen() -> None:
    """docker/.env names the base images; scripts/stack-images.sh writes it (offline or not)."""
    if (ROOT / "docker" / ".env").is_file():
        return
    result = run_process(
        ["bash", str(ROOT / "scripts" / "stack-images.sh")], timeout_s=900, cwd=ROOT
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/stack-images.sh failed:\n{result.stderr[-3000:]}", pytrace=False)


@pytest.fixture(scope="session")
def stack(engine_client: DockerClient) -> Iterator[StackInfo]:
    _base_images_chosen()
    info = StackInfo(
        compose=[ROOT / "docker" / "compose.yaml"],
        project=PROJECT,
        env_file=ROOT / "docker" / "staging.env",
        wait_s=UP_WAIT_S,
    )
    lines: list[str] = []
    start = time.monotonic()
    # A clean slate: containers, stale worker registrations and failed jobs left by an earlier
    # (perhaps interrupted) session would make the counts below wrong.
    try:
        compose_cli.Compose.for_stack(info, stack_env()).down(volumes=True)
    except compose_cli.ComposeError as exc:
        print(f"\nclean-up before the session: {exc}")
    try:
        with build_lock():  # the images' shared tags are built one build at a time
            compose_cli.Compose.for_stack(info, stack_env()).build()
    except compose_cli.ComposeError as exc:
        pytest.fail(f"the staging stack's images did not build: {exc}", pytrace=False)
    result = lifecycle.bring_up(info, stack_env(), lines.append, build=False)
    if not result.ok:
        pytest.fail(
            f"the staging stack did not come up: {result.message}\n"
            + "\n".join(lines)
            + "\n"
            + result.output,
            pytrace=False,
        )
    print(f"\nstack {PROJECT} up in {time.monotonic() - start:.1f}s: {result.timings}")
    yield info
    if os.environ.get("JOBCHECK_KEEP_STACK") != "1":
        compose_cli.Compose.for_stack(info, stack_env()).down(volumes=True)


@pytest.fixture
def healed(engine_client: DockerClient, stack: StackInfo) -> Iterator[None]:
    """For destructive tests: whatever they break is repaired afterwards."""
    try:
        yield
    finally:
        heal(engine_client, stack)


@pytest.fixture
def make_ctx(stack: StackInfo) -> Callable[..., KindContext]:
    def make(env: dict[str, str] | None = None, timeout_s: float = 90.0) -> KindContext:
        return KindContext(
            check_id="itest",
            base_dir=ROOT,
            env=env if env is not None else stack_env(),
            timeout_s=timeout_s,
            mask=Masker([password()]),
            stack=stack,
        )

    return make


@pytest.fixture
def check(make_ctx: Callable[..., KindContext]) -> Callable[..., Outcome]:
    """check(KIND, {...options...}, ctx=None) -> Outcome, options validated as at load time."""

    def run(kind: Kind[Any], with_: dict[str, Any], ctx: KindContext | None = None) -> Outcome:
        return attempt(kind, kind.options.model_validate(with_), ctx or make_ctx())

    return run
