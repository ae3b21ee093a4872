"""The command line's shared options, declared once: the checklist argument, the options of
every command that runs the gate (``run``, ``release``), the report-file options of each format
(from ``reports.formats``), and ``shared``, the decorator that gives a group of them to a
command. ``cli`` declares the commands with them.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from jobcheck.errors import UsageError
from jobcheck.reports.formats import FILE_OPTIONS

if TYPE_CHECKING:
    from jobcheck.pipeline import GateRequest


class ColorMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


def examples(*lines: str) -> str:
    """An epilog of example command lines, kept as written (``\\b``: click does not rewrap)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


CHECKLIST_HELP = (
    "Checklist file (default: jobcheck.yaml, then checklists/release.yaml, here or in a parent "
    "folder up to the repository root)"
)
ChecklistArg = Annotated[
    Path | None, typer.Argument(metavar="CHECKLIST", help=CHECKLIST_HELP, show_default=False)
]
ChecklistOpt = Annotated[
    Path | None, typer.Option("--checklist", "-c", metavar="PATH", help=CHECKLIST_HELP)
]
OnlyOpt = Annotated[
    list[str],
    typer.Option("--only", metavar="ID_OR_TAG", help="Run only this id, tag or glob (repeatable)"),
]
SkipOpt = Annotated[
    list[str],
    typer.Option("--skip", metavar="ID_OR_TAG", help="Skip this id, tag or glob (repeatable)"),
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs", "-j", min=1, metavar="N", help="Parallel checks that use a CPU (default: CPUs)"
    ),
]
WaitJobsOpt = Annotated[
    int | None,
    typer.Option(
        "--wait-jobs",
        min=1,
        metavar="N",
        help="Parallel checks that mostly wait (http, job, queue, service, ...), beside --jobs "
        "(default: 8)",
    ),
]
FailFastOpt = Annotated[
    bool, typer.Option("--fail-fast", help="Stop scheduling after the first blocking failure")
]
REPORT_HELP = "Write the {} here ('-' for stdout; the terminal report then goes to stderr)"
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", help="Plain output: no colour and no live view")
]
ColorOpt = Annotated[
    ColorMode,
    typer.Option(
        "--color",
        help="Colour: auto (on a terminal, unless NO_COLOR is set or FORCE_COLOR asks for it), "
        "always or never",
        case_sensitive=False,
    ),
]
StackUpOpt = Annotated[
    bool | None,
    typer.Option(
        "--stack-up/--no-stack-up",
        help="Bring the staging stack up first (default: the checklist's stack.up)",
    ),
]
EnvOpt = Annotated[
    list[str],
    typer.Option(
        "--env", "-e", metavar="NAME=VALUE", help="Set NAME=VALUE for this run (repeatable)"
    ),
]


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _report_options(help_text: str) -> list[inspect.Parameter]:
    """One ``--NAME PATH`` option per report format that has one (``reports.formats``)."""
    return [
        _option(
            f"{fmt.name}_path",
            Annotated[
                Path | None,
                typer.Option(fmt.flag, metavar="PATH", help=help_text.format(fmt.what)),
            ],
            None,
        )
        for fmt in FILE_OPTIONS
    ]


def _reports(values: Mapping[str, Any]) -> dict[str, Path]:
    """The report options' values: format name -> path, for the formats asked for."""
    asked = {fmt.name: values[f"{fmt.name}_path"] for fmt in FILE_OPTIONS}
    return {name: path for name, path in asked.items() if path is not None}


@dataclass(frozen=True)
class GateOptions:
    """The options of every command that runs the gate (``run``, ``release``), as parsed."""

    values: Mapping[str, Any]

    def request(self, checklist: Path | None, **more: Any) -> GateRequest:
        """The one place a ``GateRequest`` is built from the command line."""
        # lazy: the gate's tree, only for a command that runs it
        from jobcheck.pipeline import GateRequest

        v = self.values
        return GateRequest(
            checklist=checklist,
            only=v["only"],
            skip=v["skip"],
            jobs=v["jobs"],
            wait_jobs=v["wait_jobs"],
            fail_fast=v["fail_fast"],
            reports=_reports(v),
            color="never" if v["no_color"] else v["color"].value,
            plain=v["no_color"],
            stack_up=v["stack_up"],
            extra_env=_pairs(v["var"]),
            argv=["jobcheck", *sys.argv[1:]],
            **more,
        )


GATE_OPTIONS = [
    _option("only", OnlyOpt, []),
    _option("skip", SkipOpt, []),
    _option("jobs", JobsOpt, None),
    _option("wait_jobs", WaitJobsOpt, None),
    _option("fail_fast", FailFastOpt, False),
    *_report_options(REPORT_HELP),
    _option("no_color", NoColorOpt, False),
    _option("color", ColorOpt, ColorMode.auto),
    _option("stack_up", StackUpOpt, None),
    _option("var", EnvOpt, []),
]
# `report merge` writes the same formats as a gate, from the shards' reports.
MERGE_OPTIONS = _report_options("merge: write the merged {} here")

Command = TypeVar("Command", bound=Callable[..., None])


def shared(
    **groups: tuple[list[inspect.Parameter], Callable[[dict[str, Any]], Any]],
) -> Callable[[Command], Command]:
    """Options declared once for several commands. Each keyword names a parameter of the
    command that stands for a group of options: Typer sees the group's options in its place
    (that is how they appear in --help), and the command gets the group's values collected
    into that one parameter."""

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True).parameters.values()
        names = {name: [p.name for p in params] for name, (params, _) in groups.items()}

        @functools.wraps(command)
        def parsed(**values: Any) -> None:
            for name, (_, collect) in groups.items():
                values[name] = collect({n: values.pop(n) for n in names[name]})
            command(**values)

        expanded = [q for p in own for q in (groups[p.name][0] if p.name in groups else [p])]
        parsed.__signature__ = inspect.Signature(expanded)  # type: ignore[attr-defined]
        return cast(Command, parsed)

    return decorate


GATE = (GATE_OPTIONS, GateOptions)
MERGE = (MERGE_OPTIONS, _reports)


def _pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {item!r}: expected NAME=VALUE")
        pairs[name] = value
    return pairs
