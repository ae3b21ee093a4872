"""Fuzz the masker: whatever surrounds them, no declared secret and no URL password survives."""

from __future__ import annotations

import os
import random
import time

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
