"""Secrets in the forms jobcheck itself renders them: shell-quoted in a command line, escaped
by the JSON, HTML, XML and Markdown reports, ``repr``'d, and cut in two by the 64 KiB output
limit. Every output of a real run and a real release is searched for every such form."""

from __future__ import annotations

import html
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

SECRETS = {
    "DB_PASSWORD": "It's-Juliet-77",  # shell-quoted as 'It'"'"'s-Juliet-77'
    "API_TOKEN": 'tök-"q"\\Zeta-5150',  # JSON: \", \\ and (ASCII-only) \u00f6
    "SIGNING_KEY": "<k&y>-Marble-8080",  # HTML, XML and Markdown escape <, > and &
    "CUT_SECRET": "Straddle-Secret-4242",  # printed just before the 64 KiB cut
}
TAIL = 64 * 1024
CUT_AT = 10  # the last 10 characters of CUT_SECRET are inside the kept tail

CHECKLIST = f"""\
version: 1
name: secret forms
defaults: {{owner: "@team", expect: works, rollback: revert}}
checks:
  - id: quoted
    kind: command
    with: {{run: ["false", "${{DB_PASSWORD}}", "${{API_TOKEN}}", "${{SIGNING_KEY}}"]}}
  - id: printed
    kind: command
    with:
      run:
        - sh
        - -c
        - printf '%s\\n' "$$DB_PASSWORD" "$$API_TOKEN" "$$SIGNING_KEY"; exit 1
  - id: cut
    kind: command
    with:
      run:
        - sh
        - -c
        - printf '%s' "$$CUT_SECRET"; head -c {TAIL - CUT_AT} /dev/zero | tr '\\0' y; exit 1
    waiver: {{reason: "JOB-7", until: 2999-12-31, by: "@captain"}}
"""


def forms(secret: str) -> dict[str, str]:
    """How jobcheck's outputs could show ``secret`` if a masker missed it."""
    shown = {
        "raw": secret,
        "shell": shlex.quote(secret).strip("'"),
        "json": json.dumps(secret)[1:-1],
        "json (utf-8)": json.dumps(secret, ensure_ascii=False)[1:-1],
        "repr": repr(secret)[1:-1],
        "html": html.escape(secret),
        "markdown": secret.replace("<", "&lt;").replace(">", "&gt;"),
    }
    for name, text in list(shown.items()):
        shown[f"json of {name}"] = json.dumps(text, ensure_ascii=False)[1:-1]
    return shown


def jobcheck(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=repo,
        env=env | SECRETS | {"NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args],
        cwd=repo, capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
    (tmp_path / ".gitignore").write_text("out/\n", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "checklist")
    return tmp_path


def leaks(outputs: dict[str, str]) -> list[str]:
    found = []
    for name, text in outputs.items():
        for key, secret in SECRETS.items():
            for form, shown in forms(secret).items():
                if len(shown) >= 4 and shown in text:
                    found.append(f"{name}: {key} ({form})")
        tail = SECRETS["CUT_SECRET"][-CUT_AT:]
        if tail in text:
            found.append(f"{name}: the tail of CUT_SECRET after the cut ({tail})")
    return found


def test_no_rendered_form_of_a_secret_reaches_any_output(repo: Path) -> None:
    out = repo / "out"
    reports = ["--json", f"{out}/r.json", "--junit", f"{out}/r.xml", "--markdown", f"{out}/r.md"]
    ran = jobcheck(repo, "run", *reports, "--html", f"{out}/r.html")
    assert ran.returncode == 1, ran.stderr
    outputs = {"run": ran.stdout + ran.stderr}
    for path in sorted(out.iterdir()):
        outputs[f"file {path.name}"] = path.read_text(encoding="utf-8")
    report = json.loads(outputs["file r.json"])
    cut = next(c for c in report["checks"] if c["id"] == "cut")
    assert cut["output"].startswith(f"[... {CUT_AT} bytes cut ...]\n***yyy"), cut["output"][:80]
    quoted = next(c for c in report["checks"] if c["id"] == "quoted")
    assert quoted["message"].startswith("`false '***' '***' '***'` exited 1"), quoted["message"]
    for fmt in ("markdown", "junit", "text", "html"):
        done = jobcheck(repo, "report", f"{out}/r.json", "--format", fmt)
        outputs[f"report {fmt}"] = done.stdout + done.stderr

    waived = CHECKLIST.replace(
        '    with: {run: ["false"',
        '    waiver: {reason: r, until: 2999-12-31, by: "@c"}\n    with: {run: ["false"',
    ).replace("; exit 1\n", "; exit 0\n", 1)
    assert waived.count("waiver:") == 2
    (repo / "jobcheck.yaml").write_text(waived, encoding="utf-8")
    git(repo, "commit", "-qam", "waive")
    released = jobcheck(repo, "release", "v1.0.0", "--yes")
    assert released.returncode == 0, released.stdout + released.stderr
    outputs["release"] = released.stdout + released.stderr
    outputs["tag message"] = git(repo, "tag", "-l", "--format=%(contents)", "v1.0.0")
    assert "- quoted: r (until 2999-12-31, by @c)" in outputs["tag message"]
    assert leaks(outputs) == []
