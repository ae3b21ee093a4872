"""The kind registry: built-in kinds by module, third-party kinds by entry point.

Kinds are imported only when a checklist uses them, so ``jobcheck --version`` and a
command-only checklist never import ``docker``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from typing import Any

from jobcheck.kinds.base import Kind, KindContext, KindOptions

__all__ = [
    "BUILTIN",
    "Kind",
    "KindContext",
    "KindOptions",
    "UnknownKind",
    "cache_refusal",
    "get_kind",
    "names",
]

ENTRY_POINT_GROUP = "jobcheck.kinds"

BUILTIN: dict[str, str] = {
    "command": "jobcheck.kinds.command",
    "lint": "jobcheck.kinds.lint",
    "pytest": "jobcheck.kinds.pytest_kind",
    "env": "jobcheck.kinds.env",
    "compose": "jobcheck.kinds.compose",
    "release": "jobcheck.kinds.release_tag",
    "http": "jobcheck.kinds.http",
    "service": "jobcheck.kinds.service",
    "job": "jobcheck.kinds.job",
    "queue": "jobcheck.kinds.queue",
    "shutdown": "jobcheck.kinds.shutdown",
    "stop_config": "jobcheck.kinds.stop_config",
    "broker_restart": "jobcheck.kinds.broker_restart",
    "worker_limits": "jobcheck.kinds.worker_limits",
    "scheduler": "jobcheck.kinds.scheduler",
    "rollback_drill": "jobcheck.kinds.rollback_drill",
    "load": "jobcheck.kinds.load",
}

_cache: dict[str, Kind[Any]] = {}


class UnknownKind(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known
        close = difflib.get_close_matches(name, known, n=1)
        self.suggestion = close[0] if close else ""


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points  # lazy: entry points, only for a kind not built in

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _available_builtin() -> list[str]:
    return [n for n, mod in BUILTIN.items() if importlib.util.find_spec(mod) is not None]


def names() -> list[str]:
    """Every kind that can be used: built-in ones that are present, then plugins."""
    return sorted(set(_available_builtin()) | set(_entry_points()))


def get_kind(name: str) -> Kind[Any]:
    if name in _cache:
        return _cache[name]
    kind: Kind[Any] | None = None
    module_name = BUILTIN.get(name)
    if module_name is not None:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
        else:
            kind = module.KIND
    if kind is None:
        ep = _entry_points().get(name)
        if ep is None:
            raise UnknownKind(name, names())
        kind = ep.load()
    _cache[name] = kind
    return kind


def cache_refusal(kind: Kind[Any]) -> str:
    """Why a check of this kind may not have ``cache:``; "" when it may."""
    if kind.docker:
        return (
            f"the `{kind.name}` kind checks the running Docker stack, whose state no file "
            "or env value captures: a replayed pass could hide a broken service"
        )
    if not kind.cacheable:
        return (
            f"the `{kind.name}` kind checks a live service, whose state no file or env value "
            "captures: a replayed pass could hide a broken service"
        )
    if kind.uses_stack:
        return (
            f"the `{kind.name}` kind talks to the running stack, whose state no file or env "
            "value captures: a replayed pass could hide a broken service"
        )
    return ""
