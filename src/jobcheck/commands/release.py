"""``jobcheck release TAG``: the gate, then the tag — only when every blocker passed.

The gate is ``pipeline.run_gate`` like ``jobcheck run`` (reports, history, listeners, the
same checks of report paths before anything runs); ``tagging.release`` decides whether to tag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import IO

from jobcheck.pipeline import GateRequest, GateResult, check_report_paths, load, report_paths
from jobcheck.tagging import Confirm
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
) -> int:
    """Load the checklist with ``RELEASE_TAG`` set (a checklist error is exit 2 before anything
    runs), refuse unwritable report paths before running, run the gate, then tag."""
    check_report_paths(request)
    loaded = load(request.checklist, {**environ, "RELEASE_TAG": tag})

    def echo(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    def run_gate(extra_env: Mapping[str, str]) -> GateResult:
        from jobcheck.pipeline import run_gate as gate

        asked = dataclasses.replace(
            request,
            checklist=loaded.path,
            extra_env={**request.extra_env, **extra_env},
            argv=request.argv or ["jobcheck", "release", tag],
        )
        return gate(asked, environ, out, checklist=loaded)

    return tag_release(
        tag, repo=loaded.base_dir, run_gate=run_gate, echo=echo, confirm=confirm,
        dry_run=dry_run, yes=yes, is_tty=is_tty, checklist_files=loaded.files,
        reports=[path for _, path in report_paths(request)],
    )  # fmt: skip
