"""The gate, once: load → plan → run → report → exit code, for every command that runs checks.

``run_gate(request)`` is the whole of it: report paths checked before anything runs, the
terminal and CI listeners, the reports written atomically, the run saved in the history, and
the exit code. ``jobcheck run`` is a thin caller; ``jobcheck release`` adds only the tagging.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING

from jobcheck import exit_codes
from jobcheck.attempts import uses_stack
from jobcheck.checklist import Checklist
from jobcheck.errors import UsageError
from jobcheck.fsutil import not_regular
from jobcheck.kinds.base import StackInfo
from jobcheck.listeners import Listener
from jobcheck.loading import find_checklist, load_checklist
from jobcheck.metrics import BaselineSource
from jobcheck.plan import Plan, close_selectors, select, selector_names, unknown_selectors
from jobcheck.reports import formats
from jobcheck.reports.formats import STDOUT, targets
from jobcheck.reports.github import ci_listeners, is_ci
from jobcheck.reports.terminal import LiveReporter, PlainReporter
from jobcheck.results import RunOrigin, RunResult, ShardInfo
from jobcheck.run_history import (
    HistoryBaselines,
    failed_ids,
    git_commit,
    history_durations,
    save_run,
    with_dependants,
)
from jobcheck.run_settings import Prepare, RunSettings
from jobcheck.runner import Runner
from jobcheck.secrets import Masker, mask_data
from jobcheck.tagging import files_digest

if TYPE_CHECKING:
    from jobcheck.result_cache import ResultCache
    from jobcheck.shards import ShardSpec

# Checks that mostly wait (Kind.waits) hold a slot of their own: many at once cost little.
DEFAULT_WAIT_JOBS = 8


@dataclass
class GateRequest:
    """What to run and where to report it: plain values, as the CLI parsed them."""

    checklist: Path | None = None
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    jobs: int | None = None
    wait_jobs: int | None = None  # None: DEFAULT_WAIT_JOBS
    fail_fast: bool = False
    reports: dict[str, Path] = field(default_factory=dict)  # format name -> path (reports.formats)
    color: str = "auto"  # auto | always | never
    plain: bool = False  # no live view, even on a terminal (--no-color)
    failed: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    history: bool = True
    stack_up: bool | None = None  # None: as the checklist's `stack.up` says
    shard: str | None = None  # "K/N": run only the K-th of N shards
    durations: str | None = None  # --durations: a file of seconds per check, or "history"
    cache: bool = True  # replay the passes of checks with `cache:` (--no-cache: False)
    release_tag: str = ""  # the gate of `jobcheck release TAG`: its history names the tag


@dataclass
class GateResult:
    """What the gate found: the loaded checklist, the run, and whether every report was written."""

    checklist: Checklist
    run: RunResult
    reports_written: bool

    @property
    def exit_code(self) -> int:
        # A gate whose report went missing must not look green to the CI step that reads it.
        return self.run.exit_code or (exit_codes.OK if self.reports_written else exit_codes.FAILED)


def run_gate(
    request: GateRequest,
    environ: Mapping[str, str],
    out: IO[str] | None = None,
    *,
    checklist: Checklist | None = None,
) -> GateResult:
    """Run the gate as ``request`` says; ``checklist`` when the caller loaded it already."""
    out = out or terminal_stream(request)
    prepare_report_paths(request)
    shard = _shard(request.shard) if request.shard else None
    if request.durations is not None and shard is None:
        raise UsageError(
            "--durations weighs the checks of --shard K/N; without --shard it does nothing",
            hint="jobcheck run --shard 1/3 --durations .jobcheck-durations.json",
        )
    checklist = checklist or load(request.checklist, environ)
    check_report_inputs(request, run_inputs(checklist))
    ids = _failed_ids(checklist) if request.failed else None
    plan = make_plan(checklist, request, ids)
    if shard is not None:
        plan = shard_plan(checklist, plan, shard, request.durations)
    masker = checklist.secrets.masker({**environ, **request.extra_env})
    # The command line is shown again (JSON report, history, "reproduce locally"): masked.
    request = dataclasses.replace(request, argv=mask_data(request.argv, masker))
    listeners = choose_listeners(request, environ, out) + _ci_listeners(request, environ, out)
    run = execute(checklist, plan, request, environ, listeners, masker, shard=shard)
    written = formats.write_reports(run, request.reports, mask=masker)
    if request.history:
        _save_history(checklist, run)
    return GateResult(checklist, run, written)


def _shard(text: str) -> ShardSpec:
    from jobcheck.shards import ShardSpec  # statistics and friends: only for --shard

    return ShardSpec.parse(text)


def shard_plan(
    checklist: Checklist, plan: Plan, shard: ShardSpec, durations: str | None = None
) -> Plan:
    """The plan cut to this shard's checks (whole groups of ``needs``), balanced by the
    durations in a file (``--durations FILE``), this machine's run history only when asked
    (``--durations history``), else by count: the same split on every machine."""
    # lazy: statistics and friends: only for --shard
    from jobcheck.shards import FROM_HISTORY, read_durations, shard_ids

    if durations == FROM_HISTORY:
        weights = history_durations(checklist.base_dir, checklist.name)
    elif durations is not None:
        weights = read_durations(Path(durations))
    else:
        weights = {}
    keep = shard_ids(checklist.checks, shard, weights)
    return Plan(
        run=[c for c in plan.run if c.id in keep],
        deselected={i: why for i, why in plan.deselected.items() if i in keep},
        all=[c for c in plan.all if c.id in keep],
    )


def _failed_ids(checklist: Checklist) -> list[str]:
    ids = with_dependants(
        failed_ids(checklist.base_dir, checklist=checklist.path), checklist.checks
    )
    if not ids:
        raise UsageError(
            "--failed: the last saved run had no failed or errored check",
            hint="run without --failed, or look at `jobcheck history`",
        )
    return ids


def _ci_listeners(request: GateRequest, environ: Mapping[str, str], out: IO[str]) -> list[Listener]:
    return list(ci_listeners(environ, out, argv=request.argv))


def _save_history(checklist: Checklist, run: RunResult) -> None:
    try:
        save_run(run, checklist.base_dir)
    except OSError as exc:
        print(f"warning: could not save the run history: {exc}", file=sys.stderr)


def load(path: Path | None, environ: Mapping[str, str]) -> Checklist:
    return load_checklist(find_checklist(path), environ)


def stack_info(checklist: Checklist) -> StackInfo | None:
    spec = checklist.stack
    if spec is None:
        return None
    base = checklist.base_dir
    return StackInfo(
        compose=[(base / p).resolve() for p in spec.compose],
        project=spec.project,
        env_file=(base / spec.env_file).resolve() if spec.env_file else None,
        up=spec.up,
        build=spec.build,
        wait_s=spec.wait,
        build_args=dict(spec.build_args),
        context=spec.context,
    )


def make_plan(checklist: Checklist, options: GateRequest, ids: Sequence[str] | None) -> Plan:
    for flag, selectors in (("--only", options.only), ("--skip", options.skip)):
        unknown = unknown_selectors(checklist.checks, selectors)
        if unknown:
            raise _unknown_selector(flag, unknown, checklist)
    return select(checklist.checks, options.only, options.skip, ids)


def _unknown_selector(flag: str, unknown: Sequence[str], checklist: Checklist) -> UsageError:
    close = [c for s in unknown for c in close_selectors(checklist.checks, s)]
    known = ", ".join(selector_names(checklist.checks))
    hint = f"did you mean {' or '.join(f'`{c}`' for c in close)}? " if close else ""
    return UsageError(
        f"{flag} {', '.join(unknown)}: no check has this id or tag (globs like 'api-*' work too)",
        hint=f"{hint}ids and tags here: {known}",
    )


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a run the way Ctrl-C does: reports are written, exit 130."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests calling in a thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(
    checklist: Checklist,
    plan: Plan,
    options: GateRequest,
    environ: Mapping[str, str],
    listeners: Sequence[Listener],
    masker: Masker,
    *,
    shard: ShardSpec | None = None,
) -> RunResult:
    env = with_own_bin({**checklist.file_env, **environ, **options.extra_env})
    stack = stack_info(checklist)
    up = options.stack_up
    settings = RunSettings(
        base_dir=checklist.base_dir,
        env=env,
        mask=masker,
        jobs=options.jobs or os.cpu_count() or 2,
        wait_jobs=options.wait_jobs or DEFAULT_WAIT_JOBS,
        fail_fast=options.fail_fast,
        stack=stack,
        prepare=stack_preparer(stack, plan, env, force=bool(up)) if up is not False else None,
        cache=_result_cache(checklist, plan, env, masker) if options.cache else None,
        baselines=_baselines(checklist),
    )
    runner = Runner(plan, settings, listeners)
    origin = run_origin(checklist, options, shard)
    with sigterm_as_interrupt():
        run = runner.run(checklist.name, origin)
    if settings.cache is not None:
        settings.cache.finish()
    return run


def run_origin(checklist: Checklist, options: GateRequest, shard: ShardSpec | None) -> RunOrigin:
    """What the run is of, before it starts: its result carries it from the runner on."""
    digest = checklist_digest(checklist)
    return RunOrigin(
        path=str(checklist.path),
        argv=list(options.argv),
        commit=git_commit(checklist.base_dir),
        digest=digest,
        shard=ShardInfo(shard.index, shard.count, digest) if shard is not None else None,
        checklist_ids=[c.id for c in checklist.checks] if shard is not None else [],
        release=options.release_tag,
    )


def _result_cache(
    checklist: Checklist, plan: Plan, env: Mapping[str, str], masker: Masker
) -> ResultCache | None:
    """The result cache, when a planned check has `cache:`."""
    if not any(c.cache is not None for c in plan.run):
        return None
    from jobcheck.result_cache import for_run  # lazy: only a run with a `cache:` check

    return for_run(plan.run, checklist.base_dir, env, masker)


def _baselines(checklist: Checklist) -> BaselineSource:
    return HistoryBaselines(checklist.base_dir, checklist.path)


def checklist_digest(checklist: Checklist) -> str:
    """sha256 over the checklist's files (each as ``tagging.digest`` hashes it, with its path
    relative to the checklist's folder): two machines that check out the same commit agree."""
    return files_digest(checklist.files, checklist.base_dir)


def stack_preparer(
    stack: StackInfo | None, plan: Plan, env: Mapping[str, str], *, force: bool = False
) -> Prepare | None:
    """With `stack.up: true` (or --stack-up) and a check that uses the stack planned: the
    bring-up, a node of the plan that those checks need (the others run beside it)."""
    if stack is None or not (stack.up or force):
        return None
    if not any(uses_stack(c) for c in plan.run):
        return None

    def prepare(cancel: threading.Event, progress: Callable[[str], None]) -> str:
        # lazy: the stack's lifecycle (compose, Docker)
        from jobcheck.staging.lifecycle import bring_up

        result = bring_up(stack, env, progress=progress, build=stack.build, cancel=cancel)
        return "" if result.ok else f"the staging stack did not come up: {result.message}"

    return prepare


def with_own_bin(env: dict[str, str]) -> dict[str, str]:
    """Put the folder of jobcheck's Python first on PATH, as an activated venv would: the
    ruff, pytest and mypy installed beside jobcheck are the ones its checks find."""
    own = str(Path(sys.executable).parent)
    parts = env.get("PATH", os.defpath).split(os.pathsep)
    if own not in parts:
        env["PATH"] = os.pathsep.join([own, *parts])
    return env


def report_paths(options: GateRequest) -> list[tuple[str, Path]]:
    return targets(options.reports)


def terminal_stream(options: GateRequest) -> IO[str]:
    """Where the terminal report goes: stderr when a report is written to stdout (`--json -`)."""
    return sys.stderr if any(p == STDOUT for _, p in report_paths(options)) else sys.stdout


def prepare_report_paths(options: GateRequest, extra: Sequence[tuple[str, Path]] = ()) -> None:
    """Every report's folder exists and takes a file before anything runs: created when
    missing, else a usage error (exit 2) naming the flag, the path and why. ``extra``: more
    (flag, path) pairs written by the command itself (``release --notes``)."""
    paths = [*report_paths(options), *extra]
    to_stdout = [flag for flag, path in paths if path == STDOUT]
    if len(to_stdout) > 1:
        raise UsageError(
            f"{' and '.join(to_stdout)} both write to stdout ('-')",
            hint="give one of them a file path",
        )
    for flag, path in paths:
        if path == STDOUT:
            continue
        if path.is_dir():
            raise UsageError(
                f"{flag} {path}: is a directory", hint=f"give a file, e.g. {path}/report"
            )
        what = not_regular(path)
        if what:
            raise UsageError(
                f"{flag} {path}: is {what}; a report is written only to a regular file "
                "(or '-' for stdout)",
                hint="give a file path",
            )
        _writable_folder(flag, path)


def _writable_folder(flag: str, path: Path) -> None:
    """Create ``path``'s folder and write a scratch file there: the permission bits alone do
    not tell (root may write anywhere but /proc, a read-only mount)."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".jobcheck-", suffix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot write a report into {folder}: {exc.strerror or exc}",
            hint="give a path in a folder you can write to, e.g. out/report",
        ) from None


def check_report_inputs(options: GateRequest, inputs: Sequence[Path]) -> None:
    """A report never replaces an input of the run (the checklist, an include, an env file,
    a compose file, a shard's report): a usage error found before anything runs."""
    refuse_inputs_as_targets(report_paths(options), inputs)


def refuse_inputs_as_targets(targets: Sequence[tuple[str, Path]], inputs: Sequence[Path]) -> None:
    """UsageError when one of ``targets`` (flag, path) names one of the files ``inputs``."""
    read = {_identity(path): path for path in inputs}
    for flag, path in targets:
        if path == STDOUT:
            continue
        source = read.get(_identity(path))
        if source is not None:
            raise UsageError(
                f"{flag} {path}: is an input of this run ({source}); writing the report there "
                "would replace it",
                hint="give the report a path of its own, e.g. out/report.json",
            )


def _identity(path: Path) -> object:
    """The file a path names: its device and inode when it exists (links and ``..`` agree),
    else its resolved path."""
    try:
        info = path.stat()
        return (info.st_dev, info.st_ino)
    except (OSError, ValueError):
        return path.resolve()


def run_inputs(checklist: Checklist) -> list[Path]:
    """The files a run of ``checklist`` reads before it starts: its files, env files, and the
    stack's compose and env files."""
    stack = stack_info(checklist)
    found = [*checklist.files, *checklist.env_files]
    if stack is not None:
        found += [*stack.compose, *([stack.env_file] if stack.env_file else [])]
    return found


def choose_listeners(
    options: GateRequest, environ: Mapping[str, str], stream: IO[str] | None = None
) -> list[Listener]:
    """The live view on a terminal (coloured or not), else plain lines (coloured or not)."""
    stream = stream or sys.stdout
    tty = stream.isatty()
    colour = wants_colour(options.color, environ, tty=tty)
    if tty and not options.plain and not is_ci(environ):
        from rich.console import Console  # lazy: rich, only on a terminal

        decided = ("NO_COLOR", "FORCE_COLOR")  # here, not again by rich
        console = Console(
            file=stream,
            force_terminal=True,
            no_color=not colour,
            highlight=False,
            _environ={k: v for k, v in environ.items() if k not in decided},
        )
        return [LiveReporter(console)]
    return [PlainReporter(stream, color=colour)]


def wants_colour(mode: str, environ: Mapping[str, str], *, tty: bool) -> bool:
    """`--color always|never` first; then NO_COLOR (no-color.org) and FORCE_COLOR, set and not
    empty; else colour on a terminal. NO_COLOR is about colour only: the live view stays."""
    if mode in ("always", "never"):
        return mode == "always"
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return tty
