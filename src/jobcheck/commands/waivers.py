"""``jobcheck waivers``: every waiver with owner, reason and days left."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from pathlib import Path

from jobcheck.pipeline import load
from jobcheck.waiver_status import waivers_report


def waivers(checklist: Path | None, environ: Mapping[str, str]) -> int:
    text, code = waivers_text(checklist, environ=environ)
    sys.stdout.write(text)
    return code


def waivers_text(
    checklist: Path | None, *, environ: Mapping[str, str], today: dt.date | None = None
) -> tuple[str, int]:
    """Load the checklist (a load error is exit 2) and list its waivers; 1 when one expired."""
    loaded = load(checklist, environ)
    return waivers_report(loaded.checks, today=today or dt.date.today(), checklist=loaded.name)
