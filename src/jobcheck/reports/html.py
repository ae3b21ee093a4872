"""The HTML report: one self-contained file a release captain opens from an artifact store.

Order: the verdict and the facts (counts, commit, duration, checklist digest), waiver alerts,
filters, the timeline (``html_timeline.py``), failures first (owner, expected, seen, rollback,
runbook, output tail), waivers with their expiry, then every check in a table.

Self-contained and inert: inline CSS and one small script, nothing fetched (the page's Content
Security Policy says ``default-src 'none'`` and allows only that script, by its hash). Every
string from the run is escaped with ``html.escape`` (attributes too) after ``plain_text``; the
script reads its data from a ``<script type="application/json">`` block in which ``<``, ``>``
and ``&`` are JSON escapes, and builds its elements with ``textContent``. The text depends
only on the run and ``today``, so tests assert it exactly.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from jobcheck.durations import format_duration
from jobcheck.fsutil import json_text
from jobcheck.reports.html_metrics import render_metrics
from jobcheck.reports.html_timeline import render_timeline
from jobcheck.reports.text import STATUS_WORDS, output_tail, problems_first, shown_source
from jobcheck.results import STATUS_ORDER, CheckResult, RunResult, Status
from jobcheck.run_history import load_runs
from jobcheck.textsafe import plain_text
from jobcheck.waiver_status import EXPIRED, EXPIRING, describe_expiry, state_of

if TYPE_CHECKING:
    from jobcheck.reports.formats import View

_FILTER_ORDER = [Status.FAIL, Status.ERROR, Status.WAIVED, Status.SKIP, Status.PASS]
NOT_RUN = "\N{EN DASH}"
_LINK = re.compile(r"^https?://[^\s]+$")


def esc(text: str) -> str:
    """Text safe inside an element or a quoted attribute (controls shown as escapes)."""
    return html.escape(plain_text(text), quote=True)


def render_html(
    run: RunResult,
    *,
    today: dt.date,
    root: Path | None = None,
    history: Sequence[RunResult] = (),
) -> str:
    """``root``: checklist paths under it are shown relative to it (the repository, say).
    ``history``: earlier runs of the checklist, oldest first, to plot the metrics over."""
    script = _asset("html_report.js")
    index = {c.id: i for i, c in enumerate(run.checks)}
    body = [
        _header(run),
        '<main class="page">',
        *_expiry_alert(run.checks, today),
        _filters(run),
        render_timeline(run, index, esc),
        *filter(None, [render_metrics(run, history, esc)]),
        *_failures(run.checks, index, root),
        *_waivers(run.checks, index, today),
        _table(run.checks),
        "</main>",
        _footer(run),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{_policy(script)}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="generator" content="jobcheck">',
            f"<title>{_verdict_word(run)} · {esc(run.checklist)} · jobcheck</title>",
            f"<style>\n{_asset('html_report.css')}</style>",
            "</head>",
            f'<body class="verdict-{_verdict_word(run).lower()}">',
            *body,
            f'<script type="application/json" id="jobcheck-data">{_data(run)}</script>',
            f"<script>\n{script}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _asset(name: str) -> str:
    return resources.files("jobcheck.reports").joinpath(name).read_text(encoding="utf-8")


def _policy(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(f"\n{script}".encode()).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def _data(run: RunResult) -> str:
    """What the filters need, as JSON that cannot end its ``<script>`` block."""
    data = {
        "checks": [
            {"id": c.id, "status": c.status.value, "owner": c.owner, "tags": list(c.tags)}
            for c in run.checks
        ],
        "owners": sorted({c.owner for c in run.checks if c.owner}),
        "tags": sorted({t for c in run.checks for t in c.tags}),
    }
    text = json_text(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _verdict_word(run: RunResult) -> str:
    return "INTERRUPTED" if run.interrupted else run.status.upper()


def _header(run: RunResult) -> str:
    blockers = sum(c.blocks for c in run.checks)
    note = f"{blockers} blocker{'s' if blockers != 1 else ''}" if blockers else "ready"
    if run.interrupted:
        note = "the run was interrupted"
    counts = "".join(
        f'<li class="s-{s.value}"><b>{run.summary[s.value]}</b> {STATUS_WORDS[s]}</li>'
        for s in STATUS_ORDER
    )
    return "\n".join(
        [
            '<header class="top">',
            f'<div class="verdict"><span class="verdict-word">{_verdict_word(run)}</span>'
            f'<span class="verdict-note">{note}</span></div>',
            f'<div class="heading"><h1>{esc(run.checklist)}</h1>',
            f'<p class="facts">{_facts(run)}</p></div>',
            f'<ul class="counts">{counts}</ul>',
            "</header>",
        ]
    )


def _facts(run: RunResult) -> str:
    started = run.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    facts = [
        f"<span>started <b>{started}</b></span>",
        f"<span>took <b>{format_duration(run.duration_s)}</b></span>",
        f"<span>{len(run.checks)} checks</span>",
    ]
    if run.commit:
        facts.append(f'<span>commit <code title="{esc(run.commit)}">{esc(run.commit[:12])}</code>')
        facts[-1] += "</span>"
    digest = run.digest
    if digest:
        facts.append(
            f'<span>checklist sha256 <code title="{esc(digest)}">{esc(digest[:12])}</code></span>'
        )
    if run.shard is not None:
        facts.append(f"<span>shard <b>{run.shard.index}/{run.shard.count}</b></span>")
    if run.path:
        facts.append(f"<span><code>{esc(run.path)}</code></span>")
    return " ".join(facts)


def _expiry_alert(checks: Sequence[CheckResult], today: dt.date) -> list[str]:
    items = []
    for check in checks:
        until = check.waiver.until if check.waiver else None
        state = state_of(until, today) if until else ""
        if until is not None and state in (EXPIRING, EXPIRED):
            items.append(
                f'<li class="{state}">waiver for <code>{esc(check.id)}</code> '
                f"{describe_expiry(until, today)} ({until.isoformat()}), "
                f"owner {esc(check.owner or '-')}</li>"
            )
    if not items:
        return []
    head = '<div class="alert" role="alert"><b>Waivers need attention</b><ul>'
    return [head, *items, "</ul></div>"]


def _filters(run: RunResult) -> str:
    chips = "".join(
        f'<button type="button" class="chip s-{s.value}" data-status="{s.value}" '
        f'aria-pressed="true">{STATUS_WORDS[s]} <b>{run.summary[s.value]}</b></button>'
        for s in _FILTER_ORDER
    )
    return (
        '<nav class="filters card" id="filters" hidden><span class="flabel">Show</span>'
        f'<span class="chips">{chips}</span>'
        '<label>owner <select id="f-owner"><option value="">everyone</option></select></label>'
        '<label>tag <select id="f-tag"><option value="">any tag</option></select></label>'
        '<button type="button" class="link" id="f-problems">problems only</button>'
        '<button type="button" class="link" id="f-reset">show all</button>'
        '<span class="muted" id="f-shown"></span></nav>'
    )


def _failures(checks: Sequence[CheckResult], index: dict[str, int], root: Path | None) -> list[str]:
    failed = problems_first(checks)
    if not failed:
        return []
    cards = [_failure(c, index[c.id], root) for c in failed]
    return [
        f'<section class="card" id="failures"><h2>Failures ({len(failed)})</h2>',
        *cards,
        '<p class="muted empty">No failure matches the filters.</p></section>',
    ]


def _failure(check: CheckResult, i: int, root: Path | None) -> str:
    status = check.status.value
    rows = [
        ("Owner", esc(check.owner) or "<i>none</i>"),
        ("Expected", esc(check.expect) or "<i>not stated</i>"),
        ("Seen", f'<pre class="seen">{esc(check.message)}</pre>'),
        ("Rollback", esc(check.rollback) or "<i>none given</i>"),
    ]
    if check.runbook:
        rows.append(("Runbook", _link(check.runbook)))
    rows.append(("Run", _run_facts(check, root)))
    facts = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    parts = [
        f'<article class="failure {esc(check.severity)} s-{status}" data-i="{i}">',
        f'<header><span class="badge s-{status}">{status}</span>'
        f'<span class="severity">{esc(check.severity)}</span>'
        f"<h3>{esc(check.title)}</h3><code>{esc(check.id)}</code></header>",
        f'<dl class="facts">{facts}</dl>',
    ]
    if check.output.strip():
        tail, total = output_tail(check.output)
        parts.append(
            f"<details open><summary>output (last {len(tail)} of {total} lines)</summary>"
            f'<pre class="output">{esc(chr(10).join(tail))}</pre></details>'
        )
    parts.append("</article>")
    return "".join(parts)


def _link(url: str) -> str:
    """Only http(s) becomes a link: a ``javascript:`` runbook stays text."""
    if _LINK.match(url):
        return f'<a href="{esc(url)}" rel="noopener noreferrer">{esc(url)}</a>'
    return esc(url)


def _run_facts(check: CheckResult, root: Path | None) -> str:
    facts = [f"{check.attempts} attempt{'s' if check.attempts != 1 else ''}"]
    facts.append("retry safe" if check.retry_safe else "not retry safe")
    facts.append(format_duration(check.duration_s))
    if check.source:
        facts.append(f"<code>{esc(shown_source(check, root))}</code>")
    return " · ".join(facts)


def _waivers(checks: Sequence[CheckResult], index: dict[str, int], today: dt.date) -> list[str]:
    waived = [c for c in checks if c.waiver is not None]
    if not waived:
        return []
    rows = []
    for check in waived:
        waiver = check.waiver
        assert waiver is not None
        state = state_of(waiver.until, today)
        rows.append(
            f'<tr data-i="{index[check.id]}"><td><code>{esc(check.id)}</code></td>'
            f"<td>{esc(check.owner)}</td><td>{esc(waiver.reason)}</td>"
            f"<td>{esc(waiver.by)}</td><td>{waiver.until.isoformat()}</td>"
            f'<td><span class="expiry {state}">{describe_expiry(waiver.until, today)}</span></td>'
            f'<td><span class="badge s-{check.status.value}">{check.status.value}</span></td></tr>'
        )
    return [
        f'<section class="card" id="waivers"><h2>Waivers ({len(waived)})</h2>',
        "<table><thead><tr><th>check</th><th>owner</th><th>reason</th><th>granted by</th>"
        "<th>until</th><th>expiry</th><th>status</th></tr></thead><tbody>",
        *rows,
        "</tbody></table></section>",
    ]


def _table(checks: Sequence[CheckResult]) -> str:
    rows = []
    for i, check in enumerate(checks):
        status = check.status.value
        first = check.message.splitlines()[0] if check.message else ""
        ran = check.started_s is not None
        started = f"+{format_duration(check.started_s or 0.0)}" if ran else NOT_RUN
        took = format_duration(check.duration_s) if ran or check.attempts else NOT_RUN
        cached = ' <span class="cached">cached</span>' if check.cached else ""
        if check.status in (Status.FAIL, Status.ERROR) and not check.blocks:
            cached += ' <span class="severity">warning</span>'
        tags = " ".join(f'<span class="tag">{esc(t)}</span>' for t in check.tags)
        rows.append(
            f'<tr data-i="{i}"><td><span class="badge s-{status}">{status}</span>{cached}</td>'
            f'<td><code>{esc(check.id)}</code><div class="sub">{esc(check.title)}</div></td>'
            f"<td>{esc(check.owner)}</td><td>{esc(check.kind)}</td><td>{tags}</td>"
            f'<td class="num">{started}</td><td class="num">{took}</td>'
            f'<td class="num">{check.attempts}</td><td class="msg">{esc(first)}</td></tr>'
        )
    return "\n".join(
        [
            f'<section class="card" id="checks"><h2>All checks ({len(checks)})</h2>',
            "<table><thead><tr><th>status</th><th>check</th><th>owner</th><th>kind</th>"
            '<th>tags</th><th class="num">start</th><th class="num">took</th>'
            '<th class="num">tries</th><th>message</th></tr></thead><tbody>',
            *rows,
            "</tbody></table>",
            '<p class="muted empty">No check matches the filters.</p></section>',
        ]
    )


def _footer(run: RunResult) -> str:
    argv = " ".join(run.argv)
    command = f" · <code>{esc(argv)}</code>" if argv else ""
    return f'<footer class="page">jobcheck readiness report{command}</footer>'


def report(run: RunResult, view: View) -> str:
    """The ``html`` report format (``reports.formats``), with the earlier runs of the
    checklist for the metrics' plots when a check measured."""
    return render_html(run, today=view.today, root=view.root, history=_history(run))


def _history(run: RunResult) -> list[RunResult]:
    if not run.path or not any(c.metrics for c in run.checks):
        return []
    checklist = Path(run.path)
    return load_runs(checklist.parent, checklist=checklist)
