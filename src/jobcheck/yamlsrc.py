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

    def error(self, key: Key, problem: str, *, of_key: bool = False, **kw: str) -> ChecklistError:
        where = self.location(key, of_key=of_key)
        return ChecklistError(problem, where, source_line=self.line_text(where.line), **kw)


def _short(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, source: Source, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader
        self.count = 0

    def fail(self, node: yaml.Node, problem: str, **kw: str) -> ChecklistError:
        line, col = _mark(node)
        where = Location(self.source.path, line, col)
        return ChecklistError(problem, where, source_line=self.source.line_text(line), **kw)

    def build(self, node: yaml.Node, key: Key, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(
                node,
                f"the document expands to more than {MAX_NODES} values",
                hint="anchors and aliases (&a / *a) nested inside each other multiply; "
                "this looks like an alias bomb",
            )
        if depth > MAX_DEPTH:
            raise self.fail(node, f"values are nested more than {MAX_DEPTH} levels deep")
        self.source.values.setdefault(key, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            self.check_tag(node, f"{_STD}seq")
            return [self.build(item, (*key, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            self.check_tag(node, f"{_STD}map")
            return self.mapping(node, key, depth)
        raise self.fail(node, "unsupported YAML node")  # pragma: no cover

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
        return self.loader.construct_object(node, deep=False)

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
                    f"duplicate key {name!r} (first on line {first})",
                    hint="YAML would silently keep only the last one; remove or rename one",
                )
            seen[name] = key_node
        self.loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = self.loader.construct_object(key_node, deep=False)
            if isinstance(name, str | int | float | bool) or name is None:
                child = (*key, name)
                self.source.keys.setdefault(child, _mark(key_node))
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
    if node is None:
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
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    col = mark.column + 1 if mark else 0
    problem = exc.problem or "invalid YAML"
    text = source.line_text(line)
    hint = "check the indentation and quoting around this line"
    if "\t" in problem or "\\t" in problem or ("\t" in text and "tab" not in problem):
        hint = _TABS_HINT
    context = f" {exc.context}" if exc.context else ""
    return ChecklistError(
        f"invalid YAML: {problem}{context}",
        Location(source.path, line, col),
        source_line=text,
        hint=hint,
    )
