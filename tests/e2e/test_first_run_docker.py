"""A new user's first hour, end to end: a sample service repository (Flask + RQ + Redis,
tests under ``project/tests``, a ``.env``, a form-encoded enqueue endpoint answering nested ids,
tests/fixtures/projects/flask-rq-healthy) copied to a fresh git repository with its own
``.venv``; jobcheck built as a wheel and installed with its ``rq`` extra into a venv of its
own, as ``pipx install`` does (dependencies from the package index: an install without the
extra is what made the RQ checks error on a user's first run); then exactly the README's
commands: ``jobcheck init``, ``jobcheck stack up``, ``jobcheck run``.

The sample is healthy, so the first run must be green: exit 0, every check of the generated
checklist passes (none skipped, none a warning), and none of them waited out a deadline.

Compose project ``jc-firstrun-staging`` (init names it after the folder), ports 18910 (web) and
16910 (Redis) on 127.0.0.1, removed with its volume at the end (JOBCHECK_KEEP_STACK=1 keeps it).
No image registry: the images build on docker/.env's base images with docker/wheels.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from jobcheck.staging import compose_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "fixtures" / "projects" / "flask-rq-healthy"
FOLDER = "jc-firstrun"  # the repository's folder: init names the stack after it
STACK = f"{FOLDER}-staging"
WEB_PORT = os.environ.get("JOBCHECK_ITEST_FIRSTRUN_WEB_PORT", "18910")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_FIRSTRUN_REDIS_PORT", "16910")
EXPECTED_IDS = [
    "lint", "tests", "env-dotenv", "env-example", "compose-config", "web-running",
    "worker-running", "redis-running", "web-health", "web-headers", "web-no-debug",
    "queue-default", "canary-job", "worker-shutdown", "release-tag",
]  # fmt: skip
UNBOUNDED_S = 60.0  # the least a check with no wait or deadline of its own may take to fail


def bound_s(options: dict[str, object]) -> float:
    """The wait or deadline a check's options give it (``60s``, ``2m``), in seconds."""
    given = str(options.get("wait") or options.get("deadline") or "")
    found = re.fullmatch(r"([0-9.]+)(s|m)", given)
    if found is None:
        return UNBOUNDED_S
    return float(found[1]) * (60 if found[2] == "m" else 1)


def clean_env(**extra: str) -> dict[str, str]:
    """No activated virtualenv or checkout on the path: the user's shell, not the suite's."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "JOBCHECK_COMPOSE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "NO_COLOR": "1", "COLUMNS": "200", **extra}


def sh(
    *argv: str | Path, cwd: Path, timeout_s: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    words = [str(a) for a in argv]
    try:
        return subprocess.run(
            words, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
            env=env or clean_env(), check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{shlex.join(words)} still running after {timeout_s:.0f}s", pytrace=False)


def ok(*argv: str | Path, cwd: Path, **options: object) -> str:
    done = sh(*argv, cwd=cwd, **options)  # type: ignore[arg-type]
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def compose_command() -> list[str]:
    """The CLI jobcheck uses: `docker compose` when there (JOBCHECK_COMPOSE=v1|v2 chooses)."""
    return list(compose_cli.detect().argv)


@pytest.fixture(scope="module")
def jobcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pipx install "./jobcheck-X-py3-none-any.whl[rq]"``: the wheel built from this checkout,
    with its ``rq`` extra, in a venv of its own, its dependencies from the package index."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ok(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", work / "dist",
       cwd=source)  # fmt: skip
    (wheel,) = (work / "dist").glob("jobcheck-*-py3-none-any.whl")
    venv = work / "pipx" / "venvs" / "jobcheck"
    ok("python3", "-m", "venv", venv, cwd=work)
    ok(venv / "bin" / "python", "-m", "pip", "install", "-q", f"{wheel}[rq]", cwd=work,
       timeout_s=900)  # fmt: skip
    return venv / "bin" / "jobcheck"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """The sample as a user's clone: a git repository with its .env and its own .venv."""
    root = Path(shutil.copytree(SAMPLE, tmp_path / FOLDER))
    dotenv = root / ".env"
    text = re.sub(r"(?m)^WEB_PORT=.*$", f"WEB_PORT={WEB_PORT}", dotenv.read_text())
    dotenv.write_text(re.sub(r"(?m)^REDIS_PORT=.*$", f"REDIS_PORT={REDIS_PORT}", text))
    git = ["git", "-c", "user.name=New User", "-c", "user.email=new@example.invalid"]
    ok("git", "init", "-q", "-b", "main", cwd=root)
    ok("git", "add", "-A", cwd=root)
    ok(*git, "commit", "-q", "-m", "flask tasks 0.1.0", cwd=root)
    ok("python3", "-m", "venv", ".venv", cwd=root)
    # The images' wheelhouse has rq; pytest and ruff come from the package index.
    ok(".venv/bin/python", "-m", "pip", "install", "-q", "--find-links", ROOT / "docker" / "wheels",
       "-r", "requirements-dev.txt", cwd=root, timeout_s=900)  # fmt: skip
    compose = [*compose_command(), "-p", STACK, "-f", str(root / "docker-compose.yml")]
    try:
        yield root
    finally:
        if os.environ.get("JOBCHECK_KEEP_STACK") != "1":
            sh(*compose, "down", "-v", "--remove-orphans", "-t", "5", cwd=root, timeout_s=180)


def offline_build_env(root: Path) -> dict[str, str]:
    """No image registry here: the base images scripts/stack-images.sh chose (docker/.env),
    and the wheels in the build context (git-ignored by the sample)."""
    if not (ROOT / "docker" / ".env").is_file():
        ok("bash", "scripts/stack-images.sh", cwd=ROOT, timeout_s=900)
    ok("bash", "scripts/wheels.sh", cwd=ROOT, timeout_s=600)
    shutil.copytree(ROOT / "docker" / "wheels", root / "wheels")
    images = dict(
        line.split("=", 1)
        for line in (ROOT / "docker" / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return clean_env(
        BASE_IMAGE=images["BASE_IMAGE"], REDIS_IMAGE=images["REDIS_IMAGE"],
        PIP_OPTIONS="--no-index --find-links /tmp/build",
    )  # fmt: skip


def test_init_then_the_first_run_is_green(jobcheck: Path, repo: Path) -> None:
    assert ok(jobcheck, "--version", cwd=repo).startswith("jobcheck ")
    said = ok(jobcheck, "init", cwd=repo / "project" / "server")  # from a subfolder
    assert said.startswith(f"wrote {repo / 'jobcheck.yaml'} with 15 checks: lint, tests, ")
    assert "note:" not in said  # the rq extra is installed: nothing missing
    text = (repo / "jobcheck.yaml").read_text()
    assert "${stack.web.5000}" in text and "${stack.redis.6379}" in text  # whose port
    assert "stg-Ke7vQ2nX9pLw4RtZ" not in text  # the .env password stays a reference
    ok("git", "add", "-A", cwd=repo)
    ok("git", "-c", "user.name=u", "-c", "user.email=u@e.invalid", "commit", "-q", "-m",
       "jobcheck init", cwd=repo)  # fmt: skip

    up = sh(jobcheck, "stack", "up", cwd=repo, env=offline_build_env(repo), timeout_s=1800)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"stack {STACK} is up: 3 services healthy" in up.stdout + up.stderr

    first = sh(jobcheck, "run", cwd=repo, timeout_s=900)  # the first run, on a terminal
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"PASSED: {FOLDER} release: 15 pass in " in first.stdout
    # then the gate, as CI runs it: green again (the drill once ran beside the canary, which
    # then saw no live worker: only a second run showed it)
    report_path = repo.parent / "gate.json"
    junit = repo.parent / "gate.xml"
    run = sh(jobcheck, "run", "--json", report_path, "--junit", junit, cwd=repo, timeout_s=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert 'failures="0"' in junit.read_text()
    report = json.loads(report_path.read_text())
    assert [c["id"] for c in report["checks"]] == EXPECTED_IDS, output
    assert {c["id"]: c["status"] for c in report["checks"]} == dict.fromkeys(EXPECTED_IDS, "pass")
    assert {c["severity"] for c in report["checks"]} == {"blocker"}  # no warning needed here
    # none waited out its `wait` (service, http) or `deadline` (job, shutdown)
    bounds = {c["id"]: bound_s(c["with"]) for c in yaml.safe_load(text)["checks"]}
    waited = {
        c["id"]: (c["duration_s"], bounds[c["id"]])
        for c in report["checks"]
        if c["duration_s"] >= bounds[c["id"]]
    }
    assert not waited, output
    assert f"GET http://127.0.0.1:{WEB_PORT}/health answered 200" in output  # its own port
    assert f"PASSED: {FOLDER} release: 15 pass in " in output
