"""What a run is given: ``RunSettings`` (slots, the environment, the masker, the stack, the
result cache, the baselines) and ``Prepare``, the staging stack's bring-up.

The runner schedules with the slots and ``fail_fast``; the attempts (``attempts.py``) hand the
rest to each kind through its ``KindContext``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobcheck.kinds.base import StackInfo
from jobcheck.metrics import BaselineSource
from jobcheck.secrets import Masker

if TYPE_CHECKING:
    from jobcheck.result_cache import ResultCache

# What the stack's bring-up is given: the run's cancel event and where to say how it goes
# (one line at a time; the runner hands the lines to the listeners from its own thread).
# It returns "" when the stack is up, else the one-line reason its dependants end `error` with.
Prepare = Callable[[threading.Event, Callable[[str], None]], str]


@dataclass
class RunSettings:
    base_dir: Path
    env: Mapping[str, str]
    mask: Masker
    jobs: int = 4  # slots for checks that use a CPU (Kind.waits False)
    wait_jobs: int = 8  # slots for checks that mostly wait (Kind.waits True): --wait-jobs
    fail_fast: bool = False
    stack: StackInfo | None = None
    today: dt.date = field(default_factory=dt.date.today)
    # Brings the staging stack up, beside the checks that do not need it; the checks that do
    # (``uses_stack``) start when it is up, or end `error` with its reason when it is not.
    prepare: Prepare | None = None
    cache: ResultCache | None = None  # replays the passes of checks with `cache:`
    baselines: BaselineSource | None = None  # earlier runs' figures, for checks that measure
