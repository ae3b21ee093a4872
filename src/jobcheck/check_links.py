"""Loading, step 3's last part, the checks together: every id a check names — in `needs`,
in `after`, in the option a kind reruns checks by (``Kind.recheck_option``) — is another check
of this checklist, no chain of `needs` and `after` comes back to where it started, and a check
named for a rerun reruns nothing itself. ``check_building`` calls these once every check has
loaded; each raises its problems together (``ChecklistErrors``).
"""

from __future__ import annotations

import difflib

from jobcheck.checklist import Check
from jobcheck.checklist_files import Entry
from jobcheck.errors import ChecklistError, ChecklistErrors
from jobcheck.plan import Graph


def check_needs(checks: list[Check], where: dict[str, Entry]) -> None:
    """`needs` and `after` name other checks here, and no chain of them comes back."""
    ids = sorted(c.id for c in checks)
    known = set(ids)  # a set: a chain of 5,000 needs must not scan 5,000 ids for each
    errors = []
    for check in checks:
        entry = where[check.id]
        for field_name_ in ("needs", "after"):
            for i, need in enumerate(getattr(check, field_name_)):
                if need == check.id or need not in known:
                    errors.append(_bad_need(entry, field_name_, i, check.id, need, ids))
    if errors:
        raise ChecklistErrors(errors)
    cycle = Graph(checks).cycle()
    if cycle:
        entry = where[cycle[0]]
        first = next(c for c in checks if c.id == cycle[0])
        field_name_ = "needs" if cycle[1] in first.needs else "after"
        index = getattr(first, field_name_).index(cycle[1])
        raise entry.source.error(
            (*entry.key, field_name_, index),
            "dependency cycle: "
            + " -> ".join(cycle)
            + " (each check needs, or runs after, the next)",
            hint="a check cannot (indirectly) wait for itself; remove one of these needs or after",
        )


def check_rechecks(checks: list[Check], where: dict[str, Entry]) -> None:
    """The ids a kind runs again (``Kind.recheck_option``) name other checks here, which
    rerun nothing themselves."""
    by_id = {c.id: c for c in checks}
    errors = []
    for check in checks:
        option = check.impl.recheck_option
        for i, target in enumerate(getattr(check.options, option, None) or [] if option else []):
            key = (*where[check.id].key, "with", option, i)
            other = by_id.get(target)
            if other is None or other is check:
                close = difflib.get_close_matches(target, [c for c in by_id if c != check.id], n=1)
                errors.append(
                    where[check.id].source.error(
                        key,
                        f"check `{check.id}`: {option} names `{target}`, "
                        + ("itself" if other is check else "which is not a check here"),
                        expected="the id of another check",
                        seen=target,
                        hint=f"did you mean `{close[0]}`?" if close else "",
                    )
                )
            elif other.impl.recheck_option:
                errors.append(
                    where[check.id].source.error(
                        key,
                        f"check `{check.id}`: {option} names `{target}`, a {other.kind} check "
                        "that runs other checks again itself",
                        hint="name the checks it reruns instead",
                    )
                )
    if errors:
        raise ChecklistErrors(errors)


def _bad_need(
    entry: Entry, field_name_: str, i: int, check_id: str, need: str, ids: list[str]
) -> ChecklistError:
    key = (*entry.key, field_name_, i)
    verb = "needs" if field_name_ == "needs" else "runs after"
    if need == check_id:
        return entry.source.error(key, f"check `{check_id}` {verb} itself")
    close = difflib.get_close_matches(need, [c for c in ids if c != check_id], n=1)
    return entry.source.error(
        key,
        f"check `{check_id}` {verb} `{need}`, which is not a check here",
        expected="the id of another check",
        seen=need,
        hint=f"did you mean `{close[0]}`?" if close else "checks here: " + ", ".join(ids),
    )
