"""The JSON report's text: indented at the top, one line per check, the same data."""

from __future__ import annotations

import json

from golden_runs import RUNS

from jobcheck.reports.json_report import read_json, render_json


def test_one_line_per_check_and_the_same_data_as_indented_json() -> None:
    run = read_json(RUNS / "timeline.json")
    text = render_json(run)
    assert json.loads(text) == json.loads(json.dumps(run.to_dict(), indent=2))
    lines = text.splitlines()
    check_lines = [line for line in lines if line.startswith('    {"id": ')]
    assert len(check_lines) == len(run.checks) == 10
    assert all(json.loads(line.rstrip(",")).get("id") for line in check_lines)
    assert lines[0] == "{" and lines[1] == '  "schema": 3,' and text.endswith("}\n")
    assert '  "summary": {' in lines  # other values keep their indentation


def test_a_run_without_checks_is_still_valid_json() -> None:
    run = read_json(RUNS / "timeline.json")
    run.checks = []
    assert json.loads(render_json(run))["checks"] == []
