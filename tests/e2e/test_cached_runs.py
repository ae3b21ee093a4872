"""`jobcheck run` twice as a real process: the second run replays the cached pass, and every
report says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

CHECKLIST = """
version: 1
name: twice e2e
defaults: {owner: "@team", expect: works, rollback: nothing}
checks:
  - id: tests
    kind: command
    with: {run: "sh -c 'sleep 1; echo ran >> ran.log; echo 3 passed'"}
    cache: {inputs: ["src/**"]}
"""


def jobcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_second_run_replays_and_every_report_says_cached(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n", encoding="utf-8")
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
    reports = ["--json", "1.json", "--junit", "1.xml", "--markdown", "1.md", "--html", "1.html"]
    reports.append("--no-color")
    first = jobcheck("run", *reports, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = jobcheck("run", *(r.replace("1.", "2.") for r in reports), cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (tmp_path / "ran.log").read_text().splitlines() == ["ran"]

    assert "PASS   tests      cached  `sh -c" in second.stdout
    assert "1 pass (1 cached)" in second.stdout
    started = json.loads((tmp_path / "1.json").read_text())["started_at"]
    [check] = json.loads((tmp_path / "2.json").read_text())["checks"]
    assert (check["status"], check["cached"], check["cached_from"]) == ("pass", True, started)
    assert check["output"] == "3 passed" and check["duration_s"] < 0.5
    [first_check] = json.loads((tmp_path / "1.json").read_text())["checks"]
    assert (first_check["cached"], first_check["cached_from"]) == (False, "")

    case = ET.parse(tmp_path / "2.xml").getroot().find(".//testcase")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert (props["cached"], props["cached_from"]) == ("true", started)
    assert f"cached (from the run of {started})" in (tmp_path / "2.md").read_text()
    assert "cached" not in (tmp_path / "1.md").read_text()
    assert '<span class="cached">cached</span>' in (tmp_path / "2.html").read_text()
    assert '<span class="cached">cached</span>' not in (tmp_path / "1.html").read_text()

    (tmp_path / "src" / "app.py").write_text("print('changed')\n", encoding="utf-8")
    third = jobcheck("run", "--no-color", cwd=tmp_path)
    assert third.returncode == 0 and "cached" not in third.stdout
    assert len((tmp_path / "ran.log").read_text().splitlines()) == 2
