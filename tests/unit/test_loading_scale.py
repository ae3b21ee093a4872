"""Loading a large checklist: linear work, the collector paused and restored, the masker's
option literals collected once."""

from __future__ import annotations

import gc
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from jobcheck.loading import load_checklist, paused_gc

_spec = importlib.util.spec_from_file_location(
    "bench_make_scale", Path(__file__).resolve().parents[2] / "bench" / "make_scale.py"
)
assert _spec is not None and _spec.loader is not None
scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale)

LOADING = ("jobcheck/yamlsrc.py", "jobcheck/loading.py", "jobcheck/secrets.py")
LOADING += ("jobcheck/checklist_files.py", "jobcheck/checklist_includes.py")
LOADING += ("jobcheck/stack_compose.py", "jobcheck/check_building.py", "jobcheck/check_links.py")
LOADING += ("jobcheck/yaml_nodes.py", "jobcheck/yaml_errors.py")


def lines_run(work: Callable[[], object]) -> int:
    """Python lines run in the loading modules (not time: the machine is shared)."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if frame.f_code.co_filename.endswith(LOADING):
            count += event == "line"
            return tracer
        return None

    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("chain", [False, True], ids=["wide", "chain"])
def test_loading_costs_the_same_per_check_at_any_size(tmp_path: Path, chain: bool) -> None:
    def load(count: int) -> Callable[[], object]:
        path = tmp_path / f"{count}.yaml"
        path.write_text(scale.checklist(count, chain=chain), encoding="utf-8")
        return lambda: load_checklist(path, {})

    small, large = lines_run(load(150)), lines_run(load(600))
    assert 3.5 < large / small < 4.5  # 4x the checks, 4x the work (quadratic: 16x)


def test_the_collector_is_paused_while_loading_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(scale.checklist(3), encoding="utf-8")
    seen: list[bool] = []
    with paused_gc():
        seen.append(gc.isenabled())
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()
    with pytest.raises(ZeroDivisionError), paused_gc():
        1 / 0  # noqa: B018
    assert gc.isenabled()
    assert len(load_checklist(path, {}).checks) == 3 and gc.isenabled()


def test_literals_under_secret_keys_are_collected_once_and_masked(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: 1\nname: s\ndefaults: {owner: '@o'}\nchecks:\n"
        "  - {id: a, kind: command, with: {run: /usr/bin/true, env: {API_TOKEN: tok-1234abcd}}}\n"
        "  - {id: b, kind: command, with: {run: /usr/bin/true, env: {MODE: plain-value}}}\n",
        encoding="utf-8",
    )
    checklist = load_checklist(path, {})
    assert checklist.secrets.guessed == ("tok-1234abcd",)
    masker = checklist.secrets.masker({"EXTRA": "x"})
    assert masker("token tok-1234abcd, mode plain-value") == "token ***, mode plain-value"
