"""``jobcheck validate``: load and check a checklist without running anything."""

from __future__ import annotations

import re
import sys
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
    for warning in warnings:
        print(f"{'error' if strict else 'warning'}: {warning}", file=sys.stderr)
    blocked = strict and warnings
    files = ", ".join(str(f) for f in checklist.files)
    verdict = "invalid (--strict)" if blocked else "valid"
    print(f"{checklist.name}: {len(checklist.checks)} checks, {verdict} ({files})")
    return exit_codes.USAGE if blocked else exit_codes.OK


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
