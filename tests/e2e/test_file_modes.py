"""Every file jobcheck writes gets the mode a plain write would give it: 0666 less the umask
(the checklist `init` writes is meant to be committed and shared, not left 0600). One run of
each writer, as a real process with its own umask: init (checklist and schema), run (JSON,
JUnit, Markdown, HTML reports, the run history, the result cache), report -o."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

CHECKLIST = """\
version: 1
name: modes
defaults: {owner: "@team", expect: it works, rollback: revert the change}
checks:
  - id: hello
    kind: command
    with: {run: "echo hello"}
    cache: {inputs: [pyproject.toml]}
"""


def jobcheck(cwd: Path, umask: int, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    result = subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        umask=umask,
    )
    assert result.returncode == 0, f"jobcheck {args}: {result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_every_file_jobcheck_writes_follows_the_umask(tmp_path: Path, umask: int) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "svc"\nversion = "1.0.0"\n')
    (tmp_path / "pyproject.toml").chmod(0o644)
    jobcheck(tmp_path, umask, "init")
    (tmp_path / "gate.yaml").write_text(CHECKLIST)
    (tmp_path / "gate.yaml").chmod(0o644)
    reports = ["--json", "out/r.json", "--junit", "out/r.xml", "--markdown", "out/r.md"]
    jobcheck(tmp_path, umask, "run", "gate.yaml", "--no-color", *reports, "--html", "out/r.html")
    jobcheck(tmp_path, umask, "report", "out/r.json", "-f", "text", "-o", "out/r.txt")

    written = {
        str(path.relative_to(tmp_path)): stat.S_IMODE(path.stat().st_mode)
        for path in tmp_path.rglob("*")
        if path.is_file() and path.name not in ("pyproject.toml", "gate.yaml")
    }
    expected = {"jobcheck.yaml", "out/r.json", "out/r.xml", "out/r.md", "out/r.html", "out/r.txt"}
    assert expected <= set(written), sorted(written)
    assert any(name.startswith(".jobcheck/") for name in written), sorted(written)  # history
    assert any("schema" in name for name in written), sorted(written)
    wrong = {name: oct(mode) for name, mode in written.items() if mode != 0o666 & ~umask}
    assert not wrong, f"expected {oct(0o666 & ~umask)} under umask {oct(umask)}: {wrong}"
