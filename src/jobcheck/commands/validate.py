"""``jobcheck validate``: load and check a checklist without running anything."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from jobcheck import exit_codes
from jobcheck.checklist import Checklist
from jobcheck.pipeline import load

# What `jobcheck init` writes for a person to replace: `@TODO-owner`, `TODO: revert ...`.
PLACEHOLDER = re.compile(r"^\s*@?TODO\b|@TODO-")


def validate(path: Path | None, strict: bool, environ: Mapping[str, str]) -> int:
    checklist = load(path, environ)
    warnings = lint_checklist(checklist)
    shown = warnings if strict else summarized(warnings)
    for warning in shown:
        print(f"{'error' if strict else 'warning'}: {warning}", file=sys.stderr)
    blocked = strict and warnings
    files = ", ".join(str(f) for f in checklist.files)
    verdict = "invalid (--strict)" if blocked else "valid"
    print(f"{checklist.name}: {len(checklist.checks)} checks, {verdict} ({files})")
    return exit_codes.USAGE if blocked else exit_codes.OK


def summarized(warnings: list[str]) -> list[str]:
    """Placeholders `jobcheck init` left are one line (the count by field), not two per
    check; a blocker without a rollback note or an expected result keeps its own line."""
    placeholders = [w for w in warnings if "is a placeholder" in w]
    if len(placeholders) <= 2:
        return warnings
    fields = Counter(w.split("` ", 1)[1].split(" ", 1)[0] for w in placeholders)
    counts = ", ".join(f"{name} {count}" for name, count in sorted(fields.items()))
    others = [w for w in warnings if w not in placeholders]
    first = placeholders[0].split(": `", 1)[0]
    return [
        *others,
        f"{len(placeholders)} placeholders left by `jobcheck init` to fill in ({counts}), the "
        f"first at {first}; `jobcheck validate --strict` lists each",
    ]


def lint_checklist(checklist: Checklist) -> list[str]:
    """What `validate` warns about: placeholders `jobcheck init` left to fill in (`@TODO-owner`,
    a `TODO:` note), and blockers without a rollback note or an expected result."""
    found = []
    for check in checklist.checks:
        where = f"{check.source}:{check.line}"
        for name in ("owner", "expect", "rollback"):
            value = getattr(check, name)
            if PLACEHOLDER.search(value):
                found.append(f"{where}: `{check.id}` {name} is a placeholder: {value!r}")
        if check.severity != "blocker":
            continue
        if not check.rollback:
            found.append(f"{where}: blocker `{check.id}` has no `rollback` note")
        if not check.expect:
            found.append(f"{where}: blocker `{check.id}` has no `expect` (expected result)")
    return found
