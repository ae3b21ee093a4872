"""JUnit XML: one testcase per check, with owner and rollback where CI tools show them; the
staging stack's bring-up, when the run did one, as properties of the suite.

A warning that failed or errored does not fail the gate, so it must not turn a CI test widget
red either: it is a ``<skipped type="warning" message="warning: ...">`` (GitLab, Jenkins,
GitHub test-report actions all show skipped tests as non-failing, with their message), its
details in ``<system-out>``; the message names its real status (``warning: fail: ...``).

Check output is hostile text: one control character (a colour code, NUL) would make the
file malformed and CI would drop the whole report. So every text and attribute goes
through ``xml_text`` in one pass over the finished tree, which no new field can bypass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from jobcheck.fsutil import atomic_write_text
from jobcheck.results import AttemptDetail, CheckResult, RunResult, Status
from jobcheck.textsafe import xml_text

if TYPE_CHECKING:
    from jobcheck.reports.formats import View


def _details(check: CheckResult) -> str:
    lines = [
        check.message,
        "",
        f"owner: {check.owner}",
        f"expected: {check.expect or '-'}",
        f"rollback: {check.rollback or '-'}",
        f"retry safe: {'yes' if check.retry_safe else 'no'}",
    ]
    if check.runbook:
        lines.append(f"runbook: {check.runbook}")
    if check.output:
        lines += ["", "output (tail):", check.output]
    return "\n".join(lines)


def is_warning(check: CheckResult) -> bool:
    return check.status in (Status.FAIL, Status.ERROR) and not check.blocks


def _testcase(suite: ET.Element, check: CheckResult, classname: str) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=classname,
        name=check.id,
        time=f"{check.duration_s:.3f}",
        file=check.source,
        line=str(check.line),
    )
    props = ET.SubElement(case, "properties")
    for name, value in (
        ("title", check.title),
        ("kind", check.kind),
        ("severity", check.severity),
        ("owner", check.owner),
        ("expect", check.expect),
        ("rollback", check.rollback),
        ("attempts", str(check.attempts)),
        ("runbook", check.runbook),
        ("cached", "true" if check.cached else ""),
        ("cached_from", check.cached_from if check.cached else ""),
    ):
        if value:
            ET.SubElement(props, "property", name=name, value=value)
    if is_warning(check):
        message = f"warning: {check.status.value}: {check.message}"
        ET.SubElement(case, "skipped", message=message, type="warning")
        ET.SubElement(case, "system-out").text = _details(check)
    elif check.status == Status.FAIL:
        element = ET.SubElement(case, "failure", message=check.message, type=check.severity)
        element.text = _details(check)
    elif check.status == Status.ERROR:
        element = ET.SubElement(case, "error", message=check.message, type=check.severity)
        element.text = _details(check)
    elif check.status == Status.SKIP:
        ET.SubElement(case, "skipped", message=check.message)
    elif check.status == Status.WAIVED:
        ET.SubElement(case, "skipped", message=f"waived: {check.message}", type="waived")
    if check.output and check.status == Status.PASS:
        ET.SubElement(case, "system-out").text = check.output


def _stack_properties(suite: ET.Element, span: AttemptDetail) -> None:
    """The stack bring-up as properties of the suite, not a testcase: ``tests`` and the
    testcases stay one per check (the contract readers count on). Its failure shows in the
    checks that waited for it, which end with its cause."""
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("stack_up", span.status.value),
        ("stack_up_duration_s", f"{span.duration_s:.3f}"),
        ("stack_up_start_s", f"{span.start_s:.3f}"),
    ):
        ET.SubElement(props, "property", name=name, value=value)


def render_junit(run: RunResult) -> str:
    summary = run.summary
    suites = ET.Element("testsuites", name="jobcheck")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=run.checklist,
        tests=str(len(run.checks)),
        failures=str(sum(1 for c in run.checks if c.blocks and c.status == Status.FAIL)),
        errors=str(sum(1 for c in run.checks if c.blocks and c.status == Status.ERROR)),
        skipped=str(summary["skip"] + summary["waived"] + sum(map(is_warning, run.checks))),
        time=f"{run.duration_s:.3f}",
        timestamp=run.started_at.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    if run.stack_up is not None:
        _stack_properties(suite, run.stack_up)
    for check in run.checks:
        _testcase(suite, check, classname=f"jobcheck.{check.kind}")
    _well_formed(suites)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _well_formed(root: ET.Element) -> None:
    for element in root.iter():
        if element.text:
            element.text = xml_text(element.text)
        for name, value in list(element.attrib.items()):
            element.set(name, xml_text(value))


def write_junit(run: RunResult, path: Path) -> Path:
    return atomic_write_text(path, render_junit(run))


def report(run: RunResult, view: View) -> str:
    """The ``junit`` report format (``reports.formats``)."""
    return render_junit(run)
