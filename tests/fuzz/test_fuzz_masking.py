"""Fuzz the masker: whatever surrounds them, no declared secret and no URL password survives."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest

from jobcheck.secrets import Masker

CASES = int(os.environ.get("JOBCHECK_FUZZ_CASES", "300"))
# No "*": a secret holding the mask could be rebuilt from it and its neighbours.
ALPHABET = "ab:/@ \n\t=&?#%+.-_\"'\\é\x1b\x00AZ09"


def _secret(rng: random.Random) -> str:
    size = rng.choice((1, 2, 3, 8, 30))
    secret = "".join(rng.choice(ALPHABET) for _ in range(size))
    return secret if secret.strip() else "s"


def _text(rng: random.Random, secrets: list[str], passwords: list[str]) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(1, 60)):
        roll = rng.random()
        if roll < 0.3:
            parts.append(rng.choice(secrets))
        elif roll < 0.45:
            password = "".join(rng.choice("abc/@:%") for _ in range(12)) + "Z9"
            passwords.append(password)
            scheme = rng.choice(("redis", "REDIS", "amqp", "postgresql+psycopg", "s3"))
            parts.append(f"{scheme}://user:{password}@host/x ")
        else:
            parts.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 20))))
    return "".join(parts)


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", range(CASES))
def test_no_secret_survives_masking(seed: int) -> None:
    rng = random.Random(seed)
    secrets = [_secret(rng) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.3:
        secrets.append("\n".join(_secret(rng) * 3 for _ in range(3)))  # a multi-line value
    passwords: list[str] = []
    text = _text(rng, secrets, passwords)
    start = time.perf_counter()
    out = Masker(declared=secrets)(text)
    assert time.perf_counter() - start < 1.0
    leaked = [s for s in secrets if s in out] + [p for p in passwords if p in out]
    assert not leaked, f"seed {seed}: {leaked!r} in {out!r}"


def _renderings() -> list[Callable[[str], str]]:
    import html
    import json
    import shlex

    return [
        lambda t: shlex.join(["cmd", t, "--flag"]),
        json.dumps,
        lambda t: json.dumps(t, ensure_ascii=False),
        repr,
        html.escape,
        lambda t: json.dumps({"message": f"`{shlex.join(['run', t])}` exited 1"}),
        lambda t: html.escape(json.dumps(t)),
    ]


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", range(CASES // 3))
def test_no_secret_survives_masking_in_any_rendered_form(seed: int) -> None:
    """The text is rendered (shell-quoted, JSON, repr, HTML, one in another) before masking,
    as jobcheck's messages and reports do; then cut at a random byte, as output is."""
    rng = random.Random(seed)
    secrets = ["Q" + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(5, 12))) + "Z"
               for _ in range(rng.randint(1, 4))]  # fmt: skip
    text = _text(rng, secrets, [])
    renderings = _renderings()
    shown = rng.choice(renderings)(text)
    masker = Masker(declared=secrets)
    out = masker(shown)
    forms = {f"{r(s)}" for s in secrets for r in renderings} | set(secrets)
    inner = {f[1:-1] for f in forms if len(f) > 8 and f[0] in "\"'" and f[-1] == f[0]}
    leaked = [f for f in forms | inner if f in out]
    assert not leaked, f"seed {seed}: {leaked!r} in {out!r}"
    raw = shown.encode()
    cut = rng.randint(0, len(raw))
    tail = raw[cut:].decode("utf-8", errors="replace")
    out = masker(f"[... {cut} bytes cut ...]\n{tail}")
    body = out.split("\n", 1)[1]
    for secret in secrets:
        for size in range(3, len(secret) + 1):
            assert not body.startswith(secret[-size:]), f"seed {seed}: tail of {secret!r}"
