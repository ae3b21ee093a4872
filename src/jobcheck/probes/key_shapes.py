"""Which framework a Redis queue belongs to, from the keys each one writes: a queue of one
framework read as another's must be an error saying which it looks like, never a silent 0.

- RQ: ``rq:queue:NAME`` (a list), its registries (``rq:wip:NAME``, ``rq:failed:NAME``...).
- Celery (kombu's Redis transport): the list ``NAME`` (and its priority lists), the binding
  set ``_kombu.binding.NAME``.
- arq: the sorted set ``NAME`` (``arq:queue`` by default), the worker's ``NAME:health-check``.
- Dramatiq (its Redis broker, namespace ``dramatiq``): the list ``dramatiq:NAME``, the hash
  ``dramatiq:NAME.msgs``, the delayed queue ``dramatiq:NAME.DQ`` and dead letters ``.XQ``.

The readers look at the key's TYPE before any list command, so an arq sorted set never meets
an LLEN (which Redis would refuse with WRONGTYPE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import redis

NAMES: Final = {"rq": "RQ", "celery": "Celery", "arq": "arq", "dramatiq": "Dramatiq"}
ARQ_HEALTH_SUFFIX: Final = ":health-check"  # arq.constants.health_check_key_suffix
DRAMATIQ_NAMESPACE: Final = "dramatiq"  # RedisBroker(namespace="dramatiq")


RQ_PREFIX: Final = "rq"
# kombu's Redis transport (kombu/transport/redis.py, Channel.sep and PRIORITY_STEPS = [0, 3, 6,
# 9]) keeps a queue's priority-0 messages in the list QUEUE and the others in
# QUEUE + "\x06\x16" + step. Priorities are clamped to 0..9, so 1..9 covers any priority_steps
# an application configures, not only the default ones.
KOMBU_SEP: Final = "\x06\x16"
KOMBU_PRIORITIES: Final = range(1, 10)
KOMBU_BINDING: Final = "_kombu.binding.{}"


def kombu_queue_keys(queue: str) -> list[str]:
    """Every Redis list that may hold messages of Celery's ``queue``, priority 0 first."""
    return [queue, *(f"{queue}{KOMBU_SEP}{p}" for p in KOMBU_PRIORITIES)]


def kombu_depths(client: redis.Redis, queue: str) -> dict[str, int]:
    """Length of each of ``queue``'s lists (absent lists count 0), in one round trip."""
    keys = kombu_queue_keys(queue)
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.llen(key)
        lengths = pipe.execute()
    return {key: int(n) for key, n in zip(keys, lengths, strict=True)}


def celery_traces(client: redis.Redis, queue: str) -> str:
    """'' or what in Redis shows ``queue`` is a Celery (kombu) queue."""
    waiting = sum(kombu_depths(client, queue).values())
    if waiting:
        return f"a list {queue!r} with {waiting} Celery message{'s' if waiting != 1 else ''}"
    if client.exists(KOMBU_BINDING.format(queue)):
        return f"kombu's binding key {KOMBU_BINDING.format(queue)!r}"
    return ""


def rq_traces(client: redis.Redis, queue: str) -> str:
    """'' or what in Redis shows ``queue`` is an RQ queue (its list, registries or workers)."""
    keys = [
        f"{RQ_PREFIX}:queue:{queue}",
        f"{RQ_PREFIX}:workers:{queue}",
        f"{RQ_PREFIX}:wip:{queue}",  # RQ 2+'s started registry
        f"{RQ_PREFIX}:started:{queue}",  # RQ 1.x's
        f"{RQ_PREFIX}:failed:{queue}",
        f"{RQ_PREFIX}:finished:{queue}",
    ]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.exists(key)
        pipe.sismember(f"{RQ_PREFIX}:queues", keys[0])
        found = pipe.execute()
    present = [key for key, hit in zip(keys, found, strict=False) if hit]
    if found[-1] and keys[0] not in present:
        present.insert(0, f"{keys[0]} in {RQ_PREFIX}:queues")
    return ", ".join(present)


def _type(client: redis.Redis, key: str) -> str:
    kind = client.type(key)
    return kind.decode() if isinstance(kind, bytes) else str(kind)


def arq_traces(client: redis.Redis, queue: str) -> str:
    """'' or what shows ``queue`` is an arq queue: its sorted set or its health-check key."""
    if _type(client, queue) == "zset":
        return f"a sorted set {queue!r} with {int(client.zcard(queue))} arq job ids"
    if client.exists(queue + ARQ_HEALTH_SUFFIX):
        return f"arq's health-check key {queue + ARQ_HEALTH_SUFFIX!r}"
    return ""


def dramatiq_keys(queue: str, namespace: str = DRAMATIQ_NAMESPACE) -> dict[str, str]:
    """The Redis broker's keys for ``queue``: the list, its messages, delayed and dead ones."""
    base = f"{namespace}:{queue}"
    return {
        "queue": base,
        "msgs": f"{base}.msgs",
        "delayed": f"{base}.DQ",
        "delayed_msgs": f"{base}.DQ.msgs",
        "dead": f"{base}.XQ",
        "dead_msgs": f"{base}.XQ.msgs",
    }


def dramatiq_traces(client: redis.Redis, queue: str) -> str:
    """'' or what shows ``queue`` is a Dramatiq queue on its Redis broker."""
    keys = dramatiq_keys(queue)
    with client.pipeline(transaction=False) as pipe:
        for key in keys.values():
            pipe.exists(key)
        found = pipe.execute()
    present = [key for key, hit in zip(keys.values(), found, strict=True) if hit]
    return f"Dramatiq keys ({', '.join(present)})" if present else ""


def _rq_traced(client: redis.Redis, queue: str) -> str:
    seen = rq_traces(client, queue)
    return f"RQ keys ({seen})" if seen else ""


def _celery_traced(client: redis.Redis, queue: str) -> str:
    if _type(client, queue) not in ("list", "none"):
        return ""
    return celery_traces(client, queue)


TRACERS: Final = {
    "arq": arq_traces,
    "dramatiq": dramatiq_traces,
    "rq": _rq_traced,
    "celery": _celery_traced,
}


def traces(client: redis.Redis, queue: str, framework: str) -> str:
    return TRACERS[framework](client, queue)


def looks_like(client: redis.Redis, queue: str, own: str) -> tuple[str, str]:
    """('', '') when ``queue`` shows ``own``'s keys or no framework's; else (the framework it
    looks like, what was seen). Redis errors propagate: callers wrap them."""
    if traces(client, queue, own):
        return "", ""
    for other in TRACERS:
        if other == own:
            continue
        seen = traces(client, queue, other)
        if seen:
            return other, seen
    return "", ""


def mismatch(client: redis.Redis, queue: str, own: str, where: str, own_keys: str = "") -> str:
    """'' or the sentence for ``framework_mismatch``: which framework's keys were seen.
    ``own_keys`` names what ``own`` would have written (default: "NAME keys")."""
    other, seen = looks_like(client, queue, own)
    if not other:
        return ""
    return (
        f"queue {queue!r} on {where} has no {own_keys or NAMES[own] + ' keys'} but {seen}: "
        "this looks like "
        f"a{'n' if other in ('rq', 'arq') else ''} {NAMES[other]} queue, set framework: {other}"
    )
