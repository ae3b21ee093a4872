"""Strict dotenv files, Compose-style ``${VAR}`` interpolation, and plaintext-secret heuristics.

The parser is python-dotenv's, made strict: a line it cannot parse, a bare name without ``=``,
an invalid key or a key set twice is a problem with its line number instead of a warning.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jobcheck.fsutil import read_regular_text
from jobcheck.secrets import looks_secret

# Patterns as text, compiled at their first use (re caches them): most runs read no dotenv file.
_KEY = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
_SHOWN_NAME = r"^[A-Z_][A-Z0-9_]{0,63}$"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_QUOTE = r"^\s*(?:export\s+)?(?:'[^']*'|[^=#\s]+)\s*=\s*(?P<quote>['\"]?)"
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    line: int
    quote: str = ""


@dataclass
class Dotenv:
    """A parsed dotenv file: its entries in order and the problems found, by line."""

    path: Path
    entries: list[Entry] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        return {entry.key: entry.value for entry in self.entries}

    def line_of(self, key: str) -> int:
        return next((e.line for e in self.entries if e.key == key), 0)


def parse_dotenv(text: str, path: Path) -> Dotenv:
    """Every ``KEY=VALUE`` binding of ``text``, and a problem per line that is not one."""
    # lazy: python-dotenv's parser (~4 ms), only for a dotenv file
    from dotenv.parser import parse_stream

    result = Dotenv(path)
    seen: dict[str, int] = {}
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        leading = original[: len(original) - len(original.lstrip())]
        line = binding.original.line + leading.count("\n")
        key = binding.key
        if binding.error:
            # Only the first word: the rest of a broken line may be a secret value.
            head = (original.split() or [""])[0].split("=", 1)[0][:40]
            result.problems.append(
                (line, f"cannot parse the line starting {head!r}: expected KEY=VALUE")
            )
        elif key is None:
            continue
        elif binding.value is None:
            result.problems.append((line, f"{_named(key)} has no '=': expected KEY=VALUE"))
        elif not re.match(_KEY, key):
            result.problems.append((line, f"{_named(key)} is not a valid variable name"))
        elif key in seen:
            result.problems.append((line, f"{key} is set twice (lines {seen[key]} and {line})"))
        else:
            seen[key] = line
            match = re.match(_QUOTE, original.lstrip())
            quote = match["quote"] if match else ""
            result.entries.append(Entry(key, binding.value, line, quote))
    return result


def _named(text: str) -> str:
    """A would-be key, shown only when it looks like a variable name: a line without ``=``
    may well be a pasted secret."""
    return text if re.match(_SHOWN_NAME, text) else "a line (not shown: it may be a value)"


MAX_DOTENV_BYTES = 1024 * 1024


def read_dotenv(path: Path) -> Dotenv:
    """Parse a dotenv file; OSError when it cannot be read, is not a regular file (a FIFO would
    block, /dev/zero never ends) or holds more than MAX_DOTENV_BYTES; UnicodeDecodeError when
    it is not UTF-8."""
    return parse_dotenv(read_regular_text(path, MAX_DOTENV_BYTES), path)


# A value may grow by expansion (``A2=${A1}${A1}`` doubles at each line): past this, the file
# is refused rather than read into memory without bound.
MAX_EXPANDED = 1024 * 1024


def interpolated(dotenv: Dotenv, env: Mapping[str, str]) -> dict[str, str]:
    """The file's values with ``${VAR}`` expanded from earlier keys, then ``env``.

    Single-quoted values are taken literally, as Compose does. A malformed reference (``$1``,
    an unclosed ``${``) or a value that expands past MAX_EXPANDED is an InterpolationError
    naming the line and key, never the value (it may be a secret).
    """
    values: dict[str, str] = {}
    for entry in dotenv.entries:
        if entry.quote == "'":
            values[entry.key] = entry.value
            continue
        try:
            values[entry.key] = interpolate(entry.value, {**env, **values}, limit=MAX_EXPANDED)
        except InterpolationError as exc:
            raise InterpolationError(
                f"line {entry.line}: {entry.key}: {exc} (the value is not shown: it may be a "
                "secret)"
            ) from None
    return values


def interpolate_tree(value: Any, variables: Mapping[str, str], unset: set[str]) -> Any:
    """Every string inside ``value`` (a parsed YAML document) interpolated; keys are left."""
    if isinstance(value, str):
        return interpolate(value, variables, unset, limit=MAX_EXPANDED)
    if isinstance(value, dict):
        return {k: interpolate_tree(v, variables, unset) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_tree(v, variables, unset) for v in value]
    return value


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset, or a malformed reference. The message
    says where (the character), never the text: it may be a secret."""


LITERAL_DOLLAR = "write $$ for a literal $, or single-quote the value"


def interpolate(
    text: str,
    variables: Mapping[str, str],
    unset: set[str] | None = None,
    *,
    limit: int | None = None,
) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?err}``,
    ``${VAR?err}``, ``${VAR:+alt}``, ``${VAR+alt}`` and ``$$`` as Compose does.

    An unset variable without a default becomes empty and its name is added to ``unset``.
    ``limit``: the most characters the result may have (InterpolationError past it).
    """
    out: list[str] = []
    size = 0
    i = 0
    while i < len(text):
        char = text[i]
        start = i
        if char != "$":
            dollar = text.find("$", i)
            end = len(text) if dollar < 0 else dollar
            piece = text[i:end]
            i = end
        else:
            nxt = text[i + 1 : i + 2]
            if nxt == "$":
                piece = "$"
                i += 2
            elif nxt == "{":
                end = _closing_brace(text, i + 2, i)
                piece = _expand(text[i + 2 : end], variables, unset, i, limit)
                i = end + 1
            elif match := re.compile(_NAME).match(text, i + 1):
                piece = _lookup(match[0], variables, unset)
                i = match.end()
            else:
                raise InterpolationError(
                    f"invalid interpolation format at character {start + 1}: a $ must start "
                    f"$NAME, ${{NAME}} or $$ ({LITERAL_DOLLAR})"
                )
        size += len(piece)
        if limit is not None and size > limit:
            raise InterpolationError(
                f"the value expands to more than {limit:,} characters (does it repeat "
                "variables that repeat others?)"
            )
        out.append(piece)
    return "".join(out)


def _closing_brace(text: str, start: int, dollar: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed '${{' at character {dollar + 1} ({LITERAL_DOLLAR})")


def _lookup(name: str, variables: Mapping[str, str], unset: set[str] | None) -> str:
    if name in variables:
        return variables[name]
    if unset is not None:
        unset.add(name)
    return ""


def _expand(
    body: str, variables: Mapping[str, str], unset: set[str] | None, at: int, limit: int | None
) -> str:
    match = re.match(_NAME, body)
    rest = body[match.end() :] if match else ""
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if match is None or (op is None and rest):
        raise InterpolationError(
            f"invalid variable reference at character {at + 1}: expected ${{NAME}}, "
            f"${{NAME:-default}}, ${{NAME:?error}} or ${{NAME:+alternative}} ({LITERAL_DOLLAR})"
        )
    name = match[0]
    if op is None:
        return _lookup(name, variables, unset)
    arg = rest[len(op) :]
    value = variables.get(name)
    missing = value is None or (op.startswith(":") and value == "")
    if op.endswith("-"):
        return interpolate(arg, variables, unset, limit=limit) if missing else str(value)
    if op.endswith("+"):
        return "" if missing else interpolate(arg, variables, unset, limit=limit)
    if missing:
        raise InterpolationError(f"{name}: {arg or 'required variable is not set'}")
    return str(value)


# Plaintext-secret heuristics, shared by the env and compose kinds. They only ever say *why* a
# value is unsafe, never the value.

MIN_SECRET_LENGTH = 16
PLACEHOLDERS = frozenset({
    "changeme", "change-me", "change_me", "changeit", "password", "passwd", "pass", "secret",
    "todo", "tbd", "fixme", "xxx", "placeholder", "example", "dummy", "default", "test",
    "testing", "none", "null", "nil", "admin", "root", "guest", "replaceme", "replace-me",
    "replace_me", "insecure", "letmein", "123456", "12345678", "password1", "qwerty",
})  # fmt: skip
_PLACEHOLDER_SHAPE = (  # compiled at first use, as _KEY
    r"(?i)^(x+|\*+|\.+|-+|<[^>]*>|\{\{.*\}\}|your[-_ ].*|.*[-_ ]here|(replace|change)[-_ ]?me.*"
    r"|(todo|fixme|tbd)\b.*)$"
)
_BENIGN = r"(?i)^(\d+(\.\d+)?|true|false|yes|no|on|off)$"
NOT_SECRET_SUFFIXES = (
    "_FILE", "_PATH", "_DIR", "_ENABLED", "_MODE", "_TIMEOUT", "_TTL", "_EXPIRY", "_HEADER",
    "_ALGORITHM", "_BACKEND",
)  # fmt: skip


def secret_key(key: str) -> bool:
    """A key whose value should be a real secret: API_KEY yes, SECRET_KEY_FILE no."""
    return looks_secret(key) and not key.upper().endswith(NOT_SECRET_SUFFIXES)


def is_reference(value: str) -> bool:
    """``${VAR}`` or ``$VAR``: the value comes from elsewhere, it is not written here."""
    return bool(re.search(r"(?<!\$)\$(\{|[A-Za-z_])", value))


def secret_value_problem(value: str) -> str:
    """Why ``value`` is not a safe secret ('' when it looks fine); never includes the value."""
    value = value.strip()
    if not value:
        return "empty value"
    if is_reference(value) or re.match(_BENIGN, value):
        return ""
    if "://" in value:
        password = urlsplit(value).password
        if password is None:
            return ""
        value = unquote(password)
        if is_reference(value):
            return ""
    if value.lower() in PLACEHOLDERS or re.match(_PLACEHOLDER_SHAPE, value):
        return "placeholder value"
    if len(value) < MIN_SECRET_LENGTH:
        return f"short literal value (under {MIN_SECRET_LENGTH} characters)"
    return ""


def literal_secret(value: object) -> bool:
    """A value written in place (not ``${...}``, not empty, not a number or boolean)."""
    if not isinstance(value, str):
        return False
    value = value.strip()
    return bool(value) and not is_reference(value) and not re.match(_BENIGN, value)
