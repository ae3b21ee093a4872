from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext
from jobcheck.kinds.env import KIND
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kinds" / "env"
ALL_RULES: dict[str, Any] = {
    "required": ["REDIS_URL", "SECRET_KEY", "PORT"],
    "forbidden": {"DEBUG": [1, True, "yes"]},
    "same_keys_as": "production.env.example",
    "patterns": {"LOG_LEVEL": "info|warning|error", "PORT": r"\d+"},
    "allow_empty": ["SENTRY_DSN"],
}


def check(options: dict[str, Any], base_dir: Path = FIXTURES) -> Outcome:
    ctx = KindContext(check_id="env", base_dir=base_dir, env={}, timeout_s=10, mask=Masker())
    return attempt(KIND, KIND.options.model_validate(options), ctx)


def texts(outcome: Outcome) -> list[str]:
    return [item["text"] for item in outcome.details["items"]]


def test_a_good_file_passes_every_rule() -> None:
    outcome = check({"file": "staging.env", **ALL_RULES})
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message == "env staging.env: 9 keys, every rule holds"


def test_a_bad_file_fails_every_rule_with_counts_and_the_first_five() -> None:
    outcome = check({"file": "bad.env", **ALL_RULES})
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "env bad.env: 12 findings (5 same_keys_as, 3 secrets, 1 empty, 1 forbidden, 1 pattern, "
        "1 required), expected none\n"
        "  bad.env REDIS_URL: required key is missing\n"
        "  bad.env:3 DEBUG: forbidden value 'True' (must not be one of 1, true, yes)\n"
        "  bad.env:4 LOG_LEVEL: value 'verbose' does not match /info|warning|error/\n"
        "  bad.env:5 PORT: empty value (list the key in allow_empty if that is intended)\n"
        "  bad.env:6 SECRET_KEY: placeholder value for a secret-looking key "
        "(expected a real secret or a ${...})\n"
        "  ... and 7 more"
    )


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("required", "bad.env REDIS_URL: required key is missing"),
        ("forbidden", "bad.env:3 DEBUG: forbidden value 'True' (must not be one of 1, true, yes)"),
        ("pattern", "bad.env:4 LOG_LEVEL: value 'verbose' does not match /info|warning|error/"),
        ("empty", "bad.env:5 PORT: empty value (list the key in allow_empty if that is intended)"),
        ("secrets", "bad.env:6 SECRET_KEY: placeholder value for a secret-looking key"),
        ("secrets", "bad.env:7 DB_PASSWORD: short literal value (under 16 characters)"),
        ("secrets", "bad.env:8 API_TOKEN: placeholder value"),
        ("same_keys_as", "bad.env SENTRY_DSN: missing here, present in production.env.example"),
        (
            "same_keys_as",
            "production.env.example EXTRA_ONLY_HERE: missing there, present in bad.env",
        ),
    ],
)
def test_each_rule_reports_its_finding(rule: str, text: str) -> None:
    outcome = check({"file": "bad.env", **ALL_RULES})
    matching = [i["text"] for i in outcome.details["items"] if i["rule"] == rule]
    assert any(t.startswith(text) for t in matching), matching


def test_secret_values_never_appear() -> None:
    outcome = check({"file": "bad.env", **ALL_RULES, "patterns": {"DB_PASSWORD": "x+"}})
    shown = outcome.message + outcome.output + repr(outcome.details)
    assert "DB_PASSWORD: value (hidden) does not match /x+/" in shown
    for secret in ("changeme", "hunter2", "your token"):
        assert secret not in shown


def test_parse_errors_give_file_and_line() -> None:
    outcome = check({"file": "broken.env"})
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "env broken.env: 4 findings (4 syntax), expected none\n"
        "  broken.env:3 cannot parse the line starting 'NOT': expected KEY=VALUE\n"
        "  broken.env:4 BARE_NAME has no '=': expected KEY=VALUE\n"
        "  broken.env:5 GOOD is set twice (lines 1 and 5)\n"
        "  broken.env:6 cannot parse the line starting 'QUOTED': expected KEY=VALUE"
    )


def test_a_missing_file_fails() -> None:
    outcome = check({"file": "nope.env"})
    assert outcome.status is Status.FAIL
    assert outcome.message == "env: nope.env does not exist, expected a dotenv file"


def test_a_missing_parity_file_is_a_finding() -> None:
    outcome = check(
        {"file": "staging.env", "same_keys_as": "gone.env", "allow_empty": ["SENTRY_DSN"]}
    )
    assert texts(outcome) == ["gone.env does not exist"]


def test_forbidden_values_compare_without_case(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("DEBUG=TRUE\nMODE=Debug\n")
    outcome = check({"file": "a.env", "forbidden": {"DEBUG": [True], "MODE": "debug"}}, tmp_path)
    assert [i["rule"] for i in outcome.details["items"]] == ["forbidden", "forbidden"]


def test_patterns_must_match_in_full(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("PORT=8000x\nHOST=db.internal\n")
    outcome = check({"file": "a.env", "patterns": {"PORT": r"\d+", "HOST": r"[a-z.]+"}}, tmp_path)
    assert texts(outcome) == ["a.env:1 PORT: value '8000x' does not match /\\d+/"]


def test_secrets_can_be_turned_off_and_empty_values_allowed() -> None:
    outcome = check({"file": "bad.env", "secrets": False, "allow_empty": ["PORT"]})
    assert outcome.status is Status.PASS, outcome.message


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("API_KEY=xxxxxxxx", True),
        ("API_KEY=<api key>", True),
        ("API_KEY=your-api-key-here", True),
        ("DB_PASSWORD=password", True),
        ("DB_PASSWORD=short1", True),
        ("DB_DSN=postgres://app:changeme@db/app", True),
        ("DB_DSN=postgres://app:${DB_PASSWORD}@db/app", False),
        ("DB_DSN=postgres://app@db/app", False),
        ("API_KEY=${API_KEY}", False),
        ("API_KEY=q8Zr2LmV9xKd4TsY1wPb", False),
        ("SECRET_KEY_FILE=/run/secrets/key", False),
        ("SESSION_TIMEOUT=30", False),
        ("AUTH_ENABLED=true", False),
        ("LOG_LEVEL=x", False),
    ],
)
def test_what_secrets_flags(tmp_path: Path, line: str, flagged: bool) -> None:
    (tmp_path / "a.env").write_text(line + "\n")
    outcome = check({"file": "a.env"}, tmp_path)
    assert (outcome.status is Status.FAIL) is flagged, outcome.message


def test_bad_options_are_load_errors() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        KIND.options.model_validate({"file": "a.env", "patterns": {"A": "("}})
    with pytest.raises(ValidationError, match="Field required"):
        KIND.options.model_validate({"required": ["A"]})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        KIND.options.model_validate({"file": "a.env", "requird": ["A"]})


def test_the_registered_example_is_valid() -> None:
    assert KIND.options.model_validate(KIND.example)


def test_paths_are_shown_as_the_checklist_names_them() -> None:
    options = {**ALL_RULES, "file": "../env/staging.env", "same_keys_as": "../env/bad.env"}
    outcome = check(options, FIXTURES.parent / "compose")
    assert (
        "../env/staging.env DB_PASSWORD: missing here, present in ../env/bad.env" in outcome.message
    )
    outcome = check({**options, "same_keys_as": None}, FIXTURES.parent / "compose")
    assert outcome.message == "env ../env/staging.env: 9 keys, every rule holds"


def test_a_broken_line_does_not_leak_its_value(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("API_KEY: s3cr3t-value-here\n")
    outcome = check({"file": "a.env"}, tmp_path)
    assert texts(outcome) == [
        "a.env:1 cannot parse the line starting 'API_KEY:': expected KEY=VALUE"
    ]


def test_a_pasted_value_on_its_own_line_is_not_shown(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("A=1\nghp_pastedTokenValue123\n")
    outcome = check({"file": "a.env"}, tmp_path)
    assert texts(outcome) == [
        "a.env:2 a line (not shown: it may be a value) has no '=': expected KEY=VALUE"
    ]


def test_a_catastrophic_value_pattern_ends_the_check_error_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from jobcheck import bounded_regex

    monkeypatch.setattr(bounded_regex, "DEFAULT_TIMEOUT_S", 1.0)
    (tmp_path / "s.env").write_text("NAME=" + "a" * 60 + "!\n")
    started = time.monotonic()
    outcome = check({"file": "s.env", "patterns": {"NAME": "(a|aa)+$"}}, tmp_path)
    assert time.monotonic() - started < 3.0
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("patterns.NAME: the pattern '(a|aa)+$' did not finish")


@pytest.mark.parametrize("hostile", ["fifo", "dev-zero"])
def test_an_env_file_that_is_a_fifo_or_a_device_fails_at_once(tmp_path: Path, hostile: str) -> None:
    import os
    import time

    if hostile == "fifo":
        os.mkfifo(tmp_path / "s.env")
    else:
        (tmp_path / "s.env").symlink_to("/dev/zero")
    started = time.monotonic()
    outcome = check({"file": "s.env"}, tmp_path)
    assert time.monotonic() - started < 3
    assert outcome.status is not Status.PASS
    assert "cannot be read:" in outcome.message and "not a regular file" in outcome.message
