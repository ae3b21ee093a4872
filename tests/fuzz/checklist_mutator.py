"""A small, seeded mutator of checklist files: bytes in, bytes out, same seed same bytes.

It mixes what breaks parsers (control bytes, invalid UTF-8, brackets, tabs), what breaks
YAML's meaning (tags, anchors, aliases, merges, duplicate keys, depth) and what breaks a
checklist (interpolation, includes, ids, needs, durations, dates), and splices lines from
the broken fixtures, which each hold one known mistake.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

TOKENS = [
    *(bytes([c]) for c in (0x00, 0x01, 0x07, 0x08, 0x0B, 0x1B, 0x7F)),
    b"\x1b[31m",
    b"\x1b]52;c;cHduZWQ=\x07",
    b"\t",
    b"\r",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # an encoded surrogate: not UTF-8
    "\u202e".encode(),
    "\ufeff".encode(),
    "\u0085".encode(),
    "\ufffe".encode(),
    b"&a ",
    b"&b ",
    b"*a",
    b"*b",
    b"<<: *a",
    b"<<: ",
    b"!!bool ",
    b"!!int ",
    b"!!float ",
    b"!!timestamp ",
    b"!!str ",
    b"!!null ",
    b"!!python/name:os.system ",
    b"!custom ",
    b"!!set ",
    b"!!binary ",
    b"!!omap ",
    b"!",
    b"${",
    b"${X}",
    b"${X:-",
    b"${who}",
    b"${greeting}",
    b"${JOBCHECK_FUZZ_TOKEN}",
    b"${JOBCHECK_TEST_TOKEN}",
    b"$$",
    b"$",
    b"}",
    b"{",
    b"[",
    b"]",
    b",",
    b":",
    b": ",
    b"- ",
    b"? ",
    b"#",
    b'"',
    b"'",
    b"\\",
    b"\n",
    b"  ",
    b"---\n",
    b"...\n",
    b"|",
    b">",
    b"%YAML 1.1\n",
    b"%TAG ! tag:x,2000:\n",
    b"@",
    b"`",
    b"=",
    b"~",
    b"0",
    b"-1",
    b"1e999",
    b"0x",
    b"1:30",
    b"2026-02-30",
    b"9" * 5000,
    b"x" * 70_000,
    b"[" * 200,
    b"{a: " * 70,
]

VALUES = [
    b"",
    b"null",
    b"~",
    b"true",
    b"no",
    b"-1",
    b"0",
    b"1e999",
    b".nan",
    b"0o9",
    b"2026-02-30",
    b"2099-12-31",
    b"[]",
    b"{}",
    b"[[]]",
    b"{x: {y: z}}",
    b'"${UNSET_FUZZ}"',
    b'"${who"',
    b'"$${x}"',
    b"'\\x'",
    b'"\\x"',
    b'"\\u00"',
    b"250ms",
    b"0s",
    b"-5s",
    b"5m",
    b"1h30",
    b"99999999999999999999h",
    b"*a",
    b"&a [x]",
    b"!!bool maybe",
    b"!!int ''",
    b'"@captain"',
    b"@alice",
    b"greet",
    b"[greet, greet]",
    b"[release.yaml]",
    b"[parts/common.yaml, parts/common.yaml]",
    b"[../release.yaml]",
    b"[/]",
    b"[.]",
    b"[nope.yaml]",
    b'["a\\0b"]',
    b"[" + b"x" * 300 + b"]",
    b'{run: "echo ${greeting}", stdout_contains: hello}',
    b"{run: [], shell: true}",
    b'{run: "echo \'unbalanced"}',
    b"{run: 5}",
    b"{reason: x, until: 2001-01-01, by: y}",
    b"{reason: x, until: not-a-date}",
    b"command",
    b"http",
    b"no-such-kind",
    b"9" * 400,
    b"a" * 5000,
]

KEYS = [
    b"id",
    b"title",
    b"kind",
    b"with",
    b"owner",
    b"expect",
    b"rollback",
    b"severity",
    b"needs",
    b"tags",
    b"timeout",
    b"retries",
    b"retry_safe",
    b"runbook",
    b"waiver",
    b"version",
    b"name",
    b"include",
    b"vars",
    b"defaults",
    b"stack",
    b"checks",
    b"secrets",
    b"env_files",
    b"rolback",
    b"<<",
    b"? [a]",
    b"1",
    b"null",
    b"${who}",
]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_VALUE = re.compile(rb": ([^\n]*)")


def _corpus() -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(FIXTURES.glob("broken/**/*.yaml")) + sorted(FIXTURES.glob("good/**/*.yaml")):
        lines += path.read_bytes().splitlines(keepends=True)
    return lines


CORPUS = _corpus()


def _insert_token(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.choice(TOKENS) + data[at:]


def _delete_span(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + data[at + rng.randint(1, 40) :]


def _duplicate_line(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    return b"".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])


def _swap_lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def _indent(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    if rng.random() < 0.5:
        lines[i] = b" " * rng.randint(1, 4) + lines[i]
    else:
        lines[i] = lines[i][rng.randint(1, 4) :]
    return b"".join(lines)


def _replace_value(rng: random.Random, data: bytes) -> bytes:
    found = list(_VALUE.finditer(data))
    if not found:
        return data
    match = rng.choice(found)
    return data[: match.start(1)] + rng.choice(VALUES) + data[match.end(1) :]


def _insert_pair(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    i = rng.randrange(len(lines) + 1)
    indent = b" " * rng.choice((0, 2, 4, 6))
    pair = indent + rng.choice(KEYS) + b": " + rng.choice(VALUES) + b"\n"
    return b"".join([*lines[:i], pair, *lines[i:]])


def _splice(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    i = rng.randrange(len(lines) + 1)
    return b"".join([*lines[:i], *rng.sample(CORPUS, rng.randint(1, 3)), *lines[i:]])


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randint(0, len(data))]


MUTATORS: list[Callable[[random.Random, bytes], bytes]] = [
    _insert_token,
    _insert_token,
    _delete_span,
    _duplicate_line,
    _swap_lines,
    _indent,
    _replace_value,
    _replace_value,
    _insert_pair,
    _insert_pair,
    _splice,
    _truncate,
]


# Values for structure-aware mutations: valid YAML, wrong or odd for a checklist.
OBJECTS: list[Any] = [
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x" * 5000,
    "${UNSET_FUZZ}",
    "${who",
    "${JOBCHECK_FUZZ_TOKEN}",
    "$${x}",
    "${X:-${who}}",
    "nul\x00 esc\x1b[31m bell\x07",
    "\u202eadmin",
    "\ud800",
    "@alice",
    "greet",
    "common-lint",
    "base-ok",
    "command",
    "no-such-kind",
    "250ms",
    "-1s",
    "0",
    "1e9h",
    "99999999999999999999999h",
    "blocker",
    "info",
    "release.yaml",
    "../release.yaml",
    "/",
    "a\x00b",
    ["a\x00b"],
    ["x" * 300],
    ["/"],
    dt.date(2001, 1, 1),
    dt.date(2999, 1, 1),
    [],
    {},
    [[]],
    [None],
    ["greet", "greet"],
    ["echo", None],
    {"a": {"b": None}},
    {"run": "echo ${greeting}", "stdout_contains": "hello"},
    {"run": ["true"], "shell": "yes"},
    {"reason": "x", "until": dt.date(2001, 1, 1), "by": "y"},
    {"reason": "", "until": "soon"},
    list(range(300)),
]


def _any_object(rng: random.Random) -> Any:
    # A copy: an edit must never change OBJECTS, or a case would depend on the ones before.
    return copy.deepcopy(rng.choice(OBJECTS))


def _paths(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``data``, so one can be changed in place."""
    found: list[tuple[Any, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            found.append((node, key))
            if isinstance(value, dict | list):
                stack.append(value)
    return found


def _tree_edit(rng: random.Random, data: Any) -> None:
    paths = _paths(data)
    if not paths:
        return
    container, key = rng.choice(paths)
    action = rng.randrange(6)
    if action == 0 and isinstance(container, dict):
        del container[key]
    elif action == 1 and isinstance(container, dict):
        container[rng.choice(KEYS).decode()] = _any_object(rng)
    elif action == 2:
        container[key] = [container[key]] if rng.random() < 0.5 else {"x": container[key]}
    elif action == 3 and isinstance(container, list):
        container.append(container[key])  # a second check with the same id, say
    else:
        container[key] = _any_object(rng)


def _mutate_tree(rng: random.Random, data: bytes) -> bytes:
    """Edit the parsed file and write it back: valid YAML, odd checklist."""
    try:
        tree = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError:
        return data
    if not isinstance(tree, dict | list) or not tree:
        return data
    for _ in range(rng.randint(1, 3)):
        _tree_edit(rng, tree)
    unicode = rng.random() < 0.5
    try:
        text = yaml.dump(tree, Dumper=_DUMPER, sort_keys=False, allow_unicode=unicode)
    except UnicodeEncodeError:  # libyaml's emitter cannot write a lone surrogate; PyYAML's can
        text = yaml.dump(tree, Dumper=yaml.SafeDumper, sort_keys=False, allow_unicode=unicode)
    return text.encode("utf-8", "surrogatepass")


def mutate(seed: int, data: bytes) -> bytes:
    """``data`` after seeded mutations: mostly of the parsed tree (valid YAML, odd values),
    else of the bytes, and now and then both."""
    rng = random.Random(seed)
    if rng.random() < 0.6:
        data = _mutate_tree(rng, data)
        if rng.random() > 0.2:
            return data
    for _ in range(rng.randint(1, 4)):
        data = rng.choice(MUTATORS)(rng, data) or b"\n"
    return data
