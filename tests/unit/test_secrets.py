"""Secret masking: every value, every line, every URL password, in linear time."""

from __future__ import annotations

import html
import json
import random
import shlex
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobcheck.secrets import MASK, Masker, looks_secret, mask_data

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "-----END PRIVATE KEY-----\n"
)


@pytest.mark.parametrize(
    ("name", "secret"),
    [("API_KEY", True), ("db_password", True), ("GITHUB_TOKEN", True), ("HOME", False)],
)
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_every_occurrence_of_every_value_is_masked() -> None:
    mask = Masker(["hunter2", "s3cr3t-value"])
    assert mask("a hunter2 b s3cr3t-value c hunter2") == "a *** b *** c ***"
    assert "hunter2" in mask and "nope" not in mask
    assert mask("") == "" and mask("nothing here") == "nothing here"


def test_declared_secrets_have_no_minimum_length() -> None:
    assert Masker(declared=["x1"])("ax1b x1") == "a***b ***"
    masker = Masker()
    masker.add_declared(["7", "true"])
    assert masker("route 7 is true") == "route *** is ***"


def test_guessed_values_given_directly_keep_the_minimum() -> None:
    masker = Masker(["k", "on", "hunter2"])
    masker.add(["1", "false"])
    assert masker("worker on 1 false hunter2") == "worker on 1 false ***"


def test_guessed_env_secrets_keep_a_minimum_so_short_values_do_not_blank_the_output() -> None:
    env = {"KEY": "1", "AUTH_ENABLED": "true", "API_TOKEN": "tok-123456", "HOME": "/root"}
    mask = Masker.from_env(env)
    assert mask("1 true tok-123456 /root") == "1 true *** /root"


def test_names_listed_as_secrets_are_masked_at_any_length() -> None:
    mask = Masker.from_env({"PIN": "42", "OTHER": "43"}, names=["PIN"])
    assert mask("42 43") == "*** 43"


def test_add_env_on_an_existing_masker() -> None:
    masker = Masker(["declared"])
    masker.add_env({"DB_PASSWORD": "pw-12345", "N": "x"})
    assert masker("declared pw-12345 x") == "*** *** x"


def test_overlapping_secrets_are_masked_whole() -> None:
    # A left-to-right substitution of "abcd" would leave "ef", the tail of "cdef", showing.
    assert Masker(["abcd", "cdef"])("xabcdefx") == "x***x"
    assert Masker(["secret"])("secretsecret") == "***"


def test_multi_line_value_masks_each_line_wherever_it_appears() -> None:
    mask = Masker(declared=[PEM])
    assert mask(f"key:\n{PEM}end") == "key:\n***end"
    logged = "stderr:   MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n   BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
    assert mask(logged) == "stderr:   ***\n   ***"


def test_short_lines_of_a_multi_line_value_are_not_masked_alone() -> None:
    mask = Masker(declared=['{\n  "private_key": "abcdef"\n}'])
    assert mask('{"ok": true}\n  "private_key": "abcdef"') == '{"ok": true}\n  ***'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("REDIS://user:pw@h", "REDIS://user:***@h"),
        ("amqp://guest:guest@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        ("postgresql+psycopg://app:p@ss/w0rd@db/app", "postgresql+psycopg://app:***@db/app"),
        ("x=Mongodb+SRV://u:a@b@c.example.net/x y", "x=Mongodb+SRV://u:***@c.example.net/x y"),
        ("a redis://u:p@h1 b redis://v:q@h2", "a redis://u:***@h1 b redis://v:***@h2"),
        ("https://example.com/path?x=1", "https://example.com/path?x=1"),
        ("https://host:8080/p", "https://host:8080/p"),
        ("redis://u:@h", "redis://u:@h"),
        ("://u:p@h", "://u:p@h"),
    ],
)
def test_url_passwords_of_any_scheme_and_case(text: str, expected: str) -> None:
    assert Masker()(text) == expected


def test_a_url_password_runs_to_the_last_at_of_its_word() -> None:
    # Never less than the password; here more (the query), which hides nothing of value.
    assert Masker()("s3://k:p/q@h/x?mail=a@b.c tail") == "s3://k:***@b.c tail"


def test_add_mapping_masks_literals_under_secret_keys_at_any_depth() -> None:
    masker = Masker()
    masker.add_mapping(
        {
            "run": "deploy",
            "env": {"API_TOKEN": "literal-token", "MODE": "fast-mode", "AUTH_ON": True},
            "headers": [{"Authorization": "Bearer abc.def"}],
            "db": {"password": 12345678},
            "keys": ["k-one-1", {"x": "k-two-2"}],
            "api_key": "1",
        }
    )
    text = "deploy literal-token fast-mode True Bearer abc.def 12345678 k-one-1 k-two-2 1"
    assert masker(text) == "deploy *** fast-mode True *** *** *** *** 1"


def test_add_mapping_survives_a_structure_that_holds_itself() -> None:
    data: dict[str, Any] = {"token": "tok-abcdef"}
    data["self"] = data
    masker = Masker()
    masker.add_mapping(data)
    assert masker("tok-abcdef") == MASK


def test_mask_data_masks_every_string_and_keeps_the_shape() -> None:
    mask = Masker(["hunter2"])
    details = {"cmd": ["login", "-p", "hunter2"], "n": 3, "hunter2": ("x hunter2", None)}
    assert mask_data(details, mask) == {"cmd": ["login", "-p", MASK], "n": 3, MASK: ("x ***", None)}
    assert mask.data("hunter2") == MASK
    assert details["cmd"] == ["login", "-p", "hunter2"]  # a copy, not in place


def test_mask_data_is_iterative_and_handles_cycles() -> None:
    deep: Any = "hunter2"
    for _ in range(5000):
        deep = [deep]
    out = mask_data(deep, Masker(["hunter2"]))
    for _ in range(5000):
        out = out[0]
    assert out == MASK
    loop: list[Any] = ["hunter2"]
    loop.append(loop)
    assert mask_data(loop, Masker(["hunter2"])) == [MASK, "..."]


def _one_mb_line(secrets: list[str]) -> str:
    # Long runs of URL-scheme characters made the old URL regex quadratic (26.7 s here).
    rng = random.Random(7)
    filler = "".join(rng.choices(string.ascii_lowercase + string.digits, k=1_000_000))
    step = len(filler) // len(secrets)
    return "".join(filler[i * step : (i + 1) * step] + s for i, s in enumerate(secrets))


def _elapsed(mask: Masker, text: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = mask(text)
    return time.perf_counter() - start, out


def test_one_mb_line_with_fifty_secrets_masks_in_well_under_a_second() -> None:
    rng = random.Random(1)
    secrets = [
        "".join(rng.choices(string.ascii_uppercase, k=rng.randint(1, 40))) for _ in range(50)
    ]
    elapsed, out = _elapsed(Masker(declared=secrets), _one_mb_line(secrets))
    assert elapsed < 1.0
    assert not any(s in out for s in secrets) and out.count(MASK) >= 50


@pytest.mark.parametrize(
    "text",
    [
        "a" * 40_000,
        "a:" * 20_000,
        "a://" * 10_000,
        "a://b:" * 7_000,
        "a://b:c" * 6_000 + "@",
        "a://:" * 8_000 + "@h",
        "@" * 40_000,
        "x://u:" + "/" * 40_000,
    ],
)
def test_forty_kb_without_separators_is_linear(text: str) -> None:
    elapsed, _ = _elapsed(Masker(["aaab", "b:c@"]), text * 25)  # 1 MB
    assert elapsed < 1.0


def test_option_names_that_only_look_secret_are_not_masked(tmp_path: Path) -> None:
    """`same_keys_as` holds a file name and `env_keys` key names: not secrets (a real user's
    first run showed `env ***` and "restore the previous ***")."""
    from jobcheck.loading import load_checklist

    (tmp_path / ".env.example").write_text("A=\n")
    (tmp_path / "jobcheck.yaml").write_text(
        "version: 1\nname: t\nchecks:\n"
        "  - {id: e, kind: env, owner: '@o', expect: x, rollback: y,\n"
        "     with: {file: .env.example, same_keys_as: .env.example, secrets: false}}\n"
        "  - {id: s, kind: service, owner: '@o', expect: x, rollback: y,\n"
        "     with: {service: api, env_keys: [API_TOKEN_NAME], secrets_from: [prod.env]}}\n"
    )
    masker = load_checklist(tmp_path / "jobcheck.yaml").secrets.masker({})
    assert masker("diff against .env.example; API_TOKEN_NAME; prod.env") == (
        "diff against .env.example; API_TOKEN_NAME; prod.env"
    )


QUOTED = "It's-Juliet-77"


@pytest.mark.parametrize(
    ("render", "seen"),
    [
        (lambda s: shlex.join(["false", s]), "false '***'"),
        (lambda s: json.dumps({"m": s}), '{"m": "***"}'),
        (lambda s: json.dumps({"m": f"`{shlex.join(['x', s])}`"}), '{"m": "`x \'***\'`"}'),
        (lambda s: repr(f'say "{s}"'), "'say \"***\"'"),
        (lambda s: html.escape(shlex.join([s])), "&#x27;***&#x27;"),
        (lambda s: f"::error::{s}%", "::error::***%"),
    ],
)
def test_the_forms_jobcheck_renders_a_secret_in_are_masked(
    render: Callable[[str], str], seen: str
) -> None:
    assert Masker(declared=[QUOTED])(render(QUOTED)) == seen


@pytest.mark.parametrize(
    "secret", ['tök-"q"\\Zeta', "<k&y>|x", "tab\there", "ctl\x1bseq", "a:b,c%d\ne"]
)
def test_escaped_forms_of_awkward_secrets_are_masked(secret: str) -> None:
    masker = Masker(declared=[secret])
    renderings = [
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
        repr(secret),
        repr(secret + "'\""),
        html.escape(secret),
        secret.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|"),
        secret.replace("%", "%25").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C"),
    ]
    for text in renderings:
        shown = masker(f"before {text} after")
        assert "***" in shown, (text, shown)
        assert "Zeta" not in shown and "k&" not in shown and "here" not in shown


@pytest.mark.parametrize("kept", [2, 5, 13])
def test_the_tail_of_a_secret_cut_by_the_output_limit_is_masked(kept: int) -> None:
    secret = "Straddle-Secret-4242"
    text = f"[... 100 bytes cut ...]\n{secret[-kept:]}yyy\nlater {secret}"
    assert Masker(declared=[secret])(text) == "[... 100 bytes cut ...]\n***yyy\nlater ***"


def test_a_cut_inside_a_multibyte_character_is_masked_with_its_tail() -> None:
    secret = "pässwörd-77"
    raw = secret.encode()[-8:]  # starts inside the "ö"
    text = "[... 9 bytes cut ...]\n" + raw.decode("utf-8", errors="replace") + " end"
    assert Masker(declared=[secret])(text) == "[... 9 bytes cut ...]\n*** end"


def test_text_after_a_cut_that_only_shares_one_character_is_kept() -> None:
    masker = Masker(declared=["Straddle-Secret-4242"])
    assert masker("[... 1 bytes cut ...]\n2 of 3") == "[... 1 bytes cut ...]\n2 of 3"
    assert masker("no cut here: 4242 and cret-4242") == "no cut here: 4242 and cret-4242"
