"""RQ worker entry point (`python -m app.worker`).

Runs as PID 1 in its container: `docker stop` sends SIGTERM here, and RQ's warm shutdown lets
the job in progress finish before the worker exits. A second SIGTERM (or the engine's SIGKILL
at the end of the stop grace period) is a cold shutdown.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from rq import Worker

from app.queueing import connect
from app.settings import ConfigError, Settings


class StagingWorker(Worker):
    """An RQ worker that registers itself again when its registration vanished.

    A Redis restart that lost the worker's key (or a key that expired while Redis was out of
    reach) would leave the worker running but invisible: no live worker in `rq info`, an
    unhealthy container that nothing restarts. The check costs one EXISTS per heartbeat.
    """

    # Retry a lost Redis every 10 s at most (RQ's default backs off to 60 s).
    max_connection_wait_time = 10.0

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is None and not self.connection.exists(self.key):
            self.log.warning("Worker %s: registration lost, registering again", self.name)
            self.register_birth()
        super().heartbeat(timeout, pipeline)


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stdout)
    # socket_timeout=None: RQ sets its own, longer than the blocking dequeue.
    worker = StagingWorker(
        [settings.queue_name],
        connection=connect(settings.redis_url, socket_timeout_s=None),
        worker_ttl=settings.worker_ttl_s,
        # Sweeps abandoned jobs (worker killed mid-job) back to the queue or the failed registry.
        maintenance_interval=settings.maintenance_interval_s,
        job_monitoring_interval=settings.job_monitoring_interval_s,
    )
    worker.work(logging_level=settings.log_level.upper(), with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
