"""The live view on a (forced) terminal: progress while running, then failures and a table."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from jobcheck.loading import load_checklist
from jobcheck.plan import select
from jobcheck.reports.terminal import LiveReporter
from jobcheck.runner import Runner, RunSettings
from jobcheck.secrets import Masker


def test_live_view_ends_with_failures_first_and_a_table(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        version: 1
        name: live
        defaults: {owner: "@team", expect: works, rollback: revert it}
        checks:
          - {id: good, kind: command, with: {run: "sleep 0.3"}}
          - {id: bad, kind: command, title: The bad one, with: {run: "false"}}
    """)
    checklist = load_checklist(path, dict(os.environ))
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120, color_system=None)
    settings = RunSettings(base_dir=checklist.base_dir, env=os.environ, mask=Masker(), jobs=2)
    run = Runner(select(checklist.checks), settings, [LiveReporter(console)]).run(checklist.name)
    text = stream.getvalue()
    assert run.exit_code == 1
    assert "bad — The bad one" in text
    assert text.index("rollback: revert it") < text.index("FAILED: live")
    assert "status" in text and "owner" in text  # the final table's header
