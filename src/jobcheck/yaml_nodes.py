"""Nodes from the parser's events and values from the nodes, bounded and without recursion.

PyYAML's composer recurses (a thousand `[` end in RecursionError). `Composer` builds nodes
with an explicit stack, refusing more than MAX_DEPTH levels where they begin, and costs each
alias as it is met by the nodes and characters it adds: an alias bomb, or a large anchor
repeated thousands of times, stops at its first alias over budget, while a plain file of any
size (up to MAX_BYTES) has no node limit. `Builder` makes the values, recording where each
value and key stands in the `Source`; it flattens merges without recursion, refuses tags
that would construct objects and duplicate keys; a constructor's error is a ChecklistError.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from jobcheck.errors import ChecklistError
from jobcheck.yaml_errors import ErrorText, error_at

if TYPE_CHECKING:  # yaml is imported when a file is parsed: not on the start-up path
    import yaml
    from yaml.cyaml import CSafeLoader

    from jobcheck.yamlsrc import Key, Source

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

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE = f"{_STD}merge"
_STR = f"{_STD}str"
_EXPECTED = {"timestamp": "a real date, YYYY-MM-DD", "bool": "true or false"}
# What PyYAML's constructors raise on a value that does not fit its tag (`!!bool maybe`
# raises KeyError, `!!int ""` IndexError, `!!timestamp x` AttributeError).
_CONSTRUCT_ERRORS = (ValueError, OverflowError, KeyError, IndexError, TypeError, AttributeError)


def _short(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


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


_NO_TEXT = ErrorText()
_DEPTH = ErrorText(hint="a checklist needs a few levels; flatten this value")
_BOMB = ErrorText(
    "a checklist of ordinary size",
    "anchors (&a) whose aliases (*a) nest inside each other and multiply",
    'this looks like an alias bomb ("billion laughs"); remove the nested aliases',
)
_REPEATS = ErrorText(
    "a checklist of ordinary size",
    "aliases that repeat a large value many times",
    "repeat the value less, or shorten it",
)
_MERGE_TEXT = ErrorText("`<<: *anchor` where &anchor names a mapping")
_SELF = ErrorText(hint="a value cannot hold itself")


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


class Composer:
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
            raise error_at(self.source, event.start_mark, problem, _DEPTH)
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
            raise error_at(self.source, event.start_mark, problem, _SELF)
        self.added = (self.added[0] + size[0], self.added[1] + size[1])
        budget = min(ALIAS_NODES + ALIAS_NODES_PER_NODE * self.written, MAX_ALIAS_NODES)
        if self.added[0] > budget:
            problem = f"aliases up to here add more than {budget} values"
            raise error_at(self.source, event.start_mark, problem, _BOMB)
        if self.added[1] > MAX_ALIAS_CHARS:
            problem = f"aliases up to here add more than {MAX_ALIAS_CHARS} characters"
            raise error_at(self.source, event.start_mark, problem, _REPEATS)
        return target, size


class Builder:
    """Python values from composed nodes, recording where each value and key stands."""

    def __init__(self, source: Source, loader: YamlLoader) -> None:
        self.source = source
        self.loader = loader
        self.flat: set[int] = set()  # mappings whose merges are resolved
        self.y = _yaml()

    def fail(self, node: yaml.Node, problem: str, text: ErrorText = _NO_TEXT) -> ChecklistError:
        return error_at(self.source, node.start_mark, problem, text)

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
            ErrorText(
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
                ErrorText(
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
                    ErrorText(
                        hint="YAML would silently keep only the last one; remove or rename one"
                    ),
                )
            seen[name] = key_node
        return list(seen)
