"""Problems in checklist data mapped to file:line:col, with expected, seen and a hint:
pydantic's validation errors (``validated``, ``salvaged``), and an unset or malformed
``${...}`` reference (``interp_text``, the one place loading interpolates a string)."""

from __future__ import annotations

import difflib
import re
from typing import Any, NamedTuple

from pydantic import BaseModel, TypeAdapter, ValidationError

from jobcheck.errors import ChecklistError, ChecklistErrors
from jobcheck.interpolate import BadReference, Lookup, Unset, interpolate
from jobcheck.yamlsrc import Key, Source


def field_name(key: Key) -> str:
    """``with.run`` for a key inside a check, ``vars.api`` for a top-level one."""
    if len(key) >= 2 and key[0] == "checks" and isinstance(key[1], int):
        key = key[2:]
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def interp_text(text: str, lookup: Lookup, source: Source, key: Key, label: str) -> str:
    """``text`` interpolated; an unset or malformed reference is a ChecklistError at ``key``
    of ``source``, its message led by ``label`` (a check's) when there is one."""
    if "$" not in text:
        return text  # most values: nothing to interpolate
    where = f"{label}: " if label else ""
    try:
        return interpolate(text, lookup)
    except Unset as exc:
        name = field_name(key)
        raise source.error(
            key,
            f"{where}`${{{exc.name}}}` in `{name}` is not set",
            near=f"${{{exc.name}",
            expected=f"`{exc.name}` in vars or the environment",
            seen="unset",
            hint=f"export {exc.name}=..., add it under vars:, or write ${{{exc.name}:-default}}",
        ) from None
    except BadReference as exc:
        name = field_name(key)
        raise source.error(
            key,
            f"{where}malformed reference `{exc.text}` in `{name}`",
            near=exc.text,
            expected="${NAME} or ${NAME:-default} (names: letters, digits, _)",
            seen=exc.text,
            hint="write $$ for a literal $",
        ) from None


def validated(model: Any, data: Any, source: Source, prefix: Key, label: str = "") -> Any:
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return _adapter(model).validate_python(data)
    except ValidationError as exc:
        raise ChecklistErrors(_pydantic_errors(exc, data, source, prefix, model, label)) from None


_ADAPTERS: dict[int, tuple[Any, TypeAdapter[Any]]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """One adapter per annotation, built once: building one is a schema generation (a few ms
    per included file otherwise). Keyed by identity: annotations need not be hashable, and the
    entry keeps its annotation alive, so the id stays its own."""
    hit = _ADAPTERS.get(id(annotation))
    if hit is None or hit[0] is not annotation:
        hit = _ADAPTERS[id(annotation)] = (annotation, TypeAdapter(annotation))
    return hit[1]


def _real_loc(err: Any, data: Any) -> tuple[tuple[Any, ...], int]:
    """The part of the error's loc that names real keys in ``data`` (pydantic adds union branch
    tags such as ``list[str]``), and where the first tag was dropped (-1: none)."""
    loc = tuple(err["loc"])
    names_key = err["type"] in ("missing", "extra_forbidden")
    real: list[Any] = []
    branch_at = -1
    for i, part in enumerate(loc):
        if _holds(data, part):
            data = data[part]
        elif names_key and i == len(loc) - 1:
            data = None
        else:
            branch_at = len(real) if branch_at == -1 else branch_at
            continue
        real.append(part)
    return tuple(real), branch_at


def _holds(data: Any, part: Any) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


class Salvaged(NamedTuple):
    """What ``salvaged`` found: the model of what is valid (None: nothing usable), the
    problems to report, and the top-level keys that had one (reported or not)."""

    model: Any
    errors: list[ChecklistError]
    places: set[Any]


def salvaged(
    model: type[BaseModel],
    data: dict[str, Any],
    source: Source,
    skip: set[Key],
    fill: dict[str, Any],
) -> Salvaged:
    """``data`` validated, for loading to go on past what it reports: the problems (those under
    a key in ``skip`` left out: reported already), and the model of what is valid — each value
    with a problem left out, ``fill`` standing in for a top-level key it requires. A valid
    ``data`` costs one validation, as ``validated``."""
    found = Salvaged(None, [], set())
    for attempt in range(_SALVAGE_ATTEMPTS):
        try:
            return found._replace(model=model.model_validate(data))
        except ValidationError as exc:
            merged = _merged(exc, data)
        if attempt == 0:
            shown = [e for loc, e in merged.items() if not any(loc[: len(k)] == k for k in skip)]
            errors = sorted((_pydantic_error(e, source, (), model, "") for e in shown), key=line_of)
            found = Salvaged(None, errors, {loc[0] for loc in merged if loc})
        left = _left_out(data, merged, fill)
        if left is None:
            break
        data = left
    return found


# Leaving out a bad value may leave its mapping without a key it requires: that mapping goes
# next (`stack.project` wrong, then `stack`), at most this many times.
_SALVAGE_ATTEMPTS = 4


def _left_out(
    data: dict[str, Any], merged: dict[tuple[Any, ...], dict[str, Any]], fill: dict[str, Any]
) -> dict[str, Any] | None:
    """``data`` without the values at the problems' places (a top-level key, or a key of a
    top-level mapping); None when a problem has no such place (the whole value is wrong)."""
    result = dict(data)
    for loc, err in merged.items():
        place = loc[:-1] if err["type"] == "missing" else loc
        if not place:
            if loc and loc[0] in fill:
                result[loc[0]] = fill[loc[0]]
                continue
            return None
        top = place[0]
        inner = result.get(top)
        if len(place) > 1 and isinstance(inner, dict) and place[1] in inner:
            result[top] = {k: v for k, v in inner.items() if k != place[1]}
        elif top in fill:
            result[top] = fill[top]
        else:
            result.pop(top, None)
    return result


def _pydantic_errors(
    exc: ValidationError, data: Any, source: Source, prefix: Key, model: Any, label: str
) -> list[ChecklistError]:
    errors = [_pydantic_error(e, source, prefix, model, label) for e in _merged(exc, data).values()]
    return sorted(errors, key=line_of)


def _merged(exc: ValidationError, data: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
    """One error per place: union branches (str | list[str]) fold into one message, and a
    branch that got further into the value wins over one that stopped at its type."""
    found: list[tuple[tuple[Any, ...], int, dict[str, Any]]] = []
    for details in exc.errors():
        err: dict[str, Any] = dict(details)
        loc, branch_at = _real_loc(err, data)
        found.append((loc, branch_at, {**err, "loc": loc}))
    deeper = {loc[:b] for loc, b, _ in found if b >= 0 and len(loc) > b}
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for loc, branch_at, item in found:
        if branch_at >= 0 and len(loc) == branch_at and loc in deeper:
            continue
        if loc in merged:
            merged[loc].setdefault("alternatives", []).append(_expected(item))
        else:
            merged[loc] = item
    return merged


def _pydantic_error(
    err: dict[str, Any], source: Source, prefix: Key, model: Any, label: str
) -> ChecklistError:
    loc = err["loc"]
    key = (*prefix, *loc)
    where = f"{label}: " if label else ""
    if err["type"] == "extra_forbidden":
        return _unknown_key(source, key, loc, model, where)
    if err["type"] == "missing":
        return _missing(source, key, loc, model, where)
    name = field_name(key)
    given = err.get("input")
    expected = [e for e in dict.fromkeys([_expected(err), *err.get("alternatives", [])]) if e]
    if expected and (
        err.get("alternatives")
        or err["type"] in _TYPED
        or err["type"].endswith(("_type", "_parsing"))
    ):
        return source.error(
            key,
            f"{where}`{name}` should be {' or '.join(expected)}",
            seen=seen_text(given),
            hint=_type_hint(name, expected, given),
        )
    return source.error(
        key,
        where + _sentence(err, name, given),
        expected=" or ".join(expected),
        seen=_show(given),
        hint=_hint(err, name, given),
    )


def _missing(
    source: Source, key: Key, loc: tuple[Any, ...], model: Any, where: str
) -> ChecklistError:
    parent = field_name(key[:-1])
    info = _field_info(model, loc)
    about = f" ({info.description})" if info is not None and info.description else ""
    return source.error(
        key[:-1],
        f"{where}`{loc[-1]}` is required" + (f" in `{parent}`" if parent else ""),
        of_key=True,
        expected=f"a `{loc[-1]}:` key{about}",
        seen="none",
    )


def _sentence(err: dict[str, Any], name: str, given: Any) -> str:
    kind = err["type"]
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and name.endswith("id"):
        return f"`{name}` may hold only lower-case letters, digits, `.`, `_` and `-`"
    if kind == "string_pattern_mismatch":
        return f"`{name}` does not match the required pattern"
    if kind == "too_short" and not given:
        return f"`{name}` is empty"
    if _EXPECTED_GOT.match(message) or not message:
        return f"invalid `{name}`"
    return f"invalid `{name}`: {message[0].lower()}{message[1:]}"


_TYPED = ("literal_error",)
_EXPECTED_GOT = re.compile(r"^expected (.+), got .+$")


def _hint(err: dict[str, Any], name: str, given: Any) -> str:
    if err["type"] == "string_pattern_mismatch" and name.endswith("id") and isinstance(given, str):
        slug = re.sub(r"[^a-z0-9._-]+", "-", given.lower()).strip("-._")
        return f"try `{slug}`" if slug else ""
    if err["type"] == "too_short" and name == "checks":
        return "add at least one check: `- {id: lint, kind: command, with: {run: ruff check .}}`"
    return ""


def _unknown_key(
    source: Source, key: Key, loc: tuple[Any, ...], model: Any, where: str
) -> ChecklistError:
    name = str(loc[-1])
    known = _known_fields(model, loc[:-1])
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
    parent = field_name(key[:-1])
    inside = f" in `{parent}`" if parent else "" if key[:-1] else " at the top of the file"
    return source.error(
        key, f"{where}unknown key `{name}`{inside}", of_key=True, hint=hint if known else ""
    )


def _field_info(model: Any, loc: tuple[Any, ...]) -> Any:
    fields = _fields_at(model, loc[:-1])
    return fields.get(loc[-1]) or next((f for f in fields.values() if f.alias == loc[-1]), None)


def _known_fields(model: Any, loc: tuple[Any, ...]) -> list[str]:
    return sorted((f.alias or n) for n, f in _fields_at(model, loc).items())


def _fields_at(model: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    """Fields of the model at ``loc`` (walking nested models, skipping list indexes)."""
    current: Any = _model_of(model)
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = current.model_fields
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        current = _model_of(info.annotation) if info is not None else None
    return dict(current.model_fields) if current is not None else {}


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


_TYPE_WORDS = {
    "string": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "dict": "a mapping",
    "model": "a mapping",
    "list": "a list",
    "date": "a date (YYYY-MM-DD)",
}


def _expected(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind.endswith(("_type", "_parsing")):
        word = str(kind).split("_")[0]
        return _TYPE_WORDS.get(word, word)
    message = str(err.get("msg", "")).removeprefix("Value error, ")
    match = _EXPECTED_GOT.match(message)
    return match[1] if match else ""


def seen_text(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(f"`{k}`" for k in list(value)[:5])
        return f"a mapping with {'key' if len(value) == 1 else 'keys'} {keys}" if value else "{}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"{_show(value)} ({type_name(value)})"


def _type_hint(name: str, expected: list[str], given: Any) -> str:
    if name == "checks" and isinstance(given, dict):
        return "write the checks as a list: `- id: lint` starts one"
    if expected == ["a list"] and isinstance(given, str):
        return f"write a list, even of one: `[{given}]`"
    if "a string" in expected and isinstance(given, bool | int | float):
        return "put the value in quotes to keep it as text"
    if "a string" in expected and isinstance(given, dict) and len(given) == 1:
        key, value = next(iter(given.items()))
        return f'YAML read `{key}: {value}` as a mapping; quote it: "{key}: {value}"'
    return ""


def _show(value: Any) -> str:
    """A value as the user wrote it: strings unescaped (a regex keeps its single \\)."""
    text = f"`{value}`" if isinstance(value, str) and value and "`" not in value else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def type_name(value: Any) -> str:
    names = {
        list: "list",
        dict: "mapping",
        str: "string",
        int: "number",
        float: "number",
        bool: "boolean",
        type(None): "null value",
    }
    return names.get(type(value), type(value).__name__)


def line_of(error: ChecklistError) -> tuple[int, int]:
    where = error.location
    return (where.line, where.column) if where is not None else (0, 0)
