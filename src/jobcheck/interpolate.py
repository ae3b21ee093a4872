"""``${NAME}``, ``${NAME:-default}`` and ``$$`` interpolation over loaded data: the syntax, what
a NAME may be, and the walk over nested lists and mappings. Loading turns its errors into
located ones (``validation.interp_text``).

``${stack.SERVICE.PORT}`` is not resolved here: it names a port of the running stack, known only
when the check runs, so it is kept as written (see ``jobcheck.stack_ports``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# A name `${NAME}` can use: a var's name is checked against it (``is_name``).
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# A default may hold `$$` but no nested reference: `${A:-${B}}` is reported, not half-read.
# Any other `${` is malformed (`${api`, `${1x}`, `${A:-${B}}`).
_STACK = r"\$\{stack\.(?P<service>[A-Za-z0-9][A-Za-z0-9_.-]*)\.(?P<port>[0-9]{1,5})\}"
STACK_REF = re.compile(_STACK)
_TOKEN = (  # compiled at its first use (re caches it): most checklists have no `${`
    r"\$\$"
    r"|\$\{(?P<name>" + _NAME + r")(?P<dflt>:-(?P<value>(?:[^}$]|\$\$)*))?\}"
    r"|(?P<stack>" + _STACK + r")"
    r"|(?P<bad>\$\{[^}]*\}?)"
)

Lookup = Callable[[str], str | None]  # a name's value, None when it is unset


class Unset(KeyError):
    """A ``${NAME}`` with no value and no default."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class BadReference(ValueError):
    """A ``${`` that does not start a well-formed reference."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def interpolate(text: str, lookup: Lookup) -> str:
    """Replace references in one string; ``lookup`` returns None for an unset name.

    Replacement is one pass: a value that itself contains ``${...}`` or ``$$`` is kept as it is.
    """

    def replace(match: re.Match[str]) -> str:
        if match["bad"] is not None:
            raise BadReference(match["bad"])
        if match.group(0) == "$$":
            return "$"
        if match["stack"] is not None:
            return match.group(0)
        name = match["name"]
        value = lookup(name)
        if value is None or (value == "" and match["dflt"] is not None):
            if match["dflt"] is not None:
                return match["value"].replace("$$", "$")
            raise Unset(name)
        return value

    return re.sub(_TOKEN, replace, text)


def chain(*layers: Mapping[str, str]) -> Lookup:
    """A lookup that asks each mapping in turn (vars first, then the environment)."""

    def lookup(name: str) -> str | None:
        for layer in layers:
            if name in layer:
                return layer[name]
        return None

    return lookup


def is_name(text: str) -> bool:
    """Whether ``text`` is a name a ``${NAME}`` reference can use."""
    return re.match(f"^{_NAME}$", text) is not None


def usable_name(name: str) -> str:
    """A usable variable name like ``name``: other characters as ``_``, and ``_`` before a
    leading digit (``1bad`` -> ``_1bad``, ``api-key`` -> ``api_key``)."""
    usable = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    return f"_{usable}" if usable[0].isdigit() else usable


def walk(
    data: Any, visit: Callable[[str, tuple[str | int, ...]], str], key: tuple[str | int, ...] = ()
) -> Any:
    """Apply ``visit`` to every string in nested lists and mappings, keeping keys."""
    if isinstance(data, str):
        return visit(data, key)
    if isinstance(data, list):
        return [walk(item, visit, (*key, i)) for i, item in enumerate(data)]
    if isinstance(data, dict):
        return {k: walk(v, visit, (*key, k)) for k, v in data.items()}
    return data


def stack_refs(data: Any) -> list[tuple[tuple[str | int, ...], re.Match[str]]]:
    """Every ``${stack.SERVICE.PORT}`` in nested data, with the key path of its string."""
    found: list[tuple[tuple[str | int, ...], re.Match[str]]] = []

    def visit(text: str, key: tuple[str | int, ...]) -> str:
        found.extend((key, match) for match in STACK_REF.finditer(text))
        return text

    walk(data, visit)
    return found
