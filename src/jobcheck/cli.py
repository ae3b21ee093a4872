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

app = typer.Typer(
    name="jobcheck",
    help="A production-readiness gate for Python services that run background jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
stack_app = typer.Typer(help="Drive the checklist's Docker staging stack.", no_args_is_help=True)
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
    """Run a command body; turn known errors into their message and exit code."""
    from jobcheck.errors import JobcheckError

    try:
        code = action()
    except JobcheckError as exc:
        if _DEBUG["on"]:
            logging.getLogger("jobcheck").exception("error")
        print(exc.render(), file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except typer.Exit:
        raise
    except Exception as exc:
        if _DEBUG["on"]:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\n  hint: re-run with --debug "
            "for the traceback, and report it",
            file=sys.stderr,
        )
        code = 1
    raise typer.Exit(code)


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
) -> None:
    """Run a checklist and report pass or fail with owner, expected result and rollback."""
    from jobcheck import commands
    from jobcheck.app import RunOptions

    def body() -> int:
        options = RunOptions(
            checklist=checklist,
            only=only,
            skip=skip,
            jobs=jobs,
            fail_fast=fail_fast,
            json_path=json_path,
            junit_path=junit_path,
            markdown_path=markdown_path,
            color=False if no_color else None,
            failed=failed,
            extra_env=_pairs(var),
            stack_up=stack_up,
            argv=["jobcheck", *sys.argv[1:]],
        )
        return commands.run(options, {**os.environ, **options.extra_env})

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
    from jobcheck import commands

    _finish(lambda: commands.validate(checklist, strict, os.environ))


@app.command("list")
def list_(
    checklist: ChecklistArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the checks: id, kind, owner, title, tags and needs."""
    from jobcheck import commands

    _finish(lambda: commands.list_checks(checklist, as_json, os.environ))


@app.command()
def explain(
    check_id: Annotated[str, typer.Argument(metavar="ID", help="The check id")],
    checklist: ChecklistOpt = None,
) -> None:
    """Show everything about one check: owner, expectation, rollback, options, needs."""
    from jobcheck import commands

    _finish(lambda: commands.explain(check_id, checklist, os.environ))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the checklist format (for editors)."""
    from jobcheck import commands

    _finish(commands.schema)


def _write(text: str) -> int:
    sys.stdout.write(text)
    return 0


@app.command()
def report(
    run_json: Annotated[
        Path, typer.Argument(metavar="RUN.json", help="A JSON report written by `run --json`")
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="markdown, junit or text")
    ] = "markdown",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write here (atomically) instead of stdout"),
    ] = None,
) -> None:
    """Re-render a saved run as Markdown, JUnit XML or plain text."""
    from jobcheck import commands

    _finish(lambda: commands.report(run_json, fmt, output))


@app.command()
def history(checklist: ChecklistArg = None) -> None:
    """Per check over the saved runs: pass rate, last status, median duration, flaky checks."""
    from jobcheck.history import history_command

    _finish(lambda: _write(history_command(checklist)))


@app.command()
def waivers(checklist: ChecklistArg = None) -> None:
    """Every waiver with owner, reason and days left; exit 1 when one has expired."""
    from jobcheck.waivers import waivers_command

    def body() -> int:
        text, code = waivers_command(checklist, environ=os.environ)
        sys.stdout.write(text)
        return code

    _finish(body)


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
) -> None:
    """Run the release checklist with RELEASE_TAG=TAG; tag only when every blocker passed."""
    from jobcheck.release import release_command

    _finish(
        lambda: release_command(
            tag,
            checklist,
            environ=os.environ,
            out=sys.stdout,
            confirm=lambda question: typer.confirm(question, default=False),
            is_tty=sys.stdin.isatty() and sys.stdout.isatty(),
            dry_run=dry_run,
            yes=yes,
            jobs=jobs,
            json_path=json_path,
            junit_path=junit_path,
            markdown_path=markdown_path,
        )
    )


@app.command()
def init(
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing jobcheck.yaml")
    ] = False,
) -> None:
    """Write a starting jobcheck.yaml for the repository in the current folder."""
    from jobcheck.init import init_command

    _finish(lambda: _write(init_command(Path.cwd(), force=force)))


@stack_app.command("up")
def stack_up(
    checklist: ChecklistOpt = None,
    no_build: Annotated[bool, typer.Option("--no-build", help="Do not build images")] = False,
) -> None:
    """Build, start, and wait for every healthcheck (with the stack's deadline)."""
    from jobcheck import commands

    build = False if no_build else None
    _finish(lambda: commands.stack("up", checklist, os.environ, build=build))


@stack_app.command("down")
def stack_down(
    checklist: ChecklistOpt = None,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Also remove volumes")] = False,
) -> None:
    """Stop and remove the stack's containers (and, with --volumes, its data)."""
    from jobcheck import commands

    _finish(lambda: commands.stack("down", checklist, os.environ, volumes=volumes))


@stack_app.command("status")
def stack_status(checklist: ChecklistOpt = None) -> None:
    """Each service's containers: state, health, restarts, ports."""
    from jobcheck import commands

    _finish(lambda: commands.stack("status", checklist, os.environ))


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
    from jobcheck import commands

    _finish(lambda: commands.stack("logs", checklist, os.environ, service=service, tail=tail))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # the fast path: no Typer, no kinds
        print(f"jobcheck {__version__}")
        sys.exit(0)
    app(args=args, prog_name="jobcheck")
