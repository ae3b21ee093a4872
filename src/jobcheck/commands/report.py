"""``jobcheck report RUN.json``: re-render a saved run."""

from __future__ import annotations

import sys
from pathlib import Path

from jobcheck.errors import UsageError

REPORT_FORMATS = ("markdown", "junit", "text", "html")


def report(path: Path, fmt: str, output: Path | None) -> int:
    """Re-render a saved JSON report; exit 0 whatever the run's status (it is only shown)."""
    import datetime as dt

    from jobcheck.fsutil import atomic_write_text
    from jobcheck.run_history import read_run

    if fmt not in REPORT_FORMATS:
        raise UsageError(f"--format {fmt}: expected one of {', '.join(REPORT_FORMATS)}")
    run = read_run(path)
    if fmt == "markdown":
        from jobcheck.reports.markdown import render_markdown

        text = render_markdown(run, today=dt.date.today(), root=Path.cwd())
    elif fmt == "html":
        from jobcheck.reports.html import render_html

        text = render_html(run, today=dt.date.today(), root=Path.cwd())
    elif fmt == "junit":
        from jobcheck.reports.junit import render_junit

        text = render_junit(run)
    else:
        from jobcheck.reports.text import render_text

        text = render_text(run, root=Path.cwd())
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)
    return 0
