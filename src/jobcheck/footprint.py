"""Which stack services a check uses and which it disrupts (DESIGN.md section 8).

Read once at load time from what the check says and what its options name: its kind's own
``footprint`` (``shutdown`` stops its worker service, ``broker_restart`` restarts the broker
and its workers), every ``${stack.SERVICE.PORT}`` it names, a URL whose host is a compose
service (``redis://redis:6379``), and the check's own ``uses:`` / ``disrupts:``. Stopping a
service disrupts the services whose ``depends_on`` names it too (an API that answers its health
from Redis). A kind that reaches the workers through the broker it names (``job``,
``queue``) uses the services that depend on that broker too. The plan's graph
(``plan.Graph``) turns these into order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from jobcheck.interpolate import walk
from jobcheck.kinds.base import Footprint, Kind, KindOptions

EVERY = "*"  # `service: "*"`: a check that uses every service of the stack
NOTHING = Footprint()


def footprint_of(
    kind: Kind[Any],
    options: KindOptions,
    stack_services: frozenset[str],
    declared: Footprint = NOTHING,
    services: frozenset[str] | None = None,
    depends_on: Mapping[str, frozenset[str]] | None = None,
) -> Footprint:
    """The services this check uses and disrupts; ``stack_services``: those its options name
    as ``${stack.SERVICE.PORT}``; ``services``: the stack's (None: unknown)."""
    own = kind.footprint(options) if kind.footprint is not None else NOTHING
    if own is NOTHING and declared is NOTHING and not stack_services and not services:
        return NOTHING  # most checks of a big checklist: nothing to read
    uses = set(own.uses) | set(declared.uses)
    uses.update(stack_services)
    if services:
        uses.update(url_services(options.model_dump(mode="json"), services))
    if kind.uses_workers:
        uses |= dependants(uses, depends_on or {})
    disrupts = set(own.disrupts) | set(declared.disrupts)
    disrupts |= dependants(disrupts, depends_on or {})
    return Footprint(uses=frozenset(uses | disrupts), disrupts=frozenset(disrupts))


def url_services(data: Any, services: Iterable[str]) -> set[str]:
    """The compose services named as the host of a URL among ``data``'s strings."""
    known = set(services)
    found: set[str] = set()

    def visit(text: str, _key: tuple[str | int, ...]) -> str:
        if "://" in text:
            try:
                host = urlsplit(text.strip()).hostname
            except ValueError:
                return text
            if host in known:
                found.add(host)
        return text

    walk(data, visit)
    return found


def dependants(services: set[str], depends_on: Mapping[str, frozenset[str]]) -> set[str]:
    """The services whose ``depends_on`` names one of ``services``, directly or not."""
    found: set[str] = set()
    todo = list(services)
    while todo:
        stopped = todo.pop()
        for service, needs in depends_on.items():
            if stopped in needs and service not in found and service not in services:
                found.add(service)
                todo.append(service)
    return found


def shares(uses: frozenset[str], disrupts: frozenset[str]) -> list[str]:
    """The disrupted services ``uses`` touches (``*`` touches every one), sorted."""
    if EVERY in uses:
        return sorted(disrupts)
    return sorted(uses & disrupts)
