"""The run pipeline's small decisions: stack bring-up, PATH, report paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobcheck import pipeline
from jobcheck.errors import UsageError
from jobcheck.loading import load_checklist
from jobcheck.plan import select

STACK = """
version: 1
name: stacked
defaults: {owner: "@x"}
stack: {compose: [compose.yaml], project: demo, up: %s}
checks:
  - {id: local, kind: command, with: {run: "true"}}
%s
"""
DOCKER_CHECK = "  - {id: api, kind: service, with: {service: api}}"


def preparer(write_checklist: Callable[..., Path], up: str, docker: bool, force: bool = False):  # type: ignore[no-untyped-def]
    path = write_checklist(STACK % (up, DOCKER_CHECK if docker else ""))
    checklist = load_checklist(path, {})
    plan = select(checklist.checks)
    return pipeline.stack_preparer(pipeline.stack_info(checklist), plan, {}, force=force)


def test_stack_comes_up_only_when_asked_and_a_docker_check_runs(
    write_checklist: Callable[..., Path],
) -> None:
    assert preparer(write_checklist, "true", docker=True) is not None
    assert preparer(write_checklist, "false", docker=True) is None
    assert preparer(write_checklist, "false", docker=True, force=True) is not None
    assert preparer(write_checklist, "true", docker=False) is None


def test_checks_find_the_tools_installed_beside_jobcheck() -> None:
    env = pipeline.with_own_bin({"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert pipeline.with_own_bin(dict(env))["PATH"] == env["PATH"]  # not added twice


def test_report_path_checks(tmp_path: Path) -> None:
    pipeline.prepare_report_paths(
        pipeline.GateRequest(reports={"json": tmp_path / "new" / "r.json"})
    )
    with pytest.raises(UsageError, match="is a directory"):
        pipeline.prepare_report_paths(pipeline.GateRequest(reports={"junit": tmp_path}))


def test_an_http_check_of_the_stack_brings_it_up_too(write_checklist: Callable[..., Path]) -> None:
    http = '  - {id: api, kind: http, with: {url: "http://127.0.0.1:18999/health"}}'
    path = write_checklist(STACK % ("true", http))
    checklist = load_checklist(path, {})
    prepare = pipeline.stack_preparer(pipeline.stack_info(checklist), select(checklist.checks), {})
    assert prepare is not None


def test_wait_jobs_reaches_the_runner_with_a_default(
    write_checklist: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from jobcheck.run_settings import RunSettings
    from jobcheck.runner import Runner

    seen: list[RunSettings] = []
    original = Runner.__init__

    def spy(self: Runner, plan: Any, settings: RunSettings, listeners: Any = ()) -> None:
        seen.append(settings)
        original(self, plan, settings, listeners)

    monkeypatch.setattr(Runner, "__init__", spy)
    path = write_checklist(STACK % ("false", ""))
    for given, expected in ((None, pipeline.DEFAULT_WAIT_JOBS), (3, 3)):
        request = pipeline.GateRequest(checklist=path, wait_jobs=given, history=False, plain=True)
        result = pipeline.run_gate(request, {"PATH": os.environ["PATH"]}, out=io.StringIO())
        assert result.exit_code == 0
        assert seen[-1].wait_jobs == expected


def test_the_cli_takes_wait_jobs_and_refuses_zero(write_checklist: Callable[..., Path]) -> None:
    import subprocess

    path = write_checklist(STACK % ("false", ""))
    for value, code in (("2", 0), ("0", 2)):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jobcheck",
                "run",
                str(path),
                "--no-color",
                "--wait-jobs",
                value,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=path.parent,
        )
        assert done.returncode == code, done.stderr


def _special(tmp_path: Path, kind: str) -> Path:
    """A special file inside tmp_path (never the machine's own /dev/null)."""
    import stat

    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # as /dev/null is
        except PermissionError:
            pytest.skip("mknod needs root")
    elif kind == "link-to-device":
        target = _special(tmp_path, "device")
        path.symlink_to(target)
    return path


@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device"])
def test_a_report_over_a_special_file_is_refused_before_anything_runs(
    tmp_path: Path, write_checklist: Callable[..., Path], kind: str
) -> None:
    import stat

    target = _special(tmp_path, kind)
    marker = tmp_path / "ran"
    checklist = write_checklist(f"""
        version: 1
        name: x
        checks:
          - {{id: a, kind: command, owner: "@o", with: {{run: "touch {marker}"}}}}
    """)
    request = pipeline.GateRequest(checklist=checklist, reports={"json": target}, history=False)
    with pytest.raises(UsageError, match="a report is written only to a regular file") as raised:
        pipeline.run_gate(request, {"PATH": os.environ["PATH"]})
    assert raised.value.exit_code == 2
    assert not marker.exists()
    mode = os.stat(target).st_mode
    assert stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)


@pytest.mark.parametrize("which", ["checklist", "include", "env file", "compose file"])
def test_a_report_over_an_input_of_the_run_is_refused_before_anything_runs(
    tmp_path: Path, write_checklist: Callable[..., Path], which: str
) -> None:
    marker = tmp_path / "ran"
    write_checklist("checks: []\n", "more.yaml")
    (tmp_path / "staging.env").write_text("A=1\n")
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    checklist = write_checklist(f"""
        version: 1
        name: x
        include: [more.yaml]
        env_files: [staging.env]
        stack: {{compose: [compose.yaml], project: p}}
        checks:
          - {{id: a, kind: command, owner: "@o", with: {{run: "touch {marker}"}}}}
    """)
    files = {"checklist": "jobcheck.yaml", "include": "more.yaml", "env file": "staging.env"}
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / ".." / files.get(which, "compose.yaml")
    before = target.read_text()
    request = pipeline.GateRequest(checklist=checklist, reports={"markdown": target}, history=False)
    with pytest.raises(UsageError, match="is an input of this run") as raised:
        pipeline.run_gate(request, {"PATH": os.environ["PATH"]})
    assert raised.value.exit_code == 2
    assert (marker.exists(), target.read_text()) == (False, before)


def test_the_run_is_complete_when_the_runner_returns(
    tmp_path: Path, write_checklist: Callable[..., Path]
) -> None:
    """Path, command line, commit, digest and shard come in with the run: the listeners see
    them at ``on_finish`` (the CI step summary, say), not only the reports written after."""
    import subprocess

    from jobcheck.listeners import BaseListener
    from jobcheck.secrets import Masker
    from jobcheck.shards import ShardSpec

    path = write_checklist("""
        version: 1
        name: whole
        checks:
          - {id: a, kind: command, owner: "@o", with: {run: "true"}}
          - {id: b, kind: command, owner: "@o", with: {run: "true"}}
    """)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    seen: list[Any] = []

    class Keep(BaseListener):
        def on_finish(self, run: Any) -> None:  # what it is at that moment, not later
            seen.append((run.path, list(run.argv), run.commit, run.digest, run.shard, run.release))

    checklist = load_checklist(path, {})
    request = pipeline.GateRequest(argv=["jobcheck", "run"], release_tag="v1.0.0", history=False)
    run = pipeline.execute(
        checklist, select(checklist.checks), request, dict(os.environ), [Keep()], Masker(),
        shard=ShardSpec.parse("1/1"),
    )  # fmt: skip
    assert seen == [(run.path, run.argv, run.commit, run.digest, run.shard, run.release)]
    assert (run.path, run.argv, run.release) == (str(path), ["jobcheck", "run"], "v1.0.0")
    assert len(run.commit) == 40 and run.digest == pipeline.checklist_digest(checklist)
    assert run.shard is not None and (run.shard.index, run.shard.count) == (1, 1)
    assert run.shard.digest == run.digest and run.checklist_ids == ["a", "b"]
