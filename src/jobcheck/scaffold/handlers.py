"""What a route's handler reads and answers, read from its syntax tree: the form fields
(``request.form["type"]``, FastAPI ``Form()``), the JSON fields (``payload["type"]``) and the
keys of the dicts it answers with (``{"data": {"task_id": ...}}``)."""

from __future__ import annotations

import ast

from jobcheck.scaffold import pysource

Handler = ast.FunctionDef | ast.AsyncFunctionDef


def form(func: Handler) -> tuple[str, ...]:
    """Form fields a handler reads: ``request.form["x"]``, ``request.form.get("x")``, or a
    FastAPI parameter ``x: Annotated[str, Form()]`` / ``x = Form(...)``."""
    args = func.args
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    pairs = [*zip(positional, [*defaults, *args.defaults], strict=True)]
    pairs += zip(args.kwonlyargs, args.kw_defaults, strict=True)
    fields = [a.arg for a, default in pairs if _is_form(default) or _is_form(a.annotation)]
    for node in ast.walk(func):
        key = _form_key(node)
        if key:
            fields.append(key)
    return tuple(dict.fromkeys(fields))


def _is_form(node: ast.expr | None) -> bool:
    """``Form(...)``, or ``Annotated[str, Form()]``."""
    if isinstance(node, ast.Call):
        return pysource.callee(node) == "Form"
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
        return any(_is_form(e) for e in node.slice.elts[1:])
    return False


def answers(func: Handler) -> tuple[str, ...]:
    """Where the answer's fields are: ``{"data": {"task_id": 1}}`` -> data, data.task_id.
    A dict built first (``data = {...}``) and then put in the answer is followed."""
    named = {
        target.id: node.value
        for node in ast.walk(func)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: list[str] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Dict):
            found += [p for p in _dict_paths(node, "", named, 0) if p not in found]
    return tuple(found)


def _dict_paths(node: ast.Dict, above: str, named: dict[str, ast.Dict], depth: int) -> list[str]:
    paths = []
    for key, value in zip(node.keys, node.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            continue
        path = f"{above}{key.value}"
        paths.append(path)
        inner = named.get(value.id) if isinstance(value, ast.Name) else value
        if isinstance(inner, ast.Dict) and depth < 3:
            paths += _dict_paths(inner, path + ".", named, depth + 1)
    return paths


def body_keys(func: Handler) -> tuple[str, ...]:
    """JSON fields a handler reads: ``payload["type"]`` (a parameter) or
    ``request.json["type"]``."""
    params = {a.arg for a in func.args.args + func.args.kwonlyargs} - {"request", "self"}
    keys: list[str] = []
    for node in ast.walk(func):
        if not isinstance(node, ast.Subscript):
            continue
        source = node.value
        reads = (isinstance(source, ast.Name) and source.id in params) or (
            isinstance(source, ast.Attribute) and source.attr == "json"
        )
        key = node.slice
        if reads and isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.append(key.value)
    return tuple(dict.fromkeys(keys))


def _form_key(node: ast.AST) -> str:
    if isinstance(node, ast.Subscript) and _is_request_form(node.value):
        key = node.slice
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and _is_request_form(node.func.value)
        and node.args
    ):
        key = node.args[0]
    else:
        return ""
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else ""


def _is_request_form(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "form"
