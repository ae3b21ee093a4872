"""Safe YAML with line numbers: duplicate keys, tags and alias bombs are errors.

A checklist may come from anyone, so reading one is bounded. Nothing here recurses on
the file's own depth: PyYAML's composer does (a thousand `[` ends in RecursionError), so
nodes are composed from the parser's events with an explicit stack, refusing more than
MAX_DEPTH levels at the line where they begin. Aliases are costed as they are met, by
the nodes and characters they add, so a "billion laughs" or a large anchor repeated
thousands of times stops at its first alias over budget, before anything is built,
while a plain file of any size (up to MAX_BYTES) has no node limit at all. Merges are
flattened without recursion too, and every constructor error is a ChecklistError.

libyaml's parser, when PyYAML has it, reads an honest file about 20 times faster; any
file it refuses is read again by PyYAML's own parser, whose messages `_explain` knows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from jobcheck.errors import ChecklistError, Location
from jobcheck.fsutil import FileTooLarge, NotRegularFile, read_regular
from jobcheck.textsafe import plain_text, visible

if TYPE_CHECKING:  # yaml is imported when a file is parsed: not on the start-up path
    import yaml
    from yaml.cyaml import CSafeLoader

    YamlLoader = yaml.SafeLoader | CSafeLoader

MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024
# What aliases may add to the document: 50,000 values and ten more for each value written
# so far (a file that reuses an anchor in every check grows with its checks, a bomb does
# not), at most a million; and as many characters as the largest file.
ALIAS_NODES = 50_000
ALIAS_NODES_PER_NODE = 10
MAX_ALIAS_NODES = 1_000_000
MAX_ALIAS_CHARS = MAX_BYTES
NUL = b"\x00"
# Characters YAML forbids (the printable set of YAML 1.1, as PyYAML's reader checks it).
# Not YAML's printable set (tab, LF, CR, 0x20-0x7e, 0x85, 0xa0-0xd7ff, 0xe000-0xfffd,
# 0x10000-0x10ffff), written as what is left out: the negated class takes ~10 ms to compile.
_NOT_YAML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE = f"{_STD}merge"
_STR = f"{_STD}str"
_TABS_HINT = "YAML does not allow tabs for indentation: indent with spaces"
_EXPECTED = {"timestamp": "a real date, YYYY-MM-DD", "bool": "true or false"}
# What PyYAML's constructors raise on a value that does not fit its tag (`!!bool maybe`
# raises KeyError, `!!int ""` IndexError, `!!timestamp x` AttributeError).
_CONSTRUCT_ERRORS = (ValueError, OverflowError, KeyError, IndexError, TypeError, AttributeError)

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


class _Mark(Protocol):
    line: int
    column: int


@dataclass(frozen=True)
class _Text:
    """What an error says besides its problem."""

    expected: str = ""
    seen: str = ""
    hint: str = ""


def _at(source: Source, mark: _Mark | None, problem: str, text: _Text = _Text()) -> ChecklistError:
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    where = Location(source.path, line, col)
    line_text = source.line_text(line)
    return ChecklistError(
        problem, where, text.expected, text.seen, text.hint, source_line=line_text
    )


@dataclass
class _Open:
    """A collection being composed, and what it expands to so far: (nodes, characters)."""

    node: Any  # yaml.SequenceNode | yaml.MappingNode
    anchor: str | None
    size: tuple[int, int] = (1, 0)
    key: yaml.Node | None = None  # a mapping's key, waiting for its value
    sequence: bool = field(init=False)

    def __post_init__(self) -> None:
        self.sequence = self.node.id == "sequence"


_DEPTH = _Text(hint="a checklist needs a few levels; flatten this value")
_BOMB = _Text(
    "a checklist of ordinary size",
    "anchors (&a) whose aliases (*a) nest inside each other and multiply",
    'this looks like an alias bomb ("billion laughs"); remove the nested aliases',
)
_REPEATS = _Text(
    "a checklist of ordinary size",
    "aliases that repeat a large value many times",
    "repeat the value less, or shorten it",
)
_MERGE_TEXT = _Text("`<<: *anchor` where &anchor names a mapping")
_SELF = _Text(hint="a value cannot hold itself")


class _Yaml(NamedTuple):
    """The PyYAML classes used here, imported on first use (see TYPE_CHECKING above)."""

    ScalarNode: type[yaml.ScalarNode]
    SequenceNode: type[yaml.SequenceNode]
    MappingNode: type[yaml.MappingNode]
    ScalarEvent: type[yaml.ScalarEvent]
    AliasEvent: type[yaml.AliasEvent]
    SequenceStartEvent: type[yaml.SequenceStartEvent]
    SequenceEndEvent: type[yaml.SequenceEndEvent]
    MappingEndEvent: type[yaml.MappingEndEvent]
    StreamEndEvent: type[yaml.StreamEndEvent]
    ComposerError: type[yaml.composer.ComposerError]
    YAMLError: type[yaml.YAMLError]


@functools.cache
def _yaml() -> _Yaml:
    import yaml  # lazy: PyYAML (~15 ms), only when YAML is read

    return _Yaml(
        yaml.ScalarNode,
        yaml.SequenceNode,
        yaml.MappingNode,
        yaml.ScalarEvent,
        yaml.AliasEvent,
        yaml.SequenceStartEvent,
        yaml.SequenceEndEvent,
        yaml.MappingEndEvent,
        yaml.StreamEndEvent,
        yaml.composer.ComposerError,
        yaml.YAMLError,
    )


class _Composer:
    """PyYAML's composer without recursion, costing each alias as it is met."""

    def __init__(self, source: Source, loader: YamlLoader) -> None:
        self.source = source
        self.loader = loader
        self.y = _yaml()
        self.anchors: dict[str, yaml.Node] = {}
        self.sizes: dict[int, tuple[int, int]] = {}  # finished anchored nodes
        self.added = (0, 0)  # what aliases added so far: (nodes, characters)
        self.written = 0  # nodes the file itself holds so far
        self.tags: dict[str, str] = {}  # the tag of each plain scalar met so far

    def document(self) -> yaml.Node | None:
        self.loader.get_event()  # stream start
        if self.loader.check_event(self.y.StreamEndEvent):
            return None
        self.loader.get_event()  # document start
        root = self.root()
        self.loader.get_event()  # document end
        if not self.loader.check_event(self.y.StreamEndEvent):
            extra: Any = self.loader.get_event()
            raise self.y.ComposerError(
                "expected a single document in the stream",
                root.start_mark,
                "but found another document",
                extra.start_mark,
            )
        return root

    def root(self) -> yaml.Node:
        # The hot loop of a large checklist: events dispatched on their exact class, a plain
        # scalar's tag resolved once per distinct value, a child added to its parent inline.
        y, get_event = self.y, self.loader.get_event
        scalar_event, end_events = y.ScalarEvent, (y.SequenceEndEvent, y.MappingEndEvent)
        alias_event, scalar_node = y.AliasEvent, y.ScalarNode
        sizes, tags = self.sizes, self.tags
        resolve: Any = self.loader.resolve
        stack: list[_Open] = []
        node: Any
        written = 0
        while True:
            event: Any = get_event()
            kind = event.__class__
            if kind is scalar_event:
                written += 1
                value = event.value
                tag = event.tag
                if tag is None or tag == "!":
                    if not event.implicit[0]:
                        tag = _STR
                    else:
                        tag = tags.get(value)
                        if tag is None:
                            tag = tags[value] = resolve(scalar_node, value, event.implicit)
                # libyaml gives a plain scalar the style "", PyYAML None: keep None.
                node = scalar_node(
                    tag, value, event.start_mark, event.end_mark, event.style or None
                )
                size = (1, len(value))
                if event.anchor is not None:
                    sizes[id(self.named(event, node))] = size
            elif kind in end_events:
                done = stack.pop()
                done.node.end_mark = event.end_mark
                node, size = done.node, done.size
                if done.anchor is not None:
                    sizes[id(node)] = size
            elif kind is alias_event:
                self.written = written
                node, size = self.alias(event)
            else:
                written += 1
                stack.append(_Open(self.collection(event, len(stack)), event.anchor))
                continue
            if not stack:
                self.written = written
                root: yaml.Node = node
                return root
            parent = stack[-1]
            parent.size = (parent.size[0] + size[0], parent.size[1] + size[1])
            if parent.sequence:
                parent.node.value.append(node)
            elif parent.key is None:
                parent.key = node
            else:
                parent.node.value.append((parent.key, node))
                parent.key = None

    def collection(self, event: Any, depth: int) -> yaml.Node:
        y = self.y
        if depth >= MAX_DEPTH:
            problem = f"values are nested more than {MAX_DEPTH} levels deep"
            raise _at(self.source, event.start_mark, problem, _DEPTH)
        sequence = isinstance(event, y.SequenceStartEvent)
        kind: type[yaml.CollectionNode] = y.SequenceNode if sequence else y.MappingNode
        tag = event.tag
        if tag is None or tag == "!":  # SafeLoader has no path resolvers: the default tags
            tag = f"{_STD}seq" if sequence else f"{_STD}map"
        node = kind(tag, [], event.start_mark, None, event.flow_style)
        return node if event.anchor is None else self.named(event, node)

    def named(self, event: Any, node: yaml.Node) -> yaml.Node:
        """``node``, registered under its anchor."""
        if event.anchor in self.anchors:
            first = self.anchors[event.anchor].start_mark
            context = f"found duplicate anchor {event.anchor!r}; first occurrence"
            raise self.y.ComposerError(context, first, "second occurrence", event.start_mark)
        self.anchors[event.anchor] = node
        return node

    def alias(self, event: Any) -> tuple[yaml.Node, tuple[int, int]]:
        target = self.anchors.get(event.anchor)
        if target is None:
            problem = f"found undefined alias {event.anchor!r}"
            raise self.y.ComposerError(None, None, problem, event.start_mark)
        size = self.sizes.get(id(target))
        if size is None:
            problem = f"alias *{event.anchor} stands inside the value it names"
            raise _at(self.source, event.start_mark, problem, _SELF)
        self.added = (self.added[0] + size[0], self.added[1] + size[1])
        budget = min(ALIAS_NODES + ALIAS_NODES_PER_NODE * self.written, MAX_ALIAS_NODES)
        if self.added[0] > budget:
            problem = f"aliases up to here add more than {budget} values"
            raise _at(self.source, event.start_mark, problem, _BOMB)
        if self.added[1] > MAX_ALIAS_CHARS:
            problem = f"aliases up to here add more than {MAX_ALIAS_CHARS} characters"
            raise _at(self.source, event.start_mark, problem, _REPEATS)
        return target, size


class _Builder:
    """Python values from composed nodes, recording where each value and key stands."""

    def __init__(self, source: Source, loader: YamlLoader) -> None:
        self.source = source
        self.loader = loader
        self.flat: set[int] = set()  # mappings whose merges are resolved
        self.y = _yaml()

    def fail(self, node: yaml.Node, problem: str, text: _Text = _Text()) -> ChecklistError:
        return _at(self.source, node.start_mark, problem, text)

    def build(self, node: yaml.Node, key: Key, depth: int) -> Any:
        # Composing bounds the file's depth; aliases can still stack anchors deeper.
        if depth > MAX_DEPTH:
            raise self.fail(node, f"values are nested more than {MAX_DEPTH} levels deep")
        mark = node.start_mark
        self.source.values.setdefault(key, (mark.line + 1, mark.column + 1))
        kind = node.__class__
        if kind is self.y.ScalarNode:
            return node.value if node.tag == _STR else self.scalar(node)
        if kind is self.y.SequenceNode:
            self.check_tag(node, f"{_STD}seq")
            return [self.build(item, (*key, i), depth + 1) for i, item in enumerate(node.value)]
        self.check_tag(node, f"{_STD}map")
        return self.mapping(node, key, depth)

    def check_tag(self, node: yaml.Node, wanted: str) -> None:
        if node.tag != wanted:
            raise self.tag_error(node)

    def tag_error(self, node: yaml.Node) -> ChecklistError:
        return self.fail(
            node,
            f"YAML tag {_short(node.tag)} is not allowed",
            _Text(
                "plain YAML values (strings, numbers, booleans, lists, mappings)",
                _short(node.tag),
                "checklists are loaded safely: no tag may construct objects; remove the tag",
            ),
        )

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR:
            return node.value  # most values: what PyYAML would construct, but faster
        if node.tag not in _SCALAR_TAGS:
            raise self.tag_error(node)
        try:
            return self.loader.construct_object(node, deep=False)
        except (*_CONSTRUCT_ERRORS, self.y.YAMLError) as exc:
            what = _short(node.tag)[2:]
            words = {"timestamp": "date", "int": "number", "float": "number"}.get(what, what)
            detail = f": {exc}" if isinstance(exc, ValueError) and str(exc) else ""
            raise self.fail(
                node,
                f"`{node.value}` looks like a {words} but is not a valid one{detail}",
                _Text(
                    _EXPECTED.get(what, f"a {words}"),
                    str(node.value),
                    "fix the value, or quote it if you mean text",
                ),
            ) from None

    def key_name(self, node: yaml.Node) -> Any:
        if node.__class__ is self.y.ScalarNode and node.tag == _STR:
            return node.value  # most keys
        name = self.scalar(node) if isinstance(node, self.y.ScalarNode) else []
        if not isinstance(name, str | int | float | bool | None):
            raise self.fail(node, "a mapping key must be a plain value")
        return name

    def mapping(self, node: yaml.Node, key: Key, depth: int) -> dict[Any, Any]:
        names = self.flatten(node)
        if names is not None:  # no merge: each key once, in order
            pairs: Iterable[tuple[Any, tuple[yaml.Node, yaml.Node]]] = zip(
                names, node.value, strict=True
            )
        else:  # after flattening, merged pairs come first: a key of this mapping overrides them
            pairs = {self.key_name(k): (k, v) for k, v in node.value}.items()
        keys = self.source.keys
        result: dict[Any, Any] = {}
        for name, (key_node, value_node) in pairs:
            child = (*key, name)
            mark = key_node.start_mark
            keys[child] = (mark.line + 1, mark.column + 1)
            result[name] = self.build(value_node, child, depth + 1)
        return result

    def flatten(self, root: yaml.Node) -> list[Any] | None:
        """Resolve `<<:` merges as PyYAML's flatten_mapping does, sources first, without
        recursion (a chain of merges can be long). A mapping's own keys are checked for
        duplicates once, before merged ones join them. The names of ``root``'s keys when
        it merges nothing (and was not flattened before), else None."""
        if id(root) in self.flat:
            return None
        if not any(k.tag == _MERGE for k, _ in root.value):
            self.flat.add(id(root))  # most mappings merge nothing
            return self.check_duplicates(root)
        stack = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in self.flat:
                continue
            sources = self.merge_sources(node)
            if not ready:
                stack += [(node, True), *((s, False) for s in sources)]
                continue
            self.check_duplicates(node)
            own = [(k, v) for k, v in node.value if k.tag != _MERGE]
            node.value = [pair for s in sources for pair in s.value] + own
            self.flat.add(id(node))
        return None

    def merge_sources(self, node: yaml.Node) -> list[yaml.Node]:
        """The mappings merged into ``node``, each overridden by those before it."""
        mapping, sequence = self.y.MappingNode, self.y.SequenceNode
        sources: list[yaml.Node] = []
        for key_node, value in node.value:
            if key_node.tag != _MERGE:
                continue
            if isinstance(value, mapping):
                sources.append(value)
            elif isinstance(value, sequence) and all(isinstance(n, mapping) for n in value.value):
                sources += reversed(value.value)
            else:
                problem = "a merge key `<<:` takes a mapping or a list of mappings"
                raise self.fail(value, problem, _MERGE_TEXT)
        return sources

    def check_duplicates(self, node: yaml.Node) -> list[Any]:
        """The names of ``node``'s own keys (merge keys left out), each once."""
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            name = self.key_name(key_node)
            if name in seen:
                first = _mark(seen[name])[0]
                raise self.fail(
                    key_node,
                    f"duplicate key `{name}` (first on line {first})",
                    _Text(hint="YAML would silently keep only the last one; remove or rename one"),
                )
            seen[name] = key_node
        return list(seen)


def _check_characters(source: Source, text: str) -> None:
    """Refuse a character YAML forbids with its line, where PyYAML gives only an offset."""
    bad = _NOT_YAML.search(text)
    if bad is None:
        return
    # Only line breaks YAML also counts lie before the first forbidden character.
    before = (text[: bad.start()] + "^").splitlines()
    line, column = len(before), len(before[-1])
    code = ord(bad.group())
    what = "control character" if code < 0x20 or 0x7F <= code <= 0x9F else "character"
    raise ChecklistError(
        f"{what} U+{code:04X} is not allowed in YAML",
        Location(source.path, line, column),
        expected="printable text",
        seen=f"U+{code:04X}",
        hint=f'remove it; to mean it, write an escape in double quotes: "{visible(bad.group())}"',
        source_line=plain_text(source.line_text(line)),
    )


def read_text(path: Path) -> str:
    try:
        raw = read_regular(path, MAX_BYTES)
    except FileTooLarge:
        raise ChecklistError(
            f"file is larger than {MAX_BYTES} bytes; a checklist is at most {MAX_BYTES}",
            Location(path),
        ) from None
    except NotRegularFile as exc:
        if exc.what == "a directory":
            raise ChecklistError("is a directory, not a checklist file", Location(path)) from None
        raise ChecklistError(
            f"is {exc.what}, not a regular file",
            Location(path),
            expected="a regular file",
            hint="a FIFO or a device would block or never end: give the file itself",
        ) from None
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
    _check_characters(source, text)
    node, loader = _compose(source, text)
    if node is None or (node.value == "" and not getattr(node, "style", None)):
        raise ChecklistError(
            "the file is empty",
            Location(path, 1),
            expected="a mapping with version, name and checks",
            seen="no YAML document",
            hint="run `jobcheck init` for a starting checklist",
        )
    source.data = _Builder(source, loader).build(node, (), 0)
    return source


def _compose(source: Source, text: str) -> tuple[yaml.Node | None, YamlLoader]:
    """The root node, and the loader whose constructors build its values."""
    import yaml  # lazy: PyYAML (~15 ms), only when YAML is read

    kinds: list[type[YamlLoader]] = [yaml.SafeLoader]
    if getattr(yaml, "__with_libyaml__", False):
        kinds.insert(0, yaml.CSafeLoader)
    for kind in kinds:
        loader = kind(text)
        try:
            return _Composer(source, loader).document(), loader
        except yaml.MarkedYAMLError as exc:
            if kind is yaml.SafeLoader:
                raise _syntax_error(source, exc) from None
        except yaml.YAMLError as exc:
            if kind is yaml.SafeLoader:
                raise ChecklistError(f"invalid YAML: {exc}", Location(source.path)) from None
        finally:
            loader.dispose()
    raise AssertionError("unreachable: SafeLoader either composes or raises")  # pragma: no cover


def _syntax_error(source: Source, exc: yaml.MarkedYAMLError) -> ChecklistError:
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
