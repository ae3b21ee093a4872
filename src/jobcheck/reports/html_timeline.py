"""The timeline of the HTML report: one row per check on a shared time axis.

Each row has a faint band for the whole check (first attempt's start to last attempt's end,
retry backoff included) and a solid bar per attempt, coloured by how that attempt ended. The
checks of the critical path carry the ``critical`` class; below the rows, a step chart shows
how many attempts ran at once. Every user string goes through ``esc`` (``html.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from jobcheck.durations import format_duration
from jobcheck.reports.timeline import (
    STACK_UP,
    Step,
    critical_path,
    extent,
    has_timeline,
    parallelism,
    peak,
    percent,
    ticks,
)
from jobcheck.results import AttemptDetail, CheckResult, RunResult

Esc = Callable[[str], str]
_CHART_W = 1000
_CHART_H = 40


def render_timeline(run: RunResult, index: Mapping[str, int], esc: Esc) -> str:
    if not has_timeline(run):
        return (
            '<section class="card" id="timeline"><h2>Timeline</h2>'
            '<p class="muted">This report has no timeline: it was written before jobcheck 0.2 '
            "(report schema 1, without each check's start).</p></section>"
        )
    total = extent(run)
    path = critical_path(run.checks, run.stack_up)
    on_path = set(path)
    rows = [_axis(total)]
    if run.stack_up is not None:
        rows.append(_stack_row(run.stack_up, total, STACK_UP in on_path))
    for check in _by_start(run.checks):
        rows.append(_row(check, index[check.id], total, check.id in on_path, esc))
    rows.append(_parallel_row(parallelism(run.checks), total))
    grid = percent(ticks(total)[1] if len(ticks(total)) > 1 else total, total)
    return "\n".join(
        [
            '<section class="card" id="timeline">',
            "<h2>Timeline</h2>",
            _path_line(path, run, total, esc),
            _legend(),
            f'<div class="tl" style="--grid: {grid}">',
            *rows,
            "</div>",
            "</section>",
        ]
    )


def _by_start(checks: Sequence[CheckResult]) -> list[CheckResult]:
    ran = [c for c in checks if c.started_s is not None]
    ran.sort(key=lambda c: c.started_s or 0.0)  # stable: report order among equal starts
    return ran + [c for c in checks if c.started_s is None]


def _path_line(path: list[str], run: RunResult, total: float, esc: Esc) -> str:
    if not path:
        return '<p class="muted">No critical path: no check took any time.</p>'
    durations = {c.id: c.duration_s for c in run.checks}
    if run.stack_up is not None:
        durations[STACK_UP] = run.stack_up.duration_s
    length = sum(durations[i] for i in path)
    chain = ' <span class="arrow">→</span> '.join(f"<code>{esc(i)}</code>" for i in path)
    return (
        f'<p class="critical-line"><span class="key critical-key"></span>Critical path '
        f"({format_duration(length)} of the run's {format_duration(total)}): {chain}</p>"
    )


def _legend() -> str:
    items = [("s-pass", "pass"), ("s-fail", "fail"), ("s-error", "error")]
    items += [("s-waived", "waived"), ("s-skip", "skip")]
    keys = "".join(f'<span class="key {cls}"></span>{word} ' for cls, word in items)
    return (
        f'<p class="legend">{keys}<span class="key band"></span>whole check, retry backoff '
        'included <span class="key critical-key"></span>critical path</p>'
    )


def _axis(total: float) -> str:
    marks = "".join(
        f'<span class="tick" style="left: {percent(t, total)}">{_clock(t)}</span>'
        for t in ticks(total)
    )
    return (
        '<div class="tl-row tl-axis"><div class="tl-label"></div>'
        f'<div class="tl-track">{marks}</div><div class="tl-dur"></div></div>'
    )


def _clock(seconds: float) -> str:
    return "0" if seconds == 0 else format_duration(seconds)


def _stack_row(span: AttemptDetail, total: float, critical: bool) -> str:
    status = span.status.value
    hint = f"staging stack up: {status}, {format_duration(span.duration_s)}"
    bar = _bar("tl-attempt", status, span.start_s, span.duration_s, total, hint)
    mark = '<span class="cp-mark" title="on the critical path">◆</span>' if critical else ""
    row = "tl-row tl-stack critical-row" if critical else "tl-row tl-stack"
    return (
        f'<div class="{row}"><div class="tl-label"><span class="tl-id">'
        f"{STACK_UP}</span>{mark}</div>"
        f'<div class="tl-track">{bar}'
        f'</div><div class="tl-dur">{format_duration(span.duration_s)}</div></div>'
    )


def _row(check: CheckResult, i: int, total: float, critical: bool, esc: Esc) -> str:
    status = check.status.value
    mark = '<span class="cp-mark" title="on the critical path">◆</span>' if critical else ""
    if check.waited_for:
        why = esc(f"waited for {check.waited_for}")
        mark += f'<span class="tl-waited muted" title="{why}" aria-label="{why}">⧗</span>'
    label = (
        f'<div class="tl-label" title="{esc(check.title)}"><span class="dot s-{status}"></span>'
        f'<span class="tl-id">{esc(check.id)}</span>{mark}'
        f'<span class="tl-owner">{esc(check.owner)}</span></div>'
    )
    if check.started_s is None:
        why = f"cached from {check.cached_from}" if check.cached else check.message
        first = why.splitlines()[0] if why else status
        track = f'<span class="tl-note">{esc(first)}</span>'
        duration = "\N{EN DASH}"
    else:
        track = _bars(check, total, critical, esc)
        duration = format_duration(check.duration_s)
    row_class = "tl-row critical-row" if critical else "tl-row"
    return (
        f'<div class="{row_class}" data-i="{i}">{label}'
        f'<div class="tl-track">{track}</div><div class="tl-dur">{duration}</div></div>'
    )


def _bars(check: CheckResult, total: float, critical: bool, esc: Esc) -> str:
    start = check.started_s or 0.0
    status = check.status.value
    whole = f"{check.id}: {status}, {format_duration(check.duration_s)} from +{_clock(start)}"
    if check.waited_for:
        whole += f"; waited for {check.waited_for}"
    band_class = "tl-check critical" if critical else "tl-check"
    parts = [_bar(band_class, status, start, check.duration_s, total, esc(whole))]
    count = len(check.attempts_detail)
    for n, attempt in enumerate(check.attempts_detail, 1):
        # the last attempt's outcome is the check's (a waived failure is drawn as waived)
        ended = status if n == count else attempt.status.value
        hint = (
            f"{check.id}: attempt {n} of {count}, {ended}, "
            f"{format_duration(attempt.duration_s)} from +{_clock(attempt.start_s)}"
        )
        parts.append(
            _bar(
                "tl-attempt",
                ended,
                attempt.start_s,
                attempt.duration_s,
                total,
                esc(hint),
            )
        )
    return "".join(parts)


def _bar(cls: str, status: str, start: float, duration: float, total: float, hint: str) -> str:
    """``hint`` is HTML-escaped already."""
    return (
        f'<div class="{cls} s-{status}" style="left: {percent(start, total)}; '
        f'width: {percent(duration, total)}" title="{hint}"></div>'
    )


def _parallel_row(steps: list[Step], total: float) -> str:
    top = peak(steps)
    label = f"in parallel (peak {top})"
    return (
        f'<div class="tl-row tl-parallel"><div class="tl-label"><span class="tl-id">{label}'
        f'</span></div><div class="tl-track">{_chart(steps, total, top)}</div>'
        '<div class="tl-dur"></div></div>'
    )


def _chart(steps: list[Step], total: float, top: int) -> str:
    if top == 0:
        return ""
    points = [f"0,{_CHART_H}"]
    level = _CHART_H
    for step in steps:
        x = f"{min(step.start_s / total, 1.0) * _CHART_W:.1f}"
        points.append(f"{x},{level}")
        level = round(_CHART_H - step.running / top * (_CHART_H - 2))
        points.append(f"{x},{level}")
    points.append(f"{_CHART_W},{level}")
    points.append(f"{_CHART_W},{_CHART_H}")
    return (
        f'<svg class="par-chart" viewBox="0 0 {_CHART_W} {_CHART_H}" '
        f'preserveAspectRatio="none" aria-label="attempts running at once, peak {top}">'
        f'<polygon points="{" ".join(points)}"/></svg>'
    )
