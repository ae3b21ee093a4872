"""Fuzz the files jobcheck reads besides the checklist: each case loads, or fails as a
JobcheckError (a clear message), fast, and never shows a secret it read.

Families: env files whose values hold ``$``, ``{`` and ``}`` in every arrangement.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from jobcheck.errors import JobcheckError
from jobcheck.loading import load_checklist

CASES = max(1, int(os.environ.get("JOBCHECK_FUZZ_CASES", "300")) // 3)
CASE_LIMIT_S = 2.0
CHECKLIST = (
    "version: 1\nname: fuzz\nenv_files: [fuzz.env]\n"
    "checks:\n  - {id: a, kind: command, owner: '@o', with: {run: 'true'}}\n"
)
PIECES = ("$", "$$", "${", "}", "{", "${A}", "${A:-d}", "$A", "$1", "${1}", "${A:?}", "x", "'")


def _value(rng: random.Random) -> str:
    return "Zq" + "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8))) + "Wv"


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", range(CASES))
def test_env_file_values_with_dollars_load_or_fail_clearly(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    values = {f"DB_PASSWORD_{i}": _value(rng) for i in range(rng.randint(1, 4))}
    lines = ["A=plain"]
    for key, value in values.items():
        quote = rng.choice(("", '"', "'")) if "'" not in value else ""
        lines.append(f"{key}={quote}{value}{quote}")
    (tmp_path / "fuzz.env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
    started = time.monotonic()
    try:
        load_checklist(tmp_path / "jobcheck.yaml", {"HOME": "/nonexistent"})
    except JobcheckError as exc:
        text = exc.render() if hasattr(exc, "render") else str(exc)
        shown = [v for v in values.values() if v in text or v.strip("'\"") in text]
        assert not shown, f"seed {seed}: a value in {text!r}"
        assert "Zq" not in text, f"seed {seed}: part of a value in {text!r}"
    assert time.monotonic() - started < CASE_LIMIT_S
