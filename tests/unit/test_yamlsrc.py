"""Safe YAML with line numbers: positions, duplicates, tags, alias bombs, friendly syntax errors."""

from __future__ import annotations

import datetime as dt
import inspect
import sys
import time
from pathlib import Path

import pytest
import yaml

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


# --- hostile input: bounded, and always a ChecklistError with a line --------------------------


@pytest.fixture(params=["default", "pure-python"], autouse=True)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with PyYAML as installed (with libyaml's parser, usually) and
    with PyYAML's own parser, which also reads every file libyaml refuses."""
    if request.param == "pure-python":
        monkeypatch.setattr(yaml, "__with_libyaml__", False)
    return str(request.param)


def line_of(error: ChecklistError) -> int:
    assert error.location is not None
    return error.location.line


def timed_failure(text: str) -> tuple[ChecklistError, float]:
    start = time.monotonic()
    error = fails(text)
    return error, time.monotonic() - start


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\nchecks: " + "[" * 1000 + "]" * 1000 + "\n", 2),
        ("name: x\nchecks: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n", 2),
        ("name: x\nchecks:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 1001)), 66),
        ("name: x\nchecks:\n" + "- " * 1000 + "x\n", 3),
        ("name: x\nchecks: " + "[" * 100_000 + "\n", 2),  # never closed
    ],
    ids=["flow-lists", "flow-maps", "block-maps", "block-lists", "unclosed"],
)
def test_a_thousand_levels_is_a_checklist_error_not_a_recursion_error(text: str, line: int) -> None:
    error = fails(text)
    assert error.problem == f"values are nested more than {yamlsrc.MAX_DEPTH} levels deep"
    assert line_of(error) == line  # where the level too many begins


def test_aliases_cannot_stack_anchors_deeper_than_the_limit() -> None:
    deep = "[" * 40 + "x" + "]" * 40
    error = fails(f"a: &a {deep}\nb: {'[' * 40}*a{']' * 40}\n")
    assert error.problem == f"values are nested more than {yamlsrc.MAX_DEPTH} levels deep"


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    error = fails("a: 1\nb: &b [x, *b]\n")
    assert error.problem == "alias *b stands inside the value it names"
    assert (line_of(error), error.location and error.location.column) == (2, 11)


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("name: x\x01y\n", 1, 8, "control character U+0001 is not allowed in YAML"),
        ("a: 1\r\nb: 2\nname: \x1b[31mx\n", 3, 7, "control character U+001B is not allowed"),
        ("a: 1\nb: '\x7f'\n", 2, 5, "control character U+007F is not allowed in YAML"),
        ("a: 1\nb: \ufffe\n", 2, 4, "character U+FFFE is not allowed in YAML"),
        ("a: \ud800\n", 1, 4, "character U+D800 is not allowed in YAML"),
        ("a: x\x00\n", 1, 5, "control character U+0000 is not allowed in YAML"),
    ],
)
def test_a_forbidden_character_is_an_error_with_its_line(
    text: str, line: int, column: int, problem: str
) -> None:
    error = fails(text)
    assert error.problem.startswith(problem)
    assert error.location is not None
    assert (error.location.line, error.location.column) == (line, column)
    assert "\x1b" not in error.render()  # the quoted line cannot act on a terminal


def test_a_control_character_in_a_file_renders_with_file_line_and_an_escape(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"version: 1\nname: x\x01y\n")
    with pytest.raises(ChecklistError) as caught:
        parse(path)
    assert caught.value.render().splitlines() == [
        f"error: {path}:2:8: control character U+0001 is not allowed in YAML",
        "  2 | name: x\\x01y",
        "             ^",
        "  expected: printable text",
        "  seen: U+0001",
        '  hint: remove it; to mean it, write an escape in double quotes: "\\x01"',
    ]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("a: 1\nname: !!bool maybe\n", "`maybe` looks like a bool but is not a valid one"),
        ('a: 1\nn: !!int ""\n', "`` looks like a number but is not a valid one"),
        ("a: 1\nn: !!int 0x\n", "`0x` looks like a number but is not a valid one"),
        ("a: 1\nn: !!float x\n", "`x` looks like a number but is not a valid one"),
        ("a: 1\nd: !!timestamp soon\n", "`soon` looks like a date but is not a valid one"),
        ("a: 1\nn: " + "9" * 5000 + "\n", "looks like a number but is not a valid one"),
        ("a: 1\nm: {<<: {!!bool maybe: 1}}\n", "`maybe` looks like a bool"),
        ("a: 1\n!!bool maybe: 1\n", "`maybe` looks like a bool"),
        ("a: 1\nm: !!str [x]\n", "YAML tag !!str is not allowed"),
        ("a: 1\nm: {<<: {!!python/name:os.system x: 1}}\n", "YAML tag !!python/name:os.system"),
    ],
)
def test_tag_and_constructor_errors_are_checklist_errors_with_a_line(
    text: str, phrase: str
) -> None:
    error = fails(text)
    assert phrase in error.problem
    assert line_of(error) == 2


def test_bool_tag_error_says_what_a_boolean_is() -> None:
    assert fails("name: !!bool maybe\n").expected == "true or false"


def test_a_long_chain_of_merges_is_flattened_without_recursion() -> None:
    lines = ["m0: &m0 {k0: 0}"]
    for i in range(1, 150):
        lines.append(f"x{i}: {{<<: {{v: &m{i} {{<<: *m{i - 1}, k{i}: {i}}}}}, v: 1}}")
    lines.append("z: *m149")
    # PyYAML's flatten_mapping recurses once per link: it would need 150 frames here.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)
    try:
        data = parse(HERE, "\n".join(lines) + "\n").data
    finally:
        sys.setrecursionlimit(limit)
    assert data["z"] == {f"k{i}": i for i in range(150)}


def test_merges_keep_yaml_precedence() -> None:
    text = "a: &a {x: a, y: a}\nb: &b {x: b, z: b}\nc: {<<: [*a, *b], y: c}\nd: *a\n"
    data = parse(HERE, text).data
    assert data["c"] == {"x": "a", "y": "c", "z": "b"}
    assert data["d"] == {"x": "a", "y": "a"}  # an aliased mapping is built again, same value


def test_a_null_key_beside_a_merge_is_no_duplicate() -> None:
    assert parse(HERE, "a: &a {x: 1}\nb: {~: 1, <<: *a}\n").data["b"] == {"x": 1, None: 1}


def test_a_merged_key_may_repeat_an_own_key_when_the_mapping_is_aliased() -> None:
    data = parse(HERE, "b: &b {x: 1}\nc: &c {<<: *b, x: 2}\nd: *c\n").data
    assert data["d"] == {"x": 2}


def _honest_checks(count: int, alias: bool = False) -> str:
    lines = ["version: 1", "name: many", "opts: &opts {run: echo hi, timeout: 30s}", "checks:"]
    for i in range(count):
        lines += [
            f"  - id: check-{i}",
            "    kind: command",
            "    with: *opts" if alias else f"    with: {{run: echo {i}}}",
            '    owner: "@team"',
            f"    expect: prints {i}",
            "    rollback: nothing to roll back",
            "    timeout: 30s",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("alias", [False, True], ids=["plain", "an-alias-per-check"])
def test_five_thousand_honest_checks_load(alias: bool) -> None:
    # PyYAML's own parser is about five times slower: it reads a thousand.
    count = 5000 if yaml.__with_libyaml__ else 1000
    start = time.monotonic()
    source = parse(HERE, _honest_checks(count, alias))
    assert time.monotonic() - start < 10.0  # about 1.5 s here; 2,950 failed before
    assert len(source.data["checks"]) == count
    last = count - 1
    assert source.values[("checks", last, "owner")] == (8 + 7 * last, 12)


def test_a_nine_kb_billion_laughs_is_refused_quickly_at_its_line() -> None:
    lines = ['a: &a ["' + "lol" * 10 + '"]']
    names = [f"l{i}" for i in range(1, 26)]
    for prev, name in zip(["a", *names], names, strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 60) + "]")
    text = "\n".join(lines) + "\n"
    assert 8_000 < len(text) < 10_000
    error, elapsed = timed_failure(text)
    assert elapsed < 5.0  # about 0.01 s here
    assert "alias bomb" in error.hint
    assert line_of(error) == 4  # l3: its aliases, of 3,661 values each, cross 50,000 added


def test_a_large_anchor_aliased_thousands_of_times_is_refused_quickly() -> None:
    text = "big: &big " + "x" * 1_000_000 + "\nmany: [" + ", ".join(["*big"] * 2000) + "]\n"
    error, elapsed = timed_failure(text)
    assert elapsed < 5.0  # about 0.1 s here
    assert error.problem == f"aliases up to here add more than {yamlsrc.MAX_ALIAS_CHARS} characters"
    assert line_of(error) == 2


def test_a_duplicate_anchor_is_explained() -> None:
    error = fails("a: &x 1\nb: &x 2\n")
    assert error.problem == "invalid YAML: anchor &x is defined twice (first on line 1)"
    assert line_of(error) == 2


COMMON_MISTAKES = {
    "missing colon": (
        'version: 1\nname: x\nchecks:\n  - id: a\n    kind command\n    with: {run: "true"}\n',
        5,
        "a key without `:`",
    ),
    "unclosed quote": (
        'version: 1\nname: x\nchecks:\n  - id: a\n    owner: "@o\n    with: {run: "true"}\n'
        '  - id: b\n    owner: "@o"\n',
        5,
        "this quoted string is never closed on its line",
    ),
    "bad indentation": (
        "version: 1\nname: x\nchecks:\n  - id: a\n     kind: command\n    owner: o\n",
        5,
        "unexpected `:` here",
    ),
    "a tab": ("version: 1\nname: x\nchecks:\n  - id: a\n\tkind: command\n", 5, "a tab"),
}


@pytest.mark.parametrize("mistake", sorted(COMMON_MISTAKES))
def test_the_common_mistakes_point_at_the_line_the_user_got_wrong(mistake: str) -> None:
    """A missing colon was reported on the next line, an unclosed quote lines later as a
    plain value starting with `@`: both now name the line where the mistake is."""
    text, line, phrase = COMMON_MISTAKES[mistake]
    error = fails(text)
    assert error.location is not None and error.location.line == line, error.render()
    assert phrase in error.render()


def test_an_apostrophe_in_plain_text_is_not_taken_for_an_open_quote() -> None:
    text = "version: 1\nname: it's fine\nchecks:\n  - id: a\n     kind: command\n    owner: o\n"
    error = fails(text)
    assert error.location is not None and error.location.line == 5
    assert "never closed" not in error.render()
