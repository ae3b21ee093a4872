"""Shared by the static kinds: findings counted by rule and shown as the first few lines."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobcheck import bounded_regex
from jobcheck.results import Outcome
from jobcheck.secrets import Masker

SHOWN = 5
"""How many findings a message lists; the rest are counted."""
KEPT = 200
"""How many findings ``details`` keeps for the JSON report."""


@dataclass(frozen=True)
class Finding:
    """One concrete problem: the rule it breaks and the line a person reads."""

    rule: str
    text: str


def plural(count: int, word: str, many: str = "") -> str:
    """``1 finding``, ``2 findings``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def count_by_rule(findings: Iterable[Finding]) -> dict[str, int]:
    """Rule -> count, most frequent first, ties by rule name."""
    counts = Counter(f.rule for f in findings)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def counts_text(counts: dict[str, int]) -> str:
    """``3 E501, 2 F401``."""
    return ", ".join(f"{n} {rule}" for rule, n in counts.items())


def listing(head: str, lines: Sequence[str], shown: int = SHOWN) -> str:
    """``head`` then the first ``shown`` lines indented, and how many more there are."""
    body = [f"  {line}" for line in lines[:shown]]
    if len(lines) > shown:
        body.append(f"  ... and {len(lines) - shown} more")
    return "\n".join([head, *body])


def findings_outcome(
    subject: str,
    findings: Sequence[Finding],
    *,
    mask: Callable[[str], str],
    passed: str,
    allowed: int = 0,
    output: str = "",
) -> Outcome:
    """Fail with counts by rule and the first findings when more than ``allowed`` were found."""
    counts = count_by_rule(findings)
    details: dict[str, Any] = {
        "findings": len(findings),
        "by_rule": counts,
        "items": [{"rule": f.rule, "text": mask(f.text)} for f in findings[:KEPT]],
    }
    if len(findings) <= allowed:
        tolerated = f" ({plural(len(findings), 'finding')} tolerated)" if findings else ""
        return Outcome.passed(mask(passed + tolerated), output=output, details=details)
    expected = "expected none" if allowed == 0 else f"expected at most {allowed}"
    head = f"{subject}: {plural(len(findings), 'finding')} ({counts_text(counts)}), {expected}"
    text = listing(head, [f.text for f in findings])
    return Outcome.failed(mask(text), output=output, details=details)


def shown_path(path: Path, base: Path) -> str:
    """``path`` as the checklist would name it: relative to ``base`` (``../docker/x.yaml``)
    when that is at most two levels up, else absolute."""
    full = path.resolve()
    relative = os.path.relpath(full, base.resolve())
    return str(full) if relative.startswith(("../../..", "..\\..\\..")) else relative


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """One string or a list of strings, as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def valid_regex(value: str) -> str:
    """For option validators: a regular expression that compiles, else a clear ValueError."""
    try:
        bounded_regex.check_pattern(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return value


def masking(mask: Callable[[str], str], secrets: Iterable[str]) -> Callable[[str], str]:
    """``mask`` that also hides ``secrets``: values a check read from the files it looks at."""
    local = Masker(secrets)
    return lambda text: mask(local(text))
