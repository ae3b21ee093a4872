"""Whether the app's code sets the security header the API checks ask for, read statically
(nothing imported): a string constant naming it, or a library that sends it by default."""

from __future__ import annotations

import ast
from pathlib import Path

from jobcheck.scaffold import pysource

HEADER = "X-Content-Type-Options"
VALUE = "nosniff"
# Libraries that send nosniff unless told not to: the package a call's name is imported from.
_LIBRARIES = {"flask_talisman": "flask-talisman", "secure": "secure"}
_MARKERS = (HEADER, HEADER.lower(), "flask_talisman", "secure")


def nosniff_source(root: Path) -> str:
    """Where the code sets ``X-Content-Type-Options`` (``file:line``, and the library when one
    does it); '' when nothing does."""
    for module in pysource.modules(root, markers=_MARKERS):
        imports = pysource.imports(module)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.strip().lower() == HEADER.lower():
                    return f"{module.path}:{node.lineno}"
            elif isinstance(node, ast.Call):
                package = imports.get(_root_name(node.func), ("", ""))[0].split(".", 1)[0]
                if package in _LIBRARIES:
                    return f"{module.path}:{node.lineno} ({_LIBRARIES[package]})"
    return ""


def _root_name(expr: ast.expr) -> str:
    """``secure`` for ``secure.Secure``, ``Talisman`` for ``Talisman``."""
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else ""
