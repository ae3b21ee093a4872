"""One function per CLI command: plain values in, an exit code out."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from jobcheck import app
from jobcheck.checklist import Check, Checklist
from jobcheck.errors import UsageError
from jobcheck.results import RunResult
from jobcheck.runner import Listener


def run(options: app.RunOptions, environ: Mapping[str, str], out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    app.check_report_paths(options)
    checklist = app.load(options.checklist, environ)
    ids = _failed_ids(checklist) if options.failed else None
    plan = app.make_plan(checklist, options, ids)
    masker = app.make_masker(checklist, environ)
    listeners = app.choose_listeners(options, environ, out)
    listeners += _ci_listeners(options, environ, out)
    run_result = app.execute(checklist, plan, options, environ, listeners, masker)
    written = app.write_reports(run_result, options, sys.stderr.write)
    if options.history:
        _save_history(checklist, run_result)
    # A gate whose report went missing must not look green to the CI step that reads it.
    return run_result.exit_code or (0 if written else 1)


def _failed_ids(checklist: Checklist) -> list[str]:
    from jobcheck.history import failed_ids, with_dependants

    ids = with_dependants(
        failed_ids(checklist.base_dir, checklist=checklist.path), checklist.checks
    )
    if not ids:
        raise UsageError(
            "--failed: the last saved run had no failed or errored check",
            hint="run without --failed, or look at `jobcheck history`",
        )
    return ids


def _ci_listeners(
    options: app.RunOptions, environ: Mapping[str, str], out: IO[str]
) -> list[Listener]:
    from jobcheck.reports.github import ci_listeners

    return list(ci_listeners(environ, out, argv=options.argv))


def _save_history(checklist: Checklist, run_result: RunResult) -> None:
    from jobcheck.history import save_run

    try:
        save_run(run_result, checklist.base_dir)
    except OSError as exc:
        print(f"warning: could not save the run history: {exc}", file=sys.stderr)


def validate(path: Path | None, strict: bool, environ: Mapping[str, str]) -> int:
    checklist = app.load(path, environ)
    warnings = lint_checklist(checklist)
    for warning in warnings:
        print(f"{'error' if strict else 'warning'}: {warning}", file=sys.stderr)
    blocked = strict and warnings
    files = ", ".join(str(f) for f in checklist.files)
    verdict = "invalid (--strict)" if blocked else "valid"
    print(f"{checklist.name}: {len(checklist.checks)} checks, {verdict} ({files})")
    return 2 if blocked else 0


def lint_checklist(checklist: Checklist) -> list[str]:
    """What `validate` warns about: blockers without a rollback note or an expected result."""
    found = []
    for check in checklist.checks:
        where = f"{check.source}:{check.line}"
        if check.severity != "blocker":
            continue
        if not check.rollback:
            found.append(f"{where}: blocker `{check.id}` has no `rollback` note")
        if not check.expect:
            found.append(f"{where}: blocker `{check.id}` has no `expect` (expected result)")
    return found


def list_checks(path: Path | None, as_json: bool, environ: Mapping[str, str]) -> int:
    checklist = app.load(path, environ)
    if as_json:
        rows = [_check_summary(c) for c in checklist.checks]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(c.id) for c in checklist.checks) + 2
    kind_width = max(len(c.kind) for c in checklist.checks) + 2
    owner_width = max(len(c.owner) for c in checklist.checks) + 2
    for check in checklist.checks:
        tags = f"  [{', '.join(check.tags)}]" if check.tags else ""
        needs = f"  needs: {', '.join(check.needs)}" if check.needs else ""
        sev = "" if check.severity == "blocker" else f"  ({check.severity})"
        print(
            f"{check.id:<{width}}{check.kind:<{kind_width}}{check.owner:<{owner_width}}"
            f"{check.title}{sev}{tags}{needs}"
        )
    return 0


def _check_summary(check: Check) -> dict[str, object]:
    return {
        "id": check.id,
        "title": check.title,
        "kind": check.kind,
        "owner": check.owner,
        "severity": check.severity,
        "tags": check.tags,
        "needs": check.needs,
        "source": str(check.source),
        "line": check.line,
    }


def explain(check_id: str, path: Path | None, environ: Mapping[str, str]) -> int:
    import yaml

    checklist = app.load(path, environ)
    check = checklist.check(check_id)
    if check is None:
        raise UsageError(
            f"no check with id `{check_id}`",
            hint="ids here: " + ", ".join(c.id for c in checklist.checks),
        )
    from jobcheck import kinds

    kind = kinds.get_kind(check.kind)
    masker = app.make_masker(checklist, environ)
    waiver = (
        f"{check.waiver.reason} (by {check.waiver.by}, until {check.waiver.until})"
        if check.waiver
        else "-"
    )
    rows = [
        ("id", check.id),
        ("title", check.title),
        ("kind", f"{check.kind} — {kind.summary}"),
        ("severity", check.severity),
        ("owner", check.owner),
        ("expect", check.expect or "-"),
        ("rollback", check.rollback or "-"),
        ("needs", ", ".join(check.needs) or "-"),
        ("tags", ", ".join(check.tags) or "-"),
        ("timeout", f"{check.timeout_s:g}s"),
        ("retries", f"{check.retries} ({'retry safe' if check.retry_safe else 'not retry safe'})"),
        ("runbook", check.runbook or "-"),
        ("waiver", waiver),
        ("defined at", f"{check.source}:{check.line}"),
    ]
    for name, value in rows:
        print(f"{name + ':':<12}{masker(str(value))}")
    options = check.options.model_dump(mode="json", exclude_defaults=False)
    print("with:")
    text = yaml.safe_dump(options, sort_keys=False, default_flow_style=False).rstrip()
    for line in text.splitlines():
        print(f"  {masker(line)}")
    dependants = [c.id for c in checklist.checks if check.id in c.needs]
    print(f"{'needed by:':<12}{', '.join(dependants) or '-'}")
    return 0


def schema() -> int:
    from jobcheck.schema import checklist_schema

    print(json.dumps(checklist_schema(), indent=2))
    return 0


REPORT_FORMATS = ("markdown", "junit", "text")


def report(path: Path, fmt: str, output: Path | None) -> int:
    """Re-render a saved JSON report; exit 0 whatever the run's status (it is only shown)."""
    import datetime as dt

    from jobcheck.fsutil import atomic_write_text
    from jobcheck.history import read_run

    if fmt not in REPORT_FORMATS:
        raise UsageError(f"--format {fmt}: expected one of {', '.join(REPORT_FORMATS)}")
    run = read_run(path)
    if fmt == "markdown":
        from jobcheck.reports.markdown import render_markdown

        text = render_markdown(run, today=dt.date.today(), root=Path.cwd())
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


def stack(action: str, path: Path | None, environ: Mapping[str, str], **options: Any) -> int:
    """`jobcheck stack up|down|status|logs`: the checklist's stack section, an exit code out."""
    from rich.console import Console

    from jobcheck.staging import commands as stack_commands

    checklist = app.load(path, environ)
    info = app.stack_info(checklist)
    if info is None:
        raise UsageError(
            f"{checklist.path}: no `stack:` section",
            hint="add stack: {compose: [docker/compose.yaml], project: NAME}",
        )
    no_color = "NO_COLOR" in environ
    console = Console(no_color=no_color, highlight=False)
    actions = {
        "up": stack_commands.up,
        "down": stack_commands.down,
        "status": stack_commands.status,
        "logs": stack_commands.logs,
    }
    env = {**checklist.file_env, **environ}
    return int(actions[action](info, console, env, **options))
