"""The metrics of the HTML report: each figure a check measured, plotted over the last runs.

One small inline SVG per (check, metric): the earlier runs of the checklist that measured it
(oldest left), this run last and marked, the baseline as a dashed line. No script, no external
file: the report stays one self-contained page. Every user string goes through ``esc``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from jobcheck.metrics import BASELINE_FROM, before_after, label, shown
from jobcheck.results import CheckResult, RunResult

Esc = Callable[[str], str]
MAX_RUNS = 20  # points per plot: this run and the 19 before it
PLOTTED = (
    "p95_wait_s",
    "p95_total_s",
    "throughput_per_s",
    "error_rate",
    "p50_s",
    "p95_s",
)
_W, _H, _PAD = 240, 64, 6
# Only pages with metrics carry these rules (the page's CSP allows inline styles).
STYLE = """\
.plots { display: flex; flex-wrap: wrap; gap: 12px 20px; }
.plot { margin: 0; }
.plot figcaption { font-size: 12.5px; margin-bottom: 2px; }
.plot svg { display: block; background: #f6f8fa; border-radius: 4px; }
.plot polyline { fill: none; stroke: #0969da; stroke-width: 1.5px; }
.plot circle { fill: #0969da; } .plot circle.now { fill: #1f2328; }
.plot line.base { stroke: #656d76; stroke-width: 1px; stroke-dasharray: 4 3; }
"""


def render_metrics(run: RunResult, history: Sequence[RunResult], esc: Esc) -> str:
    """The section, or "" when no check of this run measured anything."""
    measured = [c for c in run.checks if c.metrics]
    if not measured:
        return ""
    plots = []
    for check in measured:
        for name in (n for n in PLOTTED if n in check.metrics):
            points = _series(check, name, history, run)
            plots.append(_plot(check, name, points, esc))
    return "\n".join(
        [
            '<section class="card" id="metrics">',
            f"<style>\n{STYLE}</style>",
            "<h2>Metrics</h2>",
            f'<p class="muted">Each figure over the last {MAX_RUNS} runs of this checklist that '
            "measured it; this run is the last point, the dashed line its baseline.</p>",
            '<div class="plots">',
            *plots,
            "</div>",
            "</section>",
        ]
    )


def _series(
    check: CheckResult, name: str, history: Sequence[RunResult], run: RunResult
) -> list[tuple[str, float]]:
    """(what the point is, its value), oldest first, this run last."""
    points = []
    for earlier in history:
        found = next((c for c in earlier.checks if c.id == check.id), None)
        if found is not None and name in found.metrics:
            points.append((_when(earlier), found.metrics[name]))
    points = points[-(MAX_RUNS - 1) :]
    points.append((f"this run, {_when(run)}", check.metrics[name]))
    return points


def _when(run: RunResult) -> str:
    stamp = run.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{run.release} ({stamp})" if run.release else stamp


def _plot(check: CheckResult, name: str, points: list[tuple[str, float]], esc: Esc) -> str:
    base = check.baseline.get(name)
    baseline = float(base) if isinstance(base, int | float) and not isinstance(base, bool) else None
    values = [v for _, v in points] + ([baseline] if baseline is not None else [])
    low, high = min(values), max(values)
    span = (high - low) or (abs(high) or 1.0)

    def x(i: int) -> float:
        return _PAD + (_W - 2 * _PAD) * (i / (len(points) - 1) if len(points) > 1 else 0.5)

    def y(v: float) -> float:
        return _H - _PAD - (_H - 2 * _PAD) * (v - low) / span

    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
    last = len(points) - 1
    dots = [
        f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" '
        + ('r="3.5" class="now">' if i == last else 'r="2.2">')
        + f"<title>{esc(what)}: {esc(shown(name, v))}</title></circle>"
        for i, (what, v) in enumerate(points)
    ]
    parts = [f'<polyline points="{line}"/>', *dots]
    if baseline is not None:
        where = esc(str(check.baseline.get(BASELINE_FROM, "")))
        parts.insert(
            0,
            f'<line class="base" x1="0" x2="{_W}" y1="{y(baseline):.1f}" y2="{y(baseline):.1f}">'
            f"<title>baseline {esc(shown(name, baseline))}: {where}</title></line>",
        )
    value = check.metrics[name]
    caption = before_after(name, baseline, value) if baseline is not None else shown(name, value)
    return (
        f'<figure class="plot" data-check="{esc(check.id)}" data-metric="{esc(name)}">'
        f"<figcaption><code>{esc(check.id)}</code> {esc(label(name))}: "
        f"<b>{esc(caption)}</b></figcaption>"
        f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{esc(label(name))} of {esc(check.id)} over {len(points)} runs">'
        + "".join(parts)
        + "</svg></figure>"
    )
