"""Celery tasks declared in the project (``@app.task``, ``@shared_task``), read statically:
their registered names, and which one sleeps for the seconds it is given (the shutdown drill
needs a job that runs for a while)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jobcheck.scaffold import pysource

_DECORATORS = {"task", "shared_task"}


@dataclass(frozen=True)
class Task:
    name: str  # as the worker registers it
    where: str  # file:line
    sleeps: bool  # ``time.sleep(first_argument)``: a job that runs as long as it is told


def find(root: Path, import_roots: Iterable[str]) -> list[Task]:
    """Tasks in module order. ``import_roots``: folders the worker imports from (its build
    context), so ``project/worker.py`` registers ``worker.create_task``."""
    roots = sorted({r for r in import_roots if r not in ("", ".")}, key=len, reverse=True)
    tasks = []
    for module in pysource.modules(root, markers=("task",)):
        name = _imported_as(module.name, roots)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                task = _task(node, name, module.path)
                if task is not None:
                    tasks.append(task)
    return tasks


def _imported_as(module: str, roots: list[str]) -> str:
    for root in roots:
        prefix = root.replace("/", ".") + "."
        if module.startswith(prefix):
            return module[len(prefix) :]
    return module


def _task(func: ast.FunctionDef | ast.AsyncFunctionDef, module: str, path: str) -> Task | None:
    for decorator in func.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call is not None else decorator
        called = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if called not in _DECORATORS:
            continue
        explicit = pysource.keyword_text(call, "name") if call is not None else ""
        bound = call is not None and any(
            k.arg == "bind" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in call.keywords
        )
        name = explicit or (f"{module}.{func.name}" if module else func.name)
        return Task(name, f"{path}:{func.lineno}", _sleeps(func, bound))
    return None


def _sleeps(func: ast.FunctionDef | ast.AsyncFunctionDef, bound: bool) -> bool:
    params = [a.arg for a in func.args.args][1 if bound else 0 :]
    if not params:
        return False
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and pysource.callee(node) == "sleep" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Name) and first.id == params[0]:
                return True
    return False
