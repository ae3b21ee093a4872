"""``jobcheck init``: write a starting checklist for the repository here."""

from __future__ import annotations

import sys
from pathlib import Path

from jobcheck.scaffold import init_command


def init(project_dir: Path, *, force: bool, here: bool = False) -> int:
    sys.stdout.write(init_command(project_dir, force=force, here=here))
    return 0
