"""The Typer app: options in, exit code out. Nothing else lives here.

``jobcheck --version`` never reaches this module: the entry point (``jobcheck.__main__``)
answers it before Typer is imported. Each command imports its module (``commands/NAME.py``)
inside its function: only the command that runs pays for it.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from jobcheck import __version__
from jobcheck.cli_options import (
    GATE,
    MERGE,
    ChecklistArg,
    ChecklistOpt,
    GateOptions,
    examples,
    shared,
)
from jobcheck.commands import handle
from jobcheck.errors import UsageError
from jobcheck.reports.formats import BY_NAME

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="jobcheck",
    context_settings=CONTEXT,
    help="A production-readiness gate for Python services that run background jobs.",
    no_args_is_help=True,
    add_completion=True,
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


cache_app = typer.Typer(
    help="The result cache of checks with `cache:` (see docs/cache.md).",
    no_args_is_help=True,
    context_settings=CONTEXT,
    epilog=examples("jobcheck cache clear", "jobcheck run --no-cache"),
)
app.add_typer(cache_app, name="cache")


def _finish(action: Callable[[], int]) -> None:
    """Run a command body through the one error handler; exit with its code."""
    raise typer.Exit(handle(action, debug=_DEBUG["on"]))


def _version(value: bool) -> None:
    if value:
        print(f"jobcheck {__version__}")
        raise typer.Exit(0)


def _checklist(positional: Path | None, option: Path | None) -> Path | None:
    """The checklist named either way (positional or ``-c``); two different ones are an error."""
    if positional is not None and option is not None and positional != option:
        raise UsageError(
            f"two checklists given: {positional} and -c {option}", hint="give one of them"
        )
    return option if option is not None else positional


@app.callback(
    epilog=examples(
        "jobcheck init",
        "jobcheck run",
        "jobcheck -C services/billing run --only 'api-*'",
        "jobcheck explain api-health",
    )
)
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version")
    ] = False,
    directory: Annotated[
        Path | None,
        typer.Option(
            "-C",
            "--directory",
            metavar="DIR",
            help="Run as if jobcheck was started in DIR (as `git -C`)",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs")] = False,
) -> None:
    _DEBUG["on"] = debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot change to {directory}: {exc.strerror}", param_hint="'-C'"
            ) from None


@app.command(
    epilog=examples(
        "jobcheck run",
        "jobcheck run -c checklists/release.yaml --only 'api-*' --skip slow",
        "jobcheck run --json - --junit out/gate.xml > out/gate.json",
        "jobcheck run --failed",
        "jobcheck run -e API_PORT=8001 --color never",
    )
)
@shared(gate=GATE)
def run(
    checklist: ChecklistArg = None,
    checklist_opt: ChecklistOpt = None,
    *,
    gate: GateOptions,
    failed: Annotated[
        bool, typer.Option("--failed", help="Re-run only what failed or errored last time")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Run only the K-th of N shards (for CI)"),
    ] = None,
    durations: Annotated[
        str | None,
        typer.Option(
            "--durations",
            metavar="FILE",
            help="Balance --shard by this file's seconds per check (`jobcheck durations "
            "--write FILE`); `history` for this machine's saved runs. Default: by count",
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Run every check, even one whose cached pass still holds"),
    ] = False,
) -> None:
    """Run a checklist and report pass or fail with owner, expected result and rollback."""
    from jobcheck.commands.run import run as run_command

    def body() -> int:
        request = gate.request(
            _checklist(checklist, checklist_opt),
            failed=failed,
            shard=shard,
            durations=durations,
            cache=not no_cache,
        )
        return run_command(request, {**os.environ, **request.extra_env})

    _finish(body)


@app.command(
    epilog=examples("jobcheck validate", "jobcheck validate --strict -c checklists/release.yaml")
)
def validate(
    checklist: ChecklistArg = None,
    checklist_opt: ChecklistOpt = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Blockers without rollback or expect, and TODO placeholders, are errors",
        ),
    ] = False,
) -> None:
    """Load and check a checklist without running anything."""
    from jobcheck.commands.validate import validate as validate_command

    _finish(lambda: validate_command(_checklist(checklist, checklist_opt), strict, os.environ))


@app.command("list", epilog=examples("jobcheck list", "jobcheck list --json -c ci.yaml"))
def list_(
    checklist: ChecklistArg = None,
    checklist_opt: ChecklistOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the checks: id, kind, owner, title, tags and needs."""
    from jobcheck.commands.listing import list_checks

    _finish(lambda: list_checks(_checklist(checklist, checklist_opt), as_json, os.environ))


@app.command(epilog=examples("jobcheck explain api-health", "jobcheck explain tests -c ci.yaml"))
def explain(
    check_id: Annotated[str, typer.Argument(metavar="ID", help="The check id")],
    checklist: ChecklistOpt = None,
) -> None:
    """Show everything about one check: owner, expectation, rollback, options, needs."""
    from jobcheck.commands.explain import explain as explain_command

    _finish(lambda: explain_command(check_id, checklist, os.environ))


@app.command(
    epilog=examples(
        "jobcheck schema > checklist.schema.json",
        "# then, first line of jobcheck.yaml:",
        "# yaml-language-server: $schema=checklist.schema.json",
    )
)
def schema() -> None:
    """Print the JSON Schema of the checklist format (for editors)."""
    from jobcheck.commands.schema import schema as schema_command

    _finish(schema_command)


@app.command(
    epilog=examples(
        "jobcheck report out/gate.json",
        "jobcheck report out/gate.json -f junit -o out/gate.xml",
        "jobcheck report out/gate.json --format text",
    )
)
@shared(reports=MERGE)
def report(
    run_json: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN.json | merge SHARD.json...",
            help="A JSON report written by `run --json`; or `merge` and the shards' reports",
            # Typer would add `<list[Path]>` after the metavar; the usage line says it all.
            hidden=True,
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", metavar="FORMAT", help=", ".join(BY_NAME)),
    ] = "markdown",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="PATH", help="Write here (atomically) instead of stdout"
        ),
    ] = None,
    *,
    reports: dict[str, Path],
) -> None:
    """Re-render a saved run as Markdown, JUnit XML, plain text or HTML; or merge the reports
    of `run --shard K/N` into one report and one exit code (`report merge A.json B.json`)."""
    from jobcheck.commands.merge import report_or_merge

    _finish(lambda: report_or_merge(run_json, fmt, output, reports, sys.stdout))


@app.command(epilog=examples("jobcheck history", "jobcheck history -c checklists/release.yaml"))
def history(checklist: ChecklistArg = None, checklist_opt: ChecklistOpt = None) -> None:
    """Per check over the saved runs: pass rate, last status, median duration, flaky checks."""
    from jobcheck.commands.history import history as history_command

    _finish(lambda: history_command(_checklist(checklist, checklist_opt)))


@app.command(
    epilog=examples(
        "jobcheck durations --write .jobcheck-durations.json",
        "jobcheck run --shard 1/3 --durations .jobcheck-durations.json",
    )
)
def durations(
    checklist: ChecklistArg = None,
    checklist_opt: ChecklistOpt = None,
    write: Annotated[
        Path | None,
        typer.Option("--write", metavar="FILE", help="Write the file (else print it)"),
    ] = None,
) -> None:
    """Each check's median duration from the saved runs: the file `run --shard K/N
    --durations FILE` splits by, the same on every machine."""
    from jobcheck.commands.history import durations as durations_command

    _finish(
        lambda: durations_command(_checklist(checklist, checklist_opt), write, dict(os.environ))
    )


@app.command(epilog=examples("jobcheck waivers", "jobcheck waivers -c checklists/release.yaml"))
def waivers(checklist: ChecklistArg = None, checklist_opt: ChecklistOpt = None) -> None:
    """Every waiver with owner, reason and days left; exit 1 when one has expired."""
    from jobcheck.commands.waivers import waivers as waivers_command

    _finish(lambda: waivers_command(_checklist(checklist, checklist_opt), os.environ))


@app.command(
    epilog=examples(
        "jobcheck release v1.4.0 --dry-run",
        "jobcheck release v1.4.0 --yes --json out/release.json --markdown out/release.md",
        "jobcheck release v1.4.0 -c checklists/release.yaml --skip slow",
        "jobcheck release v1.4.0 --yes --from-reports shard-reports/",
    )
)
@shared(gate=GATE)
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
    *,
    gate: GateOptions,
    use_cache: Annotated[
        bool,
        typer.Option(
            "--cache", help="Replay cached passes (off by default: a release runs everything)"
        ),
    ] = False,
    from_reports: Annotated[
        Path | None,
        typer.Option(
            "--from-reports",
            metavar="DIR",
            help="Tag from the JSON reports of `run --shard K/N` in DIR (merged; every shard, "
            "passing, of HEAD and this checklist) instead of running the gate",
        ),
    ] = None,
    notes: Annotated[
        Path | None,
        typer.Option(
            "--notes",
            metavar="PATH",
            help="Write Markdown release notes (the CHANGELOG section, files touched since the "
            "previous tag, the command, every metric against its baseline); the tag carries them",
        ),
    ] = None,
) -> None:
    """Run the release checklist with RELEASE_TAG=TAG; tag only when every blocker passed."""
    from jobcheck.commands.release import release as release_command
    from jobcheck.pipeline import terminal_stream

    def body() -> int:
        request = gate.request(checklist, cache=use_cache)
        return release_command(
            tag,
            request,
            environ={**os.environ, **request.extra_env},
            out=terminal_stream(request),
            confirm=lambda question: typer.confirm(question, default=False),
            is_tty=sys.stdin.isatty() and sys.stdout.isatty(),
            dry_run=dry_run,
            yes=yes,
            from_reports=from_reports,
            notes=notes,
        )

    _finish(body)


@app.command(epilog=examples("jobcheck init", "jobcheck -C path/to/service init --force"))
def init(
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing jobcheck.yaml")
    ] = False,
    here: Annotated[
        bool,
        typer.Option(
            "--here",
            help="Write at the nearest folder with .git or pyproject.toml, not at the "
            "repository's root",
        ),
    ] = False,
) -> None:
    """Write a starting jobcheck.yaml for the repository in the current folder."""
    from jobcheck.commands.init import init as init_command

    _finish(lambda: init_command(Path.cwd(), force=force, here=here))


@stack_app.command(
    "up", epilog=examples("jobcheck stack up", "jobcheck stack up --no-build -c ci.yaml")
)
def stack_up(
    checklist: ChecklistOpt = None,
    no_build: Annotated[bool, typer.Option("--no-build", help="Do not build images")] = False,
) -> None:
    """Build, start, and wait for every healthcheck (with the stack's deadline)."""
    from jobcheck.commands.stack import stack

    build = False if no_build else None
    _finish(lambda: stack("up", checklist, os.environ, build=build))


@stack_app.command("down", epilog=examples("jobcheck stack down", "jobcheck stack down --volumes"))
def stack_down(
    checklist: ChecklistOpt = None,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Also remove volumes")] = False,
) -> None:
    """Stop and remove the stack's containers (and, with --volumes, its data)."""
    from jobcheck.commands.stack import stack

    _finish(lambda: stack("down", checklist, os.environ, volumes=volumes))


@stack_app.command(
    "status", epilog=examples("jobcheck stack status", "jobcheck stack status | cat")
)
def stack_status(checklist: ChecklistOpt = None) -> None:
    """Each service's containers: state, health, restarts, ports."""
    from jobcheck.commands.stack import stack

    _finish(lambda: stack("status", checklist, os.environ))


@stack_app.command(
    "logs", epilog=examples("jobcheck stack logs", "jobcheck stack logs worker -n 50")
)
def stack_logs(
    service: Annotated[
        str | None,
        typer.Argument(metavar="SERVICE", help="One service (default: all)", show_default=False),
    ] = None,
    checklist: ChecklistOpt = None,
    tail: Annotated[
        int, typer.Option("--tail", "-n", min=1, metavar="N", help="Lines per container")
    ] = 200,
) -> None:
    """The last log lines of the stack's containers, secrets masked."""
    from jobcheck.commands.stack import stack

    _finish(lambda: stack("logs", checklist, os.environ, service=service, tail=tail))


@cache_app.command(
    "clear", epilog=examples("jobcheck cache clear", "jobcheck cache clear -c ci.yaml")
)
def cache_clear(checklist: ChecklistOpt = None) -> None:
    """Remove every cached result (and the file stat index) beside the checklist."""
    from jobcheck.commands.cache import cache_clear as clear_command

    _finish(lambda: clear_command(checklist, sys.stdout))


def run_app(args: list[str]) -> None:
    app_for(args, os.environ)(args=args, prog_name="jobcheck")


def app_for(args: list[str], environ: Mapping[str, str]) -> typer.Typer:
    """The app with only the command ``args`` name. Typer builds the parameters of every
    registered command (inspecting each signature) before it parses anything; one command's are
    enough to run it. The root's help, shell completion, and a word that names no command (so
    that click suggests the close one) get the whole app."""
    name = _command_word(args)
    if name is None or any(k.startswith("_JOBCHECK") for k in environ):
        return app
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def _command_word(args: list[str]) -> str | None:
    """The first word after the root options (``-C DIR``, ``--debug``); None when an option
    of the root itself (``-h``, ``--install-completion``) comes first."""
    words = iter(args)
    for word in words:
        if word in ("-C", "--directory"):
            next(words, None)
        elif word == "--debug" or word.startswith(("--directory=", "-C")):
            continue
        elif word.startswith("-"):
            return None
        else:
            return word
    return None


def _command_name(command: typer.models.CommandInfo) -> str:
    callback = command.callback
    return command.name or (callback.__name__.replace("_", "-") if callback else "")


def main(argv: list[str] | None = None) -> None:
    """The app with ``argv``; the console script is ``jobcheck.__main__.main``, which answers
    ``--version`` before this module (and Typer) is imported."""
    run_app(sys.argv[1:] if argv is None else argv)
