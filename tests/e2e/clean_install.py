"""jobcheck as a user installs it: the wheel built from this checkout, installed with an extra
into a fresh venv that sees nothing of the dev environment (no ``[dev]``, no pytest, no
PYTHONPATH), and the real processes the checks talk to (redis-server, workers started from
that venv), each started with a bounded wait and stopped by its process group.

Offline-friendly: the extra's dependencies are installed with ``--no-index`` from a wheelhouse
(``$JOBCHECK_CACHE/extras-wheels``, kept between runs); only when it lacks something does
``pip wheel`` fill it from pip's configured index.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_S = 600.0
START_S = 120.0  # a worker beside two Docker test groups on two cores is slow to start
STOP_S = 10.0


def sh(*argv: str | Path, cwd: Path | None = None, timeout_s: float = 300.0) -> str:
    """Run to completion (without PYTHONPATH: a fresh venv must not see this checkout)."""
    result = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=clean_env(),
    )
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra


def build_wheel(dest: Path) -> Path:
    """`python -m build` on a copy of the sources (the build writes egg-info beside them),
    without isolation (offline: this environment's setuptools); returns the wheel."""
    source = dest / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    sh(sys.executable, "-m", "build", "--no-isolation", "--outdir", dest / "dist", cwd=source)
    (wheel,) = (dest / "dist").glob("jobcheck-*-py3-none-any.whl")  # the sdist is beside it
    return wheel


def wheelhouse() -> Path:
    """Where the extras' wheels are kept between runs."""
    default = "/var/cache/jobcheck" if os.access("/var/cache", os.W_OK) else "~/.cache/jobcheck"
    folder = Path(os.environ.get("JOBCHECK_CACHE", default)).expanduser() / "extras-wheels"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fresh_venv(path: Path, wheel: Path, extra: str) -> Path:
    """A venv with only ``jobcheck[extra]`` from ``wheel``; returns its bin folder."""
    sh(sys.executable, "-m", "venv", "--without-pip", path)
    python = path / "bin" / "python"
    spec = f"{wheel}[{extra}]"
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    house = wheelhouse()
    offline = [*pip, "install", "-q", "--no-index", "--find-links", house, spec]
    first = subprocess.run(
        [str(a) for a in offline], capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
        env=clean_env(),
    )  # fmt: skip
    if first.returncode != 0:
        sh(*pip, "wheel", "-q", "--wheel-dir", house, spec, timeout_s=PIP_TIMEOUT_S)
        for own in house.glob("jobcheck-*.whl"):
            own.unlink()  # this checkout's wheel is passed by path, never cached
        sh(*offline, timeout_s=PIP_TIMEOUT_S)
    return path / "bin"


def importable(bin_dir: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([bin_dir / "python", "-c", probe], env=clean_env()).returncode == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn(
    argv: list[str | Path], log: Path, cwd: Path, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """TERM the process group (workers fork), then KILL what is left."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_S)


def wait_until(
    what: str, ready: Callable[[], bool], log: Path, process: subprocess.Popen[bytes] | None
) -> None:
    """Until ``ready()``, at most START_S; fails with the log's tail if the process ends."""
    until = time.monotonic() + START_S
    while time.monotonic() < until:
        if process is not None and process.poll() is not None:
            break
        if ready():
            return
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"{what} not ready within {START_S:g}s; log:\n{tail}")


def redis_server(folder: Path, password: str) -> Iterator[int]:
    """A redis-server on 127.0.0.1 (Debian's, from scripts/host-services.sh); yields its port."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    assert Path(binary).exists(), "redis-server not found: run `bash scripts/host-services.sh`"
    port = free_port()
    log = folder / "redis.log"
    argv: list[str | Path] = [binary, "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--requirepass", password, "--save", "", "--appendonly", "no", "--dir", folder]
    process = spawn(argv, log, folder, os.environ)
    try:
        wait_until(f"redis-server on {port}", lambda: _redis_answers(port, password), log, process)
        yield port
    finally:
        stop(process)


def _redis_answers(port: int, password: str) -> bool:
    import redis

    client = redis.Redis(port=port, password=password, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
    finally:
        client.close()
