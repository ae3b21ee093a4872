"""JUnit XML and the plain terminal report, asserted as exact text on a fixed run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jobcheck.reports.json_report import read_json, render_json, write_json
from jobcheck.reports.junit import render_junit, write_junit
from jobcheck.reports.terminal import render_plain_report
from jobcheck.reports.text import render_text

RUNS = Path(__file__).resolve().parents[2] / "fixtures" / "runs"


def golden(name: str, text: str, update: bool) -> str:
    path = RUNS / name
    if update:
        path.write_text(text)
    return path.read_text()


@pytest.fixture
def update(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))


def test_junit_exact_text(update: bool) -> None:
    run = read_json(RUNS / "mixed.json")
    assert render_junit(run) == golden("mixed.expected.junit.xml", render_junit(run), update)


def test_junit_is_valid_xml_with_one_testcase_per_check() -> None:
    run = read_json(RUNS / "mixed.json")
    root = ET.fromstring(render_junit(run).split("\n", 1)[1])
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [c.id for c in run.checks]
    suite = root.find("testsuite")
    assert suite is not None
    # memory-limits is a failed warning: counted as skipped, not as a failure
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "4")
    failure = root.find("testsuite/testcase[@name='api-health']/failure")
    assert failure is not None and "owner: @alice" in (failure.text or "")
    assert "rollback: redeploy the previous image tag" in (failure.text or "")
    props = {
        p.get("name"): p.get("value")
        for p in root.iterfind("testsuite/testcase[@name='api-health']/properties/property")
    }
    assert props["owner"] == "@alice" and props["rollback"].startswith("redeploy")


def test_the_end_of_a_plain_run_is_the_text_report() -> None:
    """`run` without a live view ends with what `report --format text` prints (one model,
    ``text.end_of_run``; its exact text: tests/unit/reports/test_text.py)."""
    run = read_json(RUNS / "mixed.json")
    today = dt.date(2026, 11, 27)
    assert render_plain_report(run, today=today) == render_text(run, today=today, root=Path.cwd())


def test_json_round_trip_and_atomic_writes(tmp_path: Path) -> None:
    run = read_json(RUNS / "mixed.json")
    target = tmp_path / "out" / "run.json"
    write_json(run, target)
    assert read_json(target).to_dict() == run.to_dict()
    assert render_json(read_json(target)) == render_json(run)
    write_junit(run, tmp_path / "out" / "run.xml")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run.json", "run.xml"]


def test_junit_stays_well_formed_with_hostile_message_and_output() -> None:
    run = read_json(RUNS / "mixed.json")
    hostile = "\x1b[31mFAILED\x1b[0m nul\x00 soh\x01 \x1b]52;c;cHduZWQ=\x07 \ud800 \ufffe"
    shown = "\\x1b[31mFAILED\\x1b[0m nul\\x00 soh\\x01 \\x1b]52;c;cHduZWQ=\\x07 \\ud800 \\ufffe"
    for i, check in enumerate(run.checks):
        run.checks[i] = dataclasses.replace(
            check, message=hostile, output=hostile, title=hostile, owner=f"@a{hostile}"
        )
    run.checklist = f"name {hostile}"
    text = render_junit(run)
    text.encode("utf-8")  # writable: no lone surrogate
    root = ET.fromstring(text.split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == f"name {shown}"
    failure = root.find("testsuite/testcase[@name='api-health']/failure")
    assert failure is not None and failure.get("message") == shown
    assert (failure.text or "").startswith(f"{shown}\n\nowner: @a{shown}\n")
    title = root.find("testsuite/testcase[@name='api-health']/properties/property[@name='title']")
    assert title is not None and title.get("value") == shown


def test_a_failed_warning_does_not_fail_a_passing_gate_in_junit() -> None:
    """CI widgets count <failure> and <error>; a warning is <skipped type="warning"> with its
    message and details, so a gate that passed stays green there too."""
    run = read_json(RUNS / "mixed.json")
    run.checks = [c for c in run.checks if c.id in ("lint", "memory-limits")]
    assert run.status == "pass"
    root = ET.fromstring(render_junit(run).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "1")
    case = root.find("testsuite/testcase[@name='memory-limits']")
    assert case is not None
    assert case.find("failure") is None and case.find("error") is None
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("type") == "warning"
    assert skipped.get("message", "").startswith("warning: fail: compose: 1 finding")
    assert "expected: every service sets mem_limit" in (case.findtext("system-out") or "")


def test_the_stack_bring_up_is_a_property_of_the_suite_and_not_a_testcase() -> None:
    run = read_json(RUNS / "timeline.json")  # its stack came up in 3.1 s
    root = ET.fromstring(render_junit(run).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in root.findall("testsuite/testcase")] == [c.id for c in run.checks]
    assert suite.get("tests") == str(len(run.checks))
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props == {
        "stack_up": "pass",
        "stack_up_duration_s": "3.100",
        "stack_up_start_s": "0.000",
    }
    assert suite[0].tag == "properties"  # before the testcases, as the JUnit schema wants
    plain = ET.fromstring(render_junit(read_json(RUNS / "mixed.json")).split("\n", 1)[1])
    assert plain.find("testsuite/properties") is None
