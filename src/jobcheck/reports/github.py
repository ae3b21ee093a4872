"""GitHub Actions and CI support: workflow-command annotations, log groups, the step summary.

Workflow commands are lines on stdout: ``::error file=F,line=L,title=T::message``. In the
message ``%``, CR and LF are percent-encoded; in property values ``:`` and ``,`` are too (the
encoding of the Actions toolkit's ``escapeData`` / ``escapeProperty``).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from jobcheck.reports.formats import BY_NAME, View
from jobcheck.results import CheckResult, RunResult, Status
from jobcheck.secrets import looks_secret
from jobcheck.waiver_status import EXPIRING, describe_expiry, state_of

_TRUE = {"1", "true", "yes", "on"}
# Report paths written in CI make no sense on a laptop; everything else is kept as given.
_REPORT_OPTIONS = {"--json", "--junit", "--markdown"}
_ENV_OPTIONS = {"--env", "-e"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, properties: Mapping[str, str | int] | None = None) -> str:
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in (properties or {}).items()
        if value not in ("", None)
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def workflow_annotations(
    run: RunResult, *, today: dt.date | None = None, workspace: Path | None = None
) -> list[str]:
    """``::error`` for blocking failures, ``::warning`` for warning-severity failures and for
    waivers that expire within the warning window; each points at the check in its checklist."""
    today = today or dt.date.today()
    lines = []
    for check in run.checks:
        if check.status in (Status.FAIL, Status.ERROR):
            level = "error" if check.blocks else "warning"
            lines.append(command(level, _failure_message(check), _where(check, workspace)))
        expiring = _expiring_waiver(check, today)
        if expiring:
            props = _where(check, workspace) | {"title": f"Waiver for {check.id} {expiring}"}
            lines.append(command("warning", _waiver_message(check), props))
    return lines


def _where(check: CheckResult, workspace: Path | None) -> dict[str, str | int]:
    props: dict[str, str | int] = {}
    if check.source:
        props["file"] = _relative(check.source, workspace)
        if check.line:
            props["line"] = check.line
    what = "error" if check.status == Status.ERROR else "failed"
    props["title"] = f"{check.title} ({check.id}) {what}"
    return props


def _relative(source: str, workspace: Path | None) -> str:
    """Annotations need the path relative to the repository root to land on the file."""
    path = Path(source)
    if workspace is not None and path.is_absolute():
        try:
            return path.relative_to(workspace).as_posix()
        except ValueError:
            return source
    return path.as_posix()


def _failure_message(check: CheckResult) -> str:
    lines = [check.message, f"owner: {check.owner or '-'}"]
    if check.expect:
        lines.append(f"expected: {check.expect}")
    if check.rollback:
        lines.append(f"rollback: {check.rollback}")
    if check.runbook:
        lines.append(f"runbook: {check.runbook}")
    return "\n".join(lines)


def _expiring_waiver(check: CheckResult, today: dt.date) -> str:
    until = check.waiver.until if check.waiver else None
    if until is None or state_of(until, today) != EXPIRING:
        return ""
    return describe_expiry(until, today)


def _waiver_message(check: CheckResult) -> str:
    waiver = check.waiver
    until, reason, by = (
        (waiver.until.isoformat(), waiver.reason, waiver.by) if waiver else ("", "", "")
    )
    return (
        f"waiver until {until}: {reason} "
        f"(by {by or '-'}, owner {check.owner or '-'}); "
        "fix the check or renew the waiver before it expires"
    )


def group(title: str, text: str, *, token: str | None = None) -> str:
    """A collapsible log group around a check's output.

    The output is fenced with ``::stop-commands::`` so that lines in it which look like
    workflow commands (a tool's own ``::error``, say) are printed, not obeyed.
    """
    token = token or secrets.token_hex(16)
    body = text.rstrip("\n")
    return "\n".join(
        [
            f"::group::{escape_data(title)}",
            f"::stop-commands::{token}",
            *([body] if body else []),
            f"::{token}::",
            "::endgroup::",
        ]
    )


def check_groups(run: RunResult, *, token: str | None = None) -> list[str]:
    """One group per check that produced output, failures first."""
    ordered = sorted(run.checks, key=lambda c: c.status not in (Status.FAIL, Status.ERROR))
    return [
        group(f"{c.status.value}: {c.title} ({c.id})", c.output, token=token)
        for c in ordered
        if c.output.strip()
    ]


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Append to ``$GITHUB_STEP_SUMMARY`` when the variable is set; True when written."""
    target = environ.get("GITHUB_STEP_SUMMARY", "")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True


def is_github(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def is_ci(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("CI", "").strip().lower() in _TRUE or is_github(environ)


def reproduce_line(argv: Sequence[str]) -> str:
    """The command to run locally: the same arguments without CI-only report paths, and with
    secret-looking ``--env NAME=VALUE`` values masked.

    ``argv``: the arguments, with or without a leading ``jobcheck``: ``["run", "--json", "x"]``.
    """
    args = list(argv[1:] if argv and Path(argv[0]).name == "jobcheck" else argv)
    kept: list[str] = []
    while args:
        arg = args.pop(0)
        name = arg.split("=", 1)[0]
        if arg in _REPORT_OPTIONS and args:
            args.pop(0)
        elif name in _REPORT_OPTIONS:
            continue
        elif arg in _ENV_OPTIONS and args:
            kept += [arg, _masked_pair(args.pop(0))]
        elif name in _ENV_OPTIONS:
            kept.append(f"{name}={_masked_pair(arg.split('=', 1)[1])}")
        else:
            kept.append(arg)
    return f"reproduce locally with: {shlex.join(['jobcheck', *(kept or ['run'])])}"


def _masked_pair(pair: str) -> str:
    name, sep, _ = pair.partition("=")
    return f"{name}=***" if sep and looks_secret(name) else pair


def ci_epilogue(
    run: RunResult,
    environ: Mapping[str, str],
    *,
    argv: Sequence[str],
    today: dt.date | None = None,
    token: str | None = None,
) -> str:
    """What a CI log gets after the usual report: on GitHub Actions each check's output in a
    collapsible group and the annotations; on any CI the line to reproduce the run locally."""
    parts: list[str] = []
    if is_github(environ):
        workspace = Path(environ["GITHUB_WORKSPACE"]) if environ.get("GITHUB_WORKSPACE") else None
        parts += check_groups(run, token=token)
        parts += workflow_annotations(run, today=today, workspace=workspace)
    if is_ci(environ):
        parts.append(reproduce_line(argv))
    return "\n".join(parts) + "\n" if parts else ""


class CIReporter:
    """A runner listener that adds the CI epilogue and the step summary when the run ends."""

    def __init__(self, out: IO[str], environ: Mapping[str, str], *, argv: Sequence[str]) -> None:
        self.out = out
        self.environ = environ
        self.argv = list(argv)

    def on_start(self, checks: object) -> None:
        pass

    def on_check_start(self, check: object) -> None:
        pass

    def on_check_retry(self, check: object, attempt: int, outcome: object) -> None:
        pass

    def on_check_done(self, result: object) -> None:
        pass

    def on_finish(self, run: RunResult) -> None:
        self.out.write(ci_epilogue(run, self.environ, argv=self.argv))
        if is_github(self.environ):
            self._step_summary(run)
        self.out.flush()

    def _step_summary(self, run: RunResult) -> None:
        workspace = self.environ.get("GITHUB_WORKSPACE")
        view = View(root=Path(workspace)) if workspace else View()
        text = BY_NAME["markdown"].render(run, view)
        try:
            append_step_summary(text, self.environ)
        except OSError as exc:
            self.out.write(f"warning: could not write the step summary: {exc}\n")


def ci_listeners(
    environ: Mapping[str, str], out: IO[str], *, argv: Sequence[str]
) -> list[CIReporter]:
    """The listeners ``jobcheck run`` adds on CI (``CI=true`` or GitHub Actions); none elsewhere."""
    return [CIReporter(out, environ, argv=argv)] if is_ci(environ) else []
