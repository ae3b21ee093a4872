"""Loading, step 3 (interpolate, validate, build each check): one ``Check`` per raw entry, its
kind resolved, its strings interpolated, its envelope and options validated (``${stack...}``
references found once: ``StackRefs``), its footprint read, its id unique; then the checks
together (`needs`, `after` and rechecks: ``check_links``). The problems of every check are
recorded as data in the load's ``Problems`` (each check's own sorted by line), which
``loading`` raises together with the file-level ones, masked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection
from typing import Any

from jobcheck import kinds
from jobcheck.check_links import check_needs, check_rechecks
from jobcheck.checklist import DEFAULT_TIMEOUT_S, Check, CheckSpec
from jobcheck.checklist_files import Entry
from jobcheck.errors import ChecklistError, ChecklistErrors, Location, Problems
from jobcheck.footprint import EVERY, NOTHING, footprint_of
from jobcheck.interpolate import Lookup, walk
from jobcheck.kinds.base import Footprint, Kind, KindOptions, OptionProblem
from jobcheck.results import WaiverNote
from jobcheck.stack_compose import StackPorts
from jobcheck.stack_refs import StackRefs
from jobcheck.validation import interp_text, line_of, seen_text, validated
from jobcheck.yamlsrc import Key, Source


def build_checks(
    entries: list[Entry],
    lookup: Lookup,
    ports: StackPorts,
    problems: Problems,
    unresolved: Collection[str] = (),
) -> list[Check]:
    """The checks built from ``entries``, each problem recorded in ``problems``. `needs`,
    `after` and rechecks are checked only when everything before loaded: a check left out by
    a problem would make every check naming it one more (follow-on) error. A value using a
    name in ``unresolved`` (a var or env file value whose problem is said already) is not
    told again what is wrong with it."""
    in_doubt = None
    if unresolved:
        names = "|".join(re.escape(name) for name in sorted(unresolved))
        in_doubt = re.compile(rf"\$\{{(?:{names})[}}:]")
    checks: list[Check] = []
    first_seen: dict[str, Entry] = {}
    for entry in entries:
        try:
            check = _build_check(entry, lookup, ports, in_doubt)
        except ChecklistError as exc:
            problems.add(exc)
            continue
        if check is None:
            continue
        if check.id in first_seen:
            problems.add(_duplicate(entry, first_seen[check.id], check.id))
            continue
        first_seen[check.id] = entry
        checks.append(check)
    if not problems:
        problems.collect(lambda: check_needs(checks, first_seen))
    if not problems:
        problems.collect(lambda: check_rechecks(checks, first_seen))
    return checks


def _duplicate(entry: Entry, other: Entry, check_id: str) -> ChecklistError:
    line = other.source.location(other.key).line
    return entry.source.error(
        (*entry.key, "id"),
        f"duplicate check id `{check_id}` (first at {other.source.path.name}:{line})",
        hint="every check id must be unique across the checklist and its includes",
    )


def _build_check(
    entry: Entry, lookup: Lookup, ports: StackPorts, in_doubt: re.Pattern[str] | None
) -> Check | None:
    source, key, label = entry.source, entry.key, entry.label
    if not isinstance(entry.data, dict):
        raise source.error(
            key,
            f"{label} is not a mapping",
            expected="id, kind, with, owner, ...",
            seen=seen_text(entry.data),
            hint="a check is a mapping: `- id: lint` on one line, then `kind:`, `with:`, ...",
        )
    # Collect every problem of this check: its kind, the envelope, the owner, the options.
    errors: list[ChecklistError] = []
    kind = _collecting(errors, lambda: _resolve_kind(entry.data.get("kind"), source, key, label))
    data, collapsed = _prepare(kind, entry.data, source, key)

    referenced = False  # whether any string holds a `$`: else it names no stack port either
    doubtful: set[Location] = set()  # values using an unresolved name: said already

    def visit(text: str, k: Key) -> str:
        nonlocal referenced
        referenced = referenced or "$" in text
        if len(k) > 2 and k[0] == "with" and k[1] in collapsed:
            k = k[:2]  # a part of an option the kind's prepare hook split from one string
        if in_doubt is not None and in_doubt.search(text):
            doubtful.add(source.location((*key, *k)))
        return interp_text(text, lookup, source, (*key, *k), label)

    data = _with_references(data, visit)
    spec = _collecting(errors, lambda: validated(CheckSpec, data, source, key, label))
    ownerless = not (data.get("owner") or entry.defaults.get("owner"))
    if ownerless and not entry.defaults_in_doubt:
        errors.append(_no_owner(source, key, label))
    raw = data.get("with", {})
    options = None
    refs = None
    if kind is not None and isinstance(raw, dict):
        if referenced and (refs := StackRefs.find(raw)) is not None:
            errors.extend(_stack_ref_problems(refs, ports, source, (*key, "with"), label))
            raw = refs.placeholders()
        options = _collecting(
            errors, lambda: validated(kind.options, raw, source, (*key, "with"), label)
        )
    if spec is not None and spec.cache is not None and kind is not None:
        errors.extend(_cache_problems(kind, refs, source, key, label))
    if doubtful:
        errors = [e for e in errors if e.location not in doubtful]
    if errors:
        raise ChecklistErrors(sorted(errors, key=line_of))
    if spec is None or kind is None or options is None or ownerless:
        return None  # said already: at the var a value uses, or (no owner) at the defaults
    merged = {**entry.defaults, **spec.model_dump(exclude_none=True, by_alias=False)}
    check = _check(spec, merged, kind, options, source, key)
    check.stack_refs = refs
    check.cache = spec.cache
    check.after = list(spec.after)
    errors.extend(_service_problems(spec, ports, source, key, label))
    if errors:
        raise ChecklistErrors(errors)
    declared = NOTHING
    if spec.uses or spec.disrupts:
        declared = Footprint(frozenset(spec.uses), frozenset(spec.disrupts))
    stack_services = refs.services if refs is not None else frozenset()
    found = footprint_of(kind, options, stack_services, declared, ports.services, ports.depends_on)
    check.uses, check.disrupts = found.uses, found.disrupts
    return check


def _service_problems(
    spec: CheckSpec, ports: StackPorts, source: Source, key: Key, label: str
) -> list[ChecklistError]:
    """`uses:` and `disrupts:` name services of the stack's compose files (when readable)."""
    known = ports.services
    if known is None or not (spec.uses or spec.disrupts):
        return []
    problems = []
    for field_name_ in ("uses", "disrupts"):
        for i, service in enumerate(getattr(spec, field_name_)):
            if service in known or service == EVERY:
                continue
            close = difflib.get_close_matches(service, sorted(known), n=1)
            problems.append(
                source.error(
                    (*key, field_name_, i),
                    f"{label}: `{field_name_}` names service `{service}`, which the stack's "
                    "compose files do not define",
                    expected="one of: " + ", ".join(sorted(known)),
                    seen=service,
                    hint=f"did you mean `{close[0]}`?" if close else "",
                )
            )
    return problems


def _cache_problems(
    kind: Kind[Any], refs: StackRefs | None, source: Source, key: Key, label: str
) -> list[ChecklistError]:
    """`cache:` only where a replayed pass cannot hide a broken service."""
    why = kinds.cache_refusal(kind)
    if not why and refs is not None:
        why = "its options name the running stack's ports (`${stack.SERVICE.PORT}`)"
    if not why:
        return []
    return [
        source.error(
            (*key, "cache"),
            f"{label}: `cache:` is not allowed here: {why}",
            hint="remove `cache:` from this check; it runs every time",
        )
    ]


def _stack_ref_problems(
    refs: StackRefs, ports: StackPorts, source: Source, key: Key, label: str
) -> list[ChecklistError]:
    problems = []
    for at, match in refs.references:
        ref, service = match.group(0), match["service"]
        if not ports.present:
            problems.append(
                source.error(
                    (*key, *at),
                    f"{label}: `{ref}` names a port of the staging stack, but this checklist "
                    "has no `stack:` section",
                    near=ref,
                    hint="add stack: {compose: [docker/compose.yaml], project: NAME}, or write "
                    "the address (127.0.0.1:PORT)",
                )
            )
        elif ports.services is not None and service not in ports.services:
            close = difflib.get_close_matches(service, sorted(ports.services), n=1)
            problems.append(
                source.error(
                    (*key, *at),
                    f"{label}: `{ref}` names service `{service}`, which the stack's compose "
                    "files do not define",
                    near=ref,
                    expected="one of: " + ", ".join(sorted(ports.services)),
                    seen=service,
                    hint=f"did you mean `{close[0]}`?" if close else "",
                )
            )
        elif not 0 < int(match["port"]) < 65536:
            problems.append(source.error((*key, *at), f"{label}: `{ref}`: no such port", near=ref))
    return problems


def _collecting(errors: list[ChecklistError], step: Callable[[], Any]) -> Any:
    try:
        return step()
    except ChecklistErrors as exc:
        errors.extend(exc.errors)
    except ChecklistError as exc:
        errors.append(exc)
    return None


def _no_owner(source: Source, key: Key, label: str) -> ChecklistError:
    return source.error(
        key,
        f"{label} has no owner",
        expected="`owner:` on the check or under `defaults:`",
        seen="none",
        hint='add `owner: "@team-or-person"` so a failure has someone to call',
    )


def _check(
    spec: CheckSpec,
    merged: dict[str, Any],
    kind: Kind[Any],
    options: KindOptions,
    source: Source,
    key: Key,
) -> Check:
    return Check(
        id=spec.id,
        title=spec.title or spec.id,
        kind=spec.kind,
        impl=kind,
        options=options,
        owner=merged["owner"],
        expect=merged.get("expect", ""),
        rollback=merged.get("rollback", ""),
        severity=merged.get("severity", "blocker"),
        needs=list(spec.needs),
        tags=list(merged.get("tags", [])),
        timeout_s=float(merged.get("timeout", DEFAULT_TIMEOUT_S)),
        retries=int(merged.get("retries", 0)),
        retry_safe=bool(merged.get("retry_safe", False)),
        runbook=merged.get("runbook", ""),
        waiver=WaiverNote.coerce(spec.waiver),
        source=str(source.path),
        line=source.location(key).line,
    )


def _prepare(
    kind: Kind[Any] | None, data: dict[str, Any], source: Source, key: Key
) -> tuple[dict[str, Any], frozenset[str]]:
    """The kind's own hook on its raw options, before interpolation (see ``Kind.prepare``)."""
    options = data.get("with")
    if kind is None or kind.prepare is None or not isinstance(options, dict):
        return data, frozenset()
    try:
        prepared = kind.prepare(options)
    except OptionProblem as exc:
        raise source.error(
            (*key, "with", exc.option),
            f"check `{data.get('id')}`: {exc.problem}",
            expected=exc.expected,
            seen=exc.seen,
            hint=exc.hint,
        ) from None
    return {**data, "with": prepared.options}, prepared.collapsed


def _resolve_kind(name: Any, source: Source, key: Key, label: str) -> Kind[Any] | None:
    """The registered kind, or None when ``kind`` is missing or not text (the envelope's
    validation reports that); an unknown or unloadable kind is a load error here."""
    if not isinstance(name, str):
        return None
    try:
        return kinds.get_kind(name)
    except kinds.UnknownKind as exc:
        hint = f"did you mean `{exc.suggestion}`?" if exc.suggestion else ""
        raise source.error(
            (*key, "kind"),
            f"{label}: unknown check kind `{name}`",
            expected="one of " + ", ".join(exc.known),
            seen=name,
            hint=hint or "third-party kinds register through the `jobcheck.kinds` entry point",
        ) from None
    except ImportError as exc:
        raise source.error(
            (*key, "kind"),
            f"{label}: the `{name}` kind cannot be loaded: {exc}",
            hint="install the package it needs into jobcheck's environment",
        ) from None


def _with_references(data: Any, visit: Callable[[str, Key], str], key: Key = ()) -> Any:
    """``walk`` for a check's data, which is mostly strings without a reference: those are
    kept as they are without building their key. A copy, as ``walk`` makes."""
    kind = type(data)
    if kind is dict:
        return {
            k: (v if "$" not in v else visit(v, (*key, k)))
            if type(v) is str
            else _with_references(v, visit, (*key, k))
            for k, v in data.items()
        }
    if kind is list:
        return [
            (v if "$" not in v else visit(v, (*key, i)))
            if type(v) is str
            else _with_references(v, visit, (*key, i))
            for i, v in enumerate(data)
        ]
    if kind is str:
        return data if "$" not in data else visit(data, key)
    return walk(data, visit, key)  # anything else: walk's own rules
