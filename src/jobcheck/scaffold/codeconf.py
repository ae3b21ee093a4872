"""Settings the project writes in its code, read statically: Celery's broker, result backend,
queues and task time limits, and Django's ``DEBUG``.

Celery is configured in many places, and all of them are read: ``Celery("app", broker=...,
backend=...)``, ``app.conf.broker_url = ...``, ``app.conf.update(result_backend=...)``, and the
modules ``config_from_object`` loads (a ``celeryconfig.py``, Django's settings with the
``CELERY_`` namespace), whose module-level names are found wherever they are. A value may be a
literal, an environment lookup with a default (``os.environ.get("K", "amqp://...")``,
``os.getenv``, django-environ's ``env("K", default=...)``, decouple's ``config``), a name or a
settings attribute holding one, or an f-string of those (``f"redis://:{PASSWORD}@redis"``,
where a looked-up part becomes ``${K}``), and a number may be ``int(...)``/``float(...)`` of one
or a product or sum of literals (``30 * 60``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobcheck.scaffold import pysource

_KEYS = {
    "broker": "broker", "broker_url": "broker", "backend": "backend",
    "result_backend": "backend", "task_default_queue": "default_queue",
    "task_routes": "routes", "debug": "debug",
    "task_time_limit": "time_limit", "task_soft_time_limit": "soft_time_limit",
    "celeryd_task_time_limit": "time_limit", "celeryd_task_soft_time_limit": "soft_time_limit",
}  # fmt: skip
_MARKERS = (
    "Celery(", "broker_url", "BROKER_URL", "result_backend", "RESULT_BACKEND", ".conf.update",
    "task_default_queue", "TASK_DEFAULT_QUEUE", "task_routes", "TASK_ROUTES", "DEBUG =", "DEBUG=",
    "time_limit", "TIME_LIMIT",
)  # fmt: skip
# A time limit set from an expression not read here (``settings.limit_s or None``): it is set,
# and the running worker's configuration (the worker_limits check) says to what.
COMPUTED = "(computed)"
_LIMITS = ("time_limit", "soft_time_limit")
_ENV_CALLS = {"get", "getenv", "env", "str", "config", "bool", "url"}
_ENV_HOLDERS = {"environ", "os", "env", "config", "environs", "Env"}


@dataclass(frozen=True)
class Value:
    """A setting's text: a literal, or the default of the variable ``env`` it is read from."""

    text: str
    env: str  # the environment variable the code reads ('' for a literal)
    where: str  # file:line

    def describe(self) -> str:
        if not self.env:
            return self.where
        default = "with a default" if self.text else "with no default"
        return f"{self.env}, read at {self.where} ({default})"


@dataclass
class CodeConf:
    broker: Value | None = None
    backend: Value | None = None
    default_queue: Value | None = None
    routed_queues: list[str] = field(default_factory=list)
    debug: Value | None = None  # DEBUG = True (or a truthy default)
    time_limit: Value | None = None  # task_time_limit (seconds)
    soft_time_limit: Value | None = None  # task_soft_time_limit (seconds)


def find(root: Path) -> CodeConf:
    conf = CodeConf()
    modules = list(pysource.modules(root, markers=_MARKERS))
    names = Names(modules)
    for module in modules:
        for key, expr, node in _settings(module):
            reader = _Reader(module, names)
            value = reader.value(expr, node)
            if value is None and key in _LIMITS and not _is_none(expr):
                value = Value(COMPUTED, "", reader.where(node))  # set, to what is not read
            _record(conf, key, value, expr)
    return conf


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def _record(conf: CodeConf, key: str, value: Value | None, expr: ast.expr) -> None:
    if key == "routes":
        conf.routed_queues += [q for q in _routed(expr) if q not in conf.routed_queues]
        return
    if value is None or getattr(conf, key) is not None:
        return
    if key == "debug":
        if value.text.strip().lower() in ("true", "1", "yes", "on"):
            conf.debug = value
        return
    setattr(conf, key, value)


def _settings(module: pysource.Module) -> Iterator[tuple[str, ast.expr, ast.AST]]:
    """(setting, expression, node) for each place the module sets one."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            called = pysource.callee(node)
            if called == "Celery" or (called == "update" and _on_conf(node.func)):
                for keyword in node.keywords:
                    key = _key(keyword.arg or "")
                    if key and key != "debug":
                        yield key, keyword.value, node
                for arg in node.args:
                    if isinstance(arg, ast.Dict) and called == "update":
                        yield from _dict_items(arg, node)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = _target_name(target)
                key = _key(name)
                if key and (key != "debug" or name == "DEBUG"):
                    yield key, node.value, node


def _dict_items(arg: ast.Dict, node: ast.AST) -> Iterator[tuple[str, ast.expr, ast.AST]]:
    for k, v in zip(arg.keys, arg.values, strict=True):
        if isinstance(k, ast.Constant) and isinstance(k.value, str) and _key(k.value):
            yield _key(k.value), v, node


def _on_conf(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and (
        isinstance(func.value, ast.Attribute) and func.value.attr == "conf"
    )


def _target_name(target: ast.expr) -> str:
    """``broker_url``, ``CELERY_BROKER_URL``, ``app.conf.broker_url``."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute) and _on_conf_attribute(target):
        return target.attr
    return ""


def _on_conf_attribute(target: ast.Attribute) -> bool:
    value = target.value
    return isinstance(value, ast.Attribute) and value.attr == "conf"


def _key(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("celery_"):
        lowered = lowered[len("celery_") :]
    elif lowered in ("broker", "backend") and name != lowered:
        return ""  # BROKER alone is not Celery's
    return _KEYS.get(lowered, "")


def _routed(expr: ast.expr) -> list[str]:
    """Queue names in ``task_routes``: ``{"app.tasks.*": {"queue": "emails"}}``."""
    found = []
    for node in ast.walk(expr):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(k, ast.Constant) and k.value == "queue"
                    and isinstance(v, ast.Constant) and isinstance(v.value, str)
                ):  # fmt: skip
                    found.append(v.value)
    return list(dict.fromkeys(found))


class Names:
    """Module-level and class-level assignments, for names and settings attributes; modules
    that were not read yet are searched for an attribute's name when it is asked for."""

    def __init__(self, modules: list[pysource.Module], root: Path | None = None) -> None:
        self.root = root
        self.by_module: dict[str, dict[str, ast.expr]] = {}
        self.attributes: dict[str, tuple[pysource.Module, ast.expr]] = {}
        self.searched: set[str] = set()
        for module in modules:
            self._add(module)

    def _add(self, module: pysource.Module) -> None:
        if module.name in self.by_module:
            return
        local = pysource.assignments(module)
        self.by_module[module.name] = local
        for name, expr in [*pysource.class_attributes(module).items(), *local.items()]:
            self.attributes.setdefault(name, (module, expr))

    def attribute(self, name: str) -> tuple[pysource.Module, ast.expr] | None:
        if name not in self.attributes and self.root is not None and name not in self.searched:
            self.searched.add(name)
            for module in pysource.modules(self.root, markers=(name,)):
                self._add(module)
        return self.attributes.get(name)

    def value(self, module: pysource.Module, expr: ast.expr) -> Value | None:
        """What ``expr`` (in ``module``) holds, when the code says it; None when it cannot
        be told."""
        self._add(module)
        return _Reader(module, self).value(expr, expr)


class _Reader:
    def __init__(self, module: pysource.Module, names: Names, depth: int = 0) -> None:
        self.module, self.names, self.depth = module, names, depth

    def where(self, node: ast.AST) -> str:
        return f"{self.module.path}:{getattr(node, 'lineno', 0)}"

    def value(self, expr: ast.expr, node: ast.AST) -> Value | None:
        if self.depth > 4:
            return None
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str | bool | int | float):
            return Value(str(expr.value), "", self.where(node))
        if (
            isinstance(expr, ast.Call)
            and pysource.callee(expr) in ("int", "float")
            and len(expr.args) == 1
            and not expr.keywords
        ):
            return self.value(expr.args[0], node)  # int(os.getenv("LIMIT", "300"))
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult | ast.Add):
            return self._arithmetic(expr, node)  # 30 * 60
        if isinstance(expr, ast.Call | ast.Subscript):
            return _env_lookup(expr, self.where(node))
        if isinstance(expr, ast.JoinedStr):
            return self._fstring(expr, node)
        if isinstance(expr, ast.Name):
            local = self.names.by_module.get(self.module.name, {}).get(expr.id)
            if local is not None:
                return _Reader(self.module, self.names, self.depth + 1).value(local, local)
        if isinstance(expr, ast.Attribute | ast.Name):
            name = expr.attr if isinstance(expr, ast.Attribute) else expr.id
            found = self.names.attribute(name)
            if found is not None:
                module, value = found
                return _Reader(module, self.names, self.depth + 1).value(value, value)
        return None

    def _arithmetic(self, expr: ast.BinOp, node: ast.AST) -> Value | None:
        left, right = self.value(expr.left, node), self.value(expr.right, node)
        first, second = _number(left), _number(right)
        if first is None or second is None:
            return None
        found = first * second if isinstance(expr.op, ast.Mult) else first + second
        return Value(f"{found:g}", "", self.where(node))

    def _fstring(self, expr: ast.JoinedStr, node: ast.AST) -> Value | None:
        parts = []
        for piece in expr.values:
            if isinstance(piece, ast.Constant):
                parts.append(str(piece.value))
                continue
            assert isinstance(piece, ast.FormattedValue)
            found = self.value(piece.value, piece.value)
            if found is None:
                return None
            parts.append(f"${{{found.env}}}" if found.env and not found.text else found.text)
        return Value("".join(parts), "", self.where(node))


def _number(value: Value | None) -> float | None:
    """A literal number's value (not one read from the environment)."""
    if value is None or value.env:
        return None
    try:
        return float(value.text)
    except ValueError:
        return None


def _env_lookup(expr: ast.Call | ast.Subscript, where: str) -> Value | None:
    """``os.environ.get("K", "d")``, ``os.getenv("K")``, ``env("K", default="d")``,
    ``env.str(...)``, ``config("K", default=...)``, ``os.environ["K"]``."""
    if isinstance(expr, ast.Subscript):
        holder = expr.value
        key = expr.slice
        if _names_environ(holder) and isinstance(key, ast.Constant):
            return Value("", str(key.value), where)
        return None
    func = expr.func
    called = pysource.callee(expr)
    holder_ok = isinstance(func, ast.Name) or (
        isinstance(func, ast.Attribute) and _names_environ(func.value)
    )
    if called not in _ENV_CALLS or not holder_ok or not expr.args:
        return None
    name = expr.args[0]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return None
    default = expr.args[1] if len(expr.args) > 1 else None
    default = next((k.value for k in expr.keywords if k.arg == "default"), default)
    text = ""
    if isinstance(default, ast.Constant) and default.value is not None:
        text = str(default.value)
    return Value(text, name.value, where)


def _names_environ(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in _ENV_HOLDERS
    return isinstance(expr, ast.Attribute) and expr.attr in _ENV_HOLDERS
