"""The web app's routes, read statically from the project's Python files (never imported).

FastAPI (``@app.get``, ``@router.post``, ``APIRouter(prefix=...)``, ``include_router(...,
prefix=...)``), Flask (``@app.route``, ``@bp.get``, ``Blueprint(url_prefix=...)``,
``register_blueprint(..., url_prefix=...)``) and Django (``path``/``re_path``/``url`` in
``urlpatterns``, ``include("app.urls")``). Routers are followed through imports, so a prefix
set where a router is included applies to the routes declared where it is defined.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobcheck.scaffold import codeconf, handlers, pysource

_VERBS = {"get", "post", "put", "patch", "delete", "head", "options"}
_CONSTRUCTORS = {
    "FastAPI": ("fastapi", ""),
    "APIRouter": ("fastapi", "prefix"),
    "Flask": ("flask", ""),
    "Blueprint": ("flask", "url_prefix"),
}
_INCLUDES = {"include_router": "prefix", "register_blueprint": "url_prefix"}
_DJANGO_ROUTES = {"path", "re_path", "url"}
_PARAM = re.compile(r"[{<(\[\\*+?]")
_MARKERS = ("FastAPI", "APIRouter", "Flask", "Blueprint", "urlpatterns", ".route(")
UNRESOLVED = "{?"  # a prefix init could not resolve: ``{?settings.API_PREFIX}``

Node = tuple[str, str]  # (module, variable)


@dataclass(frozen=True)
class Route:
    path: str
    methods: frozenset[str]
    framework: str
    where: str  # file:line
    form: tuple[str, ...] = ()  # form fields the handler reads
    answers: tuple[str, ...] = ()  # dotted keys of the dicts the handler builds
    body: tuple[str, ...] = ()  # JSON fields the handler reads

    @property
    def has_params(self) -> bool:
        return bool(_PARAM.search(self.path))

    @property
    def unresolved(self) -> bool:
        """Under a prefix the code computes in a way init cannot follow: ``{?expr}``."""
        return UNRESOLVED in self.path


@dataclass
class _Declared:
    node: Node
    path: str
    methods: frozenset[str]
    framework: str
    where: str
    form: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    body: tuple[str, ...] = ()


@dataclass
class _Graph:
    objects: dict[Node, tuple[str, str, bool]] = field(default_factory=dict)  # fw, prefix, docs
    declared: list[_Declared] = field(default_factory=list)
    includes: list[tuple[Node, Node, str]] = field(default_factory=list)  # parent, child, prefix


@dataclass(frozen=True)
class Routes:
    routes: list[Route]
    fastapi_docs: bool = False  # a FastAPI app serves /docs (docs_url not None)

    def get(self) -> list[Route]:
        return [r for r in self.routes if "GET" in r.methods]

    @property
    def unresolved(self) -> list[Route]:
        return [r for r in self.routes if r.unresolved]


def find(root: Path) -> Routes:
    modules = list(pysource.modules(root, markers=_MARKERS))
    index = pysource.ModuleIndex(m.name for m in modules)
    graph = _Graph()
    names = codeconf.Names(modules, root)
    for module in modules:
        _Scanner(module, index, graph, names).scan()
    routes = [
        Route(_join(prefix, d.path), d.methods, d.framework, d.where, d.form, d.answers, d.body)
        for d in graph.declared
        for prefix in _prefixes(graph, d.node, ())
    ]
    docs = any(fw == "fastapi" and docs for fw, _, docs in graph.objects.values())
    return Routes(_unique(routes), docs)


class _Scanner:
    def __init__(
        self, module: pysource.Module, index: pysource.ModuleIndex, graph: _Graph,
        names: codeconf.Names,
    ) -> None:  # fmt: skip
        self.module, self.index, self.graph, self.names = module, index, graph, names
        self.imports = pysource.imports(module)
        self.frameworks = {m.split(".")[0] for m, _ in self.imports.values()}

    def scan(self) -> None:
        for node in ast.walk(self.module.tree):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                self._assignment(node)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    self._decorator(decorator, node)
            elif isinstance(node, ast.Call):
                self._call(node)

    def where(self, node: ast.AST) -> str:
        return f"{self.module.path}:{getattr(node, 'lineno', 0)}"

    def prefix(self, call: ast.Call, keyword: str) -> str:
        """The prefix a keyword gives: a literal, a constant, a settings attribute or an
        environment lookup with a literal default, an f-string of those; ``{?expr}`` when
        the code computes it some other way."""
        expr = next((k.value for k in call.keywords if k.arg == keyword), None)
        if expr is None:
            return ""
        found = self.names.value(self.module, expr)
        if found is None or (found.env and not found.text) or "${" in found.text:
            return f"{UNRESOLVED}{ast.unparse(expr)}}}"
        return found.text

    def ref(self, expr: ast.expr) -> Node | None:
        """The (module, variable) an expression names, followed through imports."""
        local = {n for (m, n) in self.graph.objects if m == self.module.name}
        return pysource.resolve(expr, self.module.name, self.imports, self.index, local)

    def _assignment(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if not names or node.value is None:
            return
        if names[0] == "urlpatterns":
            self._urlpatterns(node.value)
            return
        call = node.value
        if not isinstance(call, ast.Call):
            return
        found = _CONSTRUCTORS.get(pysource.callee(call))
        if found is None:
            return
        framework, prefix_kw = found
        prefix = self.prefix(call, prefix_kw) if prefix_kw else ""
        docs = pysource.callee(call) == "FastAPI" and not any(
            k.arg == "docs_url" and isinstance(k.value, ast.Constant) and k.value.value is None
            for k in call.keywords
        )
        self.graph.objects[(self.module.name, names[0])] = (framework, prefix, docs)

    def _decorator(self, decorator: ast.expr, func: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            return
        verb = decorator.func.attr
        if verb not in _VERBS | {"route", "api_route"}:
            return
        path = pysource.argument_text(decorator, 0, ("path", "rule"))
        node = self.ref(decorator.func.value)
        framework = self._framework(node)
        if path is None or node is None or not framework:
            return
        methods = {verb.upper()} if verb in _VERBS else _methods(decorator)
        found = _Declared(node, path, frozenset(methods), framework, self.where(decorator))
        found.form, found.answers, found.body = (
            handlers.form(func),
            handlers.answers(func),
            handlers.body_keys(func),
        )
        self.graph.declared.append(found)

    def _framework(self, node: Node | None) -> str:
        if node is not None and node in self.graph.objects:
            return self.graph.objects[node][0]
        return next((fw for fw in ("fastapi", "flask") if fw in self.frameworks), "")

    def _call(self, call: ast.Call) -> None:
        if not isinstance(call.func, ast.Attribute) or call.func.attr not in _INCLUDES:
            return
        parent = self.ref(call.func.value)
        child = self.ref(call.args[0]) if call.args else None
        if parent is not None and child is not None:
            prefix = self.prefix(call, _INCLUDES[call.func.attr])
            self.graph.includes.append((parent, child, prefix))

    def _urlpatterns(self, value: ast.expr) -> None:
        node = (self.module.name, "urlpatterns")
        self.graph.objects.setdefault(node, ("django", "", False))
        for element in _list_elements(value):
            if not isinstance(element, ast.Call) or pysource.callee(element) not in _DJANGO_ROUTES:
                continue
            path = pysource.argument_text(element, 0, ("route",))
            if path is None:
                continue
            path = path.removeprefix("^").removesuffix("$")
            target = element.args[1] if len(element.args) > 1 else None
            if isinstance(target, ast.Call) and pysource.callee(target) == "include":
                child = self._included(target)
                if child is not None:
                    self.graph.includes.append((node, child, path))
            else:
                where = self.where(element)
                self.graph.declared.append(
                    _Declared(node, path, frozenset({"GET"}), "django", where)
                )

    def _included(self, call: ast.Call) -> Node | None:
        if not call.args:
            return None
        first = call.args[0]
        if isinstance(first, ast.Tuple) and first.elts:  # include(("app.urls", "app"))
            first = first.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            module = self.index.lookup(first.value)
            return (module, "urlpatterns") if module else None
        found = self.ref(first)
        return (".".join(p for p in found if p), "urlpatterns") if found else None


def _list_elements(value: ast.expr) -> Iterator[ast.expr]:
    if isinstance(value, ast.List | ast.Tuple):
        yield from value.elts
    elif isinstance(value, ast.BinOp):
        yield from _list_elements(value.left)
        yield from _list_elements(value.right)


def _methods(decorator: ast.Call) -> set[str]:
    for keyword in decorator.keywords:
        if keyword.arg == "methods" and isinstance(keyword.value, ast.List | ast.Tuple | ast.Set):
            found = {
                str(e.value).upper()
                for e in keyword.value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            }
            return found or {"GET"}
    return {"GET"}


def _prefixes(graph: _Graph, node: Node, seen: tuple[Node, ...]) -> list[str]:
    """Every full prefix a router is served under: the includes above it, then its own."""
    own = graph.objects.get(node, ("", "", False))[1]
    parents = [(p, prefix) for p, child, prefix in graph.includes if child == node]
    if not parents or node in seen:
        return [own]
    return [
        _join(above, prefix, own)
        for parent, prefix in parents
        for above in _prefixes(graph, parent, (*seen, node))
    ][:20]


def _join(*parts: str) -> str:
    joined = "/" + "/".join(p.strip() for p in parts if p.strip())
    return re.sub("/{2,}", "/", joined)


def _unique(routes: list[Route]) -> list[Route]:
    seen: set[tuple[str, frozenset[str]]] = set()
    unique = []
    for route in routes:
        if (route.path, route.methods) not in seen:
            seen.add((route.path, route.methods))
            unique.append(route)
    return unique
