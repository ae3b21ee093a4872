"""``jobcheck release TAG``: run the release gate, then tag — only when every blocker passed.

The flow, and why each refusal happens before the expensive part where it can:

1. the tag name is valid, the folder is a git repository with a commit, and — unless it is a
   dry run — there is a way to confirm (a terminal, or ``--yes``: CI must say ``--yes``);
2. the tag is not taken and the working tree is clean (a dry run reports these and goes on);
3. the gate runs with ``RELEASE_TAG=TAG`` (the run callable shows its own report);
4. a failed gate never tags; a dry run prints the tag message and stops;
5. HEAD, tag and tree are checked again (the gate must not have changed what gets tagged);
6. on a terminal the captain confirms, then ``git tag -a TAG -F MESSAGE`` creates the tag.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from jobcheck import __version__
from jobcheck.durations import format_duration
from jobcheck.errors import RuntimeFailure
from jobcheck.reports.text import counts_phrase
from jobcheck.results import CheckResult, RunResult, Status

RunGate = Callable[[Mapping[str, str]], RunResult]
Echo = Callable[[str], None]
Confirm = Callable[[str], bool]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
WAIVED = Status.WAIVED


def release(
    tag: str,
    *,
    repo: Path,
    run_gate: RunGate,
    echo: Echo,
    confirm: Confirm,
    dry_run: bool = False,
    yes: bool = False,
    is_tty: bool = False,
    checklist_files: Sequence[Path] = (),
    reports: Sequence[Path] = (),
) -> int:
    """The whole command; returns its exit code. Never creates a tag on a failed gate.

    ``reports``: files the gate writes (``--markdown`` ...); they do not make the tree dirty.
    """
    problem = _tag_name_problem(repo, tag)
    if problem:
        echo(f"error: {problem}")
        return EXIT_USAGE
    head = head_commit(repo)
    if not head:
        return _refuse(echo, tag, [f"{repo} is not a git repository with at least one commit"])
    repo = toplevel(repo)
    ignored = _relative_to(repo, reports)
    if not dry_run and not yes and not is_tty:
        return _refuse(echo, tag, ["there is no terminal to confirm on; pass --yes (CI must)"])
    problems = tree_problems(repo, tag, ignored)
    if problems and not dry_run:
        return _refuse(echo, tag, problems)
    run = run_gate({"RELEASE_TAG": tag})
    if run.interrupted:
        echo(f"interrupted: no tag created for {tag}")
        return EXIT_INTERRUPTED
    problems += gate_problems(run)
    message = tag_message(
        run, tag=tag, commit=head, files=_checklist_files(run, checklist_files), repo=repo
    )
    if dry_run:
        return _dry_run(echo, tag, head, message, problems)
    if problems:
        return _refuse(echo, tag, problems)
    problems = tree_problems(repo, tag, ignored) + _moved(repo, head)
    if problems:
        return _refuse(echo, tag, ["the gate changed the repository:", *problems])
    if is_tty and not yes and not confirm(f"Create annotated tag {tag} at {head[:12]}?"):
        echo(f"cancelled: no tag created for {tag}")
        return EXIT_REFUSED
    create_tag(repo, tag, message)
    echo(f"created annotated tag {tag} at {head[:12]}\npush it with: git push origin {tag}")
    return EXIT_OK


def _refuse(echo: Echo, tag: str, reasons: list[str]) -> int:
    echo("\n".join([f"refusing to tag {tag}:", *(f"  - {r}" for r in reasons)]))
    return EXIT_REFUSED


def _dry_run(echo: Echo, tag: str, head: str, message: str, problems: list[str]) -> int:
    indented = "\n".join(f"    {line}".rstrip() for line in message.splitlines())
    if problems:
        lines = [f"dry run: {tag} would NOT be tagged:", *(f"  - {p}" for p in problems)]
        lines += ["", "the tag message would have been:", "", indented]
        echo("\n".join(lines))
        return EXIT_REFUSED
    echo(
        f"dry run: would create annotated tag {tag} at {head[:12]} with this message:\n\n"
        f"{indented}\n\nnothing was changed; run again without --dry-run to tag"
    )
    return EXIT_OK


def gate_problems(run: RunResult) -> list[str]:
    blocking = [c.id for c in run.checks if c.blocks]
    if blocking:
        return [
            f"the release gate failed: {len(blocking)} blocker{'s' if len(blocking) != 1 else ''}"
            f" did not pass ({', '.join(blocking)})"
        ]
    if not any(c.status in (Status.PASS, Status.WAIVED) for c in run.checks):
        return ["the release gate proved nothing: no check passed (all skipped?)"]
    return []


def tree_problems(repo: Path, tag: str, ignored: Sequence[str] = ()) -> list[str]:
    """Why ``repo`` cannot be tagged now: the tag exists, or the tree is dirty."""
    problems = []
    if tag_exists(repo, tag):
        problems.append(f"tag {tag} already exists (see `git show {tag}`); choose a new version")
    dirty = [name for name in dirty_files(repo) if name not in ignored]
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        problems.append(
            f"the working tree is not clean ({shown}); commit, stash or ignore these first, "
            "so the tag holds exactly what the gate checked"
        )
    return problems


def _moved(repo: Path, head: str) -> list[str]:
    now = head_commit(repo)
    return [] if now == head else [f"HEAD moved from {head[:12]} to {now[:12]} during the gate"]


def tag_message(run: RunResult, *, tag: str, commit: str, files: Sequence[Path], repo: Path) -> str:
    """The annotated tag's message: a record of the gate that allowed this release."""
    passed = run.summary[Status.PASS.value]
    lines = [
        f"Release {tag}",
        "",
        f"Release gate: {run.checklist} ({run.status})",
        f"Checks: {passed}/{len(run.checks)} passed ({counts_phrase(run)})",
        f"Commit: {commit}",
        f"Gate run: {_utc(run.started_at)} in {format_duration(run.duration_s)}",
    ]
    lines += _section("Waivers", [_waiver_line(c) for c in run.checks if c.status == WAIVED])
    lines += _section("Warnings", [_warning_line(c) for c in run.checks if _is_warning(c)])
    lines += _section("Skipped", [c.id for c in run.checks if c.status == Status.SKIP])
    digests = [f"{digest(path)}  {_shown(path, repo)}" for path in files]
    lines += _section("Checklist digest (sha256)", digests)
    lines += ["", f"Created by jobcheck {__version__}"]
    return "\n".join(lines) + "\n"


def _section(title: str, items: list[str]) -> list[str]:
    return ["", f"{title}:", *(f"- {item}" for item in items)] if items else []


def _waiver_line(check: CheckResult) -> str:
    waiver = check.waiver or {}
    by = f", by {waiver['by']}" if waiver.get("by") else ""
    return f"{check.id}: {waiver.get('reason', '')} (until {waiver.get('until', '?')}{by})"


def _is_warning(check: CheckResult) -> bool:
    return check.status in (Status.FAIL, Status.ERROR) and not check.blocks


def _warning_line(check: CheckResult) -> str:
    first = check.message.splitlines()[0] if check.message else ""
    return f"{check.id} ({check.status.value}): {first}"


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest(path: Path) -> str:
    """sha256 of a checklist file's bytes, as ``sha256sum`` prints it."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "(unreadable)"


def _shown(path: Path, repo: Path) -> str:
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return str(path)


def _checklist_files(run: RunResult, given: Sequence[Path]) -> list[Path]:
    """The files given, else the run's checklist and every file its checks came from."""
    names = [str(p) for p in given] or [run.path, *(c.source for c in run.checks)]
    unique: dict[Path, None] = {}
    for name in names:
        if name:
            unique.setdefault(Path(name).resolve(), None)
    return list(unique)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise RuntimeFailure("git was not found", hint="install git and retry") from None
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"`git {' '.join(args)}` did not finish within 60s") from None


def head_commit(repo: Path) -> str:
    if not repo.is_dir():
        return ""
    result = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return result.stdout.strip() if result.returncode == 0 else ""


def toplevel(path: Path) -> Path:
    """The root of the work tree ``path`` is in (checklist paths are shown relative to it)."""
    result = _git(path, "rev-parse", "--show-toplevel")
    return Path(result.stdout.strip()) if result.returncode == 0 else path


def tag_exists(repo: Path, tag: str) -> bool:
    return _git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}").returncode == 0


def dirty_files(repo: Path) -> list[str]:
    """Changed and untracked files, relative to the top of the work tree."""
    result = _git(repo, "status", "--porcelain", "--untracked-files=all")
    return [line[3:] for line in result.stdout.splitlines() if line.strip()]


def _relative_to(repo: Path, paths: Sequence[Path]) -> list[str]:
    names = []
    for path in paths:
        with contextlib.suppress(ValueError):
            names.append(path.resolve().relative_to(repo.resolve()).as_posix())
    return names


def _tag_name_problem(repo: Path, tag: str) -> str:
    if not tag or tag.startswith("-"):
        return f"{tag!r} is not a valid tag name"
    if (
        _git(
            repo if repo.is_dir() else Path.cwd(), "check-ref-format", f"refs/tags/{tag}"
        ).returncode
        != 0
    ):
        return f"{tag!r} is not a valid git tag name (see `git check-ref-format --help`)"
    return ""


def create_tag(repo: Path, tag: str, message: str) -> None:
    fd, name = tempfile.mkstemp(prefix="jobcheck-tag-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(message)
        # whitespace cleanup keeps lines starting with '#', which a waiver reason may hold
        result = _git(repo, "tag", "-a", "--cleanup=whitespace", "-F", name, tag)
    finally:
        Path(name).unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeFailure(f"`git tag -a {tag}` failed: {result.stderr.strip()}")


def release_command(
    tag: str,
    checklist: Path | None,
    *,
    environ: Mapping[str, str],
    out: IO[str],
    confirm: Confirm,
    is_tty: bool,
    dry_run: bool = False,
    yes: bool = False,
    jobs: int | None = None,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
) -> int:
    """``jobcheck release``: load the checklist with ``RELEASE_TAG`` set (a checklist error is
    exit 2 before anything runs), run it as the gate with the usual reporters, write the
    reports asked for, save the run in the history, then tag as ``release`` decides."""
    from jobcheck import app, history

    env = {**environ, "RELEASE_TAG": tag}
    loaded = app.load(checklist, env)

    def echo(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    def run_gate(extra_env: Mapping[str, str]) -> RunResult:
        options = app.RunOptions(
            checklist=loaded.path, jobs=jobs, extra_env=dict(extra_env), json_path=json_path,
            junit_path=junit_path, markdown_path=markdown_path,
            argv=["jobcheck", "release", tag],
        )  # fmt: skip
        plan = app.make_plan(loaded, options, None)
        listeners = app.choose_listeners(options, env, out)
        masker = app.make_masker(loaded, env)
        run = app.execute(loaded, plan, options, environ, listeners, masker)
        run.commit = run.commit or head_commit(loaded.base_dir)
        app.write_reports(run, options, echo)
        with contextlib.suppress(OSError):
            history.save_run(run, loaded.base_dir)
        return run

    return release(
        tag, repo=loaded.base_dir, run_gate=run_gate, echo=echo, confirm=confirm,
        dry_run=dry_run, yes=yes, is_tty=is_tty, checklist_files=loaded.files,
        reports=[p for p in (json_path, junit_path, markdown_path) if p is not None],
    )  # fmt: skip
