"""Secret masking: values of secret-looking variables never reach any output.

Masking must stay linear in the text: command output is attacker-shaped (one 1 MB line,
no separators), and a regex with an alternation of every secret, or a URL regex that
rescans a run of letters at each position, turns that into minutes. So each distinct
secret is found with ``str.find`` (C speed, linear per secret since CPython 3.10), URL
passwords with a left-to-right scan that never looks at a character twice, and the
union of every span found is replaced in one pass. A union also masks overlapping
secrets whole, where a left-to-right substitution would leave the tail of one showing.

A secret is not always shown as it is: jobcheck itself shell-quotes a command line
(``'It'"'"'s'``), JSON-escapes a report (``\"``, ``\u00e9``, ``\u003c``), ``repr``s a value
in a message (``\'``), escapes HTML, XML, Markdown and GitHub workflow commands, and
cuts long output (``[... N bytes cut ...]``), which may cut a secret in two. So the masker
knows each secret's *derived forms* (``derived_forms``: every way jobcheck renders a string,
and the shell and repr forms rendered again by a report) and masks the tail of a secret that
follows a cut mark. It runs on each result and again on each rendered report.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jobcheck.textsafe import plain_text, xml_text

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
# Where jobcheck cut text (``process._Tail``): what follows may be the tail of a secret.
CUT_MARK = re.compile(r"(?P<head>\[\.\.\. \d+ bytes cut \.\.\.\]\n)\ufffd*")
# The shortest tail of a secret masked after a cut mark (a single character says nothing).
MIN_TAIL = 2

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
                for one in (value, *_lines_of(value)):
                    self._values.update(derived_forms(one))
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
        if "bytes cut ...]" in text:
            spans += _cut_tail_spans(text, self._snapshot)
        return _replace(text, spans) if spans else text

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def data(self, value: Any) -> Any:
        """A copy of nested dicts, lists and tuples with every string (keys too) masked."""
        return mask_data(value, self)


@dataclass(frozen=True)
class SecretSources:
    """What a checklist holds secret besides the environment, as loading found it.

    ``names``: the names declared under ``secrets:``. ``guessed``: values of secret-looking
    names in its vars, env files and its stack's env files, and literals under secret-looking
    keys of its checks' options (masked from MIN_SECRET_LENGTH on). ``declared``: the values of
    the declared names (masked at any length). ``masker`` is the one way jobcheck builds the
    masker of a checklist: a run, ``explain``, ``release``, ``jobcheck stack`` and a load error
    (with what was loaded so far) all mask with it.
    """

    names: tuple[str, ...] = ()
    guessed: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()

    def masker(self, environ: Mapping[str, str]) -> Masker:
        """These secrets, and the environment's values of the declared and secret-looking
        names (``environ``: the environment the run or command sees)."""
        masker = Masker.from_env(environ, self.names)
        masker.add(self.guessed)
        masker.add_declared(self.declared)
        return masker


def _shell(value: str) -> str:
    """How ``shlex.quote`` shows ``value`` inside its quotes."""
    return value.replace("'", "'\"'\"'")


def _repr_forms(value: str) -> tuple[str, str]:
    """``repr`` inside its quotes: alone, and within a string that holds both quotes."""
    return repr(value)[1:-1], repr(value + "'\"")[1:-4]


def _json(value: str, *, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)[1:-1]


def _json_in_html(value: str) -> str:
    text = _json(value, ascii_only=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _xml_attribute(value: str) -> str:
    text = html.escape(xml_text(value), quote=False).replace('"', "&quot;")
    return text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#09;")


def _markdown(value: str) -> str:
    return value.replace("<", "&lt;").replace(">", "&gt;")


def _github(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


# Every way a report or message of jobcheck renders a string (see the module's doc).
_RENDERINGS: tuple[Callable[[str], str], ...] = (
    plain_text,
    xml_text,
    functools.partial(_json, ascii_only=True),
    functools.partial(_json, ascii_only=False),
    _json_in_html,
    html.escape,
    functools.partial(html.escape, quote=False),
    _xml_attribute,
    _markdown,
    lambda v: _markdown(v).replace("|", "\\|"),
    _github,
    lambda v: _github(v).replace(":", "%3A").replace(",", "%2C"),
)


def derived_forms(value: str) -> set[str]:
    """``value`` and every form jobcheck may show it in: shell-quoted or ``repr``'d, each of
    those escaped by a report (JSON, HTML, XML, Markdown, GitHub). A plain word has one."""
    bases = {value, _shell(value), *_repr_forms(value)}
    return {render(base) for base in bases for render in _RENDERINGS} | bases


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


def _cut_tail_spans(text: str, values: Iterable[str]) -> Iterator[Span]:
    """The tail of a secret right after a cut mark: the cut took its head (see CUT_MARK)."""
    for mark in CUT_MARK.finditer(text):
        body = mark.end()
        if body >= len(text):
            continue
        for value in values:
            # the longest tail of ``value`` the text goes on with: a tail starts with text[body]
            at = value.find(text[body], 1)
            while 0 < at <= len(value) - MIN_TAIL:
                if text.startswith(value[at:], body):
                    yield mark.end("head"), body + len(value) - at
                    break
                at = value.find(text[body], at + 1)


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


def mask_url_passwords(text: str) -> str:
    """``text`` with the password of every URL in it masked, and nothing else: for a URL shown
    where the run's masker is not at hand (a broker URL in an options model's error)."""
    spans = list(url_password_spans(text))
    return _replace(text, spans) if spans else text


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


def mask_data(value: Any, mask: Callable[[str], str]) -> Any:
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


def mask_fields(record: Any, names: Iterable[str], mask: Callable[[str], str]) -> None:
    """Each named attribute of ``record`` masked in place through ``mask_data`` (a string, a
    list of tags, a tree of details): the one way a record's fields are masked."""
    for name in names:
        setattr(record, name, mask_data(getattr(record, name), mask))


def shown(mask: Callable[[str], str]) -> Callable[[str], str]:
    """``mask`` made safe to show: masked, then terminal escapes made plain (``plain_text``:
    a check's output may clear a screen or write a clipboard), each distinct text once (a
    checklist's defaults repeat in every check)."""
    done: dict[str, str] = {}

    def masked(text: str) -> str:
        found = done.get(text)
        if found is None:
            found = done[text] = plain_text(mask(text))
        return found

    return masked


def _is_container(node: Any) -> bool:
    return isinstance(node, Mapping | list | tuple)


def _children(node: Any) -> Iterable[Any]:
    return [*node.keys(), *node.values()] if isinstance(node, Mapping) else node


def _rebuilt(node: Any, done: dict[int, Any], mask: Callable[[str], str]) -> Any:
    if isinstance(node, Mapping):
        return {_leaf(k, done, mask): _leaf(v, done, mask) for k, v in node.items()}
    items = [_leaf(v, done, mask) for v in node]
    return tuple(items) if isinstance(node, tuple) else items


def _leaf(node: Any, done: dict[int, Any], mask: Callable[[str], str]) -> Any:
    if isinstance(node, str):
        return mask(node)
    return done.get(id(node), CYCLE) if _is_container(node) else node
