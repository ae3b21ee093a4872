"""The project's own interpreter and tools, for the kinds that run them (pytest, lint).

A service's tests need the service's dependencies, and its lint its pinned ruff: so an explicit
option first, then the active ``VIRTUAL_ENV``, then a ``.venv`` or ``venv`` in the folder the
tool runs in or the checklist's folder; jobcheck's own only when the project has none. Every
result says which one it used and why, because "No module named fastapi" means nothing until
you know which Python said it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobcheck.kinds.base import CheckError, KindContext

VENV_FOLDERS = (".venv", "venv")
OWN = "jobcheck's own"


def shown_path(path: Path, base: Path) -> str:
    """``path`` relative to the checklist's folder when that is at most two levels up, else
    absolute; symlinks kept (a venv's ``bin/python`` is a link to the base interpreter, and
    the venv is what the reader needs to see)."""
    full = os.path.abspath(path)
    relative = os.path.relpath(full, os.path.abspath(base))
    return full if relative.startswith("../../..") else relative


@dataclass(frozen=True)
class Tool:
    """An executable chosen for a check: how to call it, how to name it, and why this one."""

    argv: list[str]
    shown: str
    why: str
    env: dict[str, str] = field(default_factory=dict)  # VIRTUAL_ENV and PATH, as activation

    def said(self) -> str:
        """``using .venv/bin/python (the project's .venv)``: which one, and why."""
        return f"using {self.shown} ({self.why})"


@dataclass(frozen=True)
class Venv:
    path: Path
    why: str

    def tool(self, name: str, ctx: KindContext) -> Tool | None:
        executable = self.path / "bin" / name
        if not os.access(executable, os.X_OK):
            return None
        shown = shown_path(executable, ctx.base_dir)
        return Tool([str(executable)], shown, self.why, self.env(ctx))

    def env(self, ctx: KindContext) -> dict[str, str]:
        """What activating it would set: the child's tools and subprocesses are the venv's."""
        path = ctx.env.get("PATH", os.defpath)
        return {"VIRTUAL_ENV": str(self.path), "PATH": f"{self.path / 'bin'}{os.pathsep}{path}"}


def project_venvs(ctx: KindContext, cwd: Path) -> list[Venv]:
    """The project's environments, most specific first: the active one, then `.venv`/`venv`
    beside where the tool runs, then beside the checklist."""
    found: list[Venv] = []
    active = ctx.env.get("VIRTUAL_ENV", "").strip()
    if active:
        found.append(Venv(Path(active), "the active VIRTUAL_ENV"))
    for folder in dict.fromkeys([cwd.resolve(), ctx.base_dir.resolve()]):
        for name in VENV_FOLDERS:
            if (folder / name / "bin" / "python").exists():
                found.append(Venv(folder / name, f"the project's {name}"))
    return found


def explicit(value: str, option: str, ctx: KindContext) -> Tool:
    """A tool named by an option: a path (with a `/`) is relative to the checklist's folder,
    a bare name is looked up on PATH. A path that does not exist is a CheckError naming both
    what was written and what it resolved to."""
    why = f"the `{option}` option"
    if "/" not in value:
        found = shutil.which(value, path=ctx.env.get("PATH"))
        if found is None:
            raise CheckError(f"`{option}: {value}` is not on PATH; give its path instead")
        return Tool([found], value, why)
    path = ctx.path(value)
    if not path.exists():
        raise CheckError(
            f"`{option}: {value}` does not exist: resolved against the checklist's folder to {path}"
        )
    venv = path.parent.parent
    env = Venv(venv, why).env(ctx) if (venv / "pyvenv.cfg").exists() else {}
    return Tool([str(path)], shown_path(path, ctx.base_dir), why, env)


def python_for(ctx: KindContext, cwd: Path, option: str | None) -> Tool:
    """The interpreter that runs the project's code: the option, the project's venv, or
    jobcheck's own."""
    if option:
        return explicit(option, "python", ctx)
    for venv in project_venvs(ctx, cwd):
        tool = venv.tool("python", ctx)
        if tool is not None:
            return tool
    return Tool([sys.executable], sys.executable, OWN)


def command_for(
    ctx: KindContext, cwd: Path, name: str, fallback: Sequence[str] = ()
) -> Tool | None:
    """A console script (``ruff``): the project's venv, then PATH without jobcheck's own bin
    folder (a ruff the user installed), then jobcheck's own, then ``fallback`` (``python -m``)."""
    for venv in project_venvs(ctx, cwd):
        tool = venv.tool(name, ctx)
        if tool is not None:
            return tool
    own = str(Path(sys.executable).parent)
    parts = ctx.env.get("PATH", os.defpath).split(os.pathsep)
    theirs = shutil.which(name, path=os.pathsep.join(p for p in parts if p != own))
    if theirs is not None:
        return Tool([theirs], theirs, "on PATH")
    mine = shutil.which(name, path=own) if own in parts else None
    if mine is not None:
        return Tool([mine], mine, OWN)
    if fallback:
        return Tool(list(fallback), " ".join(fallback), OWN)
    return None
