from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext
from jobcheck.kinds.release_tag import KIND, read_version
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "PATH": os.environ["PATH"],
    "HOME": os.devnull,
}
PYPROJECT = '[project]\nname = "demo"\nversion = "1.4.0"\n'
CHANGELOG = "# Changelog\n\n## [Unreleased]\n\n## [1.4.0] - 2026-11-27\n- canary jobs\n"
READY = "release v1.4.0: ready: tree clean, tag is free, matches pyproject.toml, CHANGELOG.md has "
READY += "its section"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "release 1.4.0")
    return tmp_path


def check(repo: Path, options: dict[str, Any]) -> Outcome:
    ctx = KindContext(check_id="r", base_dir=repo, env=GIT_ENV, timeout_s=30, mask=Masker())
    return attempt(KIND, KIND.options.model_validate({"tag": "v1.4.0", **options}), ctx)


def found(outcome: Outcome) -> list[str]:
    return [item["text"] for item in outcome.details["items"]]


def test_all_good(repo: Path) -> None:
    outcome = check(repo, {})
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message == READY
    on_main = check(repo, {"branch": ["release/*", "main"]})
    assert on_main.status is Status.PASS, on_main.message


def test_a_dirty_tree_fails(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(PYPROJECT + "# edited\n")
    (repo / "notes.txt").write_text("scratch\n")
    outcome = check(repo, {})
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "release v1.4.0: 1 finding (1 clean), expected none\n"
        "  clean: the working tree has 2 uncommitted changes (M pyproject.toml, ?? notes.txt), "
        "expected none"
    )
    assert found(check(repo, {"allow_untracked": True})) == [
        "clean: the working tree has 1 uncommitted change (M pyproject.toml), expected none"
    ]
    assert check(repo, {"clean": False}).status is Status.PASS


def test_untracked_files_alone_can_be_allowed(repo: Path) -> None:
    (repo / "notes.txt").write_text("scratch\n")
    assert check(repo, {}).status is Status.FAIL
    assert check(repo, {"allow_untracked": True}).status is Status.PASS


def test_the_wrong_branch_fails(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "feature/x")
    assert found(check(repo, {"branch": "main"})) == ["branch: expected main, seen on feature/x"]
    git(repo, "switch", "-q", "--detach", "HEAD")
    assert found(check(repo, {"branch": ["main", "release/*"]})) == [
        "branch: expected main or release/*, seen HEAD is detached"
    ]


def test_a_taken_tag_fails(repo: Path) -> None:
    git(repo, "tag", "-a", "v1.4.0", "-m", "v1.4.0")
    head = git(repo, "rev-parse", "HEAD")[:12]
    assert found(check(repo, {})) == [f"tag: v1.4.0 already exists (at {head}), expected a new tag"]


def test_exists_wants_an_annotated_tag_at_head(repo: Path) -> None:
    assert found(check(repo, {"exists": True})) == ["tag: v1.4.0 does not exist, expected it to"]
    git(repo, "tag", "v1.4.0")
    assert found(check(repo, {"exists": True})) == [
        "tag: v1.4.0 is a lightweight tag, expected an annotated one (git tag -a)"
    ]
    git(repo, "tag", "-d", "v1.4.0")
    git(repo, "tag", "-a", "v1.4.0", "-m", "v1.4.0")
    outcome = check(repo, {"exists": True})
    assert outcome.status is Status.PASS, outcome.message
    old = git(repo, "rev-parse", "HEAD")[:12]
    git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    head = git(repo, "rev-parse", "HEAD")[:12]
    assert found(check(repo, {"exists": True})) == [
        f"tag: v1.4.0 points at {old}, expected HEAD ({head})"
    ]


def test_a_version_mismatch_fails(repo: Path) -> None:
    outcome = check(repo, {"tag": "v1.5.0", "changelog": None})
    assert outcome.message == (
        "release v1.5.0: 1 finding (1 version), expected none\n"
        "  version: tag v1.5.0 says 1.5.0, pyproject.toml says 1.4.0"
    )
    assert check(repo, {"tag": "v1.5.0", "changelog": None, "match_version": False}).status is (
        Status.PASS
    )


def test_a_missing_changelog_entry_fails(repo: Path) -> None:
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [1.3.0]\nSee 1.4.0 soon.\n")
    git(repo, "commit", "-q", "-am", "changelog")
    assert found(check(repo, {})) == [
        "changelog: CHANGELOG.md has no heading for 1.4.0 (expected e.g. `## [1.4.0] - YYYY-MM-DD`)"
    ]
    assert found(check(repo, {"changelog": "HISTORY.md"})) == [
        "changelog: HISTORY.md does not exist"
    ]
    assert check(repo, {"changelog": None}).status is Status.PASS


@pytest.mark.parametrize(
    ("heading", "ok"),
    [
        ("## [1.4.0] - 2026-11-27", True),
        ("## v1.4.0 - 2026-11-27", True),
        ("# Version 1.4.0", True),
        ("### 1.4.0", True),
        ("## [11.4.0]", False),
        ("## [1.4.0.1]", False),
        ("## [1.4.0-rc.1]", False),
        ("1.4.0", False),
    ],
)
def test_changelog_headings(repo: Path, heading: str, ok: bool) -> None:
    (repo / "CHANGELOG.md").write_text(f"# Changelog\n\n{heading}\n- x\n")
    outcome = check(repo, {"clean": False})
    assert (outcome.status is Status.PASS) is ok, outcome.message


def test_tag_format(repo: Path) -> None:
    outcome = check(repo, {"tag": "release-1.4", "match_version": False, "changelog": None})
    assert found(outcome) == ["tag: 'release-1.4' is not semver such as v1.4.0"]
    custom = {"tag": "release-1.4", "tag_pattern": r"release-\d+\.\d+", "changelog": None}
    assert check(repo, {**custom, "match_version": False}).status is Status.PASS
    assert found(check(repo, {**custom, "tag": "1.4"})) == [r"tag: '1.4' is not /release-\d+\.\d+/"]


def test_every_failed_rule_is_reported(repo: Path) -> None:
    git(repo, "tag", "-a", "v1.3.0", "-m", "old")
    (repo / "dirty.txt").write_text("x\n")
    outcome = check(repo, {"tag": "v1.3.0", "branch": "release/*"})
    assert outcome.details["by_rule"] == {
        "branch": 1,
        "changelog": 1,
        "clean": 1,
        "exists": 1,
        "version": 1,
    }


@pytest.mark.parametrize("tag", ["v1.4.0", "1.4.0", "v1.4.0-rc.1+build.5", "v0.0.1"])
def test_semver_tags_are_accepted(repo: Path, tag: str) -> None:
    outcome = check(repo, {"tag": tag, "match_version": False, "changelog": None})
    assert outcome.status is Status.PASS, outcome.message


@pytest.mark.parametrize("tag", ["v1.4", "v01.4.0", "V1.4.0", "v1.4.0-", "1.4.0.0"])
def test_non_semver_tags_are_refused(repo: Path, tag: str) -> None:
    outcome = check(repo, {"tag": tag, "match_version": False, "changelog": None})
    assert outcome.details["by_rule"] == {"tag_pattern": 1}


def test_version_files(tmp_path: Path) -> None:
    (tmp_path / "about.py").write_text('"""x"""\n__version__: str = "2.0.1"\n')
    (tmp_path / "VERSION").write_text("\n3.1.4\n")
    (tmp_path / "dyn.toml").write_text('[project]\nname = "x"\ndynamic = ["version"]\n')
    (tmp_path / "poetry.toml").write_text('[tool.poetry]\nversion = "0.9.0"\n')
    assert read_version(tmp_path / "about.py") == "2.0.1"
    assert read_version(tmp_path / "VERSION") == "3.1.4"
    assert read_version(tmp_path / "poetry.toml") == "0.9.0"
    with pytest.raises(ValueError, match="dynamic"):
        read_version(tmp_path / "dyn.toml")


def test_version_file_option(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "__init__.py").write_text('__version__ = "1.4.0"\n')
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "version")
    assert check(repo, {"version_file": "src/__init__.py"}).status is Status.PASS
    assert found(check(repo, {"version_file": "VERSION"})) == ["version: VERSION does not exist"]


def test_prerelease_tags_match_pep440_versions(repo: Path) -> None:
    pytest.importorskip("packaging")
    (repo / "pyproject.toml").write_text(PYPROJECT.replace("1.4.0", "1.4.0rc1"))
    outcome = check(repo, {"tag": "v1.4.0-rc1", "clean": False, "changelog": None})
    assert outcome.status is Status.PASS, outcome.message


def test_no_repository_or_no_tag(tmp_path: Path) -> None:
    outcome = check(tmp_path, {})
    assert outcome.status is Status.ERROR
    assert "not a git repository" in outcome.message
    assert check(tmp_path, {"tag": " "}).message == (
        "release: no tag given (is RELEASE_TAG set?), expected e.g. v1.4.0"
    )


def test_the_registered_example_is_valid() -> None:
    assert KIND.options.model_validate(KIND.example)


def test_a_catastrophic_tag_pattern_ends_the_check_error_within_the_bound(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tag_pattern: (a|aa)+$` once ran past 60 s holding the GIL."""
    import time

    from jobcheck import bounded_regex

    monkeypatch.setattr(bounded_regex, "DEFAULT_TIMEOUT_S", 1.0)
    options = {"tag": "a" * 60 + "!", "tag_pattern": "(a|aa)+$", "changelog": None}
    started = time.monotonic()
    outcome = check(repo, {**options, "match_version": False})
    assert time.monotonic() - started < 3.0
    assert outcome.status is Status.ERROR
    assert "tag_pattern: the pattern '(a|aa)+$' did not finish within 1s" in outcome.message
