"""``jobcheck history``: per check over the saved runs of one checklist; ``jobcheck durations
[--write FILE]``: each check's median duration from them, as the file ``run --shard K/N
--durations FILE`` balances shards by. Committed, it makes every CI machine split the
checklist the same way, whatever history it has."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

from jobcheck.errors import UsageError
from jobcheck.fsutil import atomic_write_text
from jobcheck.loading import find_checklist, load_checklist
from jobcheck.run_history import history_durations, history_table, load_runs, render_history
from jobcheck.shards import durations_text


def history(checklist: Path | None, *, cwd: Path | None = None) -> int:
    sys.stdout.write(history_text(checklist, cwd=cwd))
    return 0


def history_text(checklist: Path | None, *, cwd: Path | None = None) -> str:
    """The table for the runs of one checklist (found as ``run`` finds it), saved beside it
    in ``.jobcheck/runs/``."""
    path = find_checklist(checklist, cwd).resolve()
    runs = load_runs(path.parent, checklist=path)
    return render_history(history_table(runs), runs)


def durations(
    checklist: Path | None, write: Path | None, environ: dict[str, str], out: IO[str] | None = None
) -> int:
    loaded = load_checklist(find_checklist(checklist), environ)
    ids = {c.id for c in loaded.checks}
    found = {k: v for k, v in history_durations(loaded.base_dir, loaded.name).items() if k in ids}
    if not found:
        raise UsageError(
            f"no saved run of `{loaded.name}` here ({loaded.base_dir / '.jobcheck' / 'runs'}): "
            "nothing to take durations from",
            hint="run the checklist once (`jobcheck run`), then `jobcheck durations --write FILE`",
        )
    text = durations_text(found)
    if write is None:
        (out or sys.stdout).write(text)
        return 0
    try:
        atomic_write_text(write, text)
    except OSError as exc:
        raise UsageError(f"--write {write}: {exc.strerror or exc}") from None
    missing = len(ids) - len(found)
    note = f" ({missing} without a saved duration weigh the median)" if missing else ""
    print(f"wrote {write}: {len(found)} checks{note}", file=sys.stderr)
    return 0
