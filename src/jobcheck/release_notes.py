"""Release notes: why this release, what it touched, how it was checked, and what it measured.

``jobcheck release TAG --notes PATH`` writes them (Markdown) and the annotated tag's message
carries the same sections: the reason (the version's section of CHANGELOG.md), the files
touched since the previous tag (``git diff --stat``), the command used, and every metric of the
gate with its baseline and the change. The caller masks the text (``Masker``) like every output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from jobcheck.metrics import BASELINE_FROM, metric_rows
from jobcheck.process import git
from jobcheck.results import RunResult

CHANGELOG = "CHANGELOG.md"
MAX_STAT_LINES = 60  # a release touching more files shows the first ones and the summary
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def changelog_section(text: str, tag: str) -> str:
    """The body of the heading that names the version (``## [1.4.0] - ...``, ``## v1.4.0``),
    up to the next heading of the same level or higher; "" when there is none."""
    version = tag.removeprefix("v")
    wanted = re.compile(rf"(?<![\w.])v?{re.escape(version)}(?![\w.])")
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = HEADING.match(line)
        if match and wanted.search(match.group(2)):
            level = len(match.group(1))
            body = []
            for following in lines[index + 1 :]:
                other = HEADING.match(following)
                if other and len(other.group(1)) <= level:
                    break
                body.append(following)
            return "\n".join(body).strip()
    return ""


def previous_tag(repo: Path, tag: str) -> str:
    """The newest tag reachable from HEAD other than ``tag``; "" when there is none."""
    result = git(repo, "describe", "--tags", "--abbrev=0", "--exclude", tag, "HEAD", timeout_s=30)
    return result.stdout.strip() if result.returncode == 0 else ""


def files_touched(repo: Path, since: str) -> str:
    """``git diff --stat SINCE HEAD``, shortened to ``MAX_STAT_LINES``."""
    result = git(repo, "diff", "--stat=100", since, "HEAD", timeout_s=60)
    if result.returncode != 0:
        return f"(git diff --stat {since} HEAD failed: {result.stderr.strip()})"
    lines = result.stdout.rstrip().splitlines()
    if len(lines) > MAX_STAT_LINES:
        lines = [*lines[: MAX_STAT_LINES - 1], "   ...", lines[-1]]
    return "\n".join(lines) or "(no file changed)"


def baselines_used(run: RunResult) -> list[str]:
    return sorted({str(c.baseline[BASELINE_FROM]) for c in run.checks if c.baseline})


def notes(run: RunResult, *, tag: str, repo: Path, mask: Callable[[str], str]) -> str:
    """The release notes in Markdown, masked."""
    lines = [f"# Release {tag}", ""]
    lines += [f"Gate: {run.checklist} ({run.status}), commit {run.commit or 'unknown'}", ""]
    lines += ["## Why", "", _reason(repo, tag), ""]
    since = previous_tag(repo, tag)
    lines += [f"## Files touched since {since}" if since else "## Files touched", ""]
    if since:
        lines += ["```text", files_touched(repo, since), "```", ""]
    else:
        lines += ["No earlier tag: this is the first release.", ""]
    command = " ".join(run.argv) if run.argv else f"jobcheck release {tag}"
    lines += ["## Command", "", "```sh", command, "```", ""]
    lines += ["## Metrics", "", *_metrics_table(run)]
    return mask("\n".join(lines).rstrip() + "\n")


def _reason(repo: Path, tag: str) -> str:
    path = repo / CHANGELOG
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return f"No {CHANGELOG} in {repo.name or repo}: say why in the tag, or keep a changelog."
    section = changelog_section(text, tag)
    return section or f"{CHANGELOG} has no section for {tag.removeprefix('v')}."


def _metrics_table(run: RunResult) -> list[str]:
    rows = metric_rows(run.checks)
    if not rows:
        return ["No check measured anything (`load`, `http` with `requests`).", ""]
    table = ["| check | metric | baseline | this release | change |", "|---|---|---|---|---|"]
    table += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    used = baselines_used(run)
    against = f"Baselines: {'; '.join(used)}." if used else "No baseline yet."
    return [*table, "", against, ""]
