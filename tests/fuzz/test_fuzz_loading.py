"""Fuzz the public loader: every mutated checklist loads, or fails as a JobcheckError, fast.

Each case is one seed: ``checklist_mutator.mutate(seed, file)`` on release.yaml (and now
and then on a file it includes) from tests/fixtures/good. A case must end within
CASE_LIMIT_S either with a Checklist or with a JobcheckError, never another exception.

By default a bounded number of cases runs within DEFAULT_BUDGET_S; JOBCHECK_FUZZ_CASES=5000
runs that many (JOBCHECK_FUZZ_SEED moves the first seed). A failure prints the seed and
leaves the mutated files in a folder to reproduce it with. Failures whose cause lies in
loading.py or its helpers (not in yamlsrc or secrets) are listed in KNOWN_LOADER_FAILURES
by seed until they are fixed; their standalone reproducers are in LOADER_BUGS below.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest
from checklist_mutator import FIXTURES, mutate

from jobcheck.errors import JobcheckError
from jobcheck.loading import load_checklist

CASE_LIMIT_S = 5.0
DEFAULT_CASES = 1500
DEFAULT_BUDGET_S = 45.0  # a slow CI machine runs fewer cases, never more than this
MAIN = "release.yaml"
INCLUDED = ("parts/common.yaml", "shared/base.yaml")
ENV = {
    "JOBCHECK_TEST_TOKEN": "tok-fuzz-secret",
    "JOBCHECK_FUZZ_TOKEN": "another-secret",
    "X": "x",
    "HOME": "/nonexistent",
}

# Seeds whose failure lies in the loader (loading.py and its helpers), with the cause;
# LOADER_BUGS below reproduces each cause in one small file. Remove a seed once its cause
# is fixed. (A change to checklist_mutator or to fixtures/good moves every seed.)
KNOWN_LOADER_FAILURES: dict[int, str] = {}  # seed -> cause; none left


class CaseTimeout(BaseException):
    """A case ran past CASE_LIMIT_S (BaseException: no `except Exception` swallows it)."""


@dataclass
class Failure:
    seed: int
    error: str
    origin: str
    folder: Path


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _origin(exc: BaseException) -> str:
    """The innermost frame of jobcheck's own code: where the cause most likely is."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/jobcheck/" in f.filename]
    last = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


def _case(seed: int, work: Path) -> tuple[BaseException | None, float]:
    """Mutate one file of a copy of the good fixtures with ``seed`` and load the copy."""
    if not work.exists():
        shutil.copytree(FIXTURES / "good", work)
    name = INCLUDED[seed % 2] if seed % 5 == 0 else MAIN
    for other in (MAIN, *INCLUDED):  # the previous case's file back as it was
        (work / other).write_bytes((FIXTURES / "good" / other).read_bytes())
    (work / name).write_bytes(mutate(seed, (work / name).read_bytes()))
    start = time.monotonic()
    try:
        with time_limit(CASE_LIMIT_S):
            load_checklist(work / MAIN, ENV)
    except JobcheckError:
        pass
    except (Exception, CaseTimeout) as exc:  # what the test looks for
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


def _cases() -> tuple[range, float | None]:
    first = int(os.environ.get("JOBCHECK_FUZZ_SEED", "0"))
    wanted = os.environ.get("JOBCHECK_FUZZ_CASES")
    count = int(wanted) if wanted else DEFAULT_CASES
    return range(first, first + count), (None if wanted else DEFAULT_BUDGET_S)


@pytest.mark.fuzz
def test_mutated_checklists_load_or_fail_cleanly_and_fast(tmp_path: Path) -> None:
    seeds, budget = _cases()
    started = time.monotonic()
    failures: list[Failure] = []
    ran = known = slowest = 0.0
    work = tmp_path / "work"
    for seed in seeds:
        if budget is not None and time.monotonic() - started > budget:
            break
        exc, elapsed = _case(seed, work)
        ran += 1
        slowest = max(slowest, elapsed)
        if exc is None and elapsed < CASE_LIMIT_S:
            continue
        if seed in KNOWN_LOADER_FAILURES:
            known += 1
            continue
        error = f"{type(exc).__name__}: {exc}"[:300] if exc else f"took {elapsed:.1f}s"
        kept = work.rename(tmp_path / f"seed-{seed}")  # the files, to reproduce it
        failures.append(Failure(seed, error, _origin(exc) if exc else "-", kept))
    print(f"\nfuzz: {ran:.0f} cases from seed {seeds.start}, {known:.0f} known loader failures")
    print(f"fuzz: slowest case {slowest:.2f}s, all in {time.monotonic() - started:.1f}s")
    assert not failures, "\n".join(
        f"seed {f.seed}: {f.error}\n  at {f.origin}; files in {f.folder}" for f in failures
    )
    assert ran >= min(len(seeds), 200), "the machine is too slow to fuzz meaningfully"


# Loader bugs the fuzzing found, reduced to one file each: each is now a load error (exit 2)
# with file:line, and these keep them so.
_CHECK = '  - {id: a, kind: command, owner: "@o", with: {run: "true"}}\n'
LOADER_BUGS = [
    pytest.param(
        'include: ["' + "x" * 300 + '"]\n',
        id="include-name-too-long-OSError",
    ),
    pytest.param('include: ["a\\0b"]\n', id="include-NUL-ValueError"),
    pytest.param('env_files: ["a\\0b"]\n', id="env_files-NUL-ValueError"),
    pytest.param(
        "defaults: {timeout: " + "9" * 400 + "}\n",
        id="timeout-huge-OverflowError",
    ),
]


@pytest.mark.parametrize("line", LOADER_BUGS)
def test_known_loader_bug(line: str, tmp_path: Path) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(f"version: 1\nname: r\n{line}checks:\n{_CHECK}")
    with pytest.raises(JobcheckError), time_limit(CASE_LIMIT_S):
        load_checklist(path, {})


def test_known_loader_bug_env_file_that_is_a_fifo_blocks(tmp_path: Path) -> None:
    # /dev/zero would read until memory runs out: not tried here, same cause.
    os.mkfifo(tmp_path / "staging.env")
    path = tmp_path / "jobcheck.yaml"
    path.write_text(f"version: 1\nname: r\nenv_files: [staging.env]\nchecks:\n{_CHECK}")
    try:
        with time_limit(1.0):
            load_checklist(path, {})
    except CaseTimeout:
        pytest.fail("loading blocked on a FIFO named in env_files")
    except JobcheckError:
        pass
