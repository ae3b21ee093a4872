"""The project's Python files as syntax trees, and the small questions asked of them: what a
call is named, a string argument, where an imported name comes from. Nothing is imported."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jobcheck.fsutil import MAX_PROJECT_FILE_BYTES, read_regular_text

SKIPPED_DIRS = {
    "node_modules", "site-packages", "__pycache__", "build", "dist", "venv", "env", "tests",
    "test", "migrations", "alembic", "docs", "static", "templates",
}  # fmt: skip
MAX_FILES = 3000
MAX_BYTES = 400_000

Imports = dict[str, tuple[str, str]]  # local name -> (module, attribute or "")


@dataclass(frozen=True)
class Module:
    name: str  # dotted, relative to the project root (``src.`` dropped)
    path: str  # relative to the project root
    tree: ast.Module
    package: bool  # an __init__.py


def modules(root: Path, *, markers: Iterable[str]) -> Iterator[Module]:
    """Parsed modules whose text contains one of ``markers`` (cheap before parsing)."""
    wanted = tuple(markers)
    for path in _python_files(root):
        try:
            text = read_regular_text(path, MAX_PROJECT_FILE_BYTES)  # no FIFO, no /dev/zero
        except (OSError, UnicodeDecodeError):
            continue
        if not any(marker in text for marker in wanted):
            continue
        try:
            tree = ast.parse(text, filename=str(path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):  # too deep to parse
            continue
        relative = path.relative_to(root)
        yield Module(module_name(relative), relative.as_posix(), tree, path.name == "__init__.py")


def _python_files(root: Path) -> Iterator[Path]:
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(folder) / name
            if not name.endswith(".py") or _too_big(path):
                continue
            count += 1
            if count > MAX_FILES:
                return
            yield path


def _too_big(path: Path) -> bool:
    try:
        return path.stat().st_size > MAX_BYTES
    except OSError:
        return True


def module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if len(parts) > 1 and parts[0] == "src":
        parts.pop(0)
    return ".".join(parts)


class ModuleIndex:
    """Finds a scanned module by the name an import uses, which may be shorter or longer than
    the path from the project root (``app.api`` for ``project/app/api.py``)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)

    def lookup(self, dotted: str) -> str:
        if dotted in self.names:
            return dotted
        near = [n for n in self.names if n.endswith("." + dotted) or dotted.endswith("." + n)]
        return min(near, key=len) if near else ""


def imports(module: Module) -> Imports:
    found: Imports = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                found[local] = (alias.name if alias.asname else local, "")
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.module or "", node.level)
            for alias in node.names:
                found[alias.asname or alias.name] = (base, alias.name)
    return found


def _absolute(module: Module, name: str, level: int) -> str:
    if level == 0:
        return name
    parts = module.name.split(".")
    package = parts if module.package else parts[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, name] if name else base)


def resolve(
    expr: ast.expr, module: str, found: Imports, index: ModuleIndex, local: set[str]
) -> tuple[str, str] | None:
    """(module, variable) that ``router`` or ``users.router`` names in ``module``."""
    if isinstance(expr, ast.Name):
        if expr.id in local or expr.id not in found:
            return module, expr.id
        source, attribute = found[expr.id]
        if attribute:
            return index.lookup(source) or source, attribute
        return None
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        if expr.value.id not in found:
            return None
        source, attribute = found[expr.value.id]
        dotted = f"{source}.{attribute}" if attribute else source
        return index.lookup(dotted) or dotted, expr.attr
    return None


def callee(call: ast.Call) -> str:
    """The called name: ``FastAPI`` for ``FastAPI(...)`` and ``fastapi.FastAPI(...)``."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


def keyword_text(call: ast.Call, name: str) -> str:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value) if isinstance(keyword.value.value, str) else ""
    return ""


def argument_text(call: ast.Call, position: int, names: tuple[str, ...]) -> str | None:
    """A string argument given by position or by one of ``names``; None when not a literal."""
    if len(call.args) > position:
        value: ast.expr | None = call.args[position]
    else:
        value = next((k.value for k in call.keywords if k.arg in names), None)
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    return None


def assignments(module: Module) -> dict[str, ast.expr]:
    """``NAME = value`` and ``NAME: T = value`` at the module's top level (the first of each)."""
    return _assigned(module.tree.body)


def class_attributes(module: Module) -> dict[str, ast.expr]:
    """Class-level ``NAME: T = value`` of the module's classes (a pydantic ``Settings``)."""
    found: dict[str, ast.expr] = {}
    for node in module.tree.body:
        if isinstance(node, ast.ClassDef):
            for name, value in _assigned(node.body).items():
                found.setdefault(name, value)
    return found


def _assigned(body: list[ast.stmt]) -> dict[str, ast.expr]:
    found: dict[str, ast.expr] = {}
    for node in body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, node.value)
        elif (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            found.setdefault(node.target.id, node.value)
    return found
