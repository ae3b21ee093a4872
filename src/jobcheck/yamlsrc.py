"""Safe YAML with line numbers: duplicate keys, tags and alias bombs are errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobcheck.errors import ChecklistError, Location

MAX_NODES = 50_000
MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024
NUL = b"\x00"

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_TABS_HINT = "YAML does not allow tabs for indentation: indent with spaces"

Key = tuple[str | int, ...]


@dataclass
class Source:
    """A parsed YAML file: its data and where every value and key stands."""

    path: Path
    data: Any
    lines: list[str]
    values: dict[Key, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Key, tuple[int, int]] = field(default_factory=dict)

    def location(self, key: Key, *, of_key: bool = False) -> Location:
        """The nearest known place for ``key``, walking up to its parents."""
        table = self.keys if of_key else self.values
        probe = tuple(key)
        while True:
            found = table.get(probe) or (self.values.get(probe) if of_key else None)
            if found:
                return Location(self.path, *found)
            if not probe:
                return Location(self.path, 1, 1)
            probe = probe[:-1]

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def error(
        self,
        key: Key,
        problem: str,
        *,
        of_key: bool = False,
        near: str = "",
        expected: str = "",
        seen: str = "",
        hint: str = "",
    ) -> ChecklistError:
        """An error at ``key``; with ``near``, the caret moves onto that text when the
        value's first line shows it."""
        where = self.location(key, of_key=of_key)
        text = self.line_text(where.line)
        column = text.find(near, max(where.column - 1, 0)) if near else -1
        if column >= 0:
            where = Location(self.path, where.line, column + 1)
        return ChecklistError(
            problem, where, expected=expected, seen=seen, hint=hint, source_line=text
        )


def _short(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, source: Source, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader
        self.count = 0
        self.built: set[int] = set()
        self.stack: list[tuple[yaml.Node, bool]] = []  # (node, reached through an alias)

    def fail(
        self, node: yaml.Node, problem: str, *, expected: str = "", seen: str = "", hint: str = ""
    ) -> ChecklistError:
        line, col = _mark(node)
        return ChecklistError(
            problem,
            Location(self.source.path, line, col),
            expected=expected,
            seen=seen,
            hint=hint,
            source_line=self.source.line_text(line),
        )

    def build(self, node: yaml.Node, key: Key, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(
                self.alias_site(node),
                f"aliases here expand the document to more than {MAX_NODES} values",
                expected="a checklist of ordinary size",
                seen="anchors (&a) whose aliases (*a) nest inside each other and multiply",
                hint='this looks like an alias bomb ("billion laughs"); remove the nested aliases',
            )
        if depth > MAX_DEPTH:
            raise self.fail(node, f"values are nested more than {MAX_DEPTH} levels deep")
        self.source.values.setdefault(key, _mark(node))
        aliased = id(node) in self.built
        self.built.add(id(node))
        self.stack.append((node, aliased))
        try:
            return self.build_node(node, key, depth)
        finally:
            self.stack.pop()

    def build_node(self, node: yaml.Node, key: Key, depth: int) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            self.check_tag(node, f"{_STD}seq")
            return [self.build(item, (*key, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            self.check_tag(node, f"{_STD}map")
            return self.mapping(node, key, depth)
        raise self.fail(node, "unsupported YAML node")  # pragma: no cover

    def alias_site(self, node: yaml.Node) -> yaml.Node:
        """The collection that holds the outermost alias being expanded (else ``node``)."""
        for i, (candidate, aliased) in enumerate(self.stack):
            if aliased:
                return self.stack[i - 1][0] if i else candidate
        return node

    def check_tag(self, node: yaml.Node, wanted: str) -> None:
        if node.tag != wanted:
            raise self.tag_error(node)

    def tag_error(self, node: yaml.Node) -> ChecklistError:
        return self.fail(
            node,
            f"YAML tag {_short(node.tag)} is not allowed",
            expected="plain YAML values (strings, numbers, booleans, lists, mappings)",
            seen=_short(node.tag),
            hint="checklists are loaded safely: no tag may construct objects; remove the tag",
        )

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise self.tag_error(node)
        try:
            return self.loader.construct_object(node, deep=False)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            what = _short(node.tag)[2:]
            words = {"timestamp": "date", "int": "number", "float": "number"}.get(what, what)
            raise self.fail(
                node,
                f"`{node.value}` looks like a {words} but is not a valid one: {exc}",
                expected="a real date, YYYY-MM-DD" if what == "timestamp" else f"a {words}",
                seen=node.value,
                hint="fix the value, or quote it if you mean text",
            ) from None

    def mapping(self, node: yaml.MappingNode, key: Key, depth: int) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == f"{_STD}merge":
                continue
            name = self.build(key_node, (*key, "<key>"), depth + 1)
            if not isinstance(name, str | int | float | bool) and name is not None:
                raise self.fail(key_node, "a mapping key must be a plain value")
            if name in seen:
                first = _mark(seen[name])[0]
                raise self.fail(
                    key_node,
                    f"duplicate key `{name}` (first on line {first})",
                    hint="YAML would silently keep only the last one; remove or rename one",
                )
            seen[name] = key_node
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else _mark(node)[0]
            raise ChecklistError(
                "a merge key `<<:` takes a mapping or a list of mappings",
                Location(self.source.path, line, mark.column + 1 if mark else 0),
                source_line=self.source.line_text(line),
                expected="`<<: *anchor` where &anchor names a mapping",
                seen=str(exc.problem),
            ) from None
        # After flattening, merged pairs come first: a key of this mapping overrides them.
        winners: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            name = self.loader.construct_object(key_node, deep=False)
            if isinstance(name, str | int | float | bool) or name is None:
                winners[name] = (key_node, value_node)
        result: dict[Any, Any] = {}
        for name, (key_node, value_node) in winners.items():
            child = (*key, name)
            self.source.keys[child] = _mark(key_node)
            result[name] = self.build(value_node, child, depth + 1)
        return result


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ChecklistError(
            "checklist file not found",
            Location(path),
            hint="check the path, or run `jobcheck init` to write a starting jobcheck.yaml",
        ) from None
    except IsADirectoryError:
        raise ChecklistError("is a directory, not a checklist file", Location(path)) from None
    except OSError as exc:
        raise ChecklistError(f"cannot read the file: {exc.strerror}", Location(path)) from None
    if len(raw) > MAX_BYTES:
        raise ChecklistError(
            f"file is {len(raw)} bytes; a checklist is at most {MAX_BYTES}", Location(path)
        )
    if NUL in raw:
        raise ChecklistError(
            "this is a binary file, not a YAML checklist",
            Location(path, 1),
            expected="UTF-8 text",
            seen=f"a NUL byte at offset {raw.index(NUL)}",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ChecklistError(
            "the file is not UTF-8 text",
            Location(path, line),
            expected="UTF-8 text",
            seen=f"byte 0x{raw[exc.start]:02x} at offset {exc.start}",
            hint="save the file as UTF-8",
        ) from None


def parse(path: Path, text: str | None = None) -> Source:
    """Parse one YAML file into a Source; every problem is a ChecklistError."""
    if text is None:
        text = read_text(path)
    source = Source(path=path, data=None, lines=text.splitlines())
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(source, exc) from None
    except yaml.YAMLError as exc:
        raise ChecklistError(f"invalid YAML: {exc}", Location(path)) from None
    finally:
        loader.dispose()
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "" and not node.style):
        raise ChecklistError(
            "the file is empty",
            Location(path, 1),
            expected="a mapping with version, name and checks",
            seen="no YAML document",
            hint="run `jobcheck init` for a starting checklist",
        )
    source.data = _Builder(source, loader).build(node, (), 0)
    return source


def _syntax_error(source: Source, exc: yaml.MarkedYAMLError) -> ChecklistError:
    problem = exc.problem or ""
    sentence, hint, at_start = _explain(problem, exc.context or "", source, exc)
    mark = (exc.context_mark if at_start else None) or exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    col = mark.column + 1 if mark else 0
    seen = ""
    if not sentence:
        context = f" {exc.context}" if exc.context else ""
        sentence = f"invalid YAML: {problem}{context}"
    elif at_start and exc.problem_mark and exc.problem_mark.line + 1 != line:
        end = "the file ends" if "end of stream" in problem else f"YAML {problem}"
        seen = f"still open on line {exc.problem_mark.line + 1}, where {end}"
    return ChecklistError(
        sentence,
        Location(source.path, line, col),
        source_line=source.line_text(line),
        seen=seen,
        hint=hint,
    )


_INDENT_HINT = "keys of one mapping, and items of one list, start in the same column"


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
    if problem.startswith("found undefined alias"):
        return f"invalid YAML: {problem[len('found ') :]}", "define the anchor (&name) first", False
    if "another document" in problem:
        return (
            "invalid YAML: the file holds more than one document",
            "a checklist is one YAML document: remove the `---` line",
            False,
        )
    if "could not find expected ':'" in problem:
        return "invalid YAML: a key without `:`", "write `key: value`", False
    hint = _TABS_HINT if "\t" in text else "check the indentation and quoting around this line"
    return "", hint, False
