"""The adapter factory, deadlines and the shared helpers (no network)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from kombu.transport import redis as kombu_redis

from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.probes import framework as fw
from jobcheck.probes import key_shapes
from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.probes.deadline import bounded
from jobcheck.probes.redis_broker import Persistence
from jobcheck.probes.rq_adapter import RQAdapter


def test_factory_builds_each_framework_without_connecting() -> None:
    # Port 1 has no server: building an adapter must not touch the network.
    rq = fw.adapter_for("rq", "redis://:pw@127.0.0.1:1/0")
    celery = fw.adapter_for("celery", "redis://:pw@127.0.0.1:1/0", backend_url="redis://h/1")
    assert isinstance(rq, RQAdapter) and rq.where == "Redis at 127.0.0.1:1/0"
    assert isinstance(celery, CeleryAdapter) and celery.framework == "celery"
    rq.close()
    celery.close()


def test_unknown_framework_is_an_error() -> None:
    with pytest.raises(
        CheckError, match="unknown framework 'huey': expected one of rq, celery, arq, dramatiq"
    ):
        fw.adapter_for("huey", "redis://127.0.0.1/0")


@pytest.mark.parametrize(
    ("framework", "library", "module", "extra"),
    [
        ("celery", "celery", "jobcheck.probes.celery_adapter", "celery"),
        ("rq", "rq", "jobcheck.probes.rq_adapter", "rq"),
        ("rq", "redis", "jobcheck.probes.rq_adapter", "rq"),
        ("arq", "arq", "jobcheck.probes.arq_adapter", "arq"),
        ("dramatiq", "dramatiq", "jobcheck.probes.dramatiq_adapter", "dramatiq"),
    ],
)
def test_missing_library_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, framework: str, library: str, module: str, extra: str
) -> None:
    # None in sys.modules makes `import library` fail as if it were not installed; the adapter
    # module is dropped so the factory imports it afresh.
    monkeypatch.setitem(sys.modules, library, None)
    for name in [n for n in sys.modules if n.startswith(f"{library}.")]:  # from arq.jobs import
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(CheckError) as caught:
        fw.adapter_for(framework, "redis://127.0.0.1/0")
    message = str(caught.value)
    assert f"framework: {framework} needs the {library} package on this host" in message
    assert message.endswith(f"pip install 'jobcheck[{extra}]'")


def test_rq_refuses_an_amqp_broker() -> None:
    with pytest.raises(CheckError, match="framework: rq needs a Redis URL") as caught:
        fw.adapter_for("rq", "amqp://guest:hidden@127.0.0.1:5672//")
    assert "hidden" not in str(caught.value)
    assert "set framework: celery" in str(caught.value)


def test_importing_framework_loads_no_heavy_library() -> None:
    heavy = ("celery", "kombu", "redis", "rq", "pydantic")
    code = (
        "import sys, jobcheck.probes.framework; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_bounded_returns_the_value_and_reraises_errors() -> None:
    assert bounded(lambda: 42, 1.0, "answering") == 42

    def broken() -> None:
        raise CheckError("setup problem")

    with pytest.raises(CheckError, match="setup problem"):
        bounded(broken, 1.0, "breaking")


def test_bounded_gives_up_at_its_deadline() -> None:
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(CheckFailed, match=r"^waiting on Redis at h:1/0: no answer within 0.2s$"):
        bounded(lambda: release.wait(30), 0.2, "waiting on Redis at h:1/0")
    assert time.monotonic() - start < 2
    release.set()


def test_kombu_layout_matches_the_installed_kombu() -> None:
    channel = kombu_redis.Channel
    assert channel.sep == key_shapes.KOMBU_SEP
    assert set(kombu_redis.PRIORITY_STEPS) - {0} <= set(key_shapes.KOMBU_PRIORITIES)
    assert channel.keyprefix_queue % "celery" == key_shapes.KOMBU_BINDING.format("celery")
    assert key_shapes.kombu_queue_keys("q")[:4] == ["q", "q\x06\x161", "q\x06\x162", "q\x06\x163"]


def test_helpers() -> None:
    text = "Traceback (most recent call last):\n  File x\nValueError: boom\n\n"
    assert fw.last_line(text) == "ValueError: boom"
    assert fw.last_line("") == ""
    assert Persistence(False, "").describe() == "appendonly no, save 'off'"
    assert not Persistence(False, " ").durable
    assert Persistence(True, "", "everysec").describe() == (
        "appendonly yes (fsync everysec), save 'off'"
    )
    assert fw.JobState("j", "failed", "FAILURE").ended
    assert not fw.JobState("j", "started", "PENDING").ended
