"""Selection (--only/--skip, --failed) and dependency order."""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from jobcheck.checklist import Check


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


@dataclass
class Plan:
    """The checks to run in dependency order, and those left out with the reason."""

    run: list[Check]
    deselected: dict[str, str] = field(default_factory=dict)
    all: list[Check] = field(default_factory=list)

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
    """Topological order that keeps the file order wherever the needs allow.

    Kahn's algorithm with the file position as priority: O(N log N + needs), so 10,000 checks
    or a chain of thousands cost what they hold, not its square."""
    position = {c.id: i for i, c in enumerate(checks)}
    waiting = [0] * len(checks)
    dependants: list[list[int]] = [[] for _ in checks]
    for i, check in enumerate(checks):
        for need in set(check.needs):
            j = position.get(need)
            if j is not None and j != i:
                waiting[i] += 1
                dependants[j].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    result: list[Check] = []
    while ready:
        i = heapq.heappop(ready)
        result.append(checks[i])
        for j in dependants[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(result) < len(checks):  # a cycle; the loader rejects these, keep the rest in file order
        placed = {c.id for c in result}
        result.extend(c for c in checks if c.id not in placed)
    return result


def unknown_selectors(checks: Sequence[Check], selectors: Sequence[str]) -> list[str]:
    """Selectors that match no id and no tag: usually a typo."""
    return [s for s in selectors if not any(c.matches(s) for c in checks)]


def selector_names(checks: Sequence[Check]) -> list[str]:
    """Every id and tag, sorted: what ``--only`` and ``--skip`` can name."""
    return sorted({c.id for c in checks} | {t for c in checks for t in c.tags})


def close_selectors(checks: Sequence[Check], selector: str) -> list[str]:
    """The id or tag closest to a selector that matched nothing (``fast1`` -> ``fast``)."""
    return difflib.get_close_matches(selector, selector_names(checks), n=1, cutoff=0.6)
