"""Load a checklist: YAML with line numbers, includes, interpolation, validation."""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from jobcheck import kinds
from jobcheck.checklist import (
    DEFAULT_TIMEOUT_S,
    Check,
    CheckSpec,
    Checklist,
    ChecklistSpec,
)
from jobcheck.errors import ChecklistError, Location
from jobcheck.interpolate import BadReference, Unset, chain, interpolate, walk
from jobcheck.plan import find_cycle
from jobcheck.secrets import looks_secret
from jobcheck.yamlsrc import Key, Source, parse

DEFAULT_FILES = ("jobcheck.yaml", "checklists/release.yaml")
MAX_ERRORS = 10


class ChecklistErrors(ChecklistError):
    """Several load errors at once; renders each."""

    def __init__(self, errors: list[ChecklistError]) -> None:
        first = errors[0]
        super().__init__(first.problem, first.location, first.expected, first.seen, first.hint)
        self.errors = errors

    def render(self) -> str:
        shown = [e.render() for e in self.errors[:MAX_ERRORS]]
        if len(self.errors) > MAX_ERRORS:
            shown.append(f"... and {len(self.errors) - MAX_ERRORS} more errors")
        return "\n".join(shown)


def find_checklist(path: Path | None, cwd: Path | None = None) -> Path:
    """The checklist to use: the given path, else jobcheck.yaml, else checklists/release.yaml."""
    if path is not None:
        return path
    base = cwd or Path.cwd()
    for name in DEFAULT_FILES:
        if (base / name).is_file():
            return base / name
    raise ChecklistError(
        "no checklist given and none found",
        Location(base),
        expected=" or ".join(DEFAULT_FILES),
        seen="neither file exists here",
        hint="pass a path (`jobcheck run path/to/checklist.yaml`) or run `jobcheck init`",
    )


@dataclass
class _Entry:
    """One raw check with the file it came from and its index there."""

    source: Source
    index: int
    data: Any
    defaults: dict[str, Any]

    @property
    def key(self) -> Key:
        return ("checks", self.index)


def load_checklist(path: Path, env: Mapping[str, str] | None = None) -> Checklist:
    environ = dict(os.environ if env is None else env)
    path = path.resolve() if path.exists() else path
    root = parse(path)
    spec = _validate_top(root)
    sources = [root]
    entries: list[_Entry] = []
    variables = _resolve_vars(root, spec, environ)
    _collect(root, spec, {}, entries, sources, variables, environ, seen=[path])
    lookup = chain(variables, environ)
    checks = _build_checks(entries, lookup)
    stack = _interpolated_stack(root, spec, lookup)
    secret_values = [variables[k] for k in variables if looks_secret(k) or k in spec.secrets]
    secret_values += [environ[k] for k in spec.secrets if k in environ]
    return Checklist(
        name=interpolate(spec.name, lookup),
        path=path,
        checks=checks,
        stack=stack,
        secret_values=[v for v in secret_values if v],
        files=[s.path for s in sources],
        vars=variables,
    )


def _validate_top(source: Source) -> ChecklistSpec:
    data = source.data
    if not isinstance(data, dict):
        raise source.error(
            (),
            "a checklist is a mapping",
            expected="keys such as version, name and checks",
            seen=f"a {_type_name(data)}",
            hint="start the file with `version: 1`",
        )
    version = data.get("version")
    if "version" in data and version != 1:
        raise source.error(
            ("version",),
            f"unsupported checklist version {version!r}",
            expected="version: 1",
            seen=f"version: {version!r}",
            hint="this jobcheck reads format version 1 only",
        )
    return _validate_envelope(source, data)


def _validate_envelope(source: Source, data: dict[str, Any]) -> ChecklistSpec:
    """Validate the file's own keys; each check is validated later, with its own line."""
    shallow = dict(data)
    if isinstance(shallow.get("checks"), list) and shallow["checks"]:
        shallow["checks"] = [{"id": "placeholder", "kind": "command"}]
    return _validated(ChecklistSpec, shallow, source, ())


def _validated(model: type[Any], data: Any, source: Source, prefix: Key) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ChecklistErrors(_pydantic_errors(exc, source, prefix, model)) from None


_BRANCH = re.compile(r"^(str|int|float|bool|none|function-.*|constrained-.*|lax-.*|json-.*|.*\[.*\])$")


def _pydantic_errors(
    exc: ValidationError, source: Source, prefix: Key, model: type[BaseModel] | None
) -> list[ChecklistError]:
    """One error per place: union branches (str | list[str]) fold into one message."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _BRANCH.match(p)))
        if loc in merged:
            merged[loc].setdefault("alternatives", []).append(_expected(err))
            continue
        merged[loc] = {**err, "loc": loc}
    return [_pydantic_error(e, source, prefix, model) for e in merged.values()]


def _pydantic_error(
    err: Any, source: Source, prefix: Key, model: type[BaseModel] | None
) -> ChecklistError:
    loc = err["loc"]
    key = (*prefix, *loc)
    relative = key[2:] if key[:1] == ("checks",) else key
    field = ".".join(str(p) for p in relative) or "checklist"
    kind = err["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1])
        known = _known_fields(model, loc[:-1])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
        return source.error(key, f"unknown key `{name}`", of_key=True, hint=hint)
    if kind == "missing":
        where = key[:-1]
        return source.error(
            where,
            f"`{loc[-1]}` is required here",
            of_key=True,
            expected=f"a `{loc[-1]}` key in {'.'.join(str(p) for p in where) or 'the file'}",
            seen="none",
        )
    expected = [_expected(err), *err.get("alternatives", [])]
    message = err["msg"] if not err.get("alternatives") else "wrong type"
    return source.error(
        key,
        f"invalid value for `{field}`: {message}",
        expected=" or ".join(e for e in dict.fromkeys(expected) if e),
        seen=_show(err.get("input")),
    )


def _known_fields(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model at ``loc`` (walking nested models, skipping list indexes)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part) or next(
            (f for f in fields.values() if f.alias == part), None
        )
        current = _model_of(info.annotation) if info is not None else None
    if current is None or not hasattr(current, "model_fields"):
        return []
    return sorted((f.alias or n) for n, f in current.model_fields.items())


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = _model_of_args(candidate)
        if inner is not None:
            return inner
    return None


def _model_of_args(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _expected(err: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return _TYPE_WORDS.get(kind.split("_")[0], kind.split("_")[0])
    if kind == "value_error":
        return ""
    return ""


_TYPE_WORDS = {
    "string": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "dict": "a mapping",
    "list": "a list",
    "date": "a date (YYYY-MM-DD)",
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: Any) -> str:
    names = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), type(value).__name__.replace("NoneType", "null value"))


def _resolve_vars(source: Source, spec: ChecklistSpec, env: Mapping[str, str]) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for name, value in spec.vars.items():
        resolved[name] = _interp(value, chain(resolved, env), source, ("vars", name), "vars")
    return resolved


def _interp(text: str, lookup: Any, source: Source, key: Key, what: str) -> str:
    try:
        return interpolate(text, lookup)
    except Unset as exc:
        raise source.error(
            key,
            f"`${{{exc.name}}}` in {what} is not set",
            expected=f"`{exc.name}` in vars or the environment",
            seen="unset",
            hint=f"export {exc.name}=..., add it under vars:, or write ${{{exc.name}:-default}}",
        ) from None
    except BadReference as exc:
        raise source.error(
            key,
            f"malformed reference {exc.text!r} in {what}",
            expected="${NAME} or ${NAME:-default} (names: letters, digits, _)",
            seen=exc.text,
            hint="write $$ for a literal $",
        ) from None


def _collect(
    source: Source,
    spec: ChecklistSpec,
    inherited: dict[str, Any],
    entries: list[_Entry],
    sources: list[Source],
    variables: dict[str, str],
    env: Mapping[str, str],
    seen: list[Path],
) -> None:
    """Gather checks from this file's includes (depth first), then its own."""
    own = spec.defaults.model_dump(exclude_none=True) if spec.defaults else {}
    defaults = {**inherited, **own}
    for i, include in enumerate(spec.include):
        name = _interp(include, chain(variables, env), source, ("include", i), "include")
        target = (source.path.parent / name).resolve()
        if target in seen:
            cycle = " -> ".join(p.name for p in (*seen, target))
            raise source.error(("include", i), f"include cycle: {cycle}")
        if not target.is_file():
            raise source.error(
                ("include", i),
                f"included file {include!r} not found",
                expected=f"a checklist file at {target}",
                seen="no such file",
                hint="include paths are relative to the including file",
            )
        child = parse(target)
        child_spec = _validate_include(child)
        sources.append(child)
        for var, value in child_spec.vars.items():
            if var not in variables:
                where = ("vars", var)
                variables[var] = _interp(value, chain(variables, env), child, where, "vars")
        _collect(child, child_spec, defaults, entries, sources, variables, env, [*seen, target])
    for j, item in enumerate(source.data.get("checks") or []):
        entries.append(_Entry(source, j, item, defaults))


def _validate_include(source: Source) -> ChecklistSpec:
    if not isinstance(source.data, dict):
        raise source.error(
            (), "an included checklist is a mapping with `checks:`",
            seen=f"a {_type_name(source.data)}",
        )
    return _validate_envelope(source, {"version": 1, "name": source.path.name, **source.data})


def _build_checks(entries: list[_Entry], lookup: Any) -> list[Check]:
    errors: list[ChecklistError] = []
    checks: list[Check] = []
    first_seen: dict[str, _Entry] = {}
    for entry in entries:
        try:
            check = _build_check(entry, lookup)
        except ChecklistErrors as exc:
            errors.extend(exc.errors)
            continue
        except ChecklistError as exc:
            errors.append(exc)
            continue
        if check.id in first_seen:
            other = first_seen[check.id]
            line = other.source.location(other.key).line
            errors.append(
                entry.source.error(
                    (*entry.key, "id"),
                    f"duplicate check id `{check.id}` (first at {other.source.path.name}:{line})",
                    hint="every check id must be unique across the checklist and its includes",
                )
            )
            continue
        first_seen[check.id] = entry
        checks.append(check)
    if errors:
        raise ChecklistErrors(errors)
    _check_needs(checks, first_seen)
    return checks


def _build_check(entry: _Entry, lookup: Any) -> Check:
    source, key = entry.source, entry.key
    if not isinstance(entry.data, dict):
        raise source.error(
            key, "a check is a mapping", expected="id, kind, with, owner, ...",
            seen=f"a {_type_name(entry.data)}",
        )
    data = _prepare_command(entry.data, source, key)
    data = walk(data, lambda text, k: _interp(text, lookup, source, (*key, *k),
                                               f"check `{entry.data.get('id', '?')}`"))
    spec: CheckSpec = _validated(CheckSpec, data, source, key)
    merged = {**entry.defaults, **spec.model_dump(exclude_none=True, by_alias=False)}
    check_where = f"check `{spec.id}`"
    if not merged.get("owner"):
        raise source.error(
            key,
            f"{check_where} has no owner",
            expected="`owner:` on the check or under `defaults:`",
            seen="none",
            hint='add `owner: "@team-or-person"` so a failure has someone to call',
        )
    options = _kind_options(spec, source, key)
    return Check(
        id=spec.id,
        title=spec.title or spec.id,
        kind=spec.kind,
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
        waiver=spec.waiver,
        source=source.path,
        line=source.location(key).line,
        raw_with=dict(spec.with_),
    )


def _prepare_command(data: dict[str, Any], source: Source, key: Key) -> dict[str, Any]:
    """Split a command string before interpolation, so a value never becomes shell syntax."""
    options = data.get("with")
    if data.get("kind") != "command" or not isinstance(options, dict):
        return data
    run, shell = options.get("run"), options.get("shell", False)
    if not isinstance(run, str) or shell is True:
        return data
    try:
        argv = shlex.split(run)
    except ValueError as exc:
        raise source.error(
            (*key, "with", "run"),
            f"cannot split the command: {exc}",
            expected="a command with balanced quotes",
            seen=run,
            hint="check the quotes, or give the command as a list",
        ) from None
    return {**data, "with": {**options, "run": argv}}


def _kind_options(spec: CheckSpec, source: Source, key: Key) -> Any:
    try:
        kind = kinds.get_kind(spec.kind)
    except kinds.UnknownKind as exc:
        hint = f"did you mean `{exc.suggestion}`?" if exc.suggestion else ""
        raise source.error(
            (*key, "kind"),
            f"unknown check kind `{spec.kind}`",
            expected="one of " + ", ".join(exc.known),
            seen=spec.kind,
            hint=hint or "third-party kinds register through the `jobcheck.kinds` entry point",
        ) from None
    try:
        return kind.options.model_validate(spec.with_)
    except ValidationError as exc:
        errors = _pydantic_errors(exc, source, (*key, "with"), kind.options)
        for error in errors:
            error.problem = f"check `{spec.id}` ({spec.kind}): {error.problem}"
        raise ChecklistErrors(errors) from None


def _check_needs(checks: list[Check], where: dict[str, _Entry]) -> None:
    ids = {c.id for c in checks}
    errors = []
    for check in checks:
        entry = where[check.id]
        for i, need in enumerate(check.needs):
            if need == check.id:
                errors.append(entry.source.error((*entry.key, "needs", i),
                                                 f"check `{check.id}` needs itself"))
            elif need not in ids:
                close = difflib.get_close_matches(need, sorted(ids), n=1)
                errors.append(
                    entry.source.error(
                        (*entry.key, "needs", i),
                        f"check `{check.id}` needs `{need}`, which is not a check here",
                        expected="the id of another check",
                        seen=need,
                        hint=f"did you mean `{close[0]}`?" if close else "",
                    )
                )
    if errors:
        raise ChecklistErrors(errors)
    cycle = find_cycle({c.id: c.needs for c in checks})
    if cycle:
        entry = where[cycle[0]]
        raise entry.source.error(
            (*entry.key, "needs"),
            "dependency cycle: " + " -> ".join(cycle),
            hint="a check cannot (indirectly) need itself; remove one of these needs",
        )


def _interpolated_stack(source: Source, spec: ChecklistSpec, lookup: Any) -> Any:
    if spec.stack is None:
        return None
    raw = source.data["stack"]
    data = walk(raw, lambda text, k: _interp(text, lookup, source, ("stack", *k), "stack"))
    return _validated(type(spec.stack), data, source, ("stack",))
