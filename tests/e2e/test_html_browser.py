"""The HTML report in a real browser: headless Chromium loads it from disk and we read the DOM
it rendered (bars, critical path, filters), its screenshot, and what hostile text did not do.

Set JOBCHECK_UPDATE_SCREENSHOT=1 to rewrite docs/images/html-report.png from this run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser_tools import Node, colours, dump_dom, parse_dom, png_pixels, screenshot

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "tests" / "fixtures" / "runs"
README_IMAGE = ROOT / "docs" / "images" / "html-report.png"
SHOT_SIZE = (1280, 1160)
STATUS_RGB = {"pass": "1a7f37", "fail": "cf222e", "error": "8250df", "waived": "9a6700"}


def render(fixture: str, target: Path) -> Path:
    """The page as a user makes it: `jobcheck report RUN.json --format html -o PAGE`."""
    command = [sys.executable, "-m", "jobcheck", "report", str(RUNS / fixture)]
    result = subprocess.run(
        [*command, "--format", "html", "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return target


def statuses(fixture: str) -> list[str]:
    data = json.loads((RUNS / fixture).read_text(encoding="utf-8"))
    return [c["status"] for c in data["checks"]]


@pytest.fixture(scope="module")
def timeline_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render("timeline.json", tmp_path_factory.mktemp("html") / "report.html")


def test_the_timeline_has_a_bar_per_check_and_attempt_and_the_critical_path(
    timeline_page: Path, tmp_path: Path
) -> None:
    dom = parse_dom(dump_dom(timeline_page, tmp_path / "profile"))
    assert not dom.one(id_="filters").hidden  # the report's script ran
    assert dom.one(id_="f-shown").text() == "10 of 10 checks shown"
    checks = dom.find(cls="tl-check")
    attempts = dom.find(cls="tl-attempt")
    assert len(checks) == 9  # every check that ran; queue-depth was skipped
    assert len(attempts) == 11 + 1  # api-health tried 3 times; the stack's bring-up
    api = [a.attrs["title"] for a in attempts if (a.attrs.get("title") or "").startswith("api")]
    assert api == [
        "api-health: attempt 1 of 3, fail, 130ms from +3.3s",
        "api-health: attempt 2 of 3, fail, 140ms from +4s",
        "api-health: attempt 3 of 3, fail, 140ms from +5.1s",
    ]
    critical = [n.attrs["title"] for n in dom.find(cls="critical")]
    # the stack's bring-up (3.1 s, its own row) and the Docker-backed shutdown check after it
    assert critical == ["graceful-shutdown: waived, 6s from +3.4s"]
    assert "tl-stack" in dom.find(cls="critical-row")[0].classes
    assert all("tl-check" in n.classes for n in dom.find(cls="critical"))
    assert dom.find(cls="par-chart"), "the parallelism chart is missing"
    assert not [n for n in dom.walk() if "data-i" in n.attrs and n.hidden]


def test_a_status_filter_in_the_address_hides_passed_checks(
    timeline_page: Path, tmp_path: Path
) -> None:
    dom = parse_dom(dump_dom(timeline_page, tmp_path / "profile", "status=fail,error,waived,skip"))
    status = statuses("timeline.json")
    marked = [n for n in dom.walk() if "data-i" in n.attrs]
    assert len(marked) > len(status)  # timeline rows, failure cards, waiver and table rows
    for node in marked:
        assert node.hidden == (status[int(node.attrs["data-i"])] == "pass"), node.attrs
    rows = [n for n in dom.find(cls="tl-row") if "data-i" in n.attrs]
    assert sum(n.hidden for n in rows) == status.count("pass") == 4
    assert dom.one(id_="f-shown").text() == "6 of 10 checks shown"
    chips = {n.attrs["data-status"]: n.attrs["aria-pressed"] for n in dom.find(cls="chip")}
    assert chips == {"fail": "true", "error": "true", "waived": "true", "skip": "true"} | {
        "pass": "false"
    }


def test_owner_and_tag_filters(timeline_page: Path, tmp_path: Path) -> None:
    dom = parse_dom(dump_dom(timeline_page, tmp_path / "p1", "owner=%40alice"))
    shown = {_row_id(n) for n in dom.find(cls="tl-row") if "data-i" in n.attrs and not n.hidden}
    assert shown == {"api-health"}
    owners = [o.text() for o in dom.one(id_="f-owner").find(tag="option")]
    assert owners == ["everyone", "@alice", "@bob", "@captain", "@carol", "@dave", "@erin"]
    dom = parse_dom(dump_dom(timeline_page, tmp_path / "p2", "tag=config&status=pass"))
    shown = {_row_id(n) for n in dom.find(cls="tl-row") if "data-i" in n.attrs and not n.hidden}
    assert shown == {"stack-config"}
    assert dom.one(id_="f-shown").text() == "1 of 10 checks shown"


def _row_id(row: Node) -> str:
    return row.one(cls="tl-id").text()


def test_hostile_text_is_shown_as_text_and_never_runs(tmp_path: Path) -> None:
    page = render("hostile.json", tmp_path / "hostile.html")
    dom = parse_dom(dump_dom(page, tmp_path / "profile", "status=fail,pass,waived"))
    title = dom.one(tag="title").text()
    assert title == (
        "FAIL · Release <b>bold</b> & \"quoted\" </title><script>document.title='pwned-title'"
        "</script> · jobcheck"
    )
    assert "pwned" not in title.replace("'pwned-title'", "")
    assert not dom.find(tag="pwned") and not dom.find(tag="img") and not dom.find(tag="u")
    assert len(dom.find(tag="script")) == 2
    assert [s.attrs.get("class") for s in dom.find(tag="svg")] == ["par-chart"]
    assert not dom.find(tag="a")  # the javascript: runbook is text, not a link
    for node in dom.walk():
        assert not [a for a in node.attrs if a.startswith("on")], (node.tag, node.attrs)
    text = dom.one(tag="main").text()
    assert "<script>document.body.appendChild(document.createElement('pwned'))</script>" in text
    assert "[bold red]not markup[/] </script> <!-- a comment" in text
    assert "<svg onload=\"document.title='pwned-svg'\">" in text
    assert "javascript:document.title='pwned-runbook'" in text
    # built by the script from the JSON block, with textContent
    tags = [o.text() for o in dom.one(id_="f-tag").find(tag="option")]
    assert tags == [
        "any tag",
        "</script><script>document.title='pwned-json'</script>",
        "[red]rich[/red]",
        "fast",
    ]
    assert dom.one(id_="f-shown").text() == "3 of 3 checks shown"  # the script ran


def test_the_screenshot_is_not_blank(timeline_page: Path, tmp_path: Path) -> None:
    shot = screenshot(timeline_page, tmp_path / "report.png", tmp_path / "profile", SHOT_SIZE)
    width, height, rows = png_pixels(shot)
    assert (width, height) == SHOT_SIZE
    seen = colours(rows, len(rows[0]) // width)
    assert len(seen) > 200, f"only {len(seen)} colours: the page looks blank"
    missing = [s for s, rgb in STATUS_RGB.items() if bytes.fromhex(rgb) not in seen]
    assert not missing, f"no pixel of the {missing} status colours: the timeline did not render"
    if os.environ.get("JOBCHECK_UPDATE_SCREENSHOT") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_IMAGE)
