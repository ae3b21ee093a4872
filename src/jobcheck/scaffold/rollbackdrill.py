"""A commented rollback drill for ``init``: the project's own Compose commands (``up -d`` of
its app services, with the image tag variables they use) and a note on what to fill in. It is
written as an example to uncomment: only the team knows its previous release's tag and what
its new release enqueues."""

from __future__ import annotations

import re
from typing import Any

from jobcheck.scaffold.draft import Draft, check, lit
from jobcheck.scaffold.setting import Setting
from jobcheck.scaffold.topology import Service

APP_ROLES = ("web", "worker", "scheduler")
RECHECKED = ("http", "queue", "job")
PREVIOUS = "TODO-previous-tag"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def tag_variables(services: list[Service]) -> list[str]:
    """The variables in the services' ``image:`` (``app:${APP_TAG:-1.4.0}``), in order."""
    return list(dict.fromkeys(m.group(1) for s in services for m in _VARIABLE.finditer(s.image)))


def rollback_drills(setting: Setting, drafts: list[Draft]) -> list[Draft]:
    """One commented drill when the project has workers and this jobcheck the kind."""
    project = setting.project
    workers = project.with_role("worker")
    if not workers or not setting.has("rollback_drill"):
        return []
    app = [s for s in project.services if s.role in APP_ROLES]
    deploy = setting.compose("up", "-d", "--no-deps", *(s.name for s in app))
    tags = tag_variables(app)
    setting_tags = " ".join(f"{name}={PREVIOUS}" for name in tags)
    rollback = f"env {setting_tags} {deploy}" if tags else f"TODO: {deploy} at the previous tag"
    recheck = [d.id for d in drafts if _rechecked(d)]
    # after the other drills too: they stop the workers it replaces
    drills = [d.id for d in drafts if d.data and not d.commented and "drill" in d.data["tags"]]
    options: dict[str, Any] = {
        "deploy": lit(deploy),
        "rollback": lit(rollback),
        "recheck": list(recheck),
        "worker": lit(workers[0].name),
        "deadline": "120s",
    }
    canary = next((d for d in drafts if _rechecked(d) and d.data["kind"] == "job"), None)
    if canary is not None:
        inflight = {k: v for k, v in canary.options.items() if k != "deadline"}
        options["inflight"] = {**inflight, "count": 3}
    draft = check(
        "rollback-drill", "The rollback works with the new release's jobs in flight",
        "rollback_drill", options,
        expect="jobs enqueued by the new release while its workers are stopped finish on the "
        "previous release; the rechecked checks pass after the rollback; the new release is "
        "deployed again",
        rollback="keep the new release's jobs readable by the previous workers (new arguments "
        "with defaults, old task names kept one release) before deploying",
        tags=["integration", "drill"], needs=[*recheck, *drills], timeout="10m",
    )  # fmt: skip
    draft.commented = True
    draft.notes = _notes(tags, canary is not None)
    return [draft]


def _rechecked(draft: Draft) -> bool:
    return bool(draft.data) and not draft.commented and draft.data["kind"] in RECHECKED


def _notes(tags: list[str], has_canary: bool) -> list[str]:
    notes = [
        "A rollback rehearsal (docs/kinds/rollback_drill.md), to fill in and uncomment: it "
        "deploys the new release, stops its workers, enqueues jobs the new release's way, "
        "rolls back, and requires the previous release to finish them; then it reruns "
        "`recheck` and deploys the new release again.",
    ]
    if tags:
        notes.append(
            f"- rollback: set {', '.join(tags)} to your previous release's tag "
            "(deploy and redeploy use the value in the environment)."
        )
    else:
        notes.append(
            "- rollback: your images carry no tag variable; write `image: NAME:${APP_TAG:-1.4.0}` "
            "so a deployment can pick the previous tag, then `env APP_TAG=... <deploy>`."
        )
    if has_canary:
        notes.append(
            "- inflight: the canary's options; put the task and arguments your NEW release "
            "enqueues (a new keyword argument is what the previous workers choke on)."
        )
    else:
        notes.append(
            "- inflight: add the job kind's enqueue options (via, task, kwargs, URLs) and a "
            "count: the jobs your new release enqueues."
        )
    return notes
