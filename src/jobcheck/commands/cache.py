"""``jobcheck cache clear``: forget every cached result of a checklist."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from jobcheck.loading import find_checklist
from jobcheck.result_cache import cache_root, clear


def cache_clear(checklist: Path | None, out: IO[str]) -> int:
    """Remove the cache beside the checklist (its entries and its stat index)."""
    base = find_checklist(checklist).resolve().parent
    count, freed = clear(base)
    where = cache_root(base)
    if count:
        out.write(f"removed {count} cache file(s), {freed / 1024:.1f} KiB, from {where}\n")
    else:
        out.write(f"nothing to remove: {where} holds no cached result\n")
    return 0
