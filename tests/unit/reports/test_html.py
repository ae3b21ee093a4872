"""The HTML report: exact text of a fixed run, and hostile text that stays text."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from html.parser import HTMLParser

from golden_runs import Golden, fixture_run

from jobcheck.reports.html import render_html

TODAY = dt.date(2026, 11, 27)
ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "header", "main", "footer", "nav"),
    *("section", "article", "div", "span", "p", "h1", "h2", "h3", "b", "i", "code", "pre"),
    *("ul", "li", "dl", "dt", "dd", "details", "summary", "table", "thead", "tbody", "tr"),
    *("th", "td", "button", "label", "select", "option", "svg", "polygon", "a", "script"),
}


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of each element, as a browser
    tokenizes them (script and style content is raw text)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_timeline_run_exact_text(golden: Golden) -> None:
    text = render_html(fixture_run("timeline.json"), today=TODAY)
    assert text == golden("timeline.expected.html", text)


def test_the_same_run_renders_the_same_text_twice() -> None:
    run = fixture_run("timeline.json")
    assert render_html(run, today=TODAY) == render_html(run, today=TODAY)


def test_timeline_bars_one_per_check_and_attempt_and_the_critical_path() -> None:
    run = fixture_run("timeline.json")
    page = Page(render_html(run, today=TODAY))
    classes = [(a.get("class") or "").split() for _, a in page.tags]
    ran = [c for c in run.checks if c.started_s is not None]
    assert sum("tl-check" in c for c in classes) == len(ran) == 9
    # one bar per attempt, and one for the staging stack's bring-up
    attempts = sum(len(c.attempts_detail) for c in run.checks)
    assert sum("tl-attempt" in c for c in classes) == attempts + 1 == 12
    # the bring-up (3.1 s) is a node that the Docker-backed shutdown check (6 s) waits for:
    # 9.1 s beats unit-tests -> release-tag (8.7 s)
    critical = [a for t, a in page.tags if "critical" in (a.get("class") or "").split()]
    assert [a.get("title") for a in critical] == ["graceful-shutdown: waived, 6s from +3.4s"]
    rows = [c for c in classes if "critical-row" in c]
    assert len(rows) == 2 and "tl-stack" in rows[0]
    assert "Critical path (9.1s of the run's 12.3s): staging stack up" in "".join(page.text)
    titles = [a.get("title") or "" for _, a in page.tags if "tl-attempt" in (a.get("class") or "")]
    assert "api-health: attempt 2 of 3, fail, 140ms from +4s" in titles


def test_a_schema_one_report_says_it_has_no_timeline() -> None:
    text = render_html(fixture_run("mixed.json"), today=TODAY)
    assert "This report has no timeline" in text
    assert 'class="tl-check' not in text
    assert "<h2>Failures (3)</h2>" in text


def test_hostile_text_is_text_everywhere() -> None:
    text = render_html(fixture_run("hostile.json"), today=TODAY)
    page = Page(text)
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS
    assert [tag for tag, _ in page.tags].count("script") == 2
    assert "a" not in {tag for tag, _ in page.tags}  # a javascript: runbook stays text
    for tag, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("https://"), href
    shown = "".join(page.text)
    for hostile in (
        "<script>document.body.appendChild(document.createElement('pwned'))</script>",
        "@eve' onmouseover='document.title=1",
        "</script><script>document.title='pwned-rollback'</script>",
        "[bold red]not markup[/] </script> <!-- a comment",
        "<svg onload=\"document.title='pwned-svg'\">",
        "&amp; stays &amp;",
        "javascript:document.title='pwned-runbook'",
        "[red]rich[/red]",
        '<i>JOB-1</i> "known"',
    ):
        assert hostile in shown, hostile
    assert "\\x1b[31mred\\x1b[0m" in shown  # a terminal escape is shown, not kept
    assert "\x1b" not in text
    title = next(i for i, (tag, _) in enumerate(page.tags) if tag == "title")
    assert page.tags[title + 1][0] == "style"  # nothing was injected after the title


def test_the_data_block_cannot_end_its_script() -> None:
    text = render_html(fixture_run("hostile.json"), today=TODAY)
    block = re.search(
        r'<script type="application/json" id="jobcheck-data">(.*?)</script>', text, re.S
    )
    assert block is not None
    raw = block.group(1)
    assert "<" not in raw and ">" not in raw and "&" not in raw
    data = json.loads(raw)
    assert data["checks"][0]["tags"][0] == "</script><script>document.title='pwned-json'</script>"
    assert data["owners"] == ["@alice", "@bob", "@eve' onmouseover='document.title=1"]


def test_only_the_report_script_may_run_and_nothing_is_fetched() -> None:
    text = render_html(fixture_run("timeline.json"), today=TODAY)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert policy is not None
    assert "default-src 'none'" in policy.group(1)
    script = re.search(r"<script>(.*?)</script>", text, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)
    assert not re.search(r"\bsrc=", text)  # links (href) are followed only on a click
    assert "@import" not in text and "url(" not in text


def test_expiring_waivers_are_flagged_and_expired_ones_said_so() -> None:
    run = fixture_run("timeline.json")
    text = render_html(run, today=dt.date(2026, 11, 27))
    assert "waiver for <code>env-parity</code> expires in 4 days (2026-12-01)" in text
    late = render_html(run, today=dt.date(2026, 12, 3))
    assert "waiver for <code>env-parity</code> expired 2 days ago (2026-12-01)" in late
    assert '<span class="expiry expired">expired 2 days ago</span>' in late


def test_a_shard_says_which_one_it_is() -> None:
    import dataclasses

    from jobcheck.results import ShardInfo

    run = dataclasses.replace(fixture_run("timeline.json"), shard=ShardInfo(2, 3, "ab" * 32))
    assert "<span>shard <b>2/3</b></span>" in render_html(run, today=TODAY)
