from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jobcheck.attempts import attempt
from jobcheck.dotenv_files import InterpolationError, interpolate, interpolated, read_dotenv
from jobcheck.kinds.base import KindContext, StackInfo
from jobcheck.kinds.compose import KIND, RULES, Options, load
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kinds" / "compose"
GOOD_ENV = {"API_TOKEN": "from-the-environment", "SECRET_KEY": "k"}


def context(base_dir: Path, env: dict[str, str] | None = None) -> KindContext:
    return KindContext(check_id="c", base_dir=base_dir, env=env or {}, timeout_s=10, mask=Masker())


def check(folder: str, options: dict[str, Any], env: dict[str, str] | None = None) -> Outcome:
    opts = KIND.options.model_validate({"file": "compose.yaml", **options})
    return attempt(KIND, opts, context(FIXTURES / folder, env))


def found(outcome: Outcome, rule: str | None = None) -> list[str]:
    return [i["text"] for i in outcome.details["items"] if rule in (None, i["rule"])]


def test_a_good_file_passes_every_rule() -> None:
    outcome = check("good", {}, GOOD_ENV)
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message == "compose compose.yaml: 4 services pass 9 rules"


def test_a_bad_file_fails_every_rule() -> None:
    outcome = check("bad", {})
    assert outcome.status is Status.FAIL
    assert set(outcome.details["by_rule"]) == set(RULES)
    assert outcome.message.splitlines()[:3] == [
        "compose compose.yaml: 25 findings (4 log_rotation, 4 loopback_ports, 4 memory_limit, "
        "4 non_root, 2 healthcheck, 2 no_literal_secrets, 2 pinned_images, 2 stop_grace_period, "
        "1 restart), expected none",
        "  api: healthcheck: the healthcheck is disabled (expected a test, seen disable)",
        "  api: restart: unknown restart policy (expected unless-stopped, always or on-failure, "
        "seen sometimes)",
    ]
    assert outcome.message.endswith("  ... and 20 more")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "healthcheck",
            [
                "api: healthcheck: the healthcheck is disabled (expected a test, seen disable)",
                "worker-build: healthcheck: the healthcheck is disabled (expected a test, "
                "seen disable)",
            ],
        ),
        (
            "restart",
            [
                "api: restart: unknown restart policy (expected unless-stopped, always or "
                "on-failure, seen sometimes)"
            ],
        ),
        (
            "stop_grace_period",
            [
                "queue-worker: stop_grace_period: too short for a worker to finish its job "
                "(expected at least 10s, seen 5s)",
                "worker-build: stop_grace_period: not set on a worker (expected at least 10s, "
                "seen Docker's default 10s)",
            ],
        ),
        (
            "pinned_images",
            [
                "api: pinned_images: the image is not pinned (expected a version tag or a digest, "
                "seen demo/api, which means latest)",
                "queue-worker: pinned_images: the image is not pinned (expected a version tag or "
                "a digest, seen demo/worker:latest)",
            ],
        ),
        (
            "non_root",
            [
                "api: non_root: runs as root (expected a non-root user, seen user root)",
                "queue-worker: non_root: runs as root (expected a non-root user, seen user 0:0)",
                "worker-build: non_root: runs as root (expected a non-root user, seen USER in the "
                "Dockerfile root)",
                "helper: non_root: no user (expected `user:` or a USER in the Dockerfile, seen "
                "none: runs as root)",
            ],
        ),
        (
            "memory_limit",
            [
                f"{svc}: memory_limit: no memory limit (expected mem_limit or "
                "deploy.resources.limits.memory, seen none)"
                for svc in ("api", "queue-worker", "worker-build", "helper")
            ],
        ),
        (
            "loopback_ports",
            [
                f"api: loopback_ports: published on every interface (expected "
                f"127.0.0.1:HOST:CONTAINER, seen {seen})"
                for seen in ("8000:8000", "0.0.0.0:8443:8443", "9000", "0.0.0.0:9100->9100")
            ],
        ),
        (
            "no_literal_secrets",
            [
                "api: no_literal_secrets: SECRET_KEY is written in the file (expected "
                "${SECRET_KEY} or secrets:, seen a literal)",
                "queue-worker: no_literal_secrets: DB_PASSWORD is written in the file (expected "
                "${DB_PASSWORD} or secrets:, seen a literal)",
            ],
        ),
        (
            "log_rotation",
            [
                f"{svc}: log_rotation: json-file logs grow without bound (expected "
                "logging.options.max-size, seen driver json-file without it)"
                for svc in ("api", "queue-worker", "worker-build", "helper")
            ],
        ),
    ],
)
def test_each_rule_fails_where_it_should(rule: str, expected: list[str]) -> None:
    assert found(check("bad", {"rules": [rule]})) == expected
    assert check("good", {"rules": [rule]}, GOOD_ENV).status is Status.PASS


def test_secret_values_never_appear() -> None:
    outcome = check("bad", {})
    shown = outcome.message + outcome.output + repr(outcome.details)
    assert "hunter2" not in shown and "super-secret" not in shown


def test_oneshot_services_skip_the_long_running_rules() -> None:
    helper = check("bad", {"services": ["helper"], "rules": ["healthcheck", "restart"]})
    assert helper.status is Status.PASS, helper.message
    # `stop_grace_period: soon` is not checked either: helper is no worker...
    assert check("bad", {"services": ["helper"], "rules": ["stop_grace_period"]}).status is (
        Status.PASS
    )
    # ...until it is named one; being one-shot (restart: "no") still exempts it.
    named = check("bad", {"services": ["helper"], "worker_services": "help*"})
    assert found(named, "stop_grace_period") == []


def test_worker_services_and_min_grace_period() -> None:
    outcome = check(
        "good",
        {
            "rules": ["stop_grace_period"],
            "worker_services": ["api", "work*"],
            "min_stop_grace_period": "2m",
        },
        GOOD_ENV,
    )
    assert found(outcome) == [
        "api: stop_grace_period: not set on a worker (expected at least 2m, seen Docker's "
        "default 10s)",
        "worker: stop_grace_period: too short for a worker to finish its job (expected at least "
        "2m, seen 1m30s)",
    ]


def test_services_limits_and_names_unknown_ones() -> None:
    outcome = check("bad", {"services": ["queue-worker", "ghost"], "rules": ["restart"]})
    assert found(outcome) == ["ghost: services: not defined in the compose files"]


def test_ignore_drops_rules_per_service() -> None:
    ignore = {"api": list(RULES), "queue-worker": list(RULES), "worker-build": list(RULES)}
    outcome = check("bad", {"ignore": {**ignore, "helper": ["non_root", "memory_limit"]}})
    assert found(outcome) == [
        "helper: log_rotation: json-file logs grow without bound (expected "
        "logging.options.max-size, seen driver json-file without it)"
    ]


def test_files_merge_like_compose_f_a_f_b() -> None:
    outcome = check("merge", {"file": ["compose.yaml", "compose.override.yaml"]})
    assert found(outcome) == [
        "api: pinned_images: the image is not pinned (expected a version tag or a digest, "
        "seen demo/api:latest)",
        "api: loopback_ports: published on every interface (expected 127.0.0.1:HOST:CONTAINER, "
        "seen 9000:9000)",
        "api: no_literal_secrets: API_KEY is written in the file (expected ${API_KEY} or "
        "secrets:, seen a literal)",
    ]
    alone = check("merge", {}, {"API_KEY": "abc"})
    assert alone.status is Status.PASS, alone.message


def spec(options: dict[str, Any], env: dict[str, str], base: Path = FIXTURES / "interp") -> Any:
    loaded = load(Options.model_validate({"file": "compose.yaml", **options}), context(base, env))
    return loaded.services[0].spec


def test_interpolation_defaults_and_escapes() -> None:
    api = spec({}, {})
    assert api["image"] == "demo/api:1.4.0"  # ${API_TAG:-1.4.0}
    assert api["user"] == "10001"  # ${APP_UID-10001}
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert api["mem_limit"] == ""  # ${API_MEMORY}: unset, empty
    assert api["healthcheck"]["test"][1].endswith("echo $HOME")  # $$ is a literal $
    assert api["environment"]["GREETING"] == ""  # ${GREETING:+hello}
    set_env = spec({}, {"APP_UID": "", "GREETING": "x", "API_TAG": "", "LOG_MAX": "5m"})
    assert set_env["user"] == ""  # `-` keeps a set-but-empty value
    assert set_env["image"] == "demo/api:1.4.0"  # `:-` does not
    assert set_env["environment"]["GREETING"] == "hello"
    assert set_env["logging"]["options"]["max-size"] == "5m"


def test_env_file_values_override_the_environment() -> None:
    api = spec({"env_file": "interp.env"}, {"API_TAG": "9.9.9", "RELEASE": "3.1.0"})
    # interp.env says API_TAG=${RELEASE:-2.0.0}: the file wins over the environment's API_TAG,
    # and its own ${...} are filled from the environment.
    assert api["image"] == "demo/api:3.1.0"
    assert api["mem_limit"] == "256m"
    assert spec({"env_file": "interp.env"}, {})["image"] == "demo/api:2.0.0"


def test_env_file_values_can_refer_to_each_other_unless_single_quoted(tmp_path: Path) -> None:
    (tmp_path / "vars.env").write_text("A=${OUTER}-a\nB=\"${A}-b\"\nC='${A}-c'\n")
    dotenv = read_dotenv(tmp_path / "vars.env")
    assert interpolated(dotenv, {"OUTER": "o"}) == {"A": "o-a", "B": "o-a-b", "C": "${A}-c"}


def test_dot_env_next_to_the_file_is_read_by_default(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "interp" / "compose.yaml", tmp_path / "compose.yaml")
    shutil.copy(FIXTURES / "interp" / "interp.env", tmp_path / ".env")
    assert spec({}, {}, tmp_path)["image"] == "demo/api:2.0.0"


def test_unset_variables_are_warned_about_and_can_fail_rules() -> None:
    outcome = check("interp", {})
    assert outcome.output == "warning: API_MEMORY is not set; Compose uses an empty string"
    assert found(outcome) == [
        "api: memory_limit: no memory limit (expected mem_limit or "
        "deploy.resources.limits.memory, seen none)"
    ]
    assert check("interp", {"env_file": "interp.env"}).status is Status.PASS


def test_a_required_variable_that_is_unset_fails() -> None:
    outcome = check("good", {}, {})
    assert outcome.status is Status.FAIL
    assert outcome.message == "compose: interpolation: API_TOKEN: set API_TOKEN"


def test_the_stack_files_are_the_default(tmp_path: Path) -> None:
    stack = StackInfo(
        compose=[FIXTURES / "interp" / "compose.yaml"],
        project="p",
        env_file=FIXTURES / "interp" / "interp.env",
    )
    ctx = context(FIXTURES, {})
    ctx.stack = stack
    outcome = attempt(KIND, Options.model_validate({}), ctx)
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message == "compose interp/compose.yaml: 1 service pass 9 rules"
    assert attempt(KIND, Options.model_validate({}), context(tmp_path)).message == (
        "compose: no compose file: set `file`, or a `stack:` section in the checklist"
    )


def test_unreadable_files_fail_with_a_location(tmp_path: Path) -> None:
    def run(**options: str) -> Outcome:
        return attempt(KIND, Options.model_validate(options), context(tmp_path))

    (tmp_path / "compose.yaml").write_text("services:\n  api: [unclosed\n")
    outcome = run(file="compose.yaml")
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "compose: compose.yaml:2:8: invalid YAML: the `[` opened here is never closed"
    )
    assert run(file="gone.yaml").message == ("compose: gone.yaml does not exist")
    (tmp_path / "list.yaml").write_text("- a\n")
    assert run(file="list.yaml").message == ("compose: list.yaml has no `services:` mapping")
    (tmp_path / "ok.yaml").write_text("services: {api: {image: 'a:1'}}\n")
    (tmp_path / "bad.env").write_text("A=1\nNOPE\n")
    broken = run(file="ok.yaml", env_file="bad.env")
    assert broken.message == "compose: env_file bad.env:2: NOPE has no '=': expected KEY=VALUE"


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("$A-$B", {"A": "1", "B": "2"}, "1-2"),
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A-x}", {}, "x"),
        ("${A:+y}", {"A": "1"}, "y"),
        ("${A+y}", {"A": ""}, "y"),
        ("${A:-${B:-deep}}", {}, "deep"),
        ("$${A}", {"A": "1"}, "${A}"),
        ("cost: $$5", {}, "cost: $5"),
    ],
)
def test_interpolate(text: str, variables: dict[str, str], expected: str) -> None:
    assert interpolate(text, variables) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${A:?A is needed}", "A: A is needed"),
        ("${A?}", "A: required variable is not set"),
        ("${A", "unclosed"),
        ("${1A}", "invalid variable reference"),
        ("$ 5", "write $$ for a literal $"),
    ],
)
def test_interpolate_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$")):
        interpolate(text, {})


def test_bad_options_are_load_errors() -> None:
    with pytest.raises(ValidationError, match="healthcheck"):
        Options.model_validate({"rules": ["helthcheck"]})
    with pytest.raises(ValidationError, match="duration"):
        Options.model_validate({"min_stop_grace_period": "soon"})
    with pytest.raises(ValidationError, match="Input should be"):
        Options.model_validate({"ignore": {"api": ["nope"]}})


def test_the_registered_example_is_valid() -> None:
    assert KIND.options.model_validate(KIND.example)


def test_a_service_that_is_not_a_mapping_fails(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  api: redis:7\n")
    outcome = attempt(KIND, Options.model_validate({"file": "compose.yaml"}), context(tmp_path))
    assert outcome.message == "compose: service api is not a mapping (seen str)"


SECRET = "Sup3r$1Secret"


@pytest.mark.parametrize(
    ("line", "where"),
    [
        (f"DB_PASSWORD={SECRET}", "invalid interpolation format at character 6"),
        ("DB_PASSWORD=Sup3r${Secret", "unclosed '${' at character 6"),
        ("DB_PASSWORD=Sup3r${Se cret}", "invalid variable reference at character 6"),
    ],
)
def test_a_malformed_reference_in_an_env_file_value_never_shows_the_value(
    tmp_path: Path, line: str, where: str
) -> None:
    (tmp_path / "ok.yaml").write_text("services: {api: {image: 'a:1'}}\n")
    (tmp_path / "s.env").write_text(f"A=1\n{line}\n")
    options = Options.model_validate({"file": "ok.yaml", "env_file": "s.env"})
    outcome = attempt(KIND, options, context(tmp_path))
    assert outcome.status is Status.FAIL
    assert outcome.message.startswith(f"compose: env_file s.env line 2: DB_PASSWORD: {where}")
    assert "the value is not shown" in outcome.message
    value = line.split("=", 1)[1]
    assert value not in outcome.message and "Sup3r" not in outcome.message + outcome.output


def test_env_file_values_that_double_each_line_are_refused_not_expanded(tmp_path: Path) -> None:
    lines = ["A0=" + "x" * 1000] + [f"A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, 40)]
    (tmp_path / "big.env").write_text("\n".join(lines) + "\n")
    with pytest.raises(InterpolationError, match=r"line 12: A11: the value expands to more"):
        interpolated(read_dotenv(tmp_path / "big.env"), {})


def test_a_nested_default_that_repeats_a_large_value_is_bounded() -> None:
    text = "${X:-" + "${A}" * 100 + "}"
    with pytest.raises(InterpolationError, match="expands to more than"):
        interpolate(text, {"A": "y" * 20_000}, limit=1_000_000)


@pytest.mark.parametrize("hostile", ["fifo", "dev-zero", "deep", "huge"])
def test_a_hostile_compose_file_fails_clearly_and_fast(tmp_path: Path, hostile: str) -> None:
    """A FIFO once hung, /dev/zero grew without bound, `[` x 5000 was a RecursionError."""
    import os
    import time

    path = tmp_path / "compose.yaml"
    if hostile == "fifo":
        os.mkfifo(path)
    elif hostile == "dev-zero":
        path.symlink_to("/dev/zero")
    elif hostile == "deep":
        path.write_text("services: " + "[" * 5000 + "]" * 5000 + "\n")
    else:
        path.write_text("services: {}\n# " + "x" * (5 * 1024 * 1024) + "\n")
    started = time.monotonic()
    outcome = attempt(KIND, Options.model_validate({"file": "compose.yaml"}), context(tmp_path))
    assert time.monotonic() - started < 5
    assert outcome.status is Status.FAIL
    said = {
        "fifo": "is a FIFO (named pipe), not a regular file",
        "dev-zero": "is a character device",
        "deep": "nested more than 64 levels deep",
        "huge": "larger than",
    }[hostile]
    assert outcome.message.startswith("compose: ") and said in outcome.message
