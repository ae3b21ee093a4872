"""The readiness report a person reads: in a pull request, a step summary or a release ticket.

Order: the verdict, warnings about waivers close to expiry, failures (what failed, who owns it,
what was expected, what was seen, how to roll back), waivers, passing checks grouped by their
first tag, skipped checks. The text depends only on the run and ``today``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jobcheck.durations import format_duration
from jobcheck.metrics import BASELINE_FROM, metric_rows
from jobcheck.reports.text import counts_phrase, output_tail, problems_first, shown_source
from jobcheck.results import AttemptDetail, CheckResult, RunResult, Status
from jobcheck.waiver_status import (
    EXPIRED,
    EXPIRING,
    WARN_DAYS,
    describe_expiry,
    state_of,
)

if TYPE_CHECKING:
    from jobcheck.reports.formats import View

UNTAGGED = "untagged"
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


def render_markdown(run: RunResult, *, today: dt.date, root: Path | None = None) -> str:
    """``root``: checklist paths under it are shown relative to it (the repository, say)."""
    sections = [f"# Readiness report: {_inline(run.checklist)}", _summary(run)]
    if run.stack_up is not None:
        sections.append(_stack(run.stack_up))
    sections.extend(_expiry_alert(run.checks, today))
    sections.extend(_failures(run.checks, root))
    sections.extend(_waivers(run.checks, today))
    sections.extend(_metrics(run.checks))
    sections.extend(_passed(run.checks))
    sections.extend(_skipped(run.checks))
    return "\n\n".join(sections) + "\n"


def _summary(run: RunResult) -> str:
    if run.interrupted:
        verdict = "⏹️ **INTERRUPTED**"
    elif run.status == "pass":
        verdict = "✅ **PASS**"
    else:
        blockers = sum(c.blocks for c in run.checks)
        verdict = f"❌ **FAIL** ({blockers} blocker{'s' if blockers != 1 else ''})"
    facts = [
        f"{counts_phrase(run)} of {len(run.checks)} checks",
        format_duration(run.duration_s),
        run.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    ]
    if run.commit:
        facts.append(f"commit `{run.commit[:12]}`")
    return f"{verdict} · " + " · ".join(facts)


def _stack(span: AttemptDetail) -> str:
    """The bring-up, like a check: its status and its own duration."""
    icon = {Status.PASS: "✅", Status.SKIP: "⏭️"}.get(span.status, "❌")
    began = f"from +{format_duration(span.start_s)}, " if span.start_s >= 0.05 else ""
    return (
        f"{icon} Staging stack: bring-up **{span.status.value}** in "
        f"{format_duration(span.duration_s)} ({began}beside the checks that do not use it)"
    )


def _expiry_alert(checks: Sequence[CheckResult], today: dt.date) -> list[str]:
    lines = []
    for check in checks:
        until = check.waiver.until if check.waiver else None
        if until is not None and state_of(until, today) in (EXPIRING, EXPIRED):
            lines.append(
                f"> - waiver for `{check.id}` {describe_expiry(until, today)} "
                f"({until.isoformat()}), owner {_inline(check.owner or '-')}"
            )
    if not lines:
        return []
    return [
        "\n".join([f"> [!WARNING]\n> Waivers expired or expiring within {WARN_DAYS} days:", *lines])
    ]


def _failures(checks: Sequence[CheckResult], root: Path | None) -> list[str]:
    failed = problems_first(checks)
    if not failed:
        return []
    return [f"## Failures ({len(failed)})", *(_failure(c, root) for c in failed)]


def _failure(check: CheckResult, root: Path | None) -> str:
    icon = "❌" if check.severity == "blocker" else "⚠️"
    lines = [f"### {icon} {_inline(check.title)} (`{check.id}`)", ""]
    lines.append(f"- **Owner:** {_inline(check.owner) or '_none_'}")
    lines.append(f"- **Expected:** {_inline(check.expect) or '_not stated_'}")
    lines.extend(_seen(check.message))
    lines.append(f"- **Rollback:** {_inline(check.rollback) or '_none given_'}")
    if check.runbook:
        lines.append(f"- **Runbook:** {_runbook(check.runbook)}")
    lines.append(f"- **Status:** {_status_facts(check, root)}")
    block = "\n".join(lines)
    if check.output.strip():
        block += "\n\n" + _output(check.output)
    return block


def _seen(message: str) -> list[str]:
    first, *rest = message.splitlines() or [""]
    if not rest:
        return [f"- **Seen:** {_inline(first)}"]
    return ["- **Seen:**", "", *(f"  {line}" for line in _fenced(message).splitlines()), ""]


def _status_facts(check: CheckResult, root: Path | None) -> str:
    attempts = f"{check.attempts} attempt{'s' if check.attempts != 1 else ''}"
    facts = [check.status.value, check.severity, attempts]
    facts.append("retry safe" if check.retry_safe else "not retry safe")
    facts.append(format_duration(check.duration_s))
    if check.source:
        facts.append(f"`{shown_source(check, root)}`")
    return " · ".join(facts)


def _output(output: str) -> str:
    tail, total = output_tail(output)
    label = f"Output (last {len(tail)} of {total} lines)"
    return f"<details><summary>{label}</summary>\n\n{_fenced(chr(10).join(tail))}\n\n</details>"


def _waivers(checks: Sequence[CheckResult], today: dt.date) -> list[str]:
    waived = [c for c in checks if c.waiver]
    if not waived:
        return []
    rows = ["| Check | Owner | Status | Reason | Until | Expiry | By |", "|---" * 7 + "|"]
    for check in waived:
        waiver = check.waiver
        assert waiver is not None
        until = waiver.until
        expiry = describe_expiry(until, today)
        if state_of(until, today) != "ok":
            expiry = f"⚠️ {expiry}"
        cells = [
            f"`{check.id}` {check.title}",
            check.owner,
            check.status.value,
            waiver.reason,
            until.isoformat(),
            expiry,
            waiver.by,
        ]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [f"## Waivers ({len(waived)})", "\n".join(rows)]


def _metrics(checks: Sequence[CheckResult]) -> list[str]:
    """What the measuring checks measured, before → after where there is a baseline."""
    rows = metric_rows(checks)
    if not rows:
        return []
    table = ["| Check | Metric | Baseline | This run | Change |", "|---" * 5 + "|"]
    for check_id, name, before, after, change in rows:
        arrow = f"{before} → {after}" if before != "-" else after
        cells = [f"`{check_id}`", name, before, arrow, change]
        table.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    used = sorted({str(c.baseline[BASELINE_FROM]) for c in checks if c.baseline})
    against = f"Against: {'; '.join(_inline(u) for u in used)}" if used else "No baseline yet."
    return ["## Metrics", "\n".join(table) + "\n\n" + against]


def _passed(checks: Sequence[CheckResult]) -> list[str]:
    passed = [c for c in checks if c.status == Status.PASS]
    if not passed:
        return []
    groups: dict[str, list[CheckResult]] = {}
    for check in passed:
        groups.setdefault(check.tags[0] if check.tags else UNTAGGED, []).append(check)
    names = sorted(groups, key=lambda name: (name == UNTAGGED, name))
    blocks = [f"## Passed ({len(passed)})"]
    for name in names:
        items = [f"- ✅ {_item(c)}" for c in groups[name]]
        blocks.append("\n".join([f"### {_inline(name)}", "", *items]))
    return blocks


def _skipped(checks: Sequence[CheckResult]) -> list[str]:
    skipped = [c for c in checks if c.status == Status.SKIP]
    if not skipped:
        return []
    return [f"## Skipped ({len(skipped)})", "\n".join(f"- ⏭️ {_item(c)}" for c in skipped)]


def _item(check: CheckResult) -> str:
    parts = [f"{_inline(check.title)} (`{check.id}`)", _inline(check.owner or "-")]
    if check.cached:
        parts.append(f"cached (from the run of {check.cached_from})")
    elif check.status != Status.SKIP:
        parts.append(format_duration(check.duration_s))
    if check.message:
        parts.append(_inline(check.message.splitlines()[0]))
    return " · ".join(parts)


def _inline(text: str) -> str:
    """One line of text: newlines folded, ``<`` and ``>`` escaped outside code spans."""
    text = " ".join(text.split("\n")).strip()
    out, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_html(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape_html(text[last:]))
    return "".join(out)


# An autolink only for a plain http(s) URL: anything CommonMark would end the autolink at
# (`<`, `>`, a space, a quote) could start raw HTML after it, and `javascript:` must not link.
_LINKABLE = re.compile(r"^https?://[^\s<>\"'`\\]+$", re.IGNORECASE)


def _runbook(runbook: str) -> str:
    """A runbook as a link when it is a plain http(s) URL, else as text in a code span
    (no raw HTML, no `javascript:` link), as the HTML report shows it."""
    text = " ".join(runbook.split())
    if _LINKABLE.match(text):
        return f"<{text}>"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence} (not a link)"


def _escape_html(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _fenced(text: str) -> str:
    """A fenced code block whose fence is longer than any backtick run inside the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def report(run: RunResult, view: View) -> str:
    """The ``markdown`` report format (``reports.formats``)."""
    return render_markdown(run, today=view.today, root=view.root)
