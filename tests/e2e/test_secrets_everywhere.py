"""One run whose checklist puts secrets in every field, and every output jobcheck makes of it
searched for the raw values: terminal, JSON, JUnit, Markdown, history, GitHub annotations and
step summary, `list`, `validate`, `explain`, `waivers`, `report` re-renders, and the annotated
tag message of `release`. Any raw value anywhere fails the test, naming the output."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SECRETS = {
    "DB_PASSWORD": "pw-Quartz-73190",  # secret-looking name
    "API_TOKEN": "tok_ABCDEF1234567890",  # secret-looking name
    "SHORT": "k9z",  # declared under secrets:, shorter than any minimum
    "CLI_TOKEN": "cli-Secret-5566",  # given on the command line with --env
    "TLS_KEY": "-----BEGIN KEY-----\nline-one-SECRET\nline-two-SECRET\n-----END KEY-----",
}

CHECKLIST = textwrap.dedent(
    """\
    version: 1
    name: rel ${API_TOKEN}
    secrets: [SHORT]
    defaults:
      owner: "@o-${SHORT}"
    checks:
      - id: leaky
        title: title ${DB_PASSWORD}
        kind: command
        with:
          run:
            - sh
            - -c
            - echo out $$DB_PASSWORD $$SHORT $$CLI_TOKEN; echo "$$TLS_KEY"; exit 3
        expect: expect ${API_TOKEN}
        rollback: rollback ${DB_PASSWORD} ${SHORT}
        runbook: "https://admin:${DB_PASSWORD}@wiki.example/runbook"
      - id: waived
        kind: command
        with: {run: ["false"]}
        expect: fails
        rollback: none
        waiver: {reason: "JOB-1 ${API_TOKEN}", until: 2999-12-31, by: "@cap-${SHORT}"}
      - id: fine
        kind: command
        with: {run: ["true"]}
        expect: passes
        rollback: none
    """
)


def jobcheck(
    args: list[str], cwd: Path, env: dict[str, str], check: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
    (tmp_path / ".gitignore").write_text("out/\n", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "checklist")
    return tmp_path


def secret_parts() -> list[tuple[str, str]]:
    """Each value, and each line of a multi-line one (not the PEM's BEGIN/END markers)."""
    parts = []
    for key, value in SECRETS.items():
        for part in {value, *value.splitlines()}:
            if part and not part.startswith("-----"):
                parts.append((key, part))
    return parts


def test_no_secret_reaches_any_output(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env |= {k: v for k, v in SECRETS.items() if k != "CLI_TOKEN"}
    summary = repo / "out" / "summary.md"
    summary.parent.mkdir()
    github = env | {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    out = repo / "out"
    cli_env = ["--env", f"CLI_TOKEN={SECRETS['CLI_TOKEN']}"]
    outputs: dict[str, str] = {}

    reports = ["--json", str(out / "r.json"), "--junit", str(out / "r.xml")]
    reports += ["--markdown", str(out / "r.md")]
    ran = jobcheck(
        ["run", *reports, *cli_env],
        repo,
        github,
    )
    assert ran.returncode == 1, ran.stderr
    outputs["run stdout (GitHub)"] = ran.stdout
    outputs["run stderr"] = ran.stderr
    plain = jobcheck(["run", "--no-color", *cli_env], repo, env)
    outputs["run stdout (plain)"] = plain.stdout + plain.stderr
    for path in sorted(out.iterdir()):
        outputs[f"file {path.name}"] = path.read_text(encoding="utf-8")
    for path in sorted((repo / ".jobcheck" / "runs").glob("*.json")):
        outputs[f"history {path.name}"] = path.read_text(encoding="utf-8")
    commands = [["list"], ["list", "--json"], ["validate", "--strict"], ["waivers"]]
    for args in [*commands, ["explain", "leaky"], ["explain", "waived"]]:
        done = jobcheck(args, repo, env)
        outputs[" ".join(args)] = done.stdout + done.stderr
    for fmt in ("markdown", "junit", "text"):
        done = jobcheck(["report", str(out / "r.json"), "--format", fmt], repo, env)
        outputs[f"report {fmt}"] = done.stdout + done.stderr

    # A passing gate, so release tags: the leaky check waived as well.
    waiver = "    waiver: {reason: 'r', until: 2999-12-31, by: '@c'}\n"
    waived = CHECKLIST.replace("    runbook:", waiver + "    runbook:")
    assert waived != CHECKLIST
    (repo / "jobcheck.yaml").write_text(waived, encoding="utf-8")
    git(repo, "commit", "-qam", "waive")
    released = jobcheck(["release", "v1.0.0", "--yes", *cli_env], repo, env)
    assert released.returncode == 0, released.stdout + released.stderr
    outputs["release"] = released.stdout + released.stderr
    outputs["tag message"] = git(repo, "tag", "-l", "--format=%(contents)", "v1.0.0")

    assert "rel ***" in outputs["tag message"]
    assert len(outputs) >= 20
    found = [
        f"{name}: {key}" for name, text in outputs.items() for key, part in secret_parts()
        if part in text
    ]  # fmt: skip
    assert found == [], "\n".join(found)
