"""The JSON report's text: indented at the top, one line per check, the same data."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from golden_runs import RUNS

from jobcheck.fsutil import json_text
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


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON written")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_null_never_nan_or_infinity(tmp_path: Path) -> None:
    """A duration or a metric may be NaN or infinite (from a cache entry, a kind's division):
    every JSON jobcheck writes is strict JSON, which has neither."""
    import dataclasses

    from jobcheck.reports.html import render_html
    from jobcheck.run_history import save_run

    run = read_json(RUNS / "timeline.json")
    first = dataclasses.replace(
        run.checks[0], duration_s=math.nan, metrics={"rate": math.inf, "ok": 1.5}
    )
    run.checks = [first, *run.checks[1:]]
    data = _strict(render_json(run))
    assert isinstance(data, dict)
    check = data["checks"][0]
    assert check["duration_s"] is None and check["metrics"] == {"rate": None, "ok": 1.5}
    html = render_html(run, today=dt.date(2026, 12, 7))
    assert "NaN" not in html and "Infinity" not in html
    saved = save_run(run, tmp_path)
    _strict(saved.read_text())


def test_fsutil_json_text_is_strict_and_plain_when_it_can_be() -> None:
    assert json_text({"a": [1.0, math.nan, -math.inf]}) == '{"a": [1.0, null, null]}'
    assert json_text({"a": 1}, indent=2) == json.dumps({"a": 1}, indent=2)
    assert json_text({"s": "NaN"}) == '{"s": "NaN"}'  # a string is not a number


def test_reading_a_report_with_nan_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        (RUNS / "timeline.json").read_text().replace('"duration_s": 1.2', '"duration_s": NaN', 1)
    )
    assert "NaN" in path.read_text()
    with pytest.raises(ValueError, match="NaN is not JSON"):
        read_json(path)
