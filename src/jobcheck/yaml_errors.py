"""A YAML file's problems as ChecklistErrors at the line to fix.

`error_at` places a problem the bounded reader finds (`yaml_nodes`: depth, aliases, tags,
merges, duplicate keys) at a parser mark, with what was expected and seen and a hint
(`ErrorText`). `syntax_error` explains PyYAML's own complaints, which it words its own way and
often places only where it noticed them (a quote left open on line 3 is reported on line 7):
the error points where the problem starts (a quoted value not closed on its line, an unclosed
bracket or quote, a key without `:`) and says it in a sentence with a hint for the common
ones (a tab, a value starting with `@`, a `:` inside a value, a second document...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from jobcheck.errors import ChecklistError, Location

if TYPE_CHECKING:
    import yaml

    from jobcheck.yamlsrc import Source


class _Mark(Protocol):
    line: int
    column: int


@dataclass(frozen=True)
class ErrorText:
    """What an error says besides its problem."""

    expected: str = ""
    seen: str = ""
    hint: str = ""


def error_at(
    source: Source, mark: _Mark | None, problem: str, text: ErrorText = ErrorText()
) -> ChecklistError:
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    where = Location(source.path, line, col)
    line_text = source.line_text(line)
    return ChecklistError(
        problem, where, text.expected, text.seen, text.hint, source_line=line_text
    )


_TABS_HINT = "YAML does not allow tabs for indentation: indent with spaces"


def syntax_error(source: Source, exc: yaml.MarkedYAMLError) -> ChecklistError:
    problem = exc.problem or ""
    opened = _unclosed_quote_above(source, exc)
    if opened is not None:
        line, col = opened
        return ChecklistError(
            "invalid YAML: this quoted string is never closed on its line",
            Location(source.path, line, col),
            source_line=source.line_text(line),
            seen=f"the parser only noticed on line {exc.problem_mark.line + 1}"
            if exc.problem_mark
            else "",
            hint="add the closing quote",
        )
    sentence, hint, at_start = _explain(problem, exc.context or "", source, exc)
    mark = (exc.context_mark if at_start else None) or exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    col = mark.column + 1 if mark else 0
    seen = ""
    if not sentence:
        context = f" {exc.context}" if exc.context else ""
        sentence = f"invalid YAML: {problem}{context}"
    elif at_start and exc.problem_mark and exc.problem_mark.line + 1 != line:
        noticed = exc.problem_mark.line + 1
        if "could not find expected ':'" in problem:
            seen = f"the parser only noticed on line {noticed}"
        else:
            end = "the file ends" if "end of stream" in problem else f"YAML {problem}"
            seen = f"still open on line {noticed}, where {end}"
    return ChecklistError(
        sentence,
        Location(source.path, line, col),
        source_line=source.line_text(line),
        seen=seen,
        hint=hint,
    )


_INDENT_HINT = "keys of one mapping, and items of one list, start in the same column"
_QUOTED_VALUE = re.compile(r"""(?:^\s*-\s+|:\s+)(["'])""")
_LOOK_BACK_LINES = 10


def _unclosed_quote_above(source: Source, exc: yaml.MarkedYAMLError) -> tuple[int, int] | None:
    """The line (and column) of a quoted value opened above the error and not closed on its own
    line: PyYAML reads on into the next lines and complains only there. Only values that start
    with a quote count, so an apostrophe inside plain text is never taken for one."""
    if exc.problem_mark is None or "quoted scalar" in (exc.context or ""):
        return None
    error_line = exc.problem_mark.line + 1
    for line in range(error_line - 1, max(0, error_line - _LOOK_BACK_LINES), -1):
        text = source.line_text(line)
        match = _QUOTED_VALUE.search(text)
        if match and not _closes(text, match.end(), match.group(1)):
            return line, match.end()
    return None


def _closes(text: str, start: int, quote: str) -> bool:
    """Whether a quoted value opened before ``start`` closes on this line."""
    i = start
    while i < len(text):
        char = text[i]
        if quote == '"' and char == "\\":
            i += 2
            continue
        if char == quote:
            if quote == "'" and text[i + 1 : i + 2] == "'":
                i += 2  # '' is a quote inside a single-quoted value
                continue
            return True
        i += 1
    return False


def _explain(
    problem: str, context: str, source: Source, exc: yaml.MarkedYAMLError
) -> tuple[str, str, bool]:
    """A plain sentence and hint for PyYAML's common complaints; True to point at the opening."""
    mark = exc.problem_mark
    text = source.line_text(mark.line + 1) if mark else ""
    char = text[mark.column] if mark and mark.column < len(text) else ""
    if "'\\t'" in problem or "\t" in problem or (char == "\t"):
        return "invalid YAML: a tab is used for indentation", _TABS_HINT, False
    if "cannot start any token" in problem:
        return (
            f"invalid YAML: a plain value cannot start with `{char}`",
            f'quote the value, e.g. "{text[mark.column :].strip()}"' if mark else "",
            False,
        )
    if "unknown escape" in problem:
        return (
            f"invalid YAML: {problem.removeprefix('found ')} in a double-quoted string",
            "use single quotes for regular expressions and paths ('a\\.b'), or double the \\",
            False,
        )
    if "quoted scalar" in context:
        return "invalid YAML: this quoted string is never closed", "add the closing quote", True
    if "flow sequence" in context or "flow mapping" in context:
        bracket = "[" if "sequence" in context else "{"
        closing = "]" if bracket == "[" else "}"
        return (
            f"invalid YAML: the `{bracket}` opened here is never closed",
            f"close it with `{closing}`, and separate its items with commas",
            True,
        )
    if problem.startswith("expected <block end>"):
        return (
            "invalid YAML: this line does not line up with the lines above it",
            _INDENT_HINT,
            False,
        )
    if problem == "mapping values are not allowed here":
        return (
            "invalid YAML: unexpected `:` here",
            'quote a value that contains ": ", and start the keys of one mapping in one column',
            False,
        )
    if context.startswith("found duplicate anchor") and exc.context_mark:
        name, first = context.split("'")[1], exc.context_mark.line + 1
        return (
            f"invalid YAML: anchor &{name} is defined twice (first on line {first})",
            "give each anchor its own name",
            False,
        )
    if problem.startswith("found undefined alias"):
        return f"invalid YAML: {problem[len('found ') :]}", "define the anchor (&name) first", False
    if "another document" in problem:
        return (
            "invalid YAML: the file holds more than one document",
            "a checklist is one YAML document: remove the `---` line",
            False,
        )
    if "could not find expected ':'" in problem:
        # PyYAML notices on the next line; the key it was reading starts at the context mark.
        return "invalid YAML: a key without `:`", "write `key: value`", True
    hint = _TABS_HINT if "\t" in text else "check the indentation and quoting around this line"
    return "", hint, False
