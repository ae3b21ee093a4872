"""Errors the user can cause. Each one renders itself; none surfaces as a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class JobcheckError(Exception):
    """Base class for every error that ends with a clear message and an exit code."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


@dataclass(frozen=True)
class Location:
    """A place in a checklist file: 1-based line and column (0 when unknown)."""

    path: Path
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        path = display_path(self.path)
        if self.line and self.column:
            return f"{path}:{self.line}:{self.column}"
        if self.line:
            return f"{path}:{self.line}"
        return path


def display_path(path: Path) -> str:
    """A path relative to the current folder when it is below it, else as it is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return str(path)


@dataclass
class ChecklistError(JobcheckError):
    """A checklist that cannot be loaded: where, what was expected, what was seen, a hint."""

    problem: str
    location: Location | None = None
    expected: str = ""
    seen: str = ""
    hint: str = ""
    source_line: str = field(default="", repr=False)
    exit_code: int = 2

    def __post_init__(self) -> None:
        super().__init__(self.problem, hint=self.hint)

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        lines = [f"error: {where}{self.problem}"]
        if self.source_line and self.location and self.location.line:
            number = str(self.location.line)
            lines.append(f"  {number} | {self.source_line.rstrip()}")
            if self.location.column:
                pad = " " * (len(number) + 3 + self.location.column - 1)
                lines.append(f"  {pad}^")
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.seen:
            lines.append(f"  seen: {self.seen}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class UsageError(JobcheckError):
    """Wrong command-line use: exit 2."""


class RuntimeFailure(JobcheckError):
    """An operation (stack up, release) that could not complete: exit 1."""

    exit_code = 1


MAX_SHOWN_ERRORS = 10


class ChecklistErrors(ChecklistError):
    """Several load errors at once; renders each."""

    def __init__(self, errors: list[ChecklistError]) -> None:
        first = errors[0]
        super().__init__(first.problem, first.location, first.expected, first.seen, first.hint)
        self.source_line = first.source_line
        self.errors = errors

    def render(self) -> str:
        shown = [e.render() for e in self.errors[:MAX_SHOWN_ERRORS]]
        if len(self.errors) > MAX_SHOWN_ERRORS:
            shown.append(f"... and {len(self.errors) - MAX_SHOWN_ERRORS} more errors")
        return "\n".join(shown)
