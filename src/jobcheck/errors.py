"""Errors the user can cause. Each one renders itself; none surfaces as a traceback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
# Problems kept to be shown: a hostile file may hold hundreds of thousands of mistakes; past
# this many only their number is kept (each kept one is sorted, masked and rendered).
MAX_KEPT_ERRORS = 1000


class ChecklistErrors(ChecklistError):
    """Several load errors at once; renders each (the first MAX_SHOWN_ERRORS, then a count)."""

    def __init__(self, errors: list[ChecklistError], more: int = 0) -> None:
        first = errors[0]
        super().__init__(first.problem, first.location, first.expected, first.seen, first.hint)
        self.source_line = first.source_line
        self.errors = errors
        self.more = more  # errors counted but not kept (see Problems)

    def render(self) -> str:
        shown = [e.render() for e in self.errors[:MAX_SHOWN_ERRORS]]
        hidden = len(self.errors[MAX_SHOWN_ERRORS:]) + self.more
        if hidden:
            shown.append(f"... and {hidden} more errors")
        return "\n".join(shown)


def each_error(error: ChecklistError) -> list[ChecklistError]:
    """The errors ``error`` stands for: itself, or each of several."""
    return error.errors if isinstance(error, ChecklistErrors) else [error]


class Problems:
    """The load problems found so far, kept as data while loading goes on past them; the
    loader raises them together, once, in file and line order (``together``)."""

    def __init__(self) -> None:
        self.errors: list[ChecklistError] = []
        self.more = 0  # found past MAX_KEPT_ERRORS: counted only

    def __bool__(self) -> bool:
        return bool(self.errors)

    def add(self, error: ChecklistError) -> None:
        for one in each_error(error):
            if len(self.errors) < MAX_KEPT_ERRORS:
                self.errors.append(one)
            else:
                self.more += 1

    def collect(self, step: Callable[[], object]) -> None:
        """Run ``step``; a load error it raises is recorded."""
        try:
            step()
        except ChecklistError as exc:
            self.add(exc)

    def together(self, files: Sequence[Path]) -> ChecklistErrors:
        """Every problem once, sorted by file (``files``: in the order they were read; any
        other after them, by name), then line and column."""
        rank: dict[Path, int] = {}
        for i, path in enumerate(files):
            rank.setdefault(path, i)
        unique: dict[tuple[object, ...], ChecklistError] = {}
        for error in self.errors:
            where = error.location
            path = where.path if where is not None else Path()
            at = (where.line, where.column) if where is not None else (0, 0)
            order = (rank.get(path, len(files)), str(path), *at)
            unique.setdefault((*order, error.problem, error.expected, error.seen), error)
        errors = [unique[k] for k in sorted(unique, key=lambda k: k[:4])]
        if not errors:  # every step that stops records why: never reached
            errors = [ChecklistError("the checklist could not be loaded")]
        return ChecklistErrors(errors, self.more)
