"""Metrics in the Markdown report (before → after) and the HTML report (plotted over runs)."""

from __future__ import annotations

import datetime as dt
import re

from jobcheck.reports.html import render_html
from jobcheck.reports.markdown import render_markdown
from jobcheck.results import CheckResult, RunResult, Status

TODAY = dt.date(2026, 12, 7)


def run_with(
    minute: int, p95: float, *, baseline: float | None = None, release: str = ""
) -> RunResult:
    check = CheckResult(
        id="queue-load", title="queue under load", kind="load", status=Status.PASS,
        message="20/20 jobs finished", metrics={"p95_wait_s": p95, "throughput_per_s": 12.5},
        baseline={"p95_wait_s": baseline, "baseline_from": "v1.3.0, run 2026-12-07T04:00:00Z"}
        if baseline is not None else {},
    )  # fmt: skip
    return RunResult(
        checklist="gate",
        started_at=dt.datetime(2026, 12, 7, 4, minute, tzinfo=dt.UTC),
        duration_s=1.0,
        checks=[check],
        release=release,
    )


def test_markdown_shows_each_metric_before_and_after() -> None:
    text = render_markdown(run_with(9, 0.88, baseline=0.42), today=TODAY)
    assert "## Metrics\n\n| Check | Metric | Baseline | This run | Change |" in text
    assert "| `queue-load` | p95 wait | 0.42s | 0.42s → 0.88s | +110 % |" in text
    assert "| `queue-load` | throughput | - | 12.5/s | - |" in text
    assert "Against: v1.3.0, run 2026-12-07T04:00:00Z" in text


def test_markdown_without_metrics_has_no_section() -> None:
    run = run_with(9, 0.5)
    run.checks[0].metrics = {}
    assert "## Metrics" not in render_markdown(run, today=TODAY)


def test_html_plots_each_metric_over_the_earlier_runs_inline() -> None:
    history = [run_with(1, 0.40, release="v1.2.0"), run_with(2, 0.42, release="v1.3.0")]
    page = render_html(run_with(9, 0.88, baseline=0.42), today=TODAY, history=history)
    section = page[page.index('<section class="card" id="metrics">') :]
    section = section[: section.index("</section>")]
    figure = re.search(r'<figure class="plot" data-check="queue-load" data-metric="p95_wait_s">'
                       r"(.*?)</figure>", section)  # fmt: skip
    assert figure is not None
    assert figure.group(1).count("<circle") == 3 and 'class="now"' in figure.group(1)
    assert "<title>v1.2.0 (2026-12-07 04:01 UTC): 0.40s</title>" in figure.group(1)
    assert '<line class="base"' in figure.group(1)
    assert "0.42s → 0.88s (+110 %)" in figure.group(1)
    assert 'data-metric="throughput_per_s"' in section
    assert "<script src" not in page and "http://" not in section
    assert page.index('id="timeline"') < page.index('id="metrics"')


def test_html_without_metrics_has_no_plots() -> None:
    run = run_with(9, 0.5)
    run.checks[0].metrics = {}
    assert 'id="metrics"' not in render_html(run, today=TODAY)
