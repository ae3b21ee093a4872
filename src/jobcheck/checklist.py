"""The checklist model: what a loaded, validated, interpolated checklist is."""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from jobcheck.durations import Duration
from jobcheck.kinds.base import Kind, KindOptions, empty_dict, empty_list
from jobcheck.results import CheckInfo
from jobcheck.secrets import SecretSources
from jobcheck.stack_refs import StackRefs

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
DEFAULT_TIMEOUT_S = 300.0
SCHEMA_URL = "https://jobcheck.dev/schema/checklist-v1.json"


def _number_as_text(value: Any) -> Any:
    """``port: 8000`` under vars means the text 8000 (booleans stay an error: True or true?)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


VarText = Annotated[
    str,
    BeforeValidator(_number_as_text),
    WithJsonSchema({"type": ["string", "number"]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Waiver(_Strict):
    reason: str = Field(min_length=1, description="Why the failure is accepted, with a ticket")
    until: dt.date = Field(description="Last day the waiver holds (YYYY-MM-DD)")
    by: str = Field(min_length=1, description="Who granted it, e.g. @captain")


class CacheSpec(_Strict):
    """``cache:`` on a check: what its result depends on besides its own definition."""

    inputs: list[str] = Field(
        min_length=1,
        description="Globs of the files the result depends on, relative to this file "
        "(`**` crosses folders; a folder means every file under it), e.g. ../src/**/*.py",
    )
    env: list[str] = Field(
        default_factory=empty_list,
        description="Environment variables the result depends on (their values are hashed, "
        "never stored)",
    )

    @field_validator("inputs")
    @classmethod
    def _inputs_not_empty(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern.strip():
                raise ValueError("an input is a glob such as ../src/**/*.py, not empty text")
        return value


class Envelope(_Strict):
    """The fields every check carries around its kind's own options."""

    model_config = ConfigDict(defer_build=True)  # a base only: its subclasses are built

    owner: str | None = Field(None, description="Who fixes it when it fails, e.g. @alice")
    expect: str | None = Field(None, description="The expected result, in words")
    rollback: str | None = Field(None, description="What to do if this fails after release")
    severity: Literal["blocker", "warning"] | None = Field(
        None, description="blocker (default) fails the run; warning is reported only"
    )
    tags: list[str] | None = Field(None, description="Labels for --only / --skip")
    timeout: Duration | None = Field(None, description="Per attempt")
    retries: int | None = Field(None, ge=0, le=20, description="Extra attempts (needs retry_safe)")
    retry_safe: bool | None = Field(None, description="Re-running has no side effects")
    runbook: str | None = Field(None, description="Link to the runbook")

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("a timeout must be more than 0 seconds")
        return value


class Defaults(Envelope):
    model_config = ConfigDict(defer_build=False)


class CheckSpec(Envelope):
    model_config = ConfigDict(defer_build=False)

    id: str = Field(pattern=ID_PATTERN, description="Unique id: [a-z0-9][a-z0-9._-]*")
    title: str | None = Field(None, description="Defaults to the id")
    kind: str = Field(description="A registered check kind")
    with_: dict[str, Any] = Field(
        default_factory=empty_dict,
        alias="with",
        description="Kind options. Strings take ${NAME}, ${NAME:-default} and "
        "${stack.SERVICE.PORT}: 127.0.0.1:HOSTPORT, the port the running stack's container of "
        "SERVICE publishes on 127.0.0.1 for its PORT, read when the check runs (an error when "
        "there is none)",
    )
    needs: list[str] = Field(default_factory=empty_list, description="Ids that must pass first")
    after: list[str] = Field(
        default_factory=empty_list,
        description="Order only: start once these checks ended, whatever their status",
    )
    uses: list[str] = Field(
        default_factory=empty_list,
        description="Stack services this check uses where jobcheck cannot tell (a `command` "
        "talking to Redis): it never runs while a check that disrupts one of them runs",
    )
    disrupts: list[str] = Field(
        default_factory=empty_list,
        description="Stack services this check stops or restarts (a `command` drill): it starts "
        "once every check using them ended, and nothing using them runs beside it",
    )
    waiver: Waiver | None = None
    cache: CacheSpec | None = Field(
        None,
        description="Replay this check's last pass while its inputs, env values, definition "
        "and jobcheck's version are unchanged (not for Docker-backed kinds); see docs/cache.md",
    )

    @field_validator("tags")
    @classmethod
    def _tags_are_words(cls, value: list[str] | None) -> list[str] | None:
        for tag in value or []:
            if not tag or any(c.isspace() for c in tag):
                raise ValueError(f"a tag is one word without spaces, got {tag!r}")
        return value


class StackSpec(_Strict):
    compose: list[str] = Field(min_length=1, description="Compose files, relative to this file")
    project: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Compose project name")
    env_file: str | None = Field(None, description="Env file passed to compose --env-file")
    up: bool = Field(False, description="Bring the stack up (build, start, wait) before checks")
    build: bool = Field(True, description="Build images on up")
    wait: Duration = Field(180.0, description="Deadline for every healthcheck on up")
    build_args: dict[str, str] = Field(default_factory=empty_dict, description="Extra build args")
    context: str | None = Field(
        None,
        min_length=1,
        description="The Docker context whose engine runs the stack (`docker context create`); "
        "wins over DOCKER_HOST, as `docker --context` does",
    )

    @field_validator("compose", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ChecklistSpec(_Strict):
    """The top-level mapping of a checklist file (also the JSON Schema's root)."""

    version: Literal[1] = Field(description="The format version: 1")
    name: str = Field(min_length=1)
    include: list[str] = Field(default_factory=empty_list, description="More checklist files")
    vars: dict[str, VarText] = Field(
        default_factory=empty_dict, description="Interpolated as ${NAME}"
    )
    secrets: list[str] = Field(
        default_factory=empty_list, description="Names whose values are masked"
    )
    env_files: list[str] = Field(
        default_factory=empty_list,
        description="Dotenv files whose values are interpolated and exported to checks "
        "(the real environment wins over them, as in Compose)",
    )
    defaults: Defaults | None = None
    stack: StackSpec | None = None
    checks: list[CheckSpec] = Field(min_length=1)


@dataclass(kw_only=True)
class Check(CheckInfo):
    """A check ready to run: defaults applied, its kind resolved, options validated by it."""

    impl: Kind[Any]
    options: KindOptions
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = 0
    # Where the `with:` mapping names stack ports (`${stack.api.8000}`): resolved right before
    # each attempt (``stack_refs.StackRefs``); ``options`` were validated with placeholders.
    stack_refs: StackRefs | None = None
    cache: CacheSpec | None = None  # `cache:`: its last pass may be replayed (see result_cache.py)
    after: list[str] = field(default_factory=list)  # order only (see plan.Graph)
    # The stack services it uses and those it disrupts: declared, and inferred from its kind
    # and options (``footprint``); the runner keeps the two apart (DESIGN.md section 8).
    uses: frozenset[str] = frozenset()
    disrupts: frozenset[str] = frozenset()

    def matches(self, selector: str) -> bool:
        """An id or tag, or a glob (``fast-*``, ``api-?``) over ids and tags."""
        return any(fnmatch.fnmatchcase(name, selector) for name in (self.id, *self.tags))


@dataclass
class Checklist:
    name: str
    path: Path
    checks: list[Check]
    stack: StackSpec | None
    files: list[Path]
    vars: dict[str, str] = field(default_factory=dict)
    env_files: list[Path] = field(default_factory=list)  # `env_files:` read while loading
    file_env: dict[str, str] = field(default_factory=dict)
    secrets: SecretSources = field(
        default_factory=SecretSources
    )  # its masker: ``secrets.masker(environ)``

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)
