"""Loading, step 2: what the stack's compose files say, for the checks to be checked against:
its services and their `depends_on` (``StackPorts``). An unreadable compose file is not a load
error: a check naming it then finds out when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobcheck.checklist import ChecklistSpec
from jobcheck.errors import ChecklistError
from jobcheck.yamlsrc import parse


@dataclass(frozen=True)
class StackPorts:
    """What `${stack.SERVICE.PORT}` may name: is there a stack, and which services (None when
    the compose files cannot be read here: the check then finds out when it runs)."""

    present: bool
    services: frozenset[str] | None
    # service -> the services its `depends_on` names (stopping one disrupts the other)
    depends_on: dict[str, frozenset[str]] = field(default_factory=dict)


def compose_services(spec: ChecklistSpec, base: Path) -> list[dict[str, Any]] | None:
    """The ``services`` mapping of each of the stack's compose files, read through the
    checklist's bounded loader (a FIFO, /dev/zero, deep nesting or a huge file: None, as for
    any unreadable file)."""
    if spec.stack is None:
        return None
    found: list[dict[str, Any]] = []
    for name in spec.stack.compose:
        try:
            data = parse(base / name).data
        except ChecklistError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            return None
        found.append(data["services"])
    return found


def _services(files: list[dict[str, Any]] | None) -> frozenset[str] | None:
    """The services of the stack's compose files (None: unreadable or no stack)."""
    return None if files is None else frozenset(str(k) for f in files for k in f)


def _depends_on(files: list[dict[str, Any]] | None) -> dict[str, frozenset[str]]:
    """Each compose service's ``depends_on`` (a list or a mapping); empty when unreadable."""
    found: dict[str, frozenset[str]] = {}
    for services in files or []:
        for service, body in services.items():
            needs = body.get("depends_on") if isinstance(body, dict) else None
            if isinstance(needs, list | dict):
                found[str(service)] = frozenset(str(n) for n in needs)
    return found


def stack_ports_of(spec: ChecklistSpec, base: Path, *, known: bool = True) -> StackPorts:
    """What `${stack.SERVICE.PORT}`, `uses:` and `disrupts:` may name in this checklist.
    ``known=False``: a `stack:` section is written but has a problem (reported already), so
    the checks naming it are not told again that there is none."""
    if not known:
        return StackPorts(True, None)
    compose = compose_services(spec, base)
    return StackPorts(spec.stack is not None, _services(compose), _depends_on(compose))
