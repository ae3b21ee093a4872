"""``command``: a command's exit code and output, within its timeout."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from jobcheck import bounded_regex
from jobcheck.kinds.base import (
    CheckError,
    Kind,
    KindContext,
    KindOptions,
    OptionProblem,
    Prepared,
    empty_dict,
    joined_output,
    process_failure,
)
from jobcheck.process import ProcessResult, background_note, split_command
from jobcheck.results import Outcome


class Options(KindOptions):
    run: str | list[str] = Field(
        description="The command: a string split like a shell would, or a list"
    )
    shell: bool = Field(
        False, description="Run through /bin/sh -c (only when you need pipes or globs)"
    )
    cwd: str | None = Field(None, description="Working directory, relative to the checklist")
    env: dict[str, str] = Field(
        default_factory=empty_dict, description="Extra environment variables"
    )
    exit_code: int = Field(0, description="The expected exit code")
    stdout_contains: str | None = Field(None, description="Text stdout must contain")
    stdout_matches: str | None = Field(None, description="A regular expression stdout must match")
    stderr_contains: str | None = Field(None, description="Text stderr must contain")
    background: Literal["kill", "allowed"] = Field(
        "kill",
        description="Processes the command daemonized: killed when it ends (kill), or left "
        "running and listed by name and pid in the result (allowed)",
    )

    @field_validator("run")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        if (isinstance(value, str) and not value.strip()) or (
            isinstance(value, list) and not value
        ):
            raise ValueError("the command is empty")
        return value

    @model_validator(mode="after")
    def _splittable(self) -> Options:
        if isinstance(self.run, str) and not self.shell:
            split_command(self.run)  # an unbalanced quote is a load error, not a run error
        return self

    @field_validator("stdout_matches")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                bounded_regex.check_pattern(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


_BOOL = TypeAdapter(bool)  # built once: building one per check cost 0.5 ms each


def prepare(options: dict[str, Any]) -> Prepared:
    """Split a command string before interpolation, so a value never becomes shell syntax."""
    run_ = options.get("run")
    try:
        shell = _BOOL.validate_python(options.get("shell", False))
    except ValidationError:
        return Prepared(options)  # validation reports the bad `shell`
    if not isinstance(run_, str) or not run_.strip() or shell:
        return Prepared(options)  # validation reports an empty command as written
    try:
        argv = split_command(run_)
    except ValueError as exc:
        raise OptionProblem(
            "run",
            f"cannot split the command: {str(exc).lower()}",
            expected="a command with balanced quotes",
            seen=run_,
            hint="close the quote, or give the command as a list",
        ) from None
    return Prepared({**options, "run": argv}, collapsed=frozenset({"run"}))


def argv_of(options: Options) -> list[str]:
    if options.shell:
        script = options.run if isinstance(options.run, str) else " ".join(options.run)
        return ["/bin/sh", "-c", script]
    return split_command(options.run)


def run(options: Options, ctx: KindContext) -> Outcome:
    argv = argv_of(options)
    cwd = ctx.path(options.cwd) if options.cwd else ctx.base_dir
    allowed = options.background == "allowed"
    result = ctx.run(argv, cwd=cwd, env=options.env, background_allowed=allowed)
    shown = result.command
    process_failure(result, f"`{shown}`")
    output = joined_output(result)
    problems = []
    if result.returncode != options.exit_code:
        problems.append(f"exited {result.returncode}, expected {options.exit_code}")
    if options.stdout_contains is not None and options.stdout_contains not in result.stdout:
        problems.append(f"stdout does not contain {options.stdout_contains!r}")
    if options.stdout_matches is not None and not _matches(options.stdout_matches, result, ctx):
        problems.append(f"stdout does not match /{options.stdout_matches}/")
    if options.stderr_contains is not None and options.stderr_contains not in result.stderr:
        problems.append(f"stderr does not contain {options.stderr_contains!r}")
    took = f"{result.duration_s:.2f}s"
    note = background_note(result)
    tail = f" ({took})" + (f"; {note}" if note else "")
    details = _background_details(result)
    if problems:
        return Outcome.failed(f"`{shown}` " + "; ".join(problems) + tail, output=output, **details)
    return Outcome.passed(f"`{shown}` exited {result.returncode}{tail}", output=output, **details)


def _background_details(result: ProcessResult) -> dict[str, Any]:
    found = {
        "background_left": [p.to_dict() for p in result.background_left],
        "background_killed": [p.to_dict() for p in result.background_killed],
    }
    found = {key: value for key, value in found.items() if value}
    return {"details": found} if found else {}


def _matches(pattern: str, result: ProcessResult, ctx: KindContext) -> bool:
    """The user's pattern against stdout, bounded by what is left of the check's timeout (a
    pattern that backtracks forever ends the check ``error``, and Ctrl-C still stops it)."""
    try:
        found = bounded_regex.search(
            pattern,
            result.stdout,
            timeout_s=max(ctx.remaining(), 1.0),
            cancel=ctx.cancel,
            flags=re.MULTILINE,
        )
    except bounded_regex.RegexFailed as exc:
        raise CheckError(f"stdout_matches: {exc}") from None
    return found is not None


KIND = Kind(
    name="command",
    options=Options,
    run=run,
    summary="a command's exit code and stdout/stderr, within its timeout",
    prepare=prepare,
    example={"run": "python -m mypy src", "exit_code": 0, "stdout_contains": "Success"},
)
