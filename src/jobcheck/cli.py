"""The Typer app: options in, exit code out. Nothing else lives here."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from jobcheck import __version__

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="jobcheck",
    context_settings=CONTEXT,
    help="A production-readiness gate for Python services that run background jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
stack_app = typer.Typer(
    help="Drive the checklist's Docker staging stack.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_typer(stack_app, name="stack")

_DEBUG = {"on": False}

ChecklistArg = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
    typer.Argument(help="Checklist file (default: ./jobcheck.yaml, then checklists/release.yaml)"),
]
ChecklistOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--checklist", "-c", help="Checklist file (default as for `run`)"),
]


def _finish(action: Callable[[], int]) -> None:
    """Run a command body through the one error handler; exit with its code."""
    from jobcheck.commands import handle

    raise typer.Exit(handle(action, debug=_DEBUG["on"]))


def _version(value: bool) -> None:
    if value:
        print(f"jobcheck {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs")] = False,
) -> None:
    _DEBUG["on"] = debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")


@app.command()
def run(
    checklist: ChecklistArg = None,
    only: Annotated[
        list[str], typer.Option("--only", help="Run only this id or tag (repeatable)")
    ] = [],  # noqa: B006
    skip: Annotated[
        list[str], typer.Option("--skip", help="Skip this id or tag (repeatable)")
    ] = [],  # noqa: B006
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Parallel checks (default: CPUs)")
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop scheduling after the first blocking failure")
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here")
    ] = None,
    junit_path: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here")] = None,
    markdown_path: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown readiness report here")
    ] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report (with a timeline) here")
    ] = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Plain output, no colour or live view")
    ] = False,
    failed: Annotated[
        bool, typer.Option("--failed", help="Re-run only what failed or errored last time")
    ] = False,
    stack_up: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--stack-up/--no-stack-up",
            help="Bring the staging stack up first (default: the checklist's stack.up)",
        ),
    ] = None,
    var: Annotated[
        list[str], typer.Option("--env", "-e", help="Set NAME=VALUE for this run (repeatable)")
    ] = [],  # noqa: B006
    shard: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--shard", metavar="K/N", help="Run only the K-th of N shards (for CI)"),
    ] = None,
) -> None:
    """Run a checklist and report pass or fail with owner, expected result and rollback."""
    from jobcheck.commands.run import run as run_command
    from jobcheck.pipeline import GateRequest

    def body() -> int:
        options = GateRequest(
            checklist=checklist,
            only=only,
            skip=skip,
            jobs=jobs,
            fail_fast=fail_fast,
            json_path=json_path,
            junit_path=junit_path,
            markdown_path=markdown_path,
            html_path=html_path,
            color=False if no_color else None,
            failed=failed,
            extra_env=_pairs(var),
            stack_up=stack_up,
            shard=shard,
            argv=["jobcheck", *sys.argv[1:]],
        )
        return run_command(options, {**os.environ, **options.extra_env})

    _finish(body)


def _pairs(items: list[str]) -> dict[str, str]:
    from jobcheck.errors import UsageError

    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {item!r}: expected NAME=VALUE")
        pairs[name] = value
    return pairs


@app.command()
def validate(
    checklist: ChecklistArg = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Blockers without rollback or expect are errors")
    ] = False,
) -> None:
    """Load and check a checklist without running anything."""
    from jobcheck.commands.validate import validate as validate_command

    _finish(lambda: validate_command(checklist, strict, os.environ))


@app.command("list")
def list_(
    checklist: ChecklistArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the checks: id, kind, owner, title, tags and needs."""
    from jobcheck.commands.listing import list_checks

    _finish(lambda: list_checks(checklist, as_json, os.environ))


@app.command()
def explain(
    check_id: Annotated[str, typer.Argument(metavar="ID", help="The check id")],
    checklist: ChecklistOpt = None,
) -> None:
    """Show everything about one check: owner, expectation, rollback, options, needs."""
    from jobcheck.commands.explain import explain as explain_command

    _finish(lambda: explain_command(check_id, checklist, os.environ))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the checklist format (for editors)."""
    from jobcheck.commands.schema import schema as schema_command

    _finish(schema_command)


@app.command()
def report(
    run_json: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN.json | merge SHARD.json...",
            help="A JSON report written by `run --json`; or `merge` and the shards' reports",
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="markdown, junit, text or html")
    ] = "markdown",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write here (atomically) instead of stdout"),
    ] = None,
    json_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--json", help="merge: write the merged JSON report here"),
    ] = None,
    junit_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--junit", help="merge: write JUnit XML here"),
    ] = None,
    markdown_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--markdown", help="merge: write the Markdown readiness report here"),
    ] = None,
    html_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--html", help="merge: write the HTML report here"),
    ] = None,
) -> None:
    """Re-render a saved run as Markdown, JUnit XML, plain text or HTML; or merge the reports
    of `run --shard K/N` into one report and one exit code (`report merge A.json B.json`)."""
    from jobcheck.commands.merge import report_or_merge
    from jobcheck.pipeline import GateRequest

    targets = GateRequest(
        json_path=json_path, junit_path=junit_path, markdown_path=markdown_path, html_path=html_path
    )
    _finish(lambda: report_or_merge(run_json, fmt, output, targets, sys.stdout))


@app.command()
def history(checklist: ChecklistArg = None) -> None:
    """Per check over the saved runs: pass rate, last status, median duration, flaky checks."""
    from jobcheck.commands.history import history as history_command

    _finish(lambda: history_command(checklist))


@app.command()
def waivers(checklist: ChecklistArg = None) -> None:
    """Every waiver with owner, reason and days left; exit 1 when one has expired."""
    from jobcheck.commands.waivers import waivers as waivers_command

    _finish(lambda: waivers_command(checklist, os.environ))


@app.command()
def release(
    tag: Annotated[str, typer.Argument(metavar="TAG", help="The tag to create, e.g. v1.4.0")],
    checklist: ChecklistOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Run the gate and show the tag message; change nothing"),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (required without a terminal, as in CI)")
    ] = False,
    only: Annotated[
        list[str], typer.Option("--only", help="Run only this id or tag (repeatable)")
    ] = [],  # noqa: B006
    skip: Annotated[
        list[str], typer.Option("--skip", help="Skip this id or tag (repeatable)")
    ] = [],  # noqa: B006
    jobs: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--jobs", "-j", min=1, help="Parallel checks (default: CPUs)"),
    ] = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Write the JSON report here")  # noqa: UP045
    ] = None,
    junit_path: Annotated[
        Optional[Path], typer.Option("--junit", help="Write JUnit XML here")  # noqa: UP045
    ] = None,
    markdown_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--markdown", help="Write the Markdown readiness report here"),
    ] = None,
    html_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--html", help="Write the HTML report (with a timeline) here"),
    ] = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Plain output, no colour or live view")
    ] = False,
    var: Annotated[
        list[str], typer.Option("--env", "-e", help="Set NAME=VALUE for this run (repeatable)")
    ] = [],  # noqa: B006
) -> None:
    """Run the release checklist with RELEASE_TAG=TAG; tag only when every blocker passed."""
    from jobcheck.commands.release import release as release_command
    from jobcheck.pipeline import GateRequest

    def body() -> int:
        request = GateRequest(
            checklist=checklist, only=only, skip=skip, jobs=jobs, json_path=json_path,
            junit_path=junit_path, markdown_path=markdown_path, html_path=html_path,
            color=False if no_color else None, extra_env=_pairs(var),
            argv=["jobcheck", *sys.argv[1:]],
        )  # fmt: skip
        return release_command(
            tag,
            request,
            environ={**os.environ, **request.extra_env},
            out=sys.stdout,
            confirm=lambda question: typer.confirm(question, default=False),
            is_tty=sys.stdin.isatty() and sys.stdout.isatty(),
            dry_run=dry_run,
            yes=yes,
        )

    _finish(body)


@app.command()
def init(
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing jobcheck.yaml")
    ] = False,
) -> None:
    """Write a starting jobcheck.yaml for the repository in the current folder."""
    from jobcheck.commands.init import init as init_command

    _finish(lambda: init_command(Path.cwd(), force=force))


@stack_app.command("up")
def stack_up(
    checklist: ChecklistOpt = None,
    no_build: Annotated[bool, typer.Option("--no-build", help="Do not build images")] = False,
) -> None:
    """Build, start, and wait for every healthcheck (with the stack's deadline)."""
    from jobcheck.commands.stack import stack

    build = False if no_build else None
    _finish(lambda: stack("up", checklist, os.environ, build=build))


@stack_app.command("down")
def stack_down(
    checklist: ChecklistOpt = None,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Also remove volumes")] = False,
) -> None:
    """Stop and remove the stack's containers (and, with --volumes, its data)."""
    from jobcheck.commands.stack import stack

    _finish(lambda: stack("down", checklist, os.environ, volumes=volumes))


@stack_app.command("status")
def stack_status(checklist: ChecklistOpt = None) -> None:
    """Each service's containers: state, health, restarts, ports."""
    from jobcheck.commands.stack import stack

    _finish(lambda: stack("status", checklist, os.environ))


@stack_app.command("logs")
def stack_logs(
    service: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(metavar="SERVICE", help="One service (default: all)"),
    ] = None,
    checklist: ChecklistOpt = None,
    tail: Annotated[int, typer.Option("--tail", "-n", min=1, help="Lines per container")] = 200,
) -> None:
    """The last log lines of the stack's containers, secrets masked."""
    from jobcheck.commands.stack import stack

    _finish(lambda: stack("logs", checklist, os.environ, service=service, tail=tail))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # the fast path: no Typer, no kinds
        print(f"jobcheck {__version__}")
        sys.exit(0)
    app(args=args, prog_name="jobcheck")
