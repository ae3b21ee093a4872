"""The tools the checks should use: the project's own interpreter (its virtualenv, not
jobcheck's) and the Compose CLI this machine has, for the rollback notes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

VENV_DIRS = (".venv", "venv")
ComposeProbe = Callable[[], str]


@dataclass(frozen=True)
class Interpreter:
    venv: str  # the virtualenv folder: relative to the project root, or absolute
    source: str  # how it was found, for the header

    @property
    def python(self) -> str:
        return f"{self.venv}/bin/python"

    def tool(self, root: Path, name: str) -> str:
        """``<venv>/bin/NAME`` when the project's virtualenv has it, else ''."""
        path = f"{self.venv}/bin/{name}"
        return path if (root / path).is_file() else ""


def interpreter(
    root: Path, environ: Mapping[str, str], folders: Iterable[str] = ()
) -> Interpreter | None:
    """The project's ``.venv`` or ``venv`` (in ``folders``, relative to the root: the
    service's and the tests' folders, nearest first; else at the root), else the activated one
    (``VIRTUAL_ENV``)."""
    for folder in (*folders, "."):
        for name in VENV_DIRS:
            venv = name if folder in ("", ".") else f"{folder}/{name}"
            if (root / venv / "bin" / "python").exists():
                return Interpreter(venv, f"the project's {venv}/")
    active = environ.get("VIRTUAL_ENV", "")
    if not active or not (Path(active) / "bin" / "python").exists():
        return None
    try:
        inside = Path(active).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Interpreter(active, "VIRTUAL_ENV (outside the project: a path on this machine)")
    return Interpreter(inside, "VIRTUAL_ENV, inside the project")


def compose_cli(run: Callable[[list[str]], int] | None = None) -> str:
    """``docker compose`` when ``docker compose version`` works, else ``docker-compose``."""
    probe = run or _exit_code
    return "docker compose" if probe(["docker", "compose", "version"]) == 0 else "docker-compose"


def _exit_code(argv: list[str]) -> int:
    if shutil.which(argv[0]) is None:
        return 127
    try:
        return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode
    except (OSError, subprocess.SubprocessError):
        return 1
