"""Fuzz `jobcheck init` on hostile repositories: project files of any TOML type where a table
or a list is expected (`tool = 1`, `testpaths = {a = 1}`), mixed with FIFOs, symlinks to
/dev/zero and deeply nested files. Each case drafts a checklist, fast, never a crash or a hang.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from jobcheck.scaffold import init_checklist

CASES = max(1, int(os.environ.get("JOBCHECK_FUZZ_CASES", "300")) // 10)
CASE_LIMIT_S = 10.0
TOML_VALUES = (
    "1",
    "3.5",
    "true",
    '"x"',
    "[]",
    "[1, 2]",
    '["a", 1]',
    "{}",
    "{a = 1}",
    '"1979-05-27"',
)
KEYS = (
    ("", "tool"),
    ("", "project"),
    ("tool", "pytest"),
    ("tool", "ruff"),
    ("tool", "poetry"),
    ("tool.pytest", "ini_options"),
    ("tool.pytest.ini_options", "testpaths"),
    ("tool.pytest.ini_options", "python_files"),
    ("project", "name"),
    ("project", "version"),
    ("project", "dependencies"),
    ("project", "optional-dependencies"),
    ("project.optional-dependencies", "extra"),
    ("tool.poetry", "dependencies"),
)
FILES = (
    "pytest.ini",
    "setup.cfg",
    "tox.ini",
    "requirements.txt",
    "Makefile",
    ".gitignore",
    "compose.yaml",
    ".env",
    "worker.py",
)


def _pyproject(rng: random.Random) -> str:
    """One value per table at most, each key at most once: valid TOML of the wrong types."""
    tables: dict[str, dict[str, str]] = {}
    chosen: list[str] = []
    for table, key in rng.sample(KEYS, rng.randint(1, 6)):
        full = f"{table}.{key}".strip(".")
        clash = [
            p
            for p in [*chosen, *tables]
            if p and (p.startswith(full + ".") or full.startswith(p + ".") or p == full)
        ]
        if clash:  # a value where a table is, or a table under a value: not TOML
            continue
        chosen.append(full)
        tables.setdefault(table, {})[key] = rng.choice(TOML_VALUES)
    lines = [f"{k} = {v}" for k, v in tables.pop("", {}).items()]
    for table, pairs in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {v}" for k, v in pairs.items()]
    return "\n".join(lines) + "\n"


def _hostile(rng: random.Random, path: Path) -> None:
    kind = rng.choice(("fifo", "dev-zero", "deep", "binary", "plain"))
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "deep":
        path.write_text("[" * 5000 + "\n" + "x = a" + ".b" * 50_000 + "\n")
    elif kind == "binary":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(200)))
    else:
        path.write_text("[pytest]\ntestpaths = tests\n")


def _release_fifos(root: Path) -> None:
    for path in root.iterdir():
        if path.is_fifo():
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", range(CASES))
def test_init_drafts_on_a_hostile_repository(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    (tmp_path / ".git").mkdir()
    text = _pyproject(rng)
    try:
        import tomllib

        tomllib.loads(text)
    except ValueError:
        pytest.skip("the generator wrote TOML that is not valid")  # a bug of the generator
    (tmp_path / "pyproject.toml").write_text(text)
    for name in rng.sample(FILES, rng.randint(0, 3)):
        _hostile(rng, tmp_path / name)
    box: list[object] = []

    def work() -> None:
        try:
            box.append(init_checklist(tmp_path, force=True, environ={}, compose_cli=lambda: ""))
        except BaseException as exc:
            box.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(CASE_LIMIT_S)
    if worker.is_alive():
        _release_fifos(tmp_path)
        pytest.fail(f"seed {seed}: init did not end within {CASE_LIMIT_S}s\n{text}")
    (result,) = box
    assert isinstance(result, Path), f"seed {seed}: {result!r}\n{text}"
    assert "checks:" in result.read_text(encoding="utf-8")
    assert time.monotonic() - started < CASE_LIMIT_S
