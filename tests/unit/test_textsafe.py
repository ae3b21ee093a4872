"""Hostile text shown safely: XML that parses, terminals that do not act, markup as written."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
from rich.text import Text

from jobcheck.textsafe import markup_safe, plain_text, visible, xml_text

RED_FAILED = "\x1b[31mFAILED\x1b[0m"  # what `printf '\033[31mFAILED\033[0m'` writes
OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # writes the clipboard
TITLE = "\x1b]0;x\x07"  # retitles the window
CLEAR = "\x1b[2J\x1b[H"


@pytest.mark.parametrize(
    ("char", "shown"),
    [("\x00", "\\x00"), ("\x1b", "\\x1b"), ("\x9b", "\\x9b"), ("\u202e", "\\u202e")],
)
def test_visible(char: str, shown: str) -> None:
    assert visible(char) == shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RED_FAILED, "\\x1b[31mFAILED\\x1b[0m"),
        (f"a{OSC52}b", "a\\x1b]52;c;ZWNobyBwd25lZA==\\x07b"),
        (TITLE, "\\x1b]0;x\\x07"),
        (CLEAR, "\\x1b[2J\\x1b[H"),
        ("nul\x00 soh\x01 del\x7f", "nul\\x00 soh\\x01 del\\x7f"),
        ("\x9b31m C1 CSI", "\\x9b31m C1 CSI"),
        ("PASSED\rFAILED", "PASSED\\x0dFAILED"),
        ("dos\r\nline\n\ttab", "dos\nline\n\ttab"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("admin\u202e\u2066 bidi", "admin\\u202e\\u2066 bidi"),
        ("plain ✓ text [red] \\x1b", "plain ✓ text [red] \\x1b"),
    ],
)
def test_plain_text_shows_controls_as_escapes(text: str, expected: str) -> None:
    assert plain_text(text) == expected
    plain_text(text).encode("utf-8")  # printable: no lone surrogate left


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RED_FAILED, "\\x1b[31mFAILED\\x1b[0m"),
        ("nul\x00 soh\x01 bs\x08", "nul\\x00 soh\\x01 bs\\x08"),
        ("tab\t lf\n cr\r kept", "tab\t lf\n cr\r kept"),
        ("\ufffe\uffff \ud83d", "\\ufffe\\uffff \\ud83d"),
        ("C1 \x85 and \U0001f600 allowed in XML", "C1 \x85 and \U0001f600 allowed in XML"),
        ("<&> left to the writer", "<&> left to the writer"),
    ],
)
def test_xml_text_shows_what_xml_forbids(text: str, expected: str) -> None:
    assert xml_text(text) == expected
    element = ET.Element("t", a=xml_text(text))
    element.text = xml_text(text)
    ET.fromstring(ET.tostring(element, "unicode"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[red]boom[/]", "\\[red]boom\\[/]"),
        ("[/red] [bold magenta]x[/bold magenta]", "\\[/red] \\[bold magenta]x\\[/bold magenta]"),
        ("list[0] [ ] [X] a[1:2]", "list[0] [ ] [X] a[1:2]"),
        ("C:\\[red]", "C:\\\\\\[red]"),
        ("regex \\[0-9]", "regex \\\\[0-9]"),
        ("ends with \\", "ends with \\\\"),
    ],
)
def test_markup_safe_exact_text(text: str, expected: str) -> None:
    assert markup_safe(text) == expected


@pytest.mark.parametrize(
    "text", ["[red]boom[/]", "C:\\[red]", "regex \\[0-9] [ok]", "[link=x]y[/link]", "a]b[c"]
)
def test_markup_safe_prints_as_written_through_rich(text: str) -> None:
    assert Text.from_markup(f"[bold]{markup_safe(text)}[/bold]").plain == text


@pytest.mark.parametrize(
    "text", ["\\" * 40_000 + "x", "[" * 200_000, "[a" * 100_000, "\x1b[31m" * 100_000]
)
def test_linear_on_long_hostile_text(text: str) -> None:
    start = time.perf_counter()
    markup_safe(text), plain_text(text), xml_text(text)
    assert time.perf_counter() - start < 2.0
