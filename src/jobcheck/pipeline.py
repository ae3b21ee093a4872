"""The gate, once: load → plan → run → report → exit code, for every command that runs checks.

``run_gate(request)`` is the whole of it: report paths checked before anything runs, the
terminal and CI listeners, the reports written atomically, the run saved in the history, and
the exit code. ``jobcheck run`` is a thin caller; ``jobcheck release`` adds only the tagging.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from jobcheck import exit_codes
from jobcheck.checklist import Checklist
from jobcheck.errors import UsageError
from jobcheck.kinds.base import StackInfo
from jobcheck.loading import find_checklist, load_checklist
from jobcheck.plan import Plan, select, unknown_selectors
from jobcheck.results import RunResult, ShardInfo
from jobcheck.runner import Listener, Runner, RunSettings
from jobcheck.secrets import Masker
from jobcheck.shards import ShardSpec, shard_ids


@dataclass
class GateRequest:
    """What to run and where to report it: plain values, as the CLI parsed them."""

    checklist: Path | None = None
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    jobs: int | None = None
    fail_fast: bool = False
    json_path: Path | None = None
    junit_path: Path | None = None
    markdown_path: Path | None = None
    html_path: Path | None = None
    color: bool | None = None
    failed: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    history: bool = True
    stack_up: bool | None = None  # None: as the checklist's `stack.up` says
    shard: str | None = None  # "K/N": run only the K-th of N shards


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
    out = out or sys.stdout
    check_report_paths(request)
    shard = ShardSpec.parse(request.shard) if request.shard else None
    checklist = checklist or load(request.checklist, environ)
    ids = _failed_ids(checklist) if request.failed else None
    plan = make_plan(checklist, request, ids)
    if shard is not None:
        plan = shard_plan(checklist, plan, shard)
    masker = make_masker(checklist, {**environ, **request.extra_env})
    listeners = choose_listeners(request, environ, out) + _ci_listeners(request, environ, out)
    run = execute(checklist, plan, request, environ, listeners, masker)
    if shard is not None:
        run.shard = ShardInfo(shard.index, shard.count, run.digest)
        run.checklist_ids = [c.id for c in checklist.checks]
    written = write_reports(run, request, lambda text: print(text, end="", file=sys.stderr))
    if request.history:
        _save_history(checklist, run)
    return GateResult(checklist, run, written)


def shard_plan(checklist: Checklist, plan: Plan, shard: ShardSpec) -> Plan:
    """The plan cut to this shard's checks (whole groups of ``needs``), balanced by the
    median durations in the run history (see ``shards``)."""
    from jobcheck.run_history import history_table, load_runs

    # by name, not path: a CI machine restores the history into a checkout somewhere else
    runs = [r for r in load_runs(checklist.base_dir) if r.checklist == checklist.name]
    durations = {r.check_id: r.median_duration_s for r in history_table(runs) if r.runs}
    keep = shard_ids(checklist.checks, shard, durations)
    return Plan(
        run=[c for c in plan.run if c.id in keep],
        deselected={i: why for i, why in plan.deselected.items() if i in keep},
        all=[c for c in plan.all if c.id in keep],
    )


def _failed_ids(checklist: Checklist) -> list[str]:
    from jobcheck.run_history import failed_ids, with_dependants

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
    from jobcheck.reports.github import ci_listeners

    return list(ci_listeners(environ, out, argv=request.argv))


def _save_history(checklist: Checklist, run: RunResult) -> None:
    from jobcheck.run_history import save_run

    try:
        save_run(run, checklist.base_dir)
    except OSError as exc:
        print(f"warning: could not save the run history: {exc}", file=sys.stderr)


def load(path: Path | None, environ: Mapping[str, str]) -> Checklist:
    return load_checklist(find_checklist(path), environ)


def make_masker(checklist: Checklist, environ: Mapping[str, str]) -> Masker:
    masker = Masker.from_env(environ)
    masker.add(checklist.secret_values)
    return masker


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
    )


def make_plan(checklist: Checklist, options: GateRequest, ids: Sequence[str] | None) -> Plan:
    for flag, selectors in (("--only", options.only), ("--skip", options.skip)):
        unknown = unknown_selectors(checklist.checks, selectors)
        if unknown:
            known = sorted(
                {c.id for c in checklist.checks} | {t for c in checklist.checks for t in c.tags}
            )
            raise UsageError(
                f"{flag} {', '.join(unknown)}: no check has this id or tag",
                hint="ids and tags here: " + ", ".join(known),
            )
    return select(checklist.checks, options.only, options.skip, ids)


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
) -> RunResult:
    env = with_own_bin({**checklist.file_env, **environ, **options.extra_env})
    settings = RunSettings(
        base_dir=checklist.base_dir,
        env=env,
        mask=masker,
        jobs=options.jobs or os.cpu_count() or 2,
        fail_fast=options.fail_fast,
        stack=stack_info(checklist),
    )
    if options.stack_up is not False:
        settings.prepare = stack_preparer(settings.stack, plan, env, force=bool(options.stack_up))
    runner = Runner(plan, settings, listeners)
    with sigterm_as_interrupt():
        run = runner.run(checklist.name)
    run.path = str(checklist.path)
    run.argv = list(options.argv)
    from jobcheck.run_history import git_commit

    run.commit = git_commit(checklist.base_dir)
    run.digest = checklist_digest(checklist)
    return run


def checklist_digest(checklist: Checklist) -> str:
    """sha256 over the checklist's files (each as ``tagging.digest`` hashes it, with its path
    relative to the checklist's folder): two machines that check out the same commit agree."""
    from jobcheck.tagging import files_digest

    return files_digest(checklist.files, checklist.base_dir)


def stack_preparer(
    stack: StackInfo | None, plan: Plan, env: Mapping[str, str], *, force: bool = False
) -> Callable[[threading.Event], str] | None:
    """With `stack.up: true` (or --stack-up) and a Docker check planned: bring the stack up
    before checks."""
    if stack is None or not (stack.up or force):
        return None
    if not any(c.impl.docker for c in plan.run):
        return None

    def prepare(cancel: threading.Event) -> str:
        from jobcheck.staging.lifecycle import bring_up

        result = bring_up(stack, env, progress=_stack_progress, build=stack.build, cancel=cancel)
        return "" if result.ok else f"the staging stack did not come up: {result.message}"

    return prepare


def _stack_progress(line: str) -> None:
    print(f"stack: {line}", file=sys.stderr, flush=True)


def with_own_bin(env: dict[str, str]) -> dict[str, str]:
    """Put the folder of jobcheck's Python first on PATH, as an activated venv would: the
    ruff, pytest and mypy installed beside jobcheck are the ones its checks find."""
    own = str(Path(sys.executable).parent)
    parts = env.get("PATH", os.defpath).split(os.pathsep)
    if own not in parts:
        env["PATH"] = os.pathsep.join([own, *parts])
    return env


def report_paths(options: GateRequest) -> list[tuple[str, Path]]:
    flags = (
        ("--json", options.json_path),
        ("--junit", options.junit_path),
        ("--markdown", options.markdown_path),
        ("--html", options.html_path),
    )
    return [(flag, path) for flag, path in flags if path is not None]


def check_report_paths(options: GateRequest) -> None:
    """A report that cannot be written is a usage error found before anything runs."""
    for flag, path in report_paths(options):
        if path.is_dir():
            raise UsageError(
                f"{flag} {path}: is a directory", hint=f"give a file, e.g. {path}/report"
            )
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise UsageError(f"{flag} {path}: cannot write into {parent}")


def write_reports(run: RunResult, options: GateRequest, write: Callable[[str], Any]) -> bool:
    """Every report asked for, each written atomically; False when one could not be."""
    from jobcheck.reports.json_report import write_json
    from jobcheck.reports.junit import write_junit

    targets: list[tuple[Path | None, Callable[[RunResult, Path], Path]]] = [
        (options.json_path, write_json),
        (options.junit_path, write_junit),
        (options.markdown_path, _write_markdown),
        (options.html_path, _write_html),
    ]
    written = True
    for path, writer in targets:
        if path is None:
            continue
        try:
            writer(run, path)
        except OSError as exc:
            write(f"error: could not write {path}: {exc.strerror or exc}\n")
            written = False
    return written


def _write_markdown(run: RunResult, path: Path) -> Path:
    import datetime as dt

    from jobcheck.fsutil import atomic_write_text
    from jobcheck.reports.markdown import render_markdown

    return atomic_write_text(path, render_markdown(run, today=dt.date.today()))


def _write_html(run: RunResult, path: Path) -> Path:
    import datetime as dt

    from jobcheck.fsutil import atomic_write_text
    from jobcheck.reports.html import render_html

    return atomic_write_text(path, render_html(run, today=dt.date.today()))


def choose_listeners(
    options: GateRequest, environ: Mapping[str, str], stream: IO[str] | None = None
) -> list[Listener]:
    from jobcheck.reports.github import is_ci
    from jobcheck.reports.terminal import LiveReporter, PlainReporter

    stream = stream or sys.stdout
    no_color = options.color is False or "NO_COLOR" in environ
    live = stream.isatty() and not no_color and not is_ci(environ) and options.color is not False
    if live or options.color is True:
        from rich.console import Console

        console = Console(
            file=stream,
            force_terminal=True if options.color else None,
            no_color=no_color,
            highlight=False,
        )
        if live:
            return [LiveReporter(console)]
    return [PlainReporter(stream)]
