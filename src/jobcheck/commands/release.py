"""``jobcheck release TAG``: the gate, then the tag — only when every blocker passed.

The gate is ``pipeline.run_gate`` like ``jobcheck run`` (reports, history, listeners, the
same checks of report paths before anything runs); ``tagging.release`` decides whether to tag.

``--from-reports DIR``: the gate already ran as ``run --shard K/N`` on CI machines; their JSON
reports in DIR are merged (as ``report merge`` does) and stand in for the gate. Refused, with no
tag, when a shard is missing or failed, when the shards ran another commit than HEAD or
another checklist than this one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from jobcheck import pipeline
from jobcheck.checklist import Check, Checklist
from jobcheck.commands.merge import read_merged, show_merged
from jobcheck.errors import UsageError
from jobcheck.fsutil import atomic_write_text
from jobcheck.pipeline import (
    GateRequest,
    GateResult,
    check_report_inputs,
    checklist_digest,
    load,
    prepare_report_paths,
    refuse_inputs_as_targets,
    report_paths,
    run_inputs,
)
from jobcheck.release_notes import notes
from jobcheck.reports.formats import JSON
from jobcheck.results import RunResult
from jobcheck.secrets import Masker
from jobcheck.tagging import Confirm, toplevel
from jobcheck.tagging import release as tag_release


def release(
    tag: str,
    request: GateRequest,
    *,
    environ: Mapping[str, str],
    out: IO[str],
    confirm: Confirm,
    is_tty: bool,
    dry_run: bool = False,
    yes: bool = False,
    from_reports: Path | None = None,
    notes: Path | None = None,
) -> int:
    """Load the checklist with ``RELEASE_TAG`` set (a checklist error is exit 2 before anything
    runs), refuse unwritable report paths before running, run the gate, then tag; with
    ``notes``, write the release notes once the gate ran (tagged or not)."""
    prepare_report_paths(request, extra=[("--notes", notes)] if notes is not None else [])
    loaded = load(request.checklist, {**environ, "RELEASE_TAG": tag})
    check_report_inputs(request, run_inputs(loaded))
    if notes is not None:
        refuse_inputs_as_targets([("--notes", notes)], run_inputs(loaded))
    masker = loaded.secrets.masker({**environ, **request.extra_env, "RELEASE_TAG": tag})
    writer = NotesWriter(notes, tag, loaded, masker) if notes is not None else None
    code = _release(
        tag, request, loaded, environ=environ, out=out, confirm=confirm, is_tty=is_tty,
        dry_run=dry_run, yes=yes, from_reports=from_reports, notes=writer, masker=masker,
    )  # fmt: skip
    if writer is not None:
        writer.write(out)
    return code


def _release(
    tag: str,
    request: GateRequest,
    loaded: Checklist,
    *,
    environ: Mapping[str, str],
    out: IO[str],
    confirm: Confirm,
    is_tty: bool,
    dry_run: bool,
    yes: bool,
    from_reports: Path | None,
    notes: NotesWriter | None,
    masker: Masker,
) -> int:
    written = [path for _, path in report_paths(request)] + ([notes.path] if notes else [])
    if from_reports is not None:
        return _release_from_reports(
            tag, from_reports, request, loaded_digest=checklist_digest(loaded),
            repo=loaded.base_dir, files=loaded.files, checks=loaded.checks, out=out,
            confirm=confirm, is_tty=is_tty, dry_run=dry_run, yes=yes, mask=masker, notes=notes,
        )  # fmt: skip

    def echo(text: str) -> None:
        out.write(masker(text) + "\n")
        out.flush()

    def run_gate(extra_env: Mapping[str, str]) -> GateResult:
        asked = dataclasses.replace(
            request,
            checklist=loaded.path,
            extra_env={**request.extra_env, **extra_env},
            argv=request.argv or ["jobcheck", "release", tag],
            release_tag=tag,
        )
        return pipeline.run_gate(asked, environ, out, checklist=loaded)

    return tag_release(
        tag, repo=loaded.base_dir, run_gate=run_gate, echo=echo, confirm=confirm,
        dry_run=dry_run, yes=yes, is_tty=is_tty, checklist_files=loaded.files,
        reports=written, notes=notes, checks=loaded.checks, mask=masker,
    )  # fmt: skip


@dataclass
class ReportsGate:
    """The merged shard reports, standing in for a gate run (``tagging.GateRun``)."""

    run: RunResult
    reports_written: bool


RUN_ONLY = (
    ("--only", lambda r: bool(r.only)),
    ("--skip", lambda r: bool(r.skip)),
    ("--jobs", lambda r: r.jobs is not None),
    ("--wait-jobs", lambda r: r.wait_jobs is not None),
    ("--cache", lambda r: r.cache),
    ("--fail-fast", lambda r: r.fail_fast),
    ("--stack-up/--no-stack-up", lambda r: r.stack_up is not None),
)


def shard_reports(folder: Path) -> list[Path]:
    """The ``*.json`` files of DIR (not its subfolders), in name order."""
    if not folder.is_dir():
        raise UsageError(
            f"--from-reports {folder}: no such folder",
            hint="download the shards' JSON reports (`run --shard K/N --json PATH`) into a folder",
        )
    found = sorted(p for p in folder.glob(f"*{JSON.suffix}") if p.is_file())
    if not found:
        raise UsageError(
            f"--from-reports {folder}: no JSON report in this folder",
            hint="each shard writes one with `jobcheck run --shard K/N --json PATH`",
        )
    return found


def reports_problems(merged: RunResult, digest: str, ids: Sequence[str] | None = None) -> list[str]:
    """Why the merged reports cannot stand in for a gate of this checklist (HEAD is compared
    by ``tagging.release``, as for every gate): no commit, another digest, or other checks
    than the checklist's ``ids``."""
    problems = []
    if ids is not None and [c.id for c in merged.checks] != list(ids):
        theirs = {c.id for c in merged.checks}
        absent = [i for i in ids if i not in theirs]
        extra = sorted(theirs - set(ids))
        problems.append(
            "the shard reports do not hold the checks of this checklist"
            + (f"; missing: {', '.join(absent[:5])}" if absent else "")
            + (f"; not in it: {', '.join(extra[:5])}" if extra else "")
            + ("; in another order" if not absent and not extra else "")
        )
    if not merged.commit:
        problems.append(
            "the shard reports name no commit (they ran outside a git checkout); a tag needs "
            "the commit the gate checked"
        )
    if merged.digest and merged.digest != digest:
        problems.append(
            f"the shards ran another checklist (digest {merged.digest[:12]}) than this one "
            f"({digest[:12]}): its files changed since; run the shards again"
        )
    return problems


def _release_from_reports(
    tag: str,
    folder: Path,
    request: GateRequest,
    *,
    loaded_digest: str,
    repo: Path,
    files: Sequence[Path],
    checks: Sequence[Check],
    out: IO[str],
    confirm: Confirm,
    is_tty: bool,
    dry_run: bool,
    yes: bool,
    mask: Masker,
    notes: NotesWriter | None = None,
) -> int:
    given = [flag for flag, asked in RUN_ONLY if asked(request)]
    if given:
        raise UsageError(
            f"release --from-reports: {', '.join(given)} choose what a gate runs; "
            "with --from-reports nothing runs",
            hint="give these to the shards' `jobcheck run --shard K/N`",
        )
    paths = shard_reports(folder)
    check_report_inputs(request, paths)
    merged, problems = read_merged(paths)
    problems += reports_problems(merged, loaded_digest, [c.id for c in checks])

    def echo(text: str) -> None:
        out.write(mask(text) + "\n")
        out.flush()

    def gate(extra_env: Mapping[str, str]) -> ReportsGate:
        reports = f"{len(paths)} shard report{'s' if len(paths) != 1 else ''}"
        echo(f"release gate: {reports} from {folder}, merged")
        return ReportsGate(merged, show_merged(merged, request.reports, out, mask))

    return tag_release(
        tag, repo=repo, run_gate=gate, echo=echo, confirm=confirm, dry_run=dry_run, yes=yes,
        is_tty=is_tty, checklist_files=files, reports=[path for _, path in report_paths(request)]
        + ([notes.path] if notes else []), refusals=problems, notes=notes, checks=checks,
        mask=mask,
    )  # fmt: skip


class NotesWriter:
    """``--notes PATH``: the release notes of the gate's run, masked; the tag message carries
    the same text (``tagging.release(notes=...)``), the file is written after the tagging."""

    def __init__(self, path: Path, tag: str, loaded: Checklist, mask: Masker) -> None:
        self.path = path
        self.tag = tag
        self.repo = toplevel(loaded.base_dir)
        self.mask = mask
        self.text = ""

    def __call__(self, run: RunResult) -> str:
        self.text = notes(run, tag=self.tag, repo=self.repo, mask=self.mask)
        return self.text

    def write(self, out: IO[str]) -> None:
        if not self.text:
            return  # the gate never ran: nothing to write about
        try:
            atomic_write_text(self.path, self.text)
        except OSError as exc:
            raise UsageError(
                f"--notes {self.path}: cannot write the release notes: {exc}"
            ) from None
        out.write(f"release notes: {self.path}\n")
