"""Selection (--only/--skip, --failed) and dependency order."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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

    @property
    def ids(self) -> set[str]:
        return {c.id for c in self.run}


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
    """Topological order that keeps the file order wherever the needs allow."""
    present = {c.id for c in checks}
    done: set[str] = set()
    result: list[Check] = []
    remaining = list(checks)
    while remaining:
        for check in remaining:
            if all(n in done or n not in present for n in check.needs):
                result.append(check)
                done.add(check.id)
                remaining.remove(check)
                break
        else:  # a cycle; the loader rejects these, keep the rest in file order
            result.extend(remaining)
            break
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
