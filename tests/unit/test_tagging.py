from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from jobcheck import __version__
from jobcheck.errors import UsageError
from jobcheck.results import RunResult, Status
from jobcheck.tagging import head_commit, release

RUNS = Path(__file__).parents[1] / "fixtures" / "runs"
HEAD_LINE = "Commit: "


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real repository with one commit holding the release checklist."""
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Release Captain")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "captain@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Release Captain")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "captain@example.invalid")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")  # no signing or hooks from the host
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "checklists").mkdir()
    (tmp_path / "checklists" / "release.yaml").write_text("version: 1\n", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "release checklist")
    return tmp_path


class FakeGate:
    """Stands in for running the release checklist: returns a fixed run, records the env."""

    def __init__(self, run: RunResult, effect: object = None) -> None:
        self.run = run
        self.calls: list[dict[str, str]] = []
        self.effect = effect

    def __call__(self, extra_env: Mapping[str, str]) -> FakeGate:
        self.calls.append(dict(extra_env))
        if callable(self.effect):
            self.effect()
        return self

    reports_written = True


def fixed_run(repo: Path, name: str = "passing.json") -> RunResult:
    run = RunResult.from_dict(json.loads((RUNS / name).read_text(encoding="utf-8")))
    checklist = str(repo / "checklists" / "release.yaml")
    run.path = checklist
    run.checks = [dataclasses.replace(c, source=checklist) for c in run.checks]
    # the gate checked the commit it ran on
    run.commit = head_commit(repo) if (repo / ".git").exists() else ""
    return run


def call(repo: Path, gate: FakeGate, **kw: object) -> tuple[int, str]:
    out: list[str] = []
    options: dict[str, object] = {
        "yes": True,
        "confirm": lambda _: False,
        "checks": gate.run.checks,  # the checklist as the gate ran it
        "today": dt.date(2026, 11, 27),  # the day of the fixtures' runs
    } | kw
    code = release(
        str(options.pop("tag", "v1.4.0")),
        repo=repo,
        run_gate=gate,
        echo=out.append,
        **options,  # type: ignore[arg-type]
    )
    return code, "\n".join(out)


def tag_message(repo: Path, tag: str) -> str:
    return git(repo, "tag", "-l", "--format=%(contents)", tag)


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "-l").splitlines()


def test_gate_passes_creates_an_annotated_tag_with_the_summary(repo: Path) -> None:
    gate = FakeGate(fixed_run(repo))
    code, out = call(repo, gate)
    head = git(repo, "rev-parse", "HEAD")
    assert code == 0, out
    assert gate.calls == [{"RELEASE_TAG": "v1.4.0"}]
    assert git(repo, "cat-file", "-t", "v1.4.0") == "tag"  # annotated, not lightweight
    assert git(repo, "rev-parse", "v1.4.0^{commit}") == head
    digest = hashlib.sha256(b"version: 1\n").hexdigest()
    assert tag_message(repo, "v1.4.0") == (
        "Release v1.4.0\n"
        "\n"
        "Release gate: billing-service release (pass)\n"
        "Checks: 2/3 passed (2 passed, 1 waived)\n"
        f"Commit: {head}\n"
        "Gate run: 2026-11-27T11:30:00Z in 3.5s\n"
        "\n"
        "Waivers:\n"
        "- graceful-shutdown: known flake, JOB-42 (until 2026-12-31, by @captain)\n"
        "\n"
        "Checklist digest (sha256):\n"
        f"- {digest}  checklists/release.yaml\n"
        "\n"
        f"Created by jobcheck {__version__}"
    )
    assert (
        out == f"created annotated tag v1.4.0 at {head[:12]}\npush it with: git push origin v1.4.0"
    )


def test_gate_fails_no_tag_and_exit_1(repo: Path) -> None:
    code, out = call(repo, FakeGate(fixed_run(repo, "mixed.json")))
    assert code == 1
    assert tags(repo) == []
    assert out == (
        "refusing to tag v1.4.0:\n"
        "  - the release gate failed: 2 blockers did not pass (api-health, canary-job)\n"
        "  - blocker queue-depth did not run (skipped: needs canary-job, which did not pass)\n"
        "  - a blocker that does not pass is let through only by a waiver on the check in the "
        'checklist: waiver: {reason: "why, with a ticket", until: YYYY-MM-DD, by: "@who"}'
    )


def test_dry_run_shows_the_message_and_creates_nothing(repo: Path) -> None:
    code, out = call(repo, FakeGate(fixed_run(repo)), dry_run=True, yes=False)
    assert code == 0
    assert tags(repo) == []
    assert out.startswith("dry run: would create annotated tag v1.4.0 at ")
    assert "\n    Release v1.4.0\n" in out and "\n    Checks: 2/3 passed" in out
    assert out.endswith("nothing was changed; run again without --dry-run to tag")


def test_dry_run_of_a_failing_gate_says_why_and_exits_1(repo: Path) -> None:
    (repo / "notes.txt").write_text("draft\n", encoding="utf-8")
    code, out = call(repo, FakeGate(fixed_run(repo, "mixed.json")), dry_run=True)
    assert code == 1
    assert tags(repo) == []
    assert out.startswith("dry run: v1.4.0 would NOT be tagged:\n")
    assert "  - the working tree is not clean (notes.txt)" in out
    assert "  - the release gate failed: 2 blockers did not pass" in out
    assert "\n    Release v1.4.0\n" in out


def test_dirty_tree_is_refused_before_the_gate_runs(repo: Path) -> None:
    (repo / "checklists" / "release.yaml").write_text("version: 2\n", encoding="utf-8")
    gate = FakeGate(fixed_run(repo))
    code, out = call(repo, gate)
    assert (code, gate.calls, tags(repo)) == (1, [], [])
    assert "the working tree is not clean (checklists/release.yaml)" in out


def test_existing_tag_is_refused(repo: Path) -> None:
    git(repo, "tag", "v1.4.0")
    gate = FakeGate(fixed_run(repo))
    code, out = call(repo, gate)
    assert (code, gate.calls) == (1, [])
    assert "tag v1.4.0 already exists" in out
    assert git(repo, "cat-file", "-t", "v1.4.0") == "commit"  # untouched lightweight tag


def test_without_a_terminal_yes_is_required(repo: Path) -> None:
    gate = FakeGate(fixed_run(repo))
    code, out = call(repo, gate, yes=False, is_tty=False)
    assert (code, gate.calls, tags(repo)) == (1, [], [])
    assert "there is no terminal to confirm on; pass --yes" in out


def test_on_a_terminal_the_captain_confirms(repo: Path) -> None:
    asked: list[str] = []

    def decline(question: str) -> bool:
        asked.append(question)
        return False

    code, out = call(repo, FakeGate(fixed_run(repo)), yes=False, is_tty=True, confirm=decline)
    head = git(repo, "rev-parse", "HEAD")
    assert (code, tags(repo), out) == (1, [], "cancelled: no tag created for v1.4.0")
    assert asked == [f"Create annotated tag v1.4.0 at {head[:12]}?"]
    code, _ = call(repo, FakeGate(fixed_run(repo)), yes=False, is_tty=True, confirm=lambda q: True)
    assert (code, tags(repo)) == (0, ["v1.4.0"])


def test_reports_written_by_the_gate_do_not_count_as_dirty(repo: Path) -> None:
    report = repo / "out" / "readiness.md"
    report.parent.mkdir()
    report.write_text("from the dry run\n", encoding="utf-8")
    code, out = call(repo, FakeGate(fixed_run(repo)), reports=[report])
    assert (code, tags(repo)) == (0, ["v1.4.0"]), out
    code, out = call(repo, FakeGate(fixed_run(repo)), tag="v1.4.1")
    assert "the working tree is not clean (out/readiness.md)" in out


def test_a_gate_that_changes_the_tree_is_refused(repo: Path) -> None:
    def scribble() -> None:
        (repo / "coverage.xml").write_text("<x/>", encoding="utf-8")

    code, out = call(repo, FakeGate(fixed_run(repo), effect=scribble))
    assert (code, tags(repo)) == (1, [])
    assert "the gate changed the repository" in out and "coverage.xml" in out


def test_a_gate_where_nothing_passed_is_refused(repo: Path) -> None:
    run = fixed_run(repo)
    run.checks = [
        dataclasses.replace(c, status=Status.SKIP, severity="warning", waiver=None)
        for c in run.checks
    ]
    code, out = call(repo, FakeGate(run))
    assert (code, tags(repo)) == (1, [])
    assert "the release gate proved nothing: no check passed (all skipped?)" in out


def test_interrupted_gate_exits_130_without_a_tag(repo: Path) -> None:
    run = dataclasses.replace(fixed_run(repo), interrupted=True)
    code, out = call(repo, FakeGate(run))
    assert (code, tags(repo), out) == (130, [], "interrupted: no tag created for v1.4.0")


@pytest.mark.parametrize("tag", ["", "-d", "v1..4", "v1 4", "v1.4~"])
def test_invalid_tag_names_are_usage_errors(repo: Path, tag: str) -> None:
    gate = FakeGate(fixed_run(repo))
    with pytest.raises(UsageError, match="is not a valid") as raised:
        call(repo, gate, tag=tag)
    assert (raised.value.exit_code, gate.calls) == (2, [])


def test_outside_a_repository(tmp_path: Path) -> None:
    gate = FakeGate(fixed_run(tmp_path))
    code, out = call(tmp_path, gate)
    assert (code, gate.calls) == (1, [])
    assert "is not a git repository with at least one commit" in out


def test_warnings_skips_and_several_checklist_files_are_recorded(repo: Path) -> None:
    run = fixed_run(repo)
    other = repo / "checklists" / "common.yaml"
    other.write_text("checks: []\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "common")
    run.commit = git(repo, "rev-parse", "HEAD")
    run.checks[0] = dataclasses.replace(
        run.checks[0], status=Status.FAIL, severity="warning", message="2 findings\nmore"
    )
    run.checks[1] = dataclasses.replace(
        run.checks[1], status=Status.SKIP, severity="warning", source=str(other)
    )
    code, _ = call(repo, FakeGate(run))
    assert code == 0
    message = tag_message(repo, "v1.4.0")
    assert "Checks: 0/3 passed (1 failed, 1 waived, 1 skipped)" in message
    assert "Warnings:\n- lint (fail): 2 findings\n" in message
    assert "Skipped:\n- release-tag\n" in message
    assert message.count("  checklists/") == 2 and "  checklists/common.yaml" in message


def test_repo_may_be_a_folder_inside_the_work_tree(repo: Path) -> None:
    code, _ = call(repo / "checklists", FakeGate(fixed_run(repo)))
    assert code == 0
    assert "  checklists/release.yaml" in tag_message(repo, "v1.4.0")


SAMPLE_CHECKLIST = """\
version: 1
name: sample release
defaults: {owner: "@captain", expect: "holds", rollback: "git tag -d the tag"}
checks:
  - id: smoke
    kind: command
    with: {run: "test -f ../README.md"}
  - id: flaky
    kind: command
    with: {run: "test -f missing.txt"}
    waiver: {reason: "known flake, JOB-42", until: 2999-12-31, by: "@captain"}
  - id: tag-format
    kind: release
    with: {tag: "${RELEASE_TAG}", match_version: false, changelog: null}
"""


def sample_repo(repo: Path, checklist: str = SAMPLE_CHECKLIST) -> Path:
    (repo / "README.md").write_text("sample\n", encoding="utf-8")
    path = repo / "checklists" / "release.yaml"
    path.write_text(checklist, encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "sample")
    return path


def run_command(path: Path, tag: str = "v2.0.0", **kw: object) -> tuple[int, str]:
    import io
    import os

    from jobcheck.commands.release import release as release_command
    from jobcheck.pipeline import GateRequest

    out = io.StringIO()
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    asked = ("jobs", "only", "skip", "shard")
    fields = {k: kw.pop(k) for k in asked if k in kw}
    reports = {k: kw.pop(f"{k}_path") for k in ("json", "junit", "markdown") if f"{k}_path" in kw}
    request = GateRequest(checklist=path, reports=reports, **fields)  # type: ignore[arg-type]
    options: dict[str, object] = {"yes": True, "is_tty": False, "confirm": lambda _: False} | kw
    code = release_command(tag, request, environ=environ, out=out, **options)  # type: ignore[arg-type]
    return code, out.getvalue()


def test_release_command_runs_the_real_gate_and_tags(repo: Path) -> None:
    path = sample_repo(repo)
    report = repo / "out" / "readiness.md"  # inside the work tree: not "dirty"
    code, out = run_command(path, markdown_path=report)
    assert code == 0, out
    message = tag_message(repo, "v2.0.0")
    assert "Checks: 2/3 passed (2 passed, 1 waived)" in message
    assert "- flaky: known flake, JOB-42 (until 2999-12-31, by @captain)" in message
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"- {digest}  checklists/release.yaml" in message
    assert report.read_text(encoding="utf-8").startswith("# Readiness report: sample release\n")
    assert "created annotated tag v2.0.0" in out
    # the saved run ignores itself: only the report asked for is new
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == "?? out/readiness.md"


def test_release_command_never_tags_on_a_failed_gate(repo: Path) -> None:
    path = sample_repo(repo, SAMPLE_CHECKLIST.replace("test -f ../README.md", "false"))
    code, out = run_command(path)
    assert (code, tags(repo)) == (1, [])
    assert "the release gate failed: 1 blocker did not pass (smoke)" in out


def test_release_command_bad_semver_tag_fails_the_gate(repo: Path) -> None:
    path = sample_repo(repo)
    code, out = run_command(path, tag="release-2")
    assert (code, tags(repo)) == (1, [])
    assert "1 blocker did not pass (tag-format)" in out


def test_release_through_the_cli(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app

    sample_repo(repo)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    runner = CliRunner()
    refused = runner.invoke(app, ["release", "v2.0.0", "-c", "checklists/release.yaml"])
    assert refused.exit_code == 1 and "pass --yes" in refused.output
    dry = runner.invoke(app, ["release", "v2.0.0", "-c", "checklists/release.yaml", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: would create annotated tag v2.0.0" in dry.output and tags(repo) == []
    done = runner.invoke(app, ["release", "v2.0.0", "-c", "checklists/release.yaml", "--yes"])
    assert done.exit_code == 0, done.output
    assert git(repo, "cat-file", "-t", "v2.0.0") == "tag"
    again = runner.invoke(app, ["release", "v2.0.0", "-c", "checklists/release.yaml", "--yes"])
    assert again.exit_code == 1 and "tag v2.0.0 already exists" in again.output


def test_release_refuses_an_unwritable_report_path_before_running_the_gate(repo: Path) -> None:
    path = sample_repo(repo)
    marker = repo / "ran.txt"
    path.write_text(SAMPLE_CHECKLIST.replace("test -f ../README.md", f"touch {marker}"))
    git(repo, "commit", "-qam", "gate leaves a marker")
    (repo / "reports").mkdir()
    with pytest.raises(UsageError, match=r"--json .*is a directory") as raised:
        run_command(path, json_path=repo / "reports")
    assert raised.value.exit_code == 2
    assert (marker.exists(), tags(repo)) == (False, [])  # the gate never ran


def test_a_report_that_fails_to_write_after_the_gate_means_no_tag(repo: Path) -> None:
    report = repo / "out" / "gate.json"
    # The gate itself puts a folder where the JSON report goes: the write after it fails.
    path = sample_repo(repo, SAMPLE_CHECKLIST.replace("test -f ../README.md", f"mkdir -p {report}"))
    code, out = run_command(path, json_path=report)
    assert (code, tags(repo)) == (1, [])
    assert "a report asked for could not be written" in out


def test_files_digest_does_not_depend_on_where_the_checkout_is(tmp_path: Path) -> None:
    from jobcheck.tagging import files_digest

    digests = []
    for where in ("a", "b"):
        base = tmp_path / where / "checklists"
        (base / "more").mkdir(parents=True)
        (base / "release.yaml").write_text("version: 1\n", encoding="utf-8")
        (base / "more" / "common.yaml").write_text("checks: []\n", encoding="utf-8")
        files = [base / "release.yaml", base / "more" / "common.yaml"]
        digests.append(files_digest(files, base))
        assert files_digest(files[::-1], base) == digests[-1]  # order does not matter
    assert digests[0] == digests[1] and len(digests[0]) == 64
    (tmp_path / "b" / "checklists" / "more" / "common.yaml").write_text("checks: [1]\n")
    files = [tmp_path / "b" / "checklists" / p for p in ("release.yaml", "more/common.yaml")]
    assert files_digest(files, tmp_path / "b" / "checklists") != digests[0]


def test_a_gate_of_another_commit_is_refused(repo: Path) -> None:
    run = fixed_run(repo)
    (repo / "later.txt").write_text("after the gate\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "later")
    head = git(repo, "rev-parse", "HEAD")
    code, out = call(repo, FakeGate(run))
    assert code == 1 and tags(repo) == []
    assert out == (
        "refusing to tag v1.4.0:\n"
        f"  - the gate checked commit {run.commit[:12]}, but HEAD is {head[:12]}: check out "
        f"{run.commit[:12]} to tag what was checked, or run the gate on HEAD"
    )


FAILING_SMOKE = SAMPLE_CHECKLIST.replace("test -f ../README.md", "false")
LET_THROUGH = 'waiver: {reason: "why, with a ticket", until: YYYY-MM-DD, by: "@who"}'


@pytest.mark.parametrize(
    ("selection", "why"),
    [
        ({"skip": ["smoke"]}, "blocker smoke did not run (deselected with --skip)"),
        ({"only": ["tag-format"]}, "blocker smoke did not run (not selected (--only))"),
    ],
)
def test_a_deselected_failing_blocker_is_never_tagged(
    repo: Path, selection: dict[str, list[str]], why: str
) -> None:
    path = sample_repo(repo, FAILING_SMOKE)
    code, out = run_command(path, **selection)
    assert (code, tags(repo)) == (1, [])
    assert f"  - {why}\n" in out
    assert LET_THROUGH in out


def test_a_shard_without_the_failing_blocker_is_never_tagged(repo: Path) -> None:
    path = sample_repo(repo, FAILING_SMOKE)
    for shard in ("1/3", "2/3", "3/3"):
        code, out = run_command(path, shard=shard)
        assert (code, tags(repo)) == (1, []), out
        refusal = out[out.index("refusing to tag") :]
        assert (
            f"blocker smoke is not in the gate's run (the run was shard {shard} only)" in refusal
            or "did not pass (smoke)" in refusal
        )


def test_a_skipped_blocker_with_a_valid_waiver_is_let_through(repo: Path) -> None:
    path = sample_repo(repo)
    code, out = run_command(path, skip=["flaky"])
    assert code == 0, out
    assert "Skipped:\n- flaky\n" in tag_message(repo, "v2.0.0")


def test_a_skipped_blocker_with_an_expired_waiver_is_refused(repo: Path) -> None:
    path = sample_repo(repo, SAMPLE_CHECKLIST.replace("2999-12-31", "2001-01-01"))
    code, out = run_command(path, skip=["flaky"])
    assert (code, tags(repo)) == (1, [])
    assert "  - blocker flaky did not run (deselected with --skip)\n" in out


def test_the_checklist_not_the_run_says_what_a_blocker_is(repo: Path) -> None:
    """A run (a report read back) that calls a failed blocker a warning, says it was waived,
    or leaves it out, does not make it pass."""
    run = fixed_run(repo, "mixed.json")
    checks = fixed_run(repo, "mixed.json").checks
    run.checks = [dataclasses.replace(c, severity="warning") for c in run.checks]
    code, out = call(repo, FakeGate(run), checks=checks)
    assert (code, tags(repo)) == (1, [])
    assert "2 blockers did not pass (api-health, canary-job)" in out
    run.checks = [dataclasses.replace(c, status=Status.WAIVED) for c in checks]
    code, out = call(repo, FakeGate(run), checks=checks)
    assert (code, tags(repo)) == (1, [])
    assert "blocker api-health is reported waived, but the checklist gives it no valid" in out
    run.checks = [c for c in checks if c.id != "api-health"]
    code, out = call(repo, FakeGate(run), checks=checks)
    assert (code, tags(repo)) == (1, [])
    assert "blocker api-health is not in the gate's run (it never ran)" in out


def test_a_waiver_that_expired_since_the_run_no_longer_lets_a_blocker_through(
    repo: Path,
) -> None:
    gate = FakeGate(fixed_run(repo))  # graceful-shutdown waived until 2026-12-31
    code, out = call(repo, gate, today=dt.date(2027, 1, 1))
    assert (code, tags(repo)) == (1, [])
    assert "blocker graceful-shutdown is reported waived, but the checklist gives it no" in out


@pytest.mark.parametrize("tag", ["v1.0.0\u200b", "v1.0.0\u202e", "v\u2066.1.0", "v1.0\u00a0"])
def test_invisible_and_bidi_characters_in_a_tag_name_are_refused(repo: Path, tag: str) -> None:
    """`release v1.0.0` + U+200B once created the tag `v1.0.0\\u200b`."""
    gate = FakeGate(fixed_run(repo))
    with pytest.raises(UsageError, match="does not show or turns the text around") as raised:
        call(repo, gate, tag=tag)
    assert (raised.value.exit_code, gate.calls, tags(repo)) == (2, [], [])
    shown = str(raised.value)
    assert "U+" in shown and ("\\u" in shown or "\\x" in shown)  # shown, not hidden
