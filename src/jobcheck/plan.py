"""Selection (--only/--skip, --failed) and dependency order."""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from jobcheck.checklist import Check
from jobcheck.footprint import shares


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """A dependency cycle as ``[a, b, c, a]``, or an empty list when there is none.

    Iterative depth-first search: a chain of thousands of ``needs`` must not hit Python's
    recursion limit."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in graph:
        if root in state:
            continue
        path: list[str] = [root]
        state[root] = 1
        todo = [iter(graph.get(root, ()))]
        while todo:
            need = next(todo[-1], None)
            if need is None:
                todo.pop()
                state[path.pop()] = 2
            elif state.get(need) == 1:
                return [*path[path.index(need) :], need]
            elif need not in state:
                state[need] = 1
                path.append(need)
                todo.append(iter(graph.get(need, ())))
    return []


class Wait(NamedTuple):
    """An order-only edge: a check starts once ``on`` ended, whatever its status."""

    on: str
    why: str  # "after", "uses redis", "disrupts redis"

    def words(self) -> str:
        """``broker-restart (disrupts redis)``: why the check waited, for people."""
        return f"{self.on} ({self.why})"


class Graph:
    """The one dependency graph of a set of checks, built once: ``needs`` (the check runs
    only when they passed), ``after`` (order only) and the order that keeps a check which
    disrupts a service apart from the checks using it (see ``_keep_apart``). Plan order,
    the runner, the critical path, the load-time cycle check, ``explain``, shards
    (``components``) and ``run --failed`` (``dependants_of``) all ask this graph; no other
    module walks ``needs`` (tests/unit/test_architecture.py).

    Edges outside the set (a deselected check, another shard's) are left out. The order around
    disruptive checks is worked out on the first question about order (``waits``,
    ``dependants``, ``before``, ``order``...): the questions about ``needs`` alone (shards,
    ``--failed``, the cycle check) never pay for it."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = list(checks)
        self.position = {c.id: i for i, c in enumerate(self.checks)}
        self.needs: dict[str, list[str]] = {}
        self._waits: dict[str, list[Wait]] = {}
        self._dependants: dict[str, list[str]] = {c.id: [] for c in self.checks}
        self.needed_by: dict[str, list[str]] = {c.id: [] for c in self.checks}  # needs only
        self._before: dict[str, list[str]] = {}
        for check in self.checks:
            needs = self._within(check.id, check.needs)
            after = [a for a in self._within(check.id, check.after) if a not in needs]
            self.needs[check.id] = needs
            self._waits[check.id] = [Wait(a, "after") for a in after]
            self._before[check.id] = [*needs, *after]
            for need in needs:
                self.needed_by[need].append(check.id)
            for before in self._before[check.id]:
                self._dependants[before].append(check.id)
        self._kept_apart = False

    @property
    def waits(self) -> dict[str, list[Wait]]:
        """Each check's order-only edges: ``after``, and the order around disruptive checks."""
        self._keep_apart()
        return self._waits

    @property
    def dependants(self) -> dict[str, list[str]]:
        """Each check's dependants: what needs it, runs after it or waits for it to end."""
        self._keep_apart()
        return self._dependants

    def _within(self, check_id: str, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        return [i for i in dict.fromkeys(ids) if i in self.position and i != check_id]

    def before(self, check_id: str) -> list[str]:
        """Every check that must end before this one starts (needs first), once each (the
        graph's own list: read it, do not change it)."""
        self._keep_apart()
        return self._before[check_id]

    def wait_for(self, check_id: str, before: str) -> Wait | None:
        """The order-only reason ``check_id`` waits for ``before``; None for a need."""
        if before in self.needs[check_id]:
            return None
        return next((w for w in self.waits[check_id] if w.on == before), None)

    def _keep_apart(self) -> None:
        """A check that disrupts a service starts once every check using it has ended: it
        waits for each, unless that one already comes after it (needs or after it, directly
        or not). Two that disrupt the same service go in file order. The graph stays acyclic:
        an edge is added only from a check that the disruptive one cannot reach."""
        if self._kept_apart:
            return
        self._kept_apart = True
        users = [c for c in self.checks if c.uses]
        for drill in (c for c in self.checks if c.disrupts):
            later = self._downstream(drill.id)
            known = set(self._before[drill.id])
            for other in users:
                if other.id in later or other.id in known:
                    continue
                shared = shares(other.uses, drill.disrupts)
                if not shared:
                    continue
                if (
                    other.disrupts & drill.disrupts
                    and self.position[other.id] > self.position[drill.id]
                ):
                    continue  # the later drill waits for this one
                verb = "disrupts" if other.disrupts.intersection(shared) else "uses"
                self._waits[drill.id].append(Wait(other.id, f"{verb} {', '.join(shared)}"))
                self._before[drill.id].append(other.id)
                self._dependants[other.id].append(drill.id)

    def _downstream(self, check_id: str) -> set[str]:
        seen = {check_id}
        todo = [check_id]
        while todo:
            for dependant in self._dependants[todo.pop()]:
                if dependant not in seen:
                    seen.add(dependant)
                    todo.append(dependant)
        return seen

    def components(self) -> list[list[str]]:
        """Checks joined by ``needs`` in either direction, each group in checklist order,
        groups by their first member (a shard takes whole groups)."""
        seen: set[str] = set()
        found = []
        for check in self.checks:
            if check.id in seen:
                continue
            seen.add(check.id)
            group, todo = [check.id], [check.id]
            while todo:
                node = todo.pop()
                for other in (*self.needs[node], *self.needed_by[node]):
                    if other not in seen:
                        seen.add(other)
                        group.append(other)
                        todo.append(other)
            found.append(sorted(group, key=self.position.__getitem__))
        return found

    def dependants_of(self, ids: Iterable[str]) -> list[str]:
        """``ids`` and every check that needs one of them, directly or not, in checklist
        order; ids not in the graph are left out."""
        wanted = {i for i in ids if i in self.position}
        todo = list(wanted)
        while todo:
            for dependant in self.needed_by[todo.pop()]:
                if dependant not in wanted:
                    wanted.add(dependant)
                    todo.append(dependant)
        return sorted(wanted, key=self.position.__getitem__)

    def cycle(self) -> list[str]:
        """A chain of ``needs`` and ``after`` that comes back, as ``[a, b, c, a]``; empty when
        there is none (the loader rejects one; the order around disruptive checks adds none)."""
        return find_cycle(
            {
                c.id: [*self.needs[c.id], *(w.on for w in self._waits[c.id] if w.why == "after")]
                for c in self.checks
            }
        )

    def order(self) -> list[Check]:
        """Topological order that keeps the file order wherever the edges allow.

        Kahn's algorithm with the file position as priority: O(N log N + edges), so 10,000
        checks or a chain of thousands cost what they hold, not its square."""
        self._keep_apart()
        waiting = {c.id: len(self._before[c.id]) for c in self.checks}
        ready = [self.position[i] for i, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        result: list[Check] = []
        while ready:
            check = self.checks[heapq.heappop(ready)]
            result.append(check)
            for dependant in self._dependants[check.id]:
                waiting[dependant] -= 1
                if waiting[dependant] == 0:
                    heapq.heappush(ready, self.position[dependant])
        if len(result) < len(self.checks):  # a cycle; the loader rejects these
            placed = {c.id for c in result}
            result.extend(c for c in self.checks if c.id not in placed)
        return result

    def critical_first(self) -> list[Check]:
        """Checks with the longest chain of dependants first, so the critical path starts
        early (dependants before the checks they wait for: iterative, chains of thousands)."""
        height: dict[str, int] = {}
        for check in reversed(self.order()):
            below = (height.get(d, 0) for d in self._dependants[check.id])
            height[check.id] = 1 + max(below, default=0)
        return sorted(self.checks, key=lambda c: (-height[c.id], self.position[c.id]))


@dataclass
class Plan:
    """The checks to run in dependency order, and those left out with the reason."""

    run: list[Check]
    deselected: dict[str, str] = field(default_factory=dict)
    all: list[Check] = field(default_factory=list)

    @cached_property
    def graph(self) -> Graph:
        """The graph of ``run``: what the runner asks for order and why a check waits."""
        return Graph(self.run)

    @cached_property
    def ids(self) -> frozenset[str]:
        """The ids of ``run`` (computed once: the runner asks for each need of each check)."""
        return frozenset(c.id for c in self.run)


def select(
    checks: Sequence[Check],
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    ids: Sequence[str] | None = None,
) -> Plan:
    """Choose checks by id or tag; needs of a chosen check are pulled in with it."""
    chosen = [c for c in checks if _wanted(c, only, ids)]
    by_id = {c.id: c for c in checks}
    wanted = {c.id for c in chosen}
    queue = list(wanted)
    while queue:
        for need in by_id[queue.pop()].needs:
            if need in by_id and need not in wanted:
                wanted.add(need)
                queue.append(need)
    skipped = {c.id for c in checks if any(c.matches(s) for s in skip)}
    deselected: dict[str, str] = {}
    for check in checks:
        if check.id in skipped:
            deselected[check.id] = "deselected with --skip"
        elif check.id not in wanted:
            deselected[check.id] = "not selected" + (" (--only)" if only else "")
    runnable = order([c for c in checks if c.id not in deselected])
    return Plan(run=runnable, deselected=deselected, all=list(checks))


def _wanted(check: Check, only: Sequence[str], ids: Sequence[str] | None) -> bool:
    if ids is not None and check.id not in ids:
        return False
    return not only or any(check.matches(s) for s in only)


def order(checks: Sequence[Check]) -> list[Check]:
    """The checks in the order their graph allows, file order wherever it can."""
    return Graph(checks).order()


def unknown_selectors(checks: Sequence[Check], selectors: Sequence[str]) -> list[str]:
    """Selectors that match no id and no tag: usually a typo."""
    return [s for s in selectors if not any(c.matches(s) for c in checks)]


def selector_names(checks: Sequence[Check]) -> list[str]:
    """Every id and tag, sorted: what ``--only`` and ``--skip`` can name."""
    return sorted({c.id for c in checks} | {t for c in checks for t in c.tags})


def close_selectors(checks: Sequence[Check], selector: str) -> list[str]:
    """The id or tag closest to a selector that matched nothing (``fast1`` -> ``fast``)."""
    return difflib.get_close_matches(selector, selector_names(checks), n=1, cutoff=0.6)
