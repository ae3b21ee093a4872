"""Where a job is after its worker died: the words a drill's message needs to say whether it
is still coming (waiting, unacknowledged), visible to an operator (failed registry), stuck
(claimed by a dead worker) or silently gone (nowhere at all).

Asks what each framework can tell: RQ's queue list and registries (``RQAdapter.placement``),
Celery's Redis broker lists and unacked hash (``CeleryAdapter.broker_holds``); arq and
Dramatiq say it themselves (``whereabouts``).
"""

from __future__ import annotations

from typing import Any

from jobcheck.outcomes import CheckEnded
from jobcheck.probes.framework import Adapter


def whereabouts(adapter: Adapter | None, job_id: str, queue: str | None) -> tuple[str, bool]:
    """(where the job is, in words; whether it is gone from everywhere the framework keeps
    jobs). ('', False) when nothing can be asked."""
    if adapter is None or queue is None:
        return "", False
    try:
        told = getattr(adapter, "whereabouts", None)  # arq, Dramatiq: in their own words
        if told is not None:
            where: tuple[str, bool] = told(job_id, queue)
            return where
        placement = getattr(adapter, "placement", None)
        if placement is not None:
            return _rq_words(placement(job_id, queue))
        holds = getattr(adapter, "broker_holds", None)
        if holds is not None:
            return _celery_words(holds(job_id, queue))
    except CheckEnded as exc:
        return f"not located: {exc.message}", False
    return "", False


def _rq_words(found: Any) -> tuple[str, bool]:
    if found.failed:
        why = "abandoned by a dead worker" if found.abandoned else found.failure or "failed"
        return f"in RQ's FailedJobRegistry ({why})", False
    if found.started:
        expiry = "its entry has expired" if found.started_expired else "its entry has not expired"
        return (
            f"still claimed in RQ's StartedJobRegistry by the killed worker ({expiry}; the "
            "worker's maintenance moves it to FailedJobRegistry, or re-queues it with a Retry, "
            "only after the heartbeat TTL, at least 60s, and the next maintenance_interval)",
            False,
        )
    if found.queued:
        return "waiting in the queue again", False
    if not found.status:
        return "gone: RQ has no job hash, no queue entry and no registry entry for it", True
    return f"in no queue or registry (its hash says {found.status})", True


def _celery_words(held: tuple[int, int] | None) -> tuple[str, bool]:
    if held is None:
        return "", False
    waiting, unacked = held
    if waiting:
        return f"waiting in the broker again ({waiting} message)", False
    if unacked:
        return (
            "delivered but unacknowledged in the broker: it is redelivered once the "
            "visibility_timeout has passed",
            False,
        )
    return (
        "gone: no message in the broker (acknowledged when the worker received it), no result",
        True,
    )
