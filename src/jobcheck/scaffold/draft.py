"""A check as ``init`` writes it, and the YAML text it becomes.

A ``Draft`` is a check's mapping plus the comments that go above it; a draft may be
``commented``: written as an example to uncomment, not as a check. Text taken from the project
goes through ``lit`` (``$`` escaped, so the loader does not interpolate it); ``${NAME}``
references that are meant go through ``soft_refs`` (given a default, so the checklist loads
where NAME is unset).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

OWNER = "@TODO-owner"
REF = re.compile(
    r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*)|:?[?+][^}]*)?\}"
    r"|(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)"
)


@dataclass
class Draft:
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    commented: bool = False

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = self.data["with"]
        return options


def check(
    check_id: str, title: str, kind: str, options: dict[str, Any], *, expect: str,
    rollback: str, tags: list[str], notes: list[str] | None = None, **extra: Any,
) -> Draft:  # fmt: skip
    data: dict[str, Any] = {
        "id": check_id,
        "title": title,
        "kind": kind,
        "with": options,
        "owner": OWNER,
        "expect": expect,
        "rollback": f"TODO: {rollback}",
        "tags": tags,
    }
    data.update(extra)
    return Draft(data, list(notes or []))


def lit(text: str) -> str:
    """Text taken from the project, protected from ``${...}`` interpolation."""
    return text.replace("$", "$$")


def slug(text: str, *, dots: bool = True) -> str:
    allowed = r"[^a-z0-9._-]+" if dots else r"[^a-z0-9_-]+"
    found = re.sub(allowed, "-", text.lower()).strip("-._")
    return found or "project"


def soft_refs(text: str, defaults: Mapping[str, str] | None = None) -> str:
    """``$`` escaped, except ``${NAME}`` references, which keep or get a default
    (``${NAME:-}``, or a number such as a port from ``defaults``: ``${API_PORT:-8000}``) so
    the checklist loads where NAME is unset. Only numbers are taken from ``defaults``: they
    come from env files, which also hold secrets."""
    pieces: list[str] = []
    last = 0
    for ref in REF.finditer(text):
        name = ref.group(1) or ref.group(3)
        default = ref.group(2)
        if default is None:
            found = (defaults or {}).get(name, "")
            default = found if found.isdigit() else ""
        pieces += [lit(text[last : ref.start()]), f"${{{name}:-{lit(default)}}}"]
        last = ref.end()
    pieces.append(lit(text[last:]))
    return "".join(pieces)


def dump(data: dict[str, Any], *, flow: bool | None = None) -> str:
    """YAML in block style; with ``flow=None`` short lists and mappings of scalars stay on
    one line. Long text is never folded (a folded scalar is hard to edit)."""
    return yaml.safe_dump(
        data, sort_keys=False, default_flow_style=flow, allow_unicode=True, width=1_000_000
    )


def comment(lines: list[str], indent: str = "", width: int = 96) -> str:
    """``# `` lines; long ones wrapped under their own indent (``  - item`` continues under
    ``item``). A YAML line above may stay long, a comment need not."""
    wrapped: list[str] = []
    for line in lines:
        hang = " " * (len(line) - len(line.lstrip(" -")))
        parts = textwrap.wrap(
            line, width, subsequent_indent=hang, break_long_words=False, break_on_hyphens=False
        )
        wrapped += parts or [""]
    return "".join(f"{indent}# {line}\n" if line else f"{indent}#\n" for line in wrapped)


def note(*lines: str) -> Draft:
    """Comments in the list of checks, with no check under them."""
    return Draft({}, list(lines))


def render_check(draft: Draft) -> str:
    if not draft.data:
        return comment(draft.notes, "  ")
    text = dump({"checks": [draft.data]}).split("\n", 1)[1]
    body = [f"  {line}" for line in text.rstrip("\n").split("\n")]
    if draft.commented:
        body = [f"  # {line[2:]}" for line in body]
    return comment(draft.notes, "  ") + "\n".join(body) + "\n"
