"""``jobcheck explain ID``: everything about one check."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from jobcheck.errors import UsageError
from jobcheck.pipeline import load
from jobcheck.plan import Graph
from jobcheck.stack_ports import describe


def explain(check_id: str, path: Path | None, environ: Mapping[str, str]) -> int:
    checklist = load(path, environ)
    check = checklist.check(check_id)
    if check is None:
        raise UsageError(
            f"no check with id `{check_id}`",
            hint="ids here: " + ", ".join(c.id for c in checklist.checks),
        )
    kind = check.impl
    masker = checklist.secrets.masker(environ)
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
        ("after", ", ".join(check.after) or "-"),
        ("uses", ", ".join(sorted(check.uses)) or "-"),
        ("disrupts", ", ".join(sorted(check.disrupts)) or "-"),
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
    if check.stack_refs is not None:  # show `${stack.api.8000}` as written, not its placeholder
        options = check.stack_refs.shown(options)
    print("with:")
    text = yaml.safe_dump(options, sort_keys=False, default_flow_style=False).rstrip()
    for line in masker(text).splitlines():
        print(f"  {line}")
    graph = Graph(checklist.checks)
    print(f"{'needed by:':<12}{', '.join(graph.needed_by[check.id]) or '-'}")
    waits = [w.words() for w in graph.waits[check.id]]
    print(f"{'waits for:':<12}{', '.join(waits) or '-'}")
    project = checklist.stack.project if checklist.stack else "-"
    for match in check.stack_refs.ports() if check.stack_refs is not None else []:
        described = describe(match["service"], match["port"], project)
        print(f"{'stack port:':<12}{match.group(0)} = 127.0.0.1:HOSTPORT, {described}")
    return 0
