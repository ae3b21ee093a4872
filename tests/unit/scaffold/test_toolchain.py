from __future__ import annotations

import sys
from pathlib import Path

from jobcheck.scaffold import toolchain


def venv(folder: Path) -> Path:
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(sys.executable)
    return folder


def test_the_projects_own_venv_first(tmp_path: Path) -> None:
    venv(tmp_path / "venv")
    elsewhere = venv(tmp_path.parent / f"{tmp_path.name}-other")
    found = toolchain.interpreter(tmp_path, {"VIRTUAL_ENV": str(elsewhere)})
    assert found == toolchain.Interpreter("venv", "the project's venv/")
    assert found.python == "venv/bin/python"  # relative to the root, as the kinds read it


def test_virtual_env_inside_or_outside_the_project(tmp_path: Path) -> None:
    inside = venv(tmp_path / "envs" / "dev")
    found = toolchain.interpreter(tmp_path, {"VIRTUAL_ENV": str(inside)})
    assert found == toolchain.Interpreter("envs/dev", "VIRTUAL_ENV, inside the project")
    outside = venv(tmp_path.parent / f"{tmp_path.name}-venv")
    found = toolchain.interpreter(tmp_path / "envs", {"VIRTUAL_ENV": str(outside)})
    assert found is not None and found.python == f"{outside}/bin/python"
    assert toolchain.interpreter(tmp_path / "envs", {}) is None


def test_compose_cli_is_docker_compose_when_the_plugin_answers() -> None:
    assert toolchain.compose_cli(lambda argv: 0) == "docker compose"
    assert toolchain.compose_cli(lambda argv: 1) == "docker-compose"
    asked: list[list[str]] = []
    toolchain.compose_cli(lambda argv: asked.append(argv) or 0)
    assert asked == [["docker", "compose", "version"]]
