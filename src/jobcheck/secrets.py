"""Secret masking: values of secret-looking variables never reach any output.

Masking must stay linear in the text: command output is attacker-shaped (one 1 MB line,
no separators), and a regex with an alternation of every secret, or a URL regex that
rescans a run of letters at each position, turns that into minutes. So each distinct
secret is found with ``str.find`` (C speed, linear per secret since CPython 3.10), URL
passwords with a left-to-right scan that never looks at a character twice, and the
union of every span found is replaced in one pass. A union also masks overlapping
secrets whole, where a left-to-right substitution would leave the tail of one showing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASS$|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|DSN|COOKIE|SESSION)",
    re.IGNORECASE,
)
MASK = "***"
# Values found only because their *name* looks secret (API_KEY=1, AUTH_ENABLED=true) are
# guesses: masking every "1" or "true" in the output would destroy it for nothing. Values
# declared as secrets have no minimum: the user said so.
MIN_SECRET_LENGTH = 4
NOT_SECRET_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null"})
# A line of a multi-line secret (a PEM key, a JSON credential) is masked on its own too,
# since output may show it re-indented or alone; "{" or "}" alone would be noise.
MIN_LINE_LENGTH = 4

# `scheme://user:` of `scheme://user:password@host`; one scheme character is enough.
_URL_USER = re.compile(r"(?<=[A-Za-z0-9+.-])://[^:/@\s]*:")
_SPACE = re.compile(r"\s")

Span = tuple[int, int]


@functools.lru_cache(maxsize=4096)
def looks_secret(name: str) -> bool:
    """True when a variable name looks like it holds a secret (API_KEY, DB_PASSWORD, ...).
    Cached: the same few option names come back for every check of a large checklist."""
    return bool(SECRET_NAME.search(name))


def guessed_secret(value: str) -> bool:
    """True when a value under a secret-looking name is worth masking (see MIN_SECRET_LENGTH)."""
    return len(value) >= MIN_SECRET_LENGTH and value.lower() not in NOT_SECRET_WORDS


class Masker:
    """Replaces every known secret value with ``***``; also hides passwords inside URLs.

    Two kinds of values: *declared* ones (listed under ``secrets:``, or named by the
    caller) are masked at any length; *guessed* ones, the values of secret-looking names,
    only from MIN_SECRET_LENGTH on and never when a common word (see guessed_secret).
    """

    def __init__(self, values: Iterable[str] = (), *, declared: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._snapshot: tuple[str, ...] = ()  # replaced whole: a concurrent add shows all or none
        self.add(values)
        self.add_declared(declared)

    def add(self, values: Iterable[str]) -> None:
        """Mask these guessed secrets: values of names that look secret (see the class)."""
        self._add(v for v in values if guessed_secret(v))

    def add_declared(self, values: Iterable[str]) -> None:
        """Mask these declared secrets at any length."""
        self._add(values)

    def _add(self, values: Iterable[str]) -> None:
        for value in values:
            if value:
                self._values.add(value)
                self._values.update(_lines_of(value))
        self._snapshot = tuple(self._values)

    def add_env(self, env: Mapping[str, str], names: Iterable[str] = ()) -> None:
        """Mask the values of ``names`` (declared) and of secret-looking names (guessed)."""
        wanted = set(names)
        self.add_declared(v for k, v in env.items() if k in wanted)
        self.add(v for k, v in env.items() if looks_secret(k))

    def add_mapping(self, data: Any) -> None:
        """Mask literals held under secret-looking keys anywhere in nested mappings and lists
        (guessed), e.g. a check's ``with: {env: {API_TOKEN: literal}}``."""
        self.add(values_under_secret_keys(data))

    @classmethod
    def from_env(cls, env: Mapping[str, str], names: Iterable[str] = ()) -> Masker:
        masker = cls()
        masker.add_env(env, names)
        return masker

    def __call__(self, text: str) -> str:
        if not text:
            return text
        spans = [*_literal_spans(text, self._snapshot), *url_password_spans(text)]
        return _replace(text, spans) if spans else text

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def data(self, value: Any) -> Any:
        """A copy of nested dicts, lists and tuples with every string (keys too) masked."""
        return mask_data(value, self)


def _lines_of(value: str) -> list[str]:
    if "\n" not in value and "\r" not in value:
        return []
    return [s for line in value.splitlines() if len(s := line.strip()) >= MIN_LINE_LENGTH]


def _literal_spans(text: str, values: Iterable[str]) -> Iterator[Span]:
    for value in values:
        size = len(value)
        at = text.find(value)
        while at >= 0:
            yield at, at + size
            at = text.find(value, at + size)


def url_password_spans(text: str) -> Iterator[Span]:
    """Where the password of each ``scheme://user:password@host`` in ``text`` stands.

    Any scheme, any case. A password may hold any character but whitespace, `/` and `@`
    included, so it runs to the *last* `@` of its whitespace-delimited word. That may hide
    more than the password (never less). Linear: no URL after that `@` in the same word can
    hold a password, so the search goes on after the word, and no character is read twice.
    """
    pos = 0
    while (user := _URL_USER.search(text, pos)) is not None:
        space = _SPACE.search(text, user.end())
        word_end = space.start() if space else len(text)
        last_at = text.rfind("@", user.end(), word_end)
        if last_at > user.end():
            yield user.end(), last_at
        pos = word_end


def _replace(text: str, spans: list[Span]) -> str:
    """``text`` with the union of ``spans`` replaced: one MASK per run of covered text."""
    spans.sort()
    out: list[str] = []
    done = 0  # text before this offset is already in ``out``
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        out += (text[done:start], MASK)
        done, start, end = end, s, e
    out += (text[done:start], MASK, text[end:])
    return "".join(out)


_PLAIN_LEAVES = frozenset({str, int, float, bool, type(None)})


def values_under_secret_keys(data: Any) -> Iterator[str]:
    """Every scalar at or below a secret-looking key, as text; iterative, so any depth is fine."""
    stack: list[tuple[Any, bool]] = [(data, False)]
    seen: set[tuple[int, bool]] = set()
    while stack:
        node, secret = stack.pop()
        kind = type(node)
        if kind in _PLAIN_LEAVES:  # the common leaves first: exact types cost less than ABCs
            if secret and kind is not bool and node is not None:
                yield node if kind is str else str(node)
            continue
        if kind is dict or kind is list or _is_container(node):
            if (id(node), secret) in seen:
                continue  # shared, or a structure that holds itself
            seen.add((id(node), secret))
            if isinstance(node, Mapping):
                stack += ((v, secret or looks_secret(str(k))) for k, v in node.items())
            else:
                stack += ((v, secret) for v in node)
        elif secret and isinstance(node, str | int | float) and not isinstance(node, bool):
            yield str(node)


CYCLE = "..."


def mask_data(value: Any, mask: Masker) -> Any:
    """A copy of nested dicts, lists and tuples with every string (keys too) masked, for
    reports' ``details``; other values are kept as they are, a reference back into a
    structure that holds itself becomes ``CYCLE``. Iterative, so any depth is fine."""
    done: dict[int, Any] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, children_done = stack.pop()
        if not _is_container(node) or id(node) in done:
            continue
        if children_done:
            open_.discard(id(node))
            done[id(node)] = _rebuilt(node, done, mask)
        elif id(node) not in open_:  # else: met again inside itself
            open_.add(id(node))
            stack.append((node, True))
            stack += ((c, False) for c in _children(node))
    return _leaf(value, done, mask)


def _is_container(node: Any) -> bool:
    return isinstance(node, Mapping | list | tuple)


def _children(node: Any) -> Iterable[Any]:
    return [*node.keys(), *node.values()] if isinstance(node, Mapping) else node


def _rebuilt(node: Any, done: dict[int, Any], mask: Masker) -> Any:
    if isinstance(node, Mapping):
        return {_leaf(k, done, mask): _leaf(v, done, mask) for k, v in node.items()}
    items = [_leaf(v, done, mask) for v in node]
    return tuple(items) if isinstance(node, tuple) else items


def _leaf(node: Any, done: dict[int, Any], mask: Masker) -> Any:
    if isinstance(node, str):
        return mask(node)
    return done.get(id(node), CYCLE) if _is_container(node) else node
