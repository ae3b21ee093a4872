"""``env``: a dotenv file for staging: required keys, forbidden values, parity, secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import Field, field_validator

from jobcheck import bounded_regex
from jobcheck.dotenv_files import Dotenv, read_dotenv, secret_key, secret_value_problem
from jobcheck.kinds._findings import Finding, findings_outcome, masking, shown_path, valid_regex
from jobcheck.kinds.base import CheckError, Kind, KindContext, KindOptions, empty_dict, empty_list
from jobcheck.results import Outcome


def _text(value: object) -> str:
    """YAML gives ``true`` and ``1`` as bool and int; compare them as dotenv text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Options(KindOptions):
    file: str = Field(description="The dotenv file to check, relative to the checklist")
    required: list[str] = Field(
        default_factory=empty_list, description="Keys that must be present (and not empty)"
    )
    forbidden: dict[str, list[str]] = Field(
        default_factory=empty_dict,
        description="Key -> values it must not have, compared case-insensitively",
    )
    same_keys_as: str | None = Field(
        None, description="Another dotenv file that must define exactly the same keys"
    )
    patterns: dict[str, str] = Field(
        default_factory=empty_dict,
        description="Key -> regular expression its value must match in full (when present)",
    )
    secrets: bool = Field(
        True, description="Flag secret-looking keys whose values are placeholders or short"
    )
    allow_empty: list[str] = Field(
        default_factory=empty_list, description="Keys allowed to have an empty value"
    )

    @field_validator("forbidden", mode="before")
    @classmethod
    def _forbidden_as_text(cls, value: object) -> object:
        if isinstance(value, dict):
            return {
                key: [_text(v) for v in (vals if isinstance(vals, list) else [vals])]
                for key, vals in value.items()
            }
        return value

    @field_validator("patterns")
    @classmethod
    def _valid_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            valid_regex(pattern)
        return value


def _load(path: Path, ctx: KindContext) -> Dotenv | str:
    try:
        return read_dotenv(path)
    except FileNotFoundError:
        return f"{shown_path(path, ctx.base_dir)} does not exist"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{shown_path(path, ctx.base_dir)} cannot be read: {exc}"


def _where(dotenv: Dotenv, key: str, ctx: KindContext) -> str:
    line = dotenv.line_of(key)
    name = shown_path(dotenv.path, ctx.base_dir)
    return f"{name}:{line}" if line else name


def _parse_findings(dotenv: Dotenv, ctx: KindContext) -> list[Finding]:
    name = shown_path(dotenv.path, ctx.base_dir)
    return [Finding("syntax", f"{name}:{line} {text}") for line, text in dotenv.problems]


def _required(options: Options, dotenv: Dotenv, ctx: KindContext) -> list[Finding]:
    values = dotenv.values()
    name = shown_path(dotenv.path, ctx.base_dir)
    return [
        Finding("required", f"{name} {key}: required key is missing")
        for key in options.required
        if key not in values
    ]


def _fullmatch(pattern: str, value: str, key: str) -> bool:
    try:
        return bounded_regex.fullmatch(pattern, value) is not None
    except bounded_regex.RegexFailed as exc:
        raise CheckError(f"patterns.{key}: {exc}") from None


def _value_problems(options: Options, key: str, value: str) -> Iterator[tuple[str, str]]:
    """(rule, what is wrong) for one key; the value is shown only for keys that are not secret."""
    if not value.strip():
        if key not in options.allow_empty:
            yield "empty", "empty value (list the key in allow_empty if that is intended)"
        return
    shown = "(hidden)" if secret_key(key) else repr(value)
    forbidden = options.forbidden.get(key, [])
    if value.strip().lower() in {v.lower() for v in forbidden}:
        yield "forbidden", f"forbidden value {shown} (must not be one of {', '.join(forbidden)})"
    pattern = options.patterns.get(key)
    if pattern is not None and not _fullmatch(pattern, value, key):
        yield "pattern", f"value {shown} does not match /{pattern}/"
    if options.secrets and secret_key(key) and (why := secret_value_problem(value)):
        yield "secrets", f"{why} for a secret-looking key (expected a real secret or a ${{...}})"


def _value_findings(options: Options, dotenv: Dotenv, ctx: KindContext) -> list[Finding]:
    return [
        Finding(rule, f"{_where(dotenv, entry.key, ctx)} {entry.key}: {text}")
        for entry in dotenv.entries
        for rule, text in _value_problems(options, entry.key, entry.value)
    ]


def _parity(dotenv: Dotenv, other: Dotenv, ctx: KindContext) -> list[Finding]:
    mine, theirs = set(dotenv.values()), set(other.values())
    name, other_name = shown_path(dotenv.path, ctx.base_dir), shown_path(other.path, ctx.base_dir)
    return [
        Finding("same_keys_as", f"{name} {key}: missing here, present in {other_name}")
        for key in sorted(theirs - mine)
    ] + [
        Finding("same_keys_as", f"{other_name} {key}: missing there, present in {name}")
        for key in sorted(mine - theirs)
    ]


def run(options: Options, ctx: KindContext) -> Outcome:
    path = ctx.path(options.file)
    loaded = _load(path, ctx)
    if isinstance(loaded, str):
        return Outcome.failed(f"env: {loaded}, expected a dotenv file")
    dotenv = loaded
    mask = masking(ctx.mask, (e.value for e in dotenv.entries if secret_key(e.key)))
    findings = _parse_findings(dotenv, ctx) + _required(options, dotenv, ctx)
    findings += _value_findings(options, dotenv, ctx)
    if options.same_keys_as is not None:
        other = _load(ctx.path(options.same_keys_as), ctx)
        if isinstance(other, str):
            findings.append(Finding("same_keys_as", other))
        else:
            findings += _parse_findings(other, ctx) + _parity(dotenv, other, ctx)
    name = shown_path(path, ctx.base_dir)
    count = len(dotenv.entries)
    return findings_outcome(
        f"env {name}",
        findings,
        mask=mask,
        passed=f"env {name}: {count} keys, every rule holds",
    )


KIND = Kind(
    name="env",
    options=Options,
    run=run,
    summary="a dotenv file: required keys, forbidden values, key parity, plaintext secrets",
    example={
        "file": "docker/staging.env",
        "required": ["REDIS_URL", "SECRET_KEY"],
        "forbidden": {"DEBUG": ["1", "true", "yes"]},
        "same_keys_as": "docker/production.env.example",
        "patterns": {"LOG_LEVEL": "(?i)info|warning|error"},
    },
)
