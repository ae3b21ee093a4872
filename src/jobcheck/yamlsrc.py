"""Safe YAML with line numbers: duplicate keys, tags and alias bombs are errors.

The one reader of YAML in jobcheck (checklists, includes, compose files, `init`'s drafts):
`parse` reads a file of at most MAX_BYTES, refuses characters YAML forbids with their line,
composes and builds it within bounds (`yaml_nodes`: depth, aliases, tags, merges, duplicate
keys), and explains a syntax error at the line to fix (`yaml_errors`). The result is a
`Source`: the data, and where every value and key stands. Every problem is a ChecklistError.

libyaml's parser, when PyYAML has it, reads an honest file about 20 times faster; any
file it refuses is read again by PyYAML's own parser, whose messages `yaml_errors` knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobcheck.errors import ChecklistError, Location
from jobcheck.fsutil import FileTooLarge, NotRegularFile, read_regular
from jobcheck.textsafe import plain_text, visible
from jobcheck.yaml_errors import syntax_error
from jobcheck.yaml_nodes import MAX_ALIAS_CHARS, MAX_BYTES, MAX_DEPTH, Builder, Composer

if TYPE_CHECKING:  # yaml is imported when a file is parsed: not on the start-up path
    import yaml

    from jobcheck.yaml_nodes import YamlLoader

__all__ = ["MAX_ALIAS_CHARS", "MAX_BYTES", "MAX_DEPTH", "Key", "Source", "parse", "read_text"]

NUL = b"\x00"
# Characters YAML forbids (the printable set of YAML 1.1, as PyYAML's reader checks it).
# Not YAML's printable set (tab, LF, CR, 0x20-0x7e, 0x85, 0xa0-0xd7ff, 0xe000-0xfffd,
# 0x10000-0x10ffff), written as what is left out: the negated class takes ~10 ms to compile.
_NOT_YAML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")

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
    source.data = Builder(source, loader).build(node, (), 0)
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
            return Composer(source, loader).document(), loader
        except yaml.MarkedYAMLError as exc:
            if kind is yaml.SafeLoader:
                raise syntax_error(source, exc) from None
        except yaml.YAMLError as exc:
            if kind is yaml.SafeLoader:
                raise ChecklistError(f"invalid YAML: {exc}", Location(source.path)) from None
        finally:
            loader.dispose()
    raise AssertionError("unreachable: SafeLoader either composes or raises")  # pragma: no cover
