"""``lint``: ruff (or another linter) finds nothing, or at most ``max_findings``."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path

from pydantic import Field, model_validator

from jobcheck.kinds._findings import Finding, findings_outcome, plural, shown_path
from jobcheck.kinds._project_tools import Tool, command_for, explicit
from jobcheck.kinds.base import (
    Kind,
    KindContext,
    KindOptions,
    empty_list,
    joined_output,
    process_failure,
)
from jobcheck.process import ProcessResult, split_command, tail_lines
from jobcheck.results import Outcome

INSTALL_HINT = "install it with `pip install ruff`, or give its path as `ruff`"
# ``path:line[:col][:] rest``: the shape flake8, mypy, pylint, shellcheck -f gcc ... print.
_LOCATED = re.compile(r"^(?P<path>[^\s:][^:]*):(?P<line>\d+)(?::(?P<col>\d+))?:?\s*(?P<rest>.*)$")
_REFORMAT = re.compile(
    r"^(?:Would reformat: (?P<old>.+)"
    r"|(?P<path>\S.*?):(?P<line>\d+):(?P<col>\d+): unformatted:.*"
    r"|\s*--> (?P<arrow>.+?):(?P<line2>\d+):(?P<col2>\d+))\s*$"
)
_LEADING_CODE = re.compile(r"^(?P<code>[A-Z]+[0-9]+)\b")
_TRAILING_CODE = re.compile(r"\[(?P<code>[a-z0-9-]+)\]\s*$")


def _is_ruff(argv: list[str]) -> bool:
    return Path(argv[0]).name.startswith("ruff") or argv[-2:] == ["-m", "ruff"]


class Options(KindOptions):
    tool: str | list[str] | None = Field(
        None,
        description="The linter: a path or command (string or list). Default: ruff, as `ruff` says",
    )
    ruff: str | None = Field(
        None,
        description="The ruff to run, a path relative to the checklist or a name on PATH "
        "(default: the active VIRTUAL_ENV's, else a .venv or venv in cwd or beside the "
        "checklist, else ruff on PATH, else jobcheck's own)",
    )
    paths: list[str] = Field(
        default_factory=lambda: ["."], description="What to lint, relative to cwd"
    )
    args: list[str] = Field(
        default_factory=empty_list,
        description="Extra arguments (for ruff: given to `ruff check`, before the paths)",
    )
    max_findings: int = Field(0, ge=0, description="How many findings are tolerated")
    format: bool = Field(False, description="Also run `ruff format --check` (ruff only)")
    cwd: str | None = Field(None, description="Where to run, relative to the checklist")

    @model_validator(mode="after")
    def _format_needs_ruff(self) -> Options:
        if self.ruff is not None and self.tool is not None:
            raise ValueError("give `ruff` or `tool`, not both")
        if self.format and self.tool is not None and not _is_ruff(split_command(self.tool)):
            raise ValueError("`format: true` needs ruff; drop `tool` or set it to ruff")
        return self


def _find_ruff(ctx: KindContext, cwd: Path, option: str | None) -> Tool | None:
    if option is not None:
        return explicit(option, "ruff", ctx)
    fallback = [sys.executable, "-m", "ruff"] if importlib.util.find_spec("ruff") else []
    return command_for(ctx, cwd, "ruff", fallback)


def _ruff_findings(result: ProcessResult, cwd: Path) -> list[Finding] | str:
    """Findings from ``ruff check --output-format json``, or why the output is unusable."""
    try:
        items = json.loads(result.stdout or "[]")
    except json.JSONDecodeError as exc:
        return f"ruff did not print JSON ({exc})"
    findings = []
    for item in items:
        code = item.get("code") or "syntax"
        where = item.get("location") or {}
        path = shown_path(Path(item.get("filename", "?")), cwd)
        text = f"{path}:{where.get('row', 0)}:{where.get('column', 0)} {code} {item.get('message')}"
        findings.append(Finding(code, text))
    return findings


def _format_findings(result: ProcessResult) -> list[Finding]:
    """Files ``ruff format --check`` would change, from old (``Would reformat: f``), concise
    (``f:1:2: unformatted: ...``) and full (``--> f:1:2``) output alike."""
    findings: dict[str, Finding] = {}
    for line in result.stdout.splitlines():
        match = _REFORMAT.match(line)
        if match is None:
            continue
        path = match["old"] or match["path"] or match["arrow"]
        line_no, col = match["line"] or match["line2"], match["col"] or match["col2"]
        where = f"{path}:{line_no}:{col}" if line_no else path
        findings.setdefault(path, Finding("format", f"{where} would be reformatted by ruff format"))
    return list(findings.values())


def _generic_findings(result: ProcessResult) -> list[Finding]:
    """Another linter: exit 0 is clean; else one finding per ``path:line`` line of its output
    (every non-empty line when none has that shape)."""
    if result.returncode == 0:
        return []
    lines = [ln for ln in (result.stdout or result.stderr).splitlines() if ln.strip()]
    located = [ln for ln in lines if _LOCATED.match(ln)]
    if not located and not lines:
        return [Finding("exit", f"exited {result.returncode} without printing anything")]
    findings = []
    for line in located or lines:
        match = _LOCATED.match(line)
        rest = match["rest"] if match else line
        code = _LEADING_CODE.match(rest) or _TRAILING_CODE.search(rest)
        findings.append(Finding(code["code"] if code else "unclassified", line.strip()))
    return findings


def _broken(result: ProcessResult, what: str, ctx: KindContext, ruff: bool) -> Outcome | None:
    """An error outcome when the tool could not run or crashed (ruff exits 2 then)."""
    if ruff and result.not_found:
        tried = result.command
        return Outcome.errored(
            f"{what}: {result.not_found} was not found (tried: {tried}); {INSTALL_HINT}"
        )
    process_failure(result, what)
    if ruff and result.returncode not in (0, 1):
        tail = tail_lines(joined_output(result), 10)
        return Outcome.errored(
            f"{what} exited {result.returncode} (an error, not findings):\n{tail}"
        )
    return None


def _run_ruff(options: Options, ctx: KindContext, tool: Tool, cwd: Path) -> Outcome:
    ruff = tool.argv
    check = ctx.run(
        [*ruff, "check", "--output-format", "json", "--no-cache", *options.args, *options.paths],
        cwd=cwd,
    )
    broken = _broken(check, "ruff check", ctx, ruff=True)
    if broken is not None:
        return broken
    findings = _ruff_findings(check, cwd)
    if isinstance(findings, str):
        return Outcome.errored(findings, output=joined_output(check))
    output = check.stderr.strip()
    what = "ruff check"
    if options.format:
        fmt = ctx.run(
            [*ruff, "format", "--check", "--no-cache", *options.paths],
            cwd=cwd,
            env={"RUFF_OUTPUT_FORMAT": "concise"},  # one line a file; older ruff ignores it
        )
        broken = _broken(fmt, "ruff format --check", ctx, ruff=True)
        if broken is not None:
            return broken
        findings += _format_findings(fmt)
        output = "\n".join(part for part in (output, joined_output(fmt)) if part)
        what = "ruff check + format"
    files = {f.text.split(":", 1)[0] for f in findings}
    return _outcome(options, ctx, what, findings, output, files=len(files), said=tool.said())


def _outcome(
    options: Options,
    ctx: KindContext,
    what: str,
    findings: list[Finding],
    output: str,
    files: int = 0,
    said: str = "",
) -> Outcome:
    where = " ".join(options.paths) or "."
    using = f" {said}" if said else ""
    subject = f"{what} {where}" + (f" ({plural(files, 'file')})" if files else "") + using
    return findings_outcome(
        subject,
        findings,
        mask=ctx.mask,
        passed=f"{what} {where}{using}: no findings",
        allowed=options.max_findings,
        output=output,
    )


def run(options: Options, ctx: KindContext) -> Outcome:
    cwd = ctx.path(options.cwd) if options.cwd else ctx.base_dir
    if options.tool is None:
        ruff = _find_ruff(ctx, cwd, options.ruff)
        if ruff is None:
            return Outcome.errored(
                "ruff was not found in the project's environment (VIRTUAL_ENV, .venv, venv), "
                f"on PATH, nor importable by {sys.executable}; {INSTALL_HINT}"
            )
        return _run_ruff(options, ctx, ruff, cwd)
    tool = split_command(options.tool)
    if _is_ruff(tool):
        return _run_ruff(options, ctx, Tool(tool, shlex.join(tool), "the `tool` option"), cwd)
    result = ctx.run([*tool, *options.args, *options.paths], cwd=cwd)
    name = shlex.join(tool)
    process_failure(result, f"`{name}`")
    findings = _generic_findings(result)
    return _outcome(options, ctx, name, findings, joined_output(result))


KIND = Kind(
    name="lint",
    options=Options,
    run=run,
    summary="ruff (or another linter) reports no findings; counts them by rule, shows the first",
    example={"paths": ["src", "tests"], "format": True, "max_findings": 0},
)
