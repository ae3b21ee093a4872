"""The result cache: real runs of real checklists in tmp_path, twice, and what the second did."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobcheck import cache_inputs, result_cache
from jobcheck.cli import app
from jobcheck.errors import ChecklistErrors
from jobcheck.loading import load_checklist
from jobcheck.pipeline import GateRequest, run_gate
from jobcheck.results import CheckResult, RunResult, Status
from jobcheck.secrets import Masker

KEY = b"k" * 32

# The check appends a line to ran.log (outside its inputs) each time it really runs.
CHECKLIST = """
version: 1
name: cache test
defaults: {owner: "@team", expect: works, rollback: nothing}
checks:
  - id: build
    kind: command
    timeout: 30s
    with: {run: "sh -c 'echo ran >> ran.log; echo built ${WHAT:-x}'"}
    cache: {inputs: ["src/**/*.py", "pyproject.toml"], env: [FLAVOUR]}
  - id: plain
    kind: command
    with: {run: "true"}
"""


@pytest.fixture
def project(tmp_path: Path, write_checklist: Callable[..., Path]) -> Path:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "a.py").write_text("A = 1\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    return write_checklist(CHECKLIST)


def gate(path: Path, env: dict[str, str] | None = None, **request: object) -> RunResult:
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    environ.pop("FLAVOUR", None)
    environ.update(env or {})
    asked = GateRequest(checklist=path, plain=True, history=False, **request)  # type: ignore[arg-type]
    return run_gate(asked, environ, io.StringIO()).run


def build(run: RunResult) -> CheckResult:
    return next(c for c in run.checks if c.id == "build")


def runs(path: Path) -> int:
    log = path.parent / "ran.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_second_run_replays_the_pass_marked_cached(project: Path) -> None:
    first = gate(project)
    second = gate(project)
    assert runs(project) == 1
    assert (build(first).cached, build(second).cached) == (False, True)
    assert build(second).status == Status.PASS
    assert build(second).message == build(first).message
    assert build(second).output == build(first).output == "built x"
    assert build(second).cached_from == first.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    # a check without `cache:` runs every time
    assert next(c for c in second.checks if c.id == "plain").cached is False


def test_a_changed_input_file_is_a_miss(project: Path) -> None:
    gate(project)
    (project.parent / "src" / "pkg" / "a.py").write_text("A = 2\n", encoding="utf-8")
    assert build(gate(project)).cached is False
    (project.parent / "src" / "pkg" / "new.py").write_text("", encoding="utf-8")
    assert build(gate(project)).cached is False
    assert build(gate(project)).cached is True
    assert runs(project) == 3


def test_a_file_outside_the_inputs_changes_nothing(project: Path) -> None:
    gate(project)
    (project.parent / "README.md").write_text("changed\n", encoding="utf-8")
    assert build(gate(project)).cached is True


def test_a_changed_env_value_is_a_miss_and_no_value_is_stored(project: Path) -> None:
    gate(project, {"FLAVOUR": "vanilla-s3cr3t-flavour"})
    assert build(gate(project, {"FLAVOUR": "vanilla-s3cr3t-flavour"})).cached is True
    assert build(gate(project, {"FLAVOUR": "chocolate"})).cached is False
    assert build(gate(project)).cached is False  # unset is a value of its own
    stored = "".join(p.read_text() for p in (project.parent / ".jobcheck").rglob("*.json"))
    assert "vanilla" not in stored and "chocolate" not in stored
    # an env var the check does not name changes nothing
    assert build(gate(project, {"UNRELATED": "1"})).cached is True


def test_a_changed_definition_is_a_miss(
    project: Path, write_checklist: Callable[..., Path]
) -> None:
    gate(project)
    changed = write_checklist(CHECKLIST.replace("timeout: 30s", "timeout: 40s"))
    assert build(gate(changed)).cached is False
    changed = write_checklist(CHECKLIST.replace("built ${WHAT:-x}", "built ${WHAT:-y}"))
    assert build(gate(changed)).cached is False
    assert build(gate(changed)).output == "built y"
    # interpolation is part of the definition: the value a `${WHAT}` takes counts
    assert build(gate(changed, {"WHAT": "z"})).output == "built z"
    assert runs(project) == 4


def test_another_jobcheck_version_is_a_miss(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate(project)
    monkeypatch.setattr(result_cache, "__version__", "99.0.0")
    assert build(gate(project)).cached is False
    assert build(gate(project)).cached is True


def test_no_cache_runs_everything(project: Path) -> None:
    gate(project)
    assert build(gate(project, cache=False)).cached is False
    assert runs(project) == 2
    result = CliRunner().invoke(app, ["run", str(project), "--no-cache", "--no-color"])
    assert result.exit_code == 0, result.output
    assert runs(project) == 3 and "cached" not in result.output
    result = CliRunner().invoke(app, ["run", str(project), "--no-color"])
    assert runs(project) == 3 and "cached" in result.output


def test_a_failure_is_never_cached(write_checklist: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("x", encoding="utf-8")
    path = write_checklist(
        CHECKLIST.replace("echo built ${WHAT:-x}", "exit 3").replace(
            '"src/**/*.py", "pyproject.toml"', '"in.txt"'
        )
    )
    assert [build(gate(path)).status for _ in range(2)] == [Status.FAIL, Status.FAIL]
    assert runs(path) == 2
    assert not list((tmp_path / ".jobcheck" / "cache" / "entries").glob("*.json"))


def test_a_corrupt_entry_or_index_is_a_miss_not_a_crash(project: Path) -> None:
    gate(project)
    cache = project.parent / ".jobcheck" / "cache"
    [entry] = (cache / "entries").glob("*.json")
    for garbage in ("{not json", "[]", '{"format": 1}', json.dumps({"format": 1, "status": 3})):
        entry.write_text(garbage, encoding="utf-8")
        assert build(gate(project)).cached is False
    (cache / "index.json").write_text('{"format": 1, "files": {"x": [1]}}', encoding="utf-8")
    assert build(gate(project)).cached is True
    (cache / "index.json").write_bytes(b"\xff\xfe")
    assert build(gate(project)).cached is True
    doc = json.loads(entry.read_text())
    doc["data"]["key"] = "another"
    entry.write_text(json.dumps(doc), encoding="utf-8")
    assert build(gate(project)).cached is False


def test_cached_output_is_stored_masked(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    (tmp_path / "in.txt").write_text("x", encoding="utf-8")
    path = write_checklist(
        CHECKLIST.replace("echo built ${WHAT:-x}", "echo token=$API_TOKEN").replace(
            '"src/**/*.py", "pyproject.toml"', '"in.txt"'
        )
    )
    env = {"API_TOKEN": "tok-9f8e7d6c5b4a"}
    first, second = gate(path, env), gate(path, env)
    assert build(second).cached and build(second).output == build(first).output == "token=***"
    stored = "".join(p.read_text() for p in (tmp_path / ".jobcheck").rglob("*.json"))
    assert "tok-9f8e7d6c5b4a" not in stored and "token=***" in stored


def test_release_uses_the_cache_only_with_the_cache_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobcheck.process import git

    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "a.py").write_text("A = 1\n", encoding="utf-8")
    (repo / "jobcheck.yaml").write_text(
        CHECKLIST.replace("ran.log", str(tmp_path / "ran.log")), encoding="utf-8"
    )
    for name, value in (("GIT_CONFIG_GLOBAL", "/dev/null"), ("GIT_AUTHOR_NAME", "c")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "c@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "c")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "c@example.invalid")
    for args in (("init", "-q", "-b", "main"), ("add", "."), ("commit", "-q", "-m", "x")):
        git(repo, *args)
    monkeypatch.chdir(repo)
    ran = tmp_path / "ran.log"
    cli = CliRunner()
    assert cli.invoke(app, ["run", "--no-color"]).exit_code == 0
    assert len(ran.read_text().splitlines()) == 1
    release = ["release", "v1.0.0", "--dry-run", "--no-color"]
    result = cli.invoke(app, release)
    assert result.exit_code == 0, result.output
    assert len(ran.read_text().splitlines()) == 2 and "cached" not in result.output
    result = cli.invoke(app, [*release, "--cache"])
    assert result.exit_code == 0, result.output
    assert len(ran.read_text().splitlines()) == 2 and "cached" in result.output
    # the cache never makes the work tree dirty (a release refuses a dirty tree)
    assert git(repo, "status", "--porcelain").stdout == ""


def test_eviction_removes_the_least_recently_used_entries(tmp_path: Path) -> None:
    folder = tmp_path / "entries"
    folder.mkdir()
    now = time.time()
    for i in range(5):
        entry = folder / f"{i}.json"
        entry.write_text("x" * 100, encoding="utf-8")
        os.utime(entry, (now - 100 + i, now - 100 + i))  # 0 is the oldest
    removed = result_cache.evict(folder, limit_bytes=250)
    assert sorted(p.name for p in removed) == ["0.json", "1.json", "2.json"]
    assert sorted(p.name for p in folder.iterdir()) == ["3.json", "4.json"]
    assert result_cache.evict(folder, limit_bytes=250) == []


def test_a_run_keeps_the_cache_under_its_bound_and_a_hit_is_recent(
    project: Path, write_checklist: Callable[..., Path]
) -> None:
    entries = project.parent / ".jobcheck" / "cache" / "entries"
    gate(project)
    [kept] = entries.glob("*.json")
    os.utime(kept, (1, 1))
    assert build(gate(project)).cached
    assert kept.stat().st_mtime > 1  # a replay counts as a use
    bound = {"JOBCHECK_CACHE_MAX_MB": str(kept.stat().st_size * 1.5 / 1024 / 1024)}
    for flavour in ("a", "b", "c"):
        gate(project, {**bound, "FLAVOUR": flavour})
        assert len(list(entries.glob("*.json"))) == 1
    assert build(gate(project, {**bound, "FLAVOUR": "c"})).cached  # the newest was kept


def test_cache_clear(project: Path) -> None:
    gate(project)
    cli = CliRunner()
    result = cli.invoke(app, ["cache", "clear", "-c", str(project)])
    assert result.exit_code == 0 and "removed 2 cache file(s)" in result.output
    assert not (project.parent / ".jobcheck" / "cache").exists()
    result = cli.invoke(app, ["cache", "clear", "-c", str(project)])
    assert result.exit_code == 0 and "nothing to remove" in result.output
    assert build(gate(project)).cached is False


@pytest.mark.parametrize(
    ("kind", "options", "why"),
    [
        ("service", "{service: api}", "checks the running Docker stack"),
        (
            "queue",
            "{queue: default, redis_url: 'redis://127.0.0.1:1/0', min_workers: 1}",
            "checks the running Docker stack",
        ),
        ("http", "{url: 'http://127.0.0.1:1/'}", "checks a live service"),
    ],
)
def test_cache_on_a_docker_or_live_kind_is_refused(
    write_checklist: Callable[..., Path], kind: str, options: str, why: str
) -> None:
    path = write_checklist(
        f"""
        version: 1
        name: refused
        defaults: {{owner: "@team"}}
        checks:
          - id: live
            kind: {kind}
            with: {options}
            cache: {{inputs: [src]}}
        """
    )
    with pytest.raises(ChecklistErrors) as caught:
        load_checklist(path, {})
    [error] = caught.value.errors
    text = error.render()
    assert "`cache:` is not allowed here" in text and why in text
    assert "jobcheck.yaml:8" in text  # the `cache:` line
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and why in result.output


@pytest.mark.parametrize(
    ("cache", "said"),
    [
        ("{inputs: []}", "inputs"),
        ("{inptus: [src]}", "inptus"),
        ("{inputs: [src], env: FLAVOUR}", "env"),
        ("[src]", "cache"),
    ],
)
def test_a_bad_cache_mapping_is_a_load_error_at_its_line(
    write_checklist: Callable[..., Path], cache: str, said: str
) -> None:
    path = write_checklist(
        CHECKLIST.replace('{inputs: ["src/**/*.py", "pyproject.toml"], env: [FLAVOUR]}', cache)
    )
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "jobcheck.yaml:9" in result.output and said in result.output


def test_the_stat_index_hashes_only_what_changed(tmp_path: Path) -> None:
    files = [tmp_path / "src" / f"m{i}.py" for i in range(50)]
    files[0].parent.mkdir()
    old = time.time() - 3600
    for path in files:
        path.write_text(f"x = {path.name!r}\n", encoding="utf-8")
        os.utime(path, (old, old))
    cache = result_cache.ResultCache(tmp_path, {}, Masker(), secret=KEY)
    first = cache.inputs_digest(["src/**/*.py"])
    assert cache.index.hashed == 50
    cache.index.save()
    again = result_cache.ResultCache(tmp_path, {}, Masker(), secret=KEY)
    assert again.inputs_digest(["src/**/*.py"]) == first and again.index.hashed == 0
    os.utime(files[3])  # touched, same content: read again, same digest
    assert again.inputs_digest(["src/**/*.py"]) == first and again.index.hashed == 1
    files[4].write_text("changed = True\n", encoding="utf-8")
    os.utime(files[4], (old, old))  # same mtime as before, but another size
    assert again.inputs_digest(["src/**/*.py"]) != first


def test_a_file_changed_within_the_same_timestamp_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one", encoding="utf-8")
    cache = result_cache.ResultCache(tmp_path, {}, Masker())
    first = cache.inputs_digest(["a.txt"])
    stamp = path.stat().st_mtime_ns
    path.write_text("two", encoding="utf-8")  # same size
    os.utime(path, ns=(stamp, stamp))  # and the same mtime: only the content tells
    assert cache.inputs_digest(["a.txt"]) != first


def test_hidden_bytecode_and_special_files_are_not_inputs(tmp_path: Path) -> None:
    (tmp_path / "src" / "__pycache__").mkdir(parents=True)
    (tmp_path / "src" / ".hidden").mkdir()
    (tmp_path / "src" / "a.py").write_text("", encoding="utf-8")
    (tmp_path / "src" / "__pycache__" / "a.pyc").write_text("", encoding="utf-8")
    (tmp_path / "src" / ".hidden" / "b").write_text("", encoding="utf-8")
    os.mkfifo(tmp_path / "src" / "pipe")  # opening it would block the run forever
    found = cache_inputs.expand(tmp_path, "src")
    assert found == [str(tmp_path / "src" / "a.py")]
    assert cache_inputs.expand(tmp_path, "src/*") == found
    assert cache_inputs.expand(tmp_path, "../nothing/**") == []


FOLDER_CHECKLIST = CHECKLIST.replace('"src/**/*.py", "pyproject.toml"', '"src"')


def git_repo(folder: Path) -> None:
    from jobcheck.process import git

    git(folder, "init", "-q")


def test_a_symlinked_folder_inside_an_input_folder_counts(
    tmp_path: Path, write_checklist: Callable[..., Path]
) -> None:
    """`inputs: [src]`, `src/linked -> ../outside`: an edit of outside/b.txt once replayed."""
    git_repo(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "src" / "a.py").write_text("A = 1\n")
    (tmp_path / "outside" / "b.txt").write_text("one\n")
    (tmp_path / "src" / "linked").symlink_to("../outside")
    (tmp_path / "src" / "file-link.txt").symlink_to("../outside/b.txt")
    (tmp_path / "src" / "loop").symlink_to("../src")  # a loop: walked once, not forever
    path = write_checklist(FOLDER_CHECKLIST)
    assert build(gate(path)).cached is False
    assert build(gate(path)).cached is True
    (tmp_path / "outside" / "b.txt").write_text("two\n")
    assert build(gate(path)).cached is False
    assert str(tmp_path / "src" / "linked" / "b.txt") in cache_inputs.expand(tmp_path, "src")


def test_a_symlink_out_of_the_repository_makes_the_check_run_uncached(
    tmp_path: Path, write_checklist: Callable[..., Path]
) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    git_repo(repo)
    (repo / "src" / "linked").symlink_to(tmp_path / "elsewhere")
    path = repo / "jobcheck.yaml"
    path.write_text(FOLDER_CHECKLIST)
    assert [build(gate(path)).cached for _ in range(2)] == [False, False]
    assert runs(path) == 2
    with pytest.raises(cache_inputs.OutsideRepository, match="leads out of the repository"):
        cache_inputs.expand(repo, "src")


def test_an_edit_with_its_mtime_put_back_is_a_miss(project: Path) -> None:
    """Same size, same inode, mtime restored (`touch -r`): only the ctime moved."""
    source = project.parent / "src" / "pkg" / "a.py"
    old = time.time() - 3600  # long before it is hashed: the stat alone is trusted
    os.utime(source, (old, old))
    gate(project)
    assert build(gate(project)).cached is True
    stamp = source.stat()
    with open(source, "r+", encoding="utf-8") as handle:  # in place: the inode stays
        handle.write("A = 2\n")
    os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert (source.stat().st_size, source.stat().st_ino) == (stamp.st_size, stamp.st_ino)
    assert source.stat().st_mtime_ns == stamp.st_mtime_ns
    assert build(gate(project)).cached is False


def _forged(project: Path, status: str = "pass") -> Iterator[Path]:
    """An entry written by hand under the key the check has now (the key is computable by
    anyone: a hash of the definition and the inputs)."""
    checklist = load_checklist(project, {})
    check = checklist.check("build")
    assert check is not None
    cache = result_cache.ResultCache(project.parent, {}, Masker())
    key = cache.key(check)
    assert key is not None
    entry = {
        "format": 2, "key": key, "check": "build", "status": status, "message": "forged pass",
        "output": "", "details": {}, "attempts": 1, "duration_s": 0.1, "cached_from": "x",
    }  # fmt: skip
    target = project.parent / ".jobcheck" / "cache" / "entries" / f"{key}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    for doc in (entry, {**entry, "format": 1}, {"format": 2, "data": entry, "mac": "0" * 64}):
        target.write_text(json.dumps(doc))
        yield target


def test_a_hand_written_pass_is_never_replayed(project: Path) -> None:
    failing = project.read_text().replace("echo built ${WHAT:-x}", "exit 4")
    project.write_text(failing)
    for _ in _forged(project):
        result = build(gate(project))
        assert (result.status, result.cached) == (Status.FAIL, False)
        assert "forged" not in result.message


def test_the_key_is_created_once_private_and_a_shared_key_makes_entries_portable(
    project: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    gate(project, {"XDG_STATE_HOME": str(state)})
    key = state / "jobcheck" / "cache-key"
    assert (key.stat().st_mode & 0o777, (key.parent.stat().st_mode & 0o777)) == (0o600, 0o700)
    assert build(gate(project, {"XDG_STATE_HOME": str(state)})).cached is True
    # another machine (another key) verifies nothing this one stored
    assert build(gate(project, {"XDG_STATE_HOME": str(tmp_path / "other")})).cached is False
    # a key readable by others is not used: nothing is replayed
    key.chmod(0o644)
    assert build(gate(project, {"XDG_STATE_HOME": str(state)})).cached is False
    # JOBCHECK_CACHE_KEY (a CI secret) signs the same on every machine
    shared = {"JOBCHECK_CACHE_KEY": "ci-secret-for-the-cache-0123456789"}
    gate(project, {**shared, "XDG_STATE_HOME": str(tmp_path / "ci1")})
    assert build(gate(project, {**shared, "XDG_STATE_HOME": str(tmp_path / "ci2")})).cached


@pytest.mark.parametrize("hostile", ["fifo", "dev-zero", "deep", "nan", "surrogate", "huge"])
def test_a_hostile_entry_or_index_is_a_miss_never_a_hang_or_a_crash(
    project: Path, hostile: str
) -> None:
    gate(project)
    cache = project.parent / ".jobcheck" / "cache"
    [entry] = (cache / "entries").glob("*.json")
    doc = json.loads(entry.read_text())
    for target in (entry, cache / "index.json"):
        target.unlink()
        if hostile == "fifo":
            os.mkfifo(target)
        elif hostile == "dev-zero":
            target.symlink_to("/dev/zero")
        elif hostile == "deep":
            target.write_text("[" * 100_000 + "]" * 100_000)
        elif hostile == "nan":
            target.write_text(json.dumps({**doc, "data": {**doc["data"], "duration_s": "x"}})
                              .replace('"x"', "NaN"))  # fmt: skip
        elif hostile == "surrogate":
            target.write_text(json.dumps(doc).replace('"built x"', '"\\ud800"'))
        else:
            target.write_text(" " * (70 * 1024 * 1024))
    started = time.monotonic()
    result = build(gate(project))
    assert (result.status, result.cached) == (Status.PASS, False)
    assert time.monotonic() - started < 10


def test_every_folder_of_a_tree_is_walked(tmp_path: Path) -> None:
    for folder in ("a", "a/b", "c", "c/d/e"):
        (tmp_path / "src" / folder).mkdir(parents=True)
        (tmp_path / "src" / folder / "f.txt").write_text(folder)
    found = [os.path.relpath(p, tmp_path / "src") for p in cache_inputs.expand(tmp_path, "src")]
    assert found == ["a/b/f.txt", "a/f.txt", "c/d/e/f.txt", "c/f.txt"]


def test_a_secret_as_a_details_key_is_masked_in_the_json_report_and_the_cache(
    write_checklist: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind may key its details by what it saw (a header, a variable, a queue name): the
    keys go through the one masking walker too, at every depth."""
    from jobcheck import kinds
    from jobcheck.kinds import command
    from jobcheck.results import Outcome

    original = command.KIND

    def keyed(options: object, ctx: object) -> Outcome:
        outcome = original.run(options, ctx)  # type: ignore[arg-type]
        seen = outcome.output.strip()
        outcome.details = {seen: {"under": {f"nested {seen}": [seen]}}}
        return outcome

    wrapped = type(original)(name="command", options=original.options, run=keyed)  # type: ignore[arg-type]
    monkeypatch.setitem(kinds._cache, "command", wrapped)
    (tmp_path / "in.txt").write_text("x", encoding="utf-8")
    path = write_checklist(
        CHECKLIST.replace("echo built ${WHAT:-x}", "echo token=$API_TOKEN").replace(
            '"src/**/*.py", "pyproject.toml"', '"in.txt"'
        )
    )
    env = {"API_TOKEN": "tok-9f8e7d6c5b4a"}
    report = tmp_path / "report.json"
    first = build(gate(path, env, reports={"json": report}))
    assert first.details == {"token=***": {"under": {"nested token=***": ["token=***"]}}}
    shown = report.read_text(encoding="utf-8")
    assert "tok-9f8e7d6c5b4a" not in shown and '"nested token=***"' in shown
    entries = list((tmp_path / ".jobcheck" / "cache").rglob("entries/*.json"))
    stored = "".join(p.read_text(encoding="utf-8") for p in entries)
    assert entries and "tok-9f8e7d6c5b4a" not in stored and "nested token=***" in stored
    second = build(gate(path, env))
    assert second.cached and second.details == first.details
