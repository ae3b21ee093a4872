"""``jobcheck list``: the checks, one line each (or JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from jobcheck.checklist import Check
from jobcheck.pipeline import load


def list_checks(path: Path | None, as_json: bool, environ: Mapping[str, str]) -> int:
    checklist = load(path, environ)
    if as_json:
        rows = [_check_summary(c) for c in checklist.checks]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(c.id) for c in checklist.checks) + 2
    kind_width = max(len(c.kind) for c in checklist.checks) + 2
    owner_width = max(len(c.owner) for c in checklist.checks) + 2
    for check in checklist.checks:
        tags = f"  [{', '.join(check.tags)}]" if check.tags else ""
        needs = f"  needs: {', '.join(check.needs)}" if check.needs else ""
        sev = "" if check.severity == "blocker" else f"  ({check.severity})"
        print(
            f"{check.id:<{width}}{check.kind:<{kind_width}}{check.owner:<{owner_width}}"
            f"{check.title}{sev}{tags}{needs}"
        )
    return 0


def _check_summary(check: Check) -> dict[str, object]:
    return {
        "id": check.id,
        "title": check.title,
        "kind": check.kind,
        "owner": check.owner,
        "severity": check.severity,
        "tags": check.tags,
        "needs": check.needs,
        "source": str(check.source),
        "line": check.line,
    }
