"""``${NAME}``, ``${NAME:-default}`` and ``$$`` interpolation over loaded data."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<dflt>:-(?P<value>[^}]*))?\}")
_BAD = re.compile(r"\$\{(?P<body>[^}]*)\}?")


class Unset(KeyError):
    """A ``${NAME}`` with no value and no default."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class BadReference(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def interpolate(text: str, lookup: Callable[[str], str | None]) -> str:
    """Replace references in one string; ``lookup`` returns None for an unset name."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match["name"]
        value = lookup(name)
        if value is None or (value == "" and match["dflt"]):
            if match["dflt"] is not None:
                return match["value"]
            raise Unset(name)
        return value

    result = _TOKEN.sub(replace, text)
    leftover = _BAD.search(_TOKEN.sub("", text))
    if leftover:
        raise BadReference(leftover.group(0))
    return result


def chain(*layers: Mapping[str, str]) -> Callable[[str], str | None]:
    """A lookup that asks each mapping in turn (vars first, then the environment)."""

    def lookup(name: str) -> str | None:
        for layer in layers:
            if name in layer:
                return layer[name]
        return None

    return lookup


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
