"""Text from checks (command output, HTTP bodies, container logs) made safe to show.

The text is hostile by assumption. In a report it must never break the file: XML 1.0
forbids most control characters outright, so one stray byte makes a JUnit file that CI
refuses. On a terminal it must never act: an escape sequence can recolour or clear the
screen, retitle the window, or write the clipboard (OSC 52), and a bidi override can
make a line read differently than it is (Trojan Source).

Policy, the same everywhere: a character that must not pass is *shown*, as a Python-style
escape (ESC becomes the four characters ``\\x1b``, U+202E becomes ``\\u202e``), never
stripped. The reader sees that the output held a colour code or an escape attempt, the
text stays one-to-one with what was received, and nothing here parses escape sequences,
so no malformed or unterminated sequence can slip through. A backslash already in the
text is left alone: the escapes are for people, not to be decoded. Everything is one
regular-expression pass over the text: linear time.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# XML 1.0 `Char`: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF.
# Written as the (short) set of what is *not* allowed: the negated class of the allowed ranges
# means the same but takes ~10 ms to compile (re builds a bitmap over all of Unicode). Compiled
# at its first use (re caches it): only the XML reports need it.
_NOT_XML = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
# C0 controls but LF and tab, DEL, C1 controls (0x9b is a one-byte CSI on some terminals),
# lone surrogates (they cannot even be encoded to print), and the bidi controls.
_NOT_PLAIN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# A rich markup tag, as rich's own parser reads one: `[` then a-z # / @, up to the first `]`
# with no `[` inside (rich writes it `[^[]*?]`, the same language).
_MARKUP_TAG = re.compile(r"\[[a-z#/@][^\[\]]*\]")
_BRACKET = re.compile(r"\[")


def visible(char: str) -> str:
    """A character as its Python-style escape: ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _shown(match: re.Match[str]) -> str:
    return visible(match.group())


def _sub(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def clean(text: str) -> str:
        return pattern.sub(_shown, text) if pattern.search(text) else text

    return clean


_plain = _sub(_NOT_PLAIN)


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 forbids shown as an escape; ``&`` and ``<``
    are left to the XML writer."""
    pattern = re.compile(_NOT_XML)
    return pattern.sub(_shown, text) if pattern.search(text) else text


def plain_text(text: str) -> str:
    """``text`` safe to write to a terminal: escape sequences and other controls (all but
    LF and tab), lone surrogates and bidi controls are shown as escapes. A lone CR is one
    of them (it lets a line overwrite itself); CRLF line ends become LF."""
    return _plain(text.replace("\r\n", "\n"))


def markup_safe(text: str) -> str:
    """``text`` escaped for rich markup, so that ``[red]``, ``[/]`` and ``\\[`` in it print
    as written.

    Unlike ``rich.markup.escape``, it also keeps a backslash before a ``[`` that is no tag
    (rich would drop it), and runs in linear time (rich's takes seconds on a few thousand
    backslashes). Rich's markup *parser* has the same weakness when the markup holds a tag,
    so print long untrusted text with ``markup=False`` or as a ``rich.text.Text``; use this
    for text set inside a markup string. A trailing backslash is doubled, as rich does, so
    it cannot escape the tag that follows. Not terminal-safe: ``markup_safe(plain_text(s))``.
    """
    out: list[str] = []
    done = 0  # text before this offset is in ``out``
    for bracket in _BRACKET.finditer(text):
        start = bracket.start()
        slashes = start
        while slashes > done and text[slashes - 1] == "\\":
            slashes -= 1
        # Rich reads k backslashes before a tag as k/2 backslashes and, when k is odd, an
        # escaped tag; before any other `[` it drops one. Add what undoes that.
        if _MARKUP_TAG.match(text, start):
            out += (text[done:start], text[slashes:start], "\\")
        elif slashes < start:
            out += (text[done:start], "\\")
        else:
            continue
        done = start
    escaped = "".join(out) + text[done:] if out else text
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        escaped += "\\"
    return escaped
