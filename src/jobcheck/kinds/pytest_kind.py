"""``pytest``: the test suite passes, and runs at least ``min_tests`` tests."""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from jobcheck.kinds._findings import listing, plural, shown_path
from jobcheck.kinds._project_tools import Tool, python_for
from jobcheck.kinds.base import (
    Kind,
    KindContext,
    KindOptions,
    empty_dict,
    empty_list,
    joined_output,
    process_failure,
)
from jobcheck.process import ProcessResult, background_note, tail_lines
from jobcheck.results import Outcome

# pytest's own words, since 3.x: "ImportError while loading conftest '/abs/tests/conftest.py'."
_CONFTEST = re.compile(r"ImportError while loading conftest '(?P<path>[^']+)'")
NO_TESTS = 5  # pytest's exit code when it collected nothing
REASON_CHARS = 160


class Options(KindOptions):
    args: list[str] = Field(
        default_factory=empty_list, description="Arguments for pytest: paths, -m, -k, -x ..."
    )
    cwd: str | None = Field(None, description="Where to run pytest, relative to the checklist")
    python: str | None = Field(
        None,
        description="The interpreter that runs `-m pytest`, a path relative to the checklist "
        "(default: the active VIRTUAL_ENV's, else a .venv or venv in cwd or beside the "
        "checklist, else jobcheck's own)",
    )
    min_tests: int = Field(1, ge=0, description="Fewer tests run (not skipped) is a failure")
    env: dict[str, str] = Field(
        default_factory=empty_dict, description="Extra environment variables"
    )


@dataclass
class Report:
    """What the JUnit file says."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.passed + self.failed + self.errors

    def counts(self) -> str:
        parts = [f"{self.passed} passed"]
        parts += [f"{self.failed} failed"] if self.failed else []
        parts += [plural(self.errors, "error")] if self.errors else []
        parts += [f"{self.skipped} skipped"] if self.skipped else []
        return ", ".join(parts)


def _node_id(case: ET.Element) -> str:
    """The pytest node id (``tests/test_x.py::TestY::test_z``) from a JUnit xunit1 testcase."""
    classname, name, file = case.get("classname", ""), case.get("name", "?"), case.get("file")
    if not file:
        return f"{classname}::{name}" if classname else name
    module = file.removesuffix(".py").replace("/", ".").replace("\\", ".")
    if not classname and name == module:
        return file  # a collection error names the module
    inner = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
    return "::".join(part for part in (file, *inner.split("."), name) if part)


def _reason(element: ET.Element) -> str:
    """One line: the message pytest gave, or for a collection error the last ``E`` line."""
    message = (element.get("message") or "").strip()
    raised = [ln[1:].strip() for ln in (element.text or "").splitlines() if ln.startswith("E ")]
    if raised and message in ("", "collection failure"):
        message = raised[-1]
    first = message.splitlines()[0] if message else element.tag
    return first if len(first) <= REASON_CHARS else first[: REASON_CHARS - 3] + "..."


def parse_junit(path: Path) -> Report:
    report = Report()
    for case in ET.parse(path).getroot().iter("testcase"):
        failures, errors = case.findall("failure"), case.findall("error")
        where = _node_id(case)
        for element in failures + errors:
            kind = "failed" if element.tag == "failure" else "error"
            report.problems.append(f"{where} {kind}: {_reason(element)}")
        report.failed += len(failures)
        report.errors += len(errors)
        if case.find("skipped") is not None and not (failures or errors):
            report.skipped += 1
        elif not (failures or errors):
            report.passed += 1
    return report


def _argv(python: Tool, options: Options, junit: Path) -> list[str]:
    return [
        *python.argv, "-m", "pytest", *options.args, "--junitxml", str(junit), "-o",
        "junit_family=xunit1", "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip


def _judge(options: Options, report: Report, result: ProcessResult, python: Tool) -> Outcome:
    took = f"in {result.duration_s:.2f}s"
    pytest = f"pytest {python.said()}"
    if report.failed or report.errors:
        head = f"{pytest}: {report.counts()} {took}, expected every test to pass"
        return Outcome.failed(listing(head, report.problems))
    if report.ran < options.min_tests:
        return Outcome.failed(
            f"{pytest}: ran {plural(report.ran, 'test')} ({report.counts()}), "
            f"expected at least {options.min_tests}"
        )
    if result.returncode != 0:
        verdict = Outcome.errored if result.returncode in (3, 4) else Outcome.failed
        return verdict(
            f"{pytest} exited {result.returncode} though its report shows no failure "
            f"({report.counts()}); see the output"
        )
    return Outcome.passed(f"{pytest}: {report.counts()} {took}")


def run(options: Options, ctx: KindContext) -> Outcome:
    cwd = ctx.path(options.cwd) if options.cwd else ctx.base_dir
    python = python_for(ctx, cwd, options.python)
    with tempfile.TemporaryDirectory(prefix="jobcheck-pytest-") as tmp:
        junit = Path(tmp) / "junit.xml"
        result = ctx.run(_argv(python, options, junit), cwd=cwd, env={**python.env, **options.env})
        pytest = f"pytest {python.said()}"
        process_failure(result, pytest)
        output = tail_lines(joined_output(result), 60)
        if result.returncode == NO_TESTS and options.min_tests == 0:
            return Outcome.passed(f"{pytest} collected no tests (min_tests is 0)", output=output)
        if result.returncode == NO_TESTS:
            return Outcome.failed(
                f"{pytest} collected no tests (exit 5) in {cwd}, expected at least "
                f"{plural(max(options.min_tests, 1), 'test')}; check the paths and -k/-m args",
                output=output,
            )
        if not junit.exists():
            why = _no_report(result, python, output, ctx.base_dir)
            return Outcome.errored(why, output=output)
        try:
            report = parse_junit(junit)
        except ET.ParseError as exc:
            return Outcome.errored(f"pytest's JUnit report cannot be read: {exc}", output=output)
    outcome = _judge(options, report, result, python)
    outcome.output = output
    if note := background_note(result):  # a test server the suite forgot to stop, say
        outcome.message += f"; {note}"
    outcome.details = {
        "python": python.argv[0],
        "passed": report.passed,
        "failed": report.failed,
        "errors": report.errors,
        "skipped": report.skipped,
        "failures": report.problems[:50],
    }
    return outcome


def _no_report(result: ProcessResult, python: Tool, output: str, base: Path) -> str:
    """Why pytest ended before writing its report: a conftest that cannot be imported (the
    project's dependencies are missing for this interpreter), bad arguments, or no pytest."""
    text = joined_output(result)
    conftest = _CONFTEST.search(text)
    if result.returncode == 4 and conftest is not None:
        raised = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
        cause = raised[-1] if raised else "see the output"
        return (
            f"pytest {python.said()} could not import "
            f"{shown_path(Path(conftest['path']), base)} (exit 4): {cause}; install the "
            "project's dependencies for that interpreter, or set `python:` to one that has them"
        )
    if result.returncode == 4:
        why = "it rejected its arguments: check `args`"
    else:
        why = f"is pytest installed for {python.shown}?"
    return (
        f"pytest {python.said()} exited {result.returncode} without writing its JUnit report "
        f"({why}):\n" + tail_lines(output, 10)
    )


KIND = Kind(
    name="pytest",
    options=Options,
    run=run,
    summary="pytest passes; counts passed/failed/skipped and names the first failing tests",
    example={"args": ["tests/unit", "-x"], "min_tests": 10},
)
