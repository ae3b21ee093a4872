"""The load driver through an adapter that offers only the plain interface (no batch reads, no
clocks, no removal): what a new framework's adapter gets before it adds the optional methods."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jobcheck.kinds.base import KindContext
from jobcheck.probes import framework as fw
from jobcheck.probes.canary import AdapterChannel
from jobcheck.probes.load_driver import Load, clean_up, enqueuers, follow_all
from jobcheck.secrets import Masker


class PlainAdapter:
    """Jobs start 0.1 s after they were enqueued and end 0.1 s later; the clock is polled."""

    framework = "plain"
    where = "nowhere"

    def __init__(self) -> None:
        self.born: dict[str, float] = {}
        self.lock = threading.Lock()

    def enqueue(
        self, task: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
        *, queue: str, job_timeout_s: float | None = None,
    ) -> str:  # fmt: skip
        with self.lock:
            job_id = f"job-{len(self.born)}"
            self.born[job_id] = time.monotonic()
        return job_id

    def job_state(self, job_id: str) -> fw.JobState | None:
        age = time.monotonic() - self.born[job_id]
        state: fw.State = "queued" if age < 0.1 else "started" if age < 0.2 else "finished"
        return fw.JobState(job_id, state, state)

    def close(self) -> None:
        pass


def test_a_plain_adapter_is_polled_and_its_jobs_are_not_removed(tmp_path: Path) -> None:
    adapter = PlainAdapter()
    channel = AdapterChannel(adapter, "t", [], {}, "q", via="plain")  # type: ignore[arg-type]
    ctx = KindContext("x", tmp_path, {}, 30.0, Masker([]))
    load = Load(6)
    until = time.monotonic() + 20
    threads = enqueuers(load, 2, lambda: (channel, None), until, ctx.cancel, 0)
    follow_all(load, channel, threads, ctx, until, 0.02)
    clean_up(load, adapter)  # type: ignore[arg-type]
    assert len(load.finished) == 6 and load.clock == "polled"
    assert load.removed is None and load.left_running == 0
    metrics = load.metrics()
    # polled every 20 ms: the wait is about 0.1 s, the run about 0.1 s
    assert 0.08 <= metrics["p50_wait_s"] <= 0.4, metrics
    assert 0.15 <= metrics["p95_total_s"] <= 0.6, metrics
    assert metrics["throughput_per_s"] > 0 and metrics["error_rate"] == 0.0
