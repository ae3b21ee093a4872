"""``release``: the tree, branch, tag, package version and changelog are ready for a tag."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import Field, field_validator

from jobcheck import bounded_regex
from jobcheck.kinds._findings import Finding, as_list, findings_outcome, plural, valid_regex
from jobcheck.kinds.base import (
    CheckError,
    Kind,
    KindContext,
    KindOptions,
    joined_output,
    process_failure,
)
from jobcheck.process import ProcessResult
from jobcheck.results import Outcome

# semver.org's regular expression, with an optional leading ``v``.
SEMVER = (
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_DUNDER_VERSION = re.compile(r"""^__version__\s*(?::\s*\w+\s*)?=\s*["']([^"']+)["']""", re.M)
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}


class Options(KindOptions):
    tag: str = Field(description='The tag to release, usually "${RELEASE_TAG}"')
    repo: str = Field(".", description="The git repository, relative to the checklist")
    clean: bool = Field(True, description="The working tree has no uncommitted changes")
    allow_untracked: bool = Field(False, description="Untracked files do not make it dirty")
    branch: str | list[str] | None = Field(
        None, description="The branch (or branches, globs allowed) HEAD must be on"
    )
    tag_pattern: str = Field(SEMVER, description="A regular expression the whole tag must match")
    version_file: str = Field(
        "pyproject.toml",
        description="Where the version is: pyproject.toml, a Python file with __version__, "
        "or a plain VERSION file (relative to repo)",
    )
    match_version: bool = Field(True, description="The tag (minus a leading v) is the version")
    exists: bool = Field(
        False,
        description="false: the tag must not exist yet; true: it must exist, be annotated "
        "and point at HEAD",
    )
    changelog: str | None = Field(
        "CHANGELOG.md", description="A file with a heading for the version; null to skip"
    )

    @field_validator("tag_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return valid_regex(value)


def _git(ctx: KindContext, repo: Path, *args: str, ok: tuple[int, ...] = (0,)) -> ProcessResult:
    result = ctx.run(["git", "-C", str(repo), *args], env=GIT_ENV)
    process_failure(result, f"git {args[0]}")
    if result.returncode not in ok:
        raise CheckError(
            f"`git {' '.join(args)}` exited {result.returncode} in {repo}: "
            + joined_output(result).strip()[:500]
        )
    return result


def _clean(options: Options, ctx: KindContext, repo: Path) -> Iterator[str]:
    untracked = "no" if options.allow_untracked else "all"
    status = _git(ctx, repo, "status", "--porcelain=v1", f"--untracked-files={untracked}")
    changes = [line.strip() for line in status.stdout.splitlines() if line.strip()]
    if changes:
        more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        shown = ", ".join(changes[:5]) + more
        count = plural(len(changes), "uncommitted change")
        yield f"clean: the working tree has {count} ({shown}), expected none"


def _branch(options: Options, ctx: KindContext, repo: Path) -> Iterator[str]:
    wanted = as_list(options.branch)
    current = _git(ctx, repo, "symbolic-ref", "--short", "-q", "HEAD", ok=(0, 1)).stdout.strip()
    if not any(fnmatch.fnmatchcase(current, pattern) for pattern in wanted):
        seen = f"on {current}" if current else "HEAD is detached"
        yield f"branch: expected {' or '.join(wanted)}, seen {seen}"


def _tag_pattern(options: Options) -> Iterator[str]:
    try:
        matched = bounded_regex.fullmatch(options.tag_pattern, options.tag) is not None
    except bounded_regex.RegexFailed as exc:
        raise CheckError(f"tag_pattern: {exc}") from None
    if not matched:
        default = options.tag_pattern == SEMVER
        expected = "semver such as v1.4.0" if default else f"/{options.tag_pattern}/"
        yield f"tag: {options.tag!r} is not {expected}"


def _exists(options: Options, ctx: KindContext, repo: Path) -> Iterator[str]:
    tag, ref = options.tag, f"refs/tags/{options.tag}"
    found = _git(ctx, repo, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", ok=(0, 1))
    commit = found.stdout.strip()
    if not options.exists:
        if commit:
            yield f"tag: {tag} already exists (at {commit[:12]}), expected a new tag"
        return
    if not commit:
        yield f"tag: {tag} does not exist, expected it to"
        return
    if _git(ctx, repo, "cat-file", "-t", ref).stdout.strip() != "tag":
        yield f"tag: {tag} is a lightweight tag, expected an annotated one (git tag -a)"
    head = _git(ctx, repo, "rev-parse", "HEAD").stdout.strip()
    if commit != head:
        yield f"tag: {tag} points at {commit[:12]}, expected HEAD ({head[:12]})"


def read_version(path: Path) -> str:
    """The version from pyproject.toml, a Python file's __version__ or a VERSION file.

    ValueError says what was missing.
    """
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        data = tomllib.loads(text)
        project = data.get("project", {})
        if "version" in project:
            return str(project["version"])
        if "version" in project.get("dynamic", []):
            raise ValueError("[project] version is dynamic; set version_file to where it is")
        poetry = data.get("tool", {}).get("poetry", {})
        if "version" in poetry:
            return str(poetry["version"])
        raise ValueError("no [project] version")
    if path.suffix == ".py":
        match = _DUNDER_VERSION.search(text)
        if match is None:
            raise ValueError('no __version__ = "..." line')
        return match[1]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ValueError("the file is empty")
    return first


def _same_version(tag_version: str, version: str) -> bool:
    if tag_version == version:
        return True
    try:
        # lazy: optional: the release kind's version rules
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return False
    try:
        return Version(tag_version) == Version(version)
    except InvalidVersion:
        return False


def _version(options: Options, repo: Path, tag_version: str) -> Iterator[str]:
    name = options.version_file
    try:
        version = read_version(repo / name)
    except FileNotFoundError:
        yield f"version: {name} does not exist"
        return
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as exc:
        yield f"version: cannot read it from {name}: {exc}"
        return
    if not _same_version(tag_version, version):
        yield f"version: tag {options.tag} says {tag_version}, {name} says {version}"


def _changelog(changelog: str, repo: Path, tag_version: str) -> Iterator[str]:
    try:
        text = (repo / changelog).read_text(encoding="utf-8")
    except FileNotFoundError:
        yield f"changelog: {changelog} does not exist"
        return
    except (OSError, UnicodeDecodeError) as exc:
        yield f"changelog: {changelog} cannot be read: {exc}"
        return
    version = re.escape(tag_version)
    heading = re.compile(rf"^#{{1,6}}\s.*(?<![\w.])v?{version}(?![\w.]|-\w)", re.MULTILINE)
    if not heading.search(text):
        example = f"## [{tag_version}] - YYYY-MM-DD"
        yield f"changelog: {changelog} has no heading for {tag_version} (expected e.g. `{example}`)"


def _findings(options: Options, ctx: KindContext, repo: Path) -> list[Finding]:
    """Every rule that applies, in order; each finding carries its rule's name."""
    tag_version = options.tag[1:] if re.match(r"v\d", options.tag) else options.tag
    rules: list[tuple[str, bool, Callable[[], Iterator[str]]]] = [
        ("clean", options.clean, lambda: _clean(options, ctx, repo)),
        ("branch", options.branch is not None, lambda: _branch(options, ctx, repo)),
        ("tag_pattern", True, lambda: _tag_pattern(options)),
        ("exists", True, lambda: _exists(options, ctx, repo)),
        ("version", options.match_version, lambda: _version(options, repo, tag_version)),
        ("changelog", options.changelog is not None,
         lambda: _changelog(str(options.changelog), repo, tag_version)),
    ]  # fmt: skip
    return [Finding(rule, text) for rule, wanted, check in rules if wanted for text in check()]


def run(options: Options, ctx: KindContext) -> Outcome:
    repo = ctx.path(options.repo)
    if not options.tag.strip():
        return Outcome.failed("release: no tag given (is RELEASE_TAG set?), expected e.g. v1.4.0")
    _git(ctx, repo, "rev-parse", "--show-toplevel")
    findings = _findings(options, ctx, repo)
    return findings_outcome(
        f"release {options.tag}",
        findings,
        mask=ctx.mask,
        passed=_passed(options),
    )


def _passed(options: Options) -> str:
    said = ["tree clean"] if options.clean else []
    said += [f"on {' or '.join(as_list(options.branch))}"] if options.branch else []
    said += ["tag exists at HEAD" if options.exists else "tag is free"]
    said += [f"matches {options.version_file}"] if options.match_version else []
    said += [f"{options.changelog} has its section"] if options.changelog else []
    return f"release {options.tag}: ready: " + ", ".join(said)


KIND = Kind(
    name="release",
    options=Options,
    run=run,
    summary="clean tree, branch, semver tag equal to the package version, not taken, changelog",
    example={"tag": "${RELEASE_TAG}", "branch": "main", "changelog": "CHANGELOG.md"},
)
