"""Safe YAML with line numbers: positions, duplicates, tags, alias bombs, friendly syntax errors."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from jobcheck import yamlsrc
from jobcheck.errors import ChecklistError
from jobcheck.yamlsrc import parse, read_text

HERE = Path("t.yaml")


def fails(text: str) -> ChecklistError:
    with pytest.raises(ChecklistError) as caught:
        parse(HERE, text)
    return caught.value


def test_values_and_keys_carry_line_and_column() -> None:
    source = parse(HERE, "a: 1\nlist:\n  - x\n  - {k: v}\n")
    assert source.data == {"a": 1, "list": ["x", {"k": "v"}]}
    assert source.keys[("list",)] == (2, 1)
    assert source.values[("list", 0)] == (3, 5)
    assert source.values[("list", 1, "k")] == (4, 9)
    assert source.keys[("list", 1, "k")] == (4, 6)


def test_location_walks_up_to_the_nearest_known_parent() -> None:
    source = parse(HERE, "a:\n  b: 1\n")
    assert source.location(("a", "b", "missing")).line == 2
    assert source.location(("a", "zzz"), of_key=True).line == 1  # the key `a:` itself
    assert source.location(("a", "zzz")).line == 2  # the mapping under `a:`
    assert source.location(("nope",)).line == 1  # the root mapping


def test_root_location_is_the_first_node_not_line_one() -> None:
    source = parse(HERE, "# comment\n\n- a\n")
    assert source.location(()).line == 3


def test_error_near_moves_the_caret_onto_the_text() -> None:
    source = parse(HERE, "run: curl ${URL}/x\n")
    error = source.error(("run",), "unset", near="${URL")
    assert error.location is not None and error.location.column == 11


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key `a` (first on line 1)"),
        ("x:\n  k: 1\n  k: 2\n", 3, "duplicate key `k`"),
        ("- {id: a, id: b}\n", 1, "duplicate key `id`"),
    ],
)
def test_duplicate_keys_are_errors(text: str, line: int, phrase: str) -> None:
    error = fails(text)
    assert error.location is not None and error.location.line == line
    assert phrase in error.problem


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [echo]\n",
        "a: !!python/name:os.system\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x, y}\n",
        "a: !custom 1\n",
        "a: !!omap [{x: 1}]\n",
    ],
)
def test_tags_that_construct_objects_are_refused(text: str) -> None:
    error = fails(text)
    assert "is not allowed" in error.problem
    assert error.location is not None and error.location.line == 1


def test_standard_scalar_tags_are_fine() -> None:
    source = parse(HERE, "a: !!str 5\nb: !!int '7'\nc: 2026-12-31\n")
    assert source.data == {"a": "5", "b": 7, "c": dt.date(2026, 12, 31)}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("until: 2026-02-30\n", "`2026-02-30` looks like a date but is not a valid one"),
        ("n: !!int abc\n", "`abc` looks like a number"),
    ],
)
def test_values_that_cannot_be_constructed_are_errors(text: str, phrase: str) -> None:
    assert phrase in fails(text).problem


def test_merge_keys_and_overrides() -> None:
    source = parse(HERE, "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")
    assert source.data["c"] == {"x": 1, "y": 3}
    assert source.keys[("c", "y")] == (4, 3)
    assert source.values[("c", "y")] == (4, 6)


def test_merge_of_a_scalar_is_an_error() -> None:
    error = fails("c:\n  <<: 5\n")
    assert "merge key" in error.problem
    assert error.location is not None and error.location.line == 2


def test_alias_bomb_fails_fast_and_points_at_the_aliases() -> None:
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    start = time.monotonic()
    error = fails("\n".join(levels) + "\n")
    assert time.monotonic() - start < 2.0
    assert "alias bomb" in error.hint
    assert error.location is not None and error.location.line == 5  # e: [*d, ...]


def test_ordinary_aliases_are_fine() -> None:
    source = parse(HERE, "a: &x [1, 2]\nb: *x\nc: *x\n")
    assert source.data == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_depth_is_bounded() -> None:
    error = fails("a: " + "[" * 80 + "]" * 80 + "\n")
    assert f"more than {yamlsrc.MAX_DEPTH} levels" in error.problem


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_documents(text: str) -> None:
    assert fails(text).problem == "the file is empty"


@pytest.mark.parametrize(
    ("text", "line", "col", "problem", "hint"),
    [
        ("a:\n\tb: 1\n", 2, 1, "a tab is used for indentation", "indent with spaces"),
        ("owner: @alice\n", 1, 8, "a plain value cannot start with `@`", 'e.g. "@alice"'),
        ('x: 1\na: "abc\nb: 1\n', 2, 4, "this quoted string is never closed", "closing quote"),
        ("a: [1, 2\nb: 3\n", 1, 4, "the `[` opened here is never closed", "close it with `]`"),
        ("a: {x: 1\nb: 2\n", 1, 4, "the `{` opened here is never closed", "close it with `}`"),
        ("a:\n  - b\n c: 1\n", 3, 2, "does not line up", "same column"),
        ("a: b: c\n", 1, 5, "unexpected `:` here", 'quote a value that contains ": "'),
        ("a: 1\n---\nb: 2\n", 2, 1, "more than one document", "remove the `---` line"),
        ("a: *nope\n", 1, 4, "undefined alias 'nope'", "define the anchor"),
        ('a: "x\\.y"\n', 1, 7, "unknown escape character '.'", "single quotes"),
    ],
)
def test_syntax_errors_are_explained(
    text: str, line: int, col: int, problem: str, hint: str
) -> None:
    error = fails(text)
    assert error.location is not None
    assert (error.location.line, error.location.column) == (line, col)
    assert error.problem.startswith("invalid YAML: ")
    assert problem in error.problem
    assert hint in error.hint


def test_rendered_syntax_error_shows_the_line_and_a_caret() -> None:
    assert fails("name: x\nchecks:\n  - id: a\n   kind: b\n").render() == (
        "error: t.yaml:4:4: invalid YAML: this line does not line up with the lines above it\n"
        "  4 |    kind: b\n"
        "         ^\n"
        "  hint: keys of one mapping, and items of one list, start in the same column"
    )


def test_read_text_refuses_binary_and_non_utf8(tmp_path: Path) -> None:
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    with pytest.raises(ChecklistError, match="binary file"):
        read_text(binary)
    latin = tmp_path / "l.yaml"
    latin.write_bytes(b"a: 1\nname: caf\xe9\n")
    with pytest.raises(ChecklistError) as caught:
        read_text(latin)
    assert caught.value.location is not None and caught.value.location.line == 2


def test_read_text_strips_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert parse(path).data == {"a": 1}


def test_read_text_missing_directory_and_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ChecklistError, match="checklist file not found"):
        read_text(tmp_path / "nope.yaml")
    with pytest.raises(ChecklistError, match="is a directory"):
        read_text(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("a: 1\n" * 10)
    monkeypatch.setattr(yamlsrc, "MAX_BYTES", 20)
    with pytest.raises(ChecklistError, match="a checklist is at most 20"):
        read_text(big)
