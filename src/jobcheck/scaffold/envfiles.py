"""The project's dotenv files, and what each one is for.

- ``compose``: the ``.env`` beside the compose file, which Compose reads for interpolation: its
  values may be empty (a developer's machine), but its secrets must not be weak placeholders.
- ``dotenv``: another ``.env`` (local settings): held to the same rules.
- ``template``: ``.env.example``, ``*.sample`` ...: empty values and placeholders are what a
  template holds; the real files must have its keys.
- ``real``: staging.env, .env.staging, a service's ``env_file``: complete and safe.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from jobcheck.dotenv_files import read_dotenv
from jobcheck.scaffold.projectfiles import read_text

TEMPLATE_WORDS = re.compile(r"(^|[._-])(example|sample|template|dist|tmpl|defaults?)($|[._-])")


@dataclass
class EnvFile:
    name: str  # relative to the project root
    role: str  # compose | dotenv | template | real
    values: dict[str, str] = field(default_factory=dict)
    template: str = ""  # the template whose keys this file must have
    ignored: bool = False  # git-ignored: absent from a fresh clone

    @property
    def keys(self) -> list[str]:
        return list(self.values)


def find(
    root: Path, folders: Iterable[str], referenced: Iterable[str], compose_dir: str = "."
) -> list[EnvFile]:
    """Env files in ``folders`` (the root and the compose file's folder) and those a compose
    service names in ``env_file``, in a stable order."""
    names: list[str] = []
    for folder in sorted({str(PurePosixPath(f)) for f in folders}):
        base = root / folder
        for path in sorted(base.iterdir()) if base.is_dir() else []:
            if path.is_file() and _looks_like_env(path.name):
                names.append(_rel(folder, path.name))
    names += [n for n in referenced if n not in names and (root / n).is_file()]
    ignore = _gitignore(root)
    files = [
        EnvFile(n, _role(n, compose_dir), _values(root / n), ignored=_ignored(n, ignore))
        for n in names
    ]
    for env in files:
        env.template = _template_for(env, files)
    return files


def _rel(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def _looks_like_env(name: str) -> bool:
    if name == ".envrc" or name.endswith((".swp", "~", ".bak")):
        return False
    return name == ".env" or name.startswith(".env.") or name.endswith(".env") or ".env." in name


def is_template(name: str) -> bool:
    return bool(TEMPLATE_WORDS.search(PurePosixPath(name).name.lower()))


def _role(name: str, compose_dir: str) -> str:
    path = PurePosixPath(name)
    if is_template(name):
        return "template"
    if path.name == ".env":
        return "compose" if path.parent == PurePosixPath(compose_dir) else "dotenv"
    return "real"


def read_values(path: Path) -> dict[str, str]:
    """A dotenv file's values; {} when it is absent or unreadable."""
    try:
        return read_dotenv(path).values()
    except (OSError, UnicodeDecodeError):
        return {}


_values = read_values


def _template_for(env: EnvFile, files: list[EnvFile]) -> str:
    """``.env`` -> ``.env.example``; ``staging.env`` -> ``staging.env.example``, else the one
    template in its folder."""
    if env.role == "template":
        return ""
    folder = PurePosixPath(env.name).parent
    beside = [
        f.name for f in files if f.role == "template" and PurePosixPath(f.name).parent == folder
    ]
    own = [
        t for t in beside if PurePosixPath(t).name.startswith(PurePosixPath(env.name).name + ".")
    ]
    if own:
        return own[0]
    return beside[0] if len(beside) == 1 else ""


def _gitignore(root: Path) -> list[str]:
    lines = (read_text(root / ".gitignore") or "").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def _ignored(name: str, patterns: list[str]) -> bool:
    """Good enough for env files: the last matching pattern wins, ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        target = name if "/" in body.lstrip("/") else PurePosixPath(name).name
        if fnmatch.fnmatchcase(target, body.lstrip("/")):
            ignored = not negate
    return ignored


def values_by_key(files: Iterable[EnvFile]) -> dict[str, str]:
    """Every key's first value across ``files`` (templates last)."""
    merged: dict[str, str] = {}
    for env in sorted(files, key=lambda f: f.role == "template"):
        for key, value in env.values.items():
            merged.setdefault(key, value)
    return merged
