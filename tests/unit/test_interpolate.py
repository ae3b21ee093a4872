"""``${NAME}``, ``${NAME:-default}`` and ``$$``: one pass, no shell, clear failures."""

from __future__ import annotations

import pytest

from jobcheck.interpolate import BadReference, Unset, chain, interpolate, walk

LOOKUP = chain({"API": "http://127.0.0.1:8000", "EMPTY": ""}, {"API": "env", "HOME": "/home/u"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${API}/health", "http://127.0.0.1:8000/health"),
        ("${HOME}", "/home/u"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY}", ""),
        ("${MISSING:-}", ""),
        ("${MISSING:-a b; c}", "a b; c"),
        ("${MISSING:-pa$$word}", "pa$word"),
        ("$$", "$"),
        ("$${API}", "${API}"),
        ("$$$${API}", "$${API}"),
        ("cost: $5 and $HOME", "cost: $5 and $HOME"),
        ("no references", "no references"),
        ("${API}${HOME}", "http://127.0.0.1:8000/home/u"),
    ],
)
def test_forms(text: str, expected: str) -> None:
    assert interpolate(text, LOOKUP) == expected


def test_one_pass_values_are_never_expanded_again() -> None:
    lookup = chain({"A": "${B}", "B": "x", "C": "$$"})
    assert interpolate("${A} ${C}", lookup) == "${B} $$"


def test_unset_names_the_variable() -> None:
    with pytest.raises(Unset) as caught:
        interpolate("curl ${API}/${TOKEN}", LOOKUP)
    assert caught.value.name == "TOKEN"


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("${api", "${api"),
        ("x ${1ABC} y", "${1ABC}"),
        ("${A-B}", "${A-B}"),
        ("${}", "${}"),
        ("${A:-${B}}", "${A:-${B}"),
        ("${A:default}", "${A:default}"),
    ],
)
def test_malformed_references(text: str, bad: str) -> None:
    with pytest.raises(BadReference) as caught:
        interpolate(text, LOOKUP)
    assert caught.value.text == bad


def test_chain_asks_layers_in_order() -> None:
    lookup = chain({"A": "vars"}, {"A": "env", "B": "env"})
    assert (lookup("A"), lookup("B"), lookup("C")) == ("vars", "env", None)


def test_walk_visits_every_string_with_its_key() -> None:
    seen: list[tuple[str | int, ...]] = []

    def visit(text: str, key: tuple[str | int, ...]) -> str:
        seen.append(key)
        return text.upper()

    data = {"a": "x", "b": ["y", {"c": "z"}], "n": 1, "t": True, "none": None}
    assert walk(data, visit) == {"a": "X", "b": ["Y", {"c": "Z"}], "n": 1, "t": True, "none": None}
    assert seen == [("a",), ("b", 0), ("b", 1, "c")]
