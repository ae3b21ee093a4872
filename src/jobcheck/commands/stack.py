"""``jobcheck stack up|down|status|logs``: the checklist's staging stack."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobcheck.errors import UsageError
from jobcheck.pipeline import load, stack_info
from jobcheck.staging import lifecycle

UNLIMITED_WIDTH = 10_000


def stack(action: str, path: Path | None, environ: Mapping[str, str], **options: Any) -> int:
    """`jobcheck stack up|down|status|logs`: the checklist's stack section, an exit code out."""
    from rich.console import Console  # lazy: rich, only on a terminal

    checklist = load(path, environ)
    info = stack_info(checklist)
    if info is None:
        raise UsageError(
            f"{checklist.path}: no `stack:` section",
            hint="add stack: {compose: [docker/compose.yaml], project: NAME}",
        )
    no_color = bool(environ.get("NO_COLOR"))
    # Piped (`| cat`, `| grep`): no terminal width to fit, so no column is cut or wrapped.
    width = None if sys.stdout.isatty() else UNLIMITED_WIDTH
    console = Console(no_color=no_color, highlight=False, width=width)
    actions = {
        "up": lifecycle.up,
        "down": lifecycle.down,
        "status": lifecycle.status,
        "logs": lifecycle.logs,
    }
    env = {**checklist.file_env, **environ}
    mask = checklist.secrets.masker(env)
    return int(actions[action](info, console, env, mask=mask, **options))
