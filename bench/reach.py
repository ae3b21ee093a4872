"""What a forward through the engine costs: one Redis call through the port Docker published on
127.0.0.1 against the same call through `${stack.redis.6379}`'s forward (``probes.reach``).

    .venv/bin/python bench/reach.py [--project jc-h19-reach-bench] [--port 22379] [--calls 1000]

Brings up only the demo stack's `redis` (docker/compose.yaml, images already built: nothing is
built or pulled), published on 127.0.0.1:PORT, and measures on the same container:

- a call: the median round trip of one PING on an open connection (what a check's pooled
  redis-py client pays per command);
- a connection: the median of connect + AUTH + PING on a new connection, back to back (a
  forward relays each connection through its own `docker exec`; two are kept started ahead, so
  back to back the exec's own start shows) and 1 s apart (a started relay is waiting).

Prints both medians and their ratios, then removes the stack. Needs the Docker engine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker" / "compose.yaml"
ENV_FILE = REPO / "docker" / "staging.env"


def password() -> str:
    for line in ENV_FILE.read_text().splitlines():
        if line.startswith("REDIS_PASSWORD="):
            return line.split("=", 1)[1].strip()
    raise SystemExit(f"no REDIS_PASSWORD in {ENV_FILE}")


def compose(project: str, port: int, *args: str) -> None:
    env = {**os.environ, "REDIS_PORT": str(port), "API_PORT": str(port + 1)}
    argv = ["docker-compose", "-f", str(COMPOSE), "-p", project, *args]
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=300)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(repeat: int, call: Callable[[], Any], gap_s: float = 0.0) -> list[float]:
    samples = []
    for _ in range(repeat):
        time.sleep(gap_s)
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def measure(address: str, secret: str, calls: int, connections: int) -> list[float]:
    import redis

    host, port = address.split(":")

    def client() -> Any:
        return redis.Redis(host=host, port=int(port), password=secret, socket_timeout=10)

    pooled = client()
    pooled.ping()
    per_call = median_ms(timed(calls, pooled.ping))
    pooled.close()

    def connect_and_ping() -> None:
        fresh = client()
        fresh.ping()
        fresh.close()

    back_to_back = median_ms(timed(connections, connect_and_ping))
    spaced = median_ms(timed(min(connections, 10), connect_and_ping, gap_s=1.0))
    return [per_call, back_to_back, spaced]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="jc-h19-reach-bench")
    parser.add_argument("--port", type=int, default=22379)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=30)
    options = parser.parse_args(argv)

    from jobcheck.probes import engine, reach

    compose(options.project, options.port, "up", "-d", "--no-build", "redis")
    sdk = engine.client()
    forwards = reach.Reach(sdk)
    try:
        deadline = time.monotonic() + 120
        while True:
            [redis_container] = engine.containers(sdk, options.project, "redis")
            if engine.state_of(redis_container).ready or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        secret = password()
        published = f"127.0.0.1:{options.port}"
        start = time.perf_counter()
        forward = forwards.forward(options.project, redis_container, "redis", 6379)
        setup_ms = (time.perf_counter() - start) * 1000
        direct = measure(published, secret, options.calls, options.connections)
        relayed = measure(forward.address, secret, options.calls, options.connections)
    finally:
        forwards.close()
        sdk.close()
        compose(options.project, options.port, "down", "-v")
    print(f"forward set up (lease container started): {setup_ms:.0f} ms, once per run")
    print(f"{'':<34}{'published':>12}{'forwarded':>12}{'ratio':>8}")
    rows = [
        ("one PING on an open connection", 0),
        ("new connection + AUTH + PING", 1),
        ("the same, 1 s apart", 2),
    ]
    for label, index in rows:
        ratio = relayed[index] / direct[index]
        print(f"{label:<34}{direct[index]:>10.2f}ms{relayed[index]:>10.2f}ms{ratio:>7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
