"""The real-parts fixtures refuse to pass by skipping: no redis-server is a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from . import realparts


@pytest.fixture
def no_redis_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(realparts, "DEBIAN_REDIS", tmp_path / "redis-server")


@pytest.mark.usefixtures("no_redis_server")
def test_a_missing_redis_server_fails_with_the_fix() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"run `bash scripts/host-services.sh`"):
        realparts.redis_binary({})


@pytest.mark.usefixtures("no_redis_server")
def test_it_skips_only_when_allowed() -> None:
    with pytest.raises(pytest.skip.Exception, match="JOBCHECK_ALLOW_NO_REDIS=1"):
        realparts.redis_binary({"JOBCHECK_ALLOW_NO_REDIS": "1"})


def test_the_real_binary_is_found() -> None:
    assert Path(realparts.redis_binary({})).name == "redis-server"
