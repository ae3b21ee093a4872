"""The integration modules in groups that scripts/test.sh runs at once, one pytest each
(``pytest tests/integration --itest-group NAME``; conftest.py keeps that group's modules).

Groups run side by side, so modules in different groups must never share a compose project or a
host port (tests/unit/test_integration_groups.py reads them from each module and fails when they
do, or when a module is in no group or in two). Image builds take turns across groups (the build
lock in _compose.py): the shared tags (jobcheck/demo-redis:staging above all) are built from the
same inputs by every module, so a later build is a cache hit with the same image ID and never
changes what a running container of another group uses. Still, modules that build the same
module-specific tag, or depend on one another's images, stay in the same group.

Balanced by measured wall time (module set-up and tear-down included; 2-core machine, noisy):
see the numbers beside each module, in seconds, from one run of the whole integration half.
"""

from __future__ import annotations

GROUPS: dict[str, list[str]] = {
    # RQ stacks (docker/compose.yaml) and the samples.
    # - test_stack_kinds + test_stack_run: the one session stack `jobcheck-itest` (conftest.py).
    # - test_drills_more_rq + test_rollback_drill: both publish 127.0.0.1:18600 and :16600
    #   (jc-drill2-rq, jobcheck-rdrill-rq), one after the other.
    # - test_drills_rq + test_security: both build jobcheck/demo-service:itest-drills.
    # - test_containers_by_label: runs jobcheck/demo-service:staging, which the session stack
    #   builds.
    "rq": [
        "test_containers_by_label.py",
        "test_drills_more_rq.py",
        "test_drills_rq.py",
        "test_rollback_drill.py",
        "test_samples.py",
        "test_security.py",
        "test_stack_kinds.py",
        "test_stack_run.py",
    ],
    # Celery, arq and Dramatiq stacks.
    # - test_celery_stack, test_dramatiq_stack, test_drills_more_celery: all on
    #   jobcheck/celery-rabbitmq:staging, which test_celery_stack may build from the public
    #   rabbitmq image where present and the others from the offline one: one group, one
    #   build at a time.
    # - test_load: its own tags (:load-itest), projects and ports; here for balance.
    "celery": [
        "test_arq_stack.py",
        "test_celery_stack.py",
        "test_dramatiq_stack.py",
        "test_drills_celery.py",
        "test_drills_more_celery.py",
        "test_load.py",
    ],
}
