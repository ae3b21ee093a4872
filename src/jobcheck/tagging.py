"""The tagging half of ``jobcheck release TAG``: given the gate, tag — only when every blocker
passed (``commands/release.py`` runs the gate through the pipeline).

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
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from jobcheck import __version__, exit_codes
from jobcheck.durations import format_duration
from jobcheck.errors import RuntimeFailure, UsageError
from jobcheck.process import ProcessResult, git
from jobcheck.reports.text import counts_phrase
from jobcheck.results import CheckResult, RunResult, Status, WaiverNote


class GateRun(Protocol):
    """What running the gate gave (``pipeline.GateResult`` is one)."""

    run: RunResult
    reports_written: bool


class Planned(Protocol):
    """What the tagging needs to know of each check of the checklist (``Check`` is one): the
    checklist, not a report, says which checks are blockers and which waivers hold."""

    @property
    def id(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def waiver(self) -> WaiverNote | None: ...


RunGate = Callable[[Mapping[str, str]], GateRun]
Echo = Callable[[str], None]
Confirm = Callable[[str], bool]

WAIVED = Status.WAIVED
# Unicode categories a tag name must not hold: format (zero-width, bidi controls), control,
# private use, unassigned, line and paragraph separators.
_UNSEEN = frozenset({"Cf", "Cc", "Co", "Cn", "Zl", "Zp"})


def release(
    tag: str,
    *,
    repo: Path,
    run_gate: RunGate,
    echo: Echo,
    confirm: Confirm,
    checks: Sequence[Planned],
    dry_run: bool = False,
    yes: bool = False,
    is_tty: bool = False,
    checklist_files: Sequence[Path] = (),
    reports: Sequence[Path] = (),
    refusals: Sequence[str] = (),
    notes: Callable[[RunResult], str] | None = None,
    today: dt.date | None = None,
    mask: Callable[[str], str] | None = None,
) -> int:
    """The whole command; returns its exit code. Never creates a tag on a failed gate.

    ``checks``: every check of the checklist as loaded; each blocker among them must have
    passed in the gate's run, or be covered by its waiver in the checklist, valid ``today``.

    ``reports``: files the gate writes (``--markdown`` ...); they do not make the tree dirty.
    ``refusals``: reasons known before the gate why it cannot allow a tag (shard reports of
    another checklist, say); they are reported with the gate's own.
    ``notes``: the release notes of the gate's run, appended to the tag message.
    ``mask``: the run's masker, for the tag message and every line shown (the results in the
    run are masked already; the message renders them again).
    """
    problem = _tag_name_problem(repo, tag)
    if problem:
        raise UsageError(problem, hint="a tag name such as v1.4.0")
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
    gate = run_gate({"RELEASE_TAG": tag})
    run = gate.run
    if run.interrupted:
        echo(f"interrupted: no tag created for {tag}")
        return exit_codes.INTERRUPTED
    problems += gate_problems(run, checks, today=today or dt.date.today())
    problems += list(refusals) + commit_problems(run, head)
    if not gate.reports_written:
        problems.append("a report asked for could not be written (see above)")
    message = tag_message(
        run, tag=tag, commit=head, files=_checklist_files(run, checklist_files), repo=repo
    )
    if notes is not None:  # the release notes' sections: reason, files, command, metrics
        message += "\n" + notes(run)
    if mask is not None:
        message = mask(message)
    if dry_run:
        return _dry_run(echo, tag, head, message, problems)
    if problems:
        return _refuse(echo, tag, problems)
    problems = tree_problems(repo, tag, ignored) + _moved(repo, head)
    if problems:
        return _refuse(echo, tag, ["the gate changed the repository:", *problems])
    if is_tty and not yes and not confirm(f"Create annotated tag {tag} at {head[:12]}?"):
        echo(f"cancelled: no tag created for {tag}")
        return exit_codes.FAILED
    create_tag(repo, tag, message)
    echo(f"created annotated tag {tag} at {head[:12]}\npush it with: git push origin {tag}")
    return exit_codes.OK


def _refuse(echo: Echo, tag: str, reasons: list[str]) -> int:
    echo("\n".join([f"refusing to tag {tag}:", *(f"  - {r}" for r in reasons)]))
    return exit_codes.FAILED


def _dry_run(echo: Echo, tag: str, head: str, message: str, problems: list[str]) -> int:
    indented = "\n".join(f"    {line}".rstrip() for line in message.splitlines())
    if problems:
        lines = [f"dry run: {tag} would NOT be tagged:", *(f"  - {p}" for p in problems)]
        lines += ["", "the tag message would have been:", "", indented]
        echo("\n".join(lines))
        return exit_codes.FAILED
    echo(
        f"dry run: would create annotated tag {tag} at {head[:12]} with this message:\n\n"
        f"{indented}\n\nnothing was changed; run again without --dry-run to tag"
    )
    return exit_codes.OK


LET_THROUGH = (
    "a blocker that does not pass is let through only by a waiver on the check in the "
    'checklist: waiver: {reason: "why, with a ticket", until: YYYY-MM-DD, by: "@who"}'
)


def gate_problems(run: RunResult, checks: Sequence[Planned], *, today: dt.date) -> list[str]:
    """Why the run does not allow a tag: a blocker of the checklist that did not pass — failed,
    errored, skipped or deselected (``--skip``, ``--only``, a shard, ``--failed``), reported
    waived without a valid waiver, or absent from the run — and no valid waiver covers it.

    Which checks are blockers, and which waivers hold, comes from the checklist (``checks``),
    never from the run: a run may be read from reports written elsewhere."""
    results = {c.id: c for c in run.checks}
    shard = run.shard
    never = f"the run was shard {shard.index}/{shard.count} only" if shard else "it never ran"
    failed: list[str] = []
    others: list[str] = []
    for check in checks:
        if check.severity == "warning" or _waived(check.waiver, today):
            continue
        result = results.get(check.id)
        if result is None:
            others.append(f"blocker {check.id} is not in the gate's run ({never})")
        elif result.status in (Status.FAIL, Status.ERROR):
            failed.append(check.id)
        elif result.status == Status.SKIP:
            why = run.deselected.get(check.id) or _first_line(result.message) or "skipped"
            others.append(f"blocker {check.id} did not run ({why})")
        elif result.status == Status.WAIVED:
            others.append(
                f"blocker {check.id} is reported waived, but the checklist gives it no valid "
                "waiver (none, or expired)"
            )
    problems = []
    if failed:
        problems.append(
            f"the release gate failed: {len(failed)} blocker{'s' if len(failed) != 1 else ''}"
            f" did not pass ({', '.join(failed)})"
        )
    problems += others
    if problems:
        return [*problems, LET_THROUGH]
    if not any(c.status in (Status.PASS, Status.WAIVED) for c in run.checks):
        return ["the release gate proved nothing: no check passed (all skipped?)"]
    return []


def _waived(waiver: WaiverNote | None, today: dt.date) -> bool:
    return waiver is not None and waiver.until >= today


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def commit_problems(run: RunResult, head: str) -> list[str]:
    """The gate must have checked the commit that gets tagged (shard reports from CI may be of
    an older one)."""
    if not run.commit or run.commit == head:
        return []
    return [
        f"the gate checked commit {run.commit[:12]}, but HEAD is {head[:12]}: check out "
        f"{run.commit[:12]} to tag what was checked, or run the gate on HEAD"
    ]


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
    waiver = check.waiver
    if waiver is None:
        return check.id
    by = f", by {waiver.by}" if waiver.by else ""
    return f"{check.id}: {waiver.reason} (until {waiver.until.isoformat()}{by})"


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


def files_digest(files: Sequence[Path], base: Path) -> str:
    """One sha256 for a set of files: over ``digest  name`` lines (``sha256sum``'s format,
    names relative to ``base``, sorted), so it does not depend on where the checkout is."""
    lines = sorted(f"{digest(path)}  {_shown(path, base)}\n" for path in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


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


def _git(repo: Path, *args: str) -> ProcessResult:
    result = git(repo, *args)
    if result.not_found:
        raise RuntimeFailure("git was not found", hint="install git and retry")
    if result.timed_out:
        raise RuntimeFailure(f"`git {' '.join(args)}` did not finish within 60s")
    return result


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
    """Why ``tag`` cannot name a release tag: git refuses it, or it would be ambiguous
    (``HEAD``, ``@``, a full ref, the name of a branch)."""
    where = repo if repo.is_dir() else Path.cwd()
    if not tag or tag.startswith("-"):
        return f"{tag!r} is not a valid tag name"
    hidden = [c for c in tag if unicodedata.category(c) in _UNSEEN or (c.isspace() and c != " ")]
    if hidden:
        codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in hidden}))
        return (
            f"'{tag.encode('ascii', 'backslashreplace').decode()}' holds a character that does "
            f"not show or turns the text around ({codes}): a tag name must read as it is"
        )
    if _git(where, "check-ref-format", f"refs/tags/{tag}").returncode != 0:
        return f"{tag!r} is not a valid git tag name (see `git check-ref-format --help`)"
    if tag in ("HEAD", "@", "FETCH_HEAD", "ORIG_HEAD") or tag.startswith("refs/"):
        return f"{tag!r} would be an ambiguous tag name (git already reads it as a ref)"
    if _git(where, "rev-parse", "--verify", "--quiet", f"refs/heads/{tag}").returncode == 0:
        return f"{tag!r} is a branch name here; a tag of the same name would shadow it"
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
