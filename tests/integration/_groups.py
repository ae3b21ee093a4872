"""The integration modules in groups that scripts/test.sh runs at once, one pytest each
(``pytest tests/integration --itest-group NAME``; conftest.py keeps that group's modules).

Groups run side by side, so modules in different groups must never share a compose project or a
host port (tests/unit/test_integration_groups.py reads them from each module and fails when they
do, or when a module is in no group or in two). Image builds take turns across groups (the build
lock in _compose.py): the shared tags (jobcheck/demo-redis:staging above all) are built from the
same inputs by every module, so a later build is a cache hit with the same image ID and never
changes what a running container of another group uses. Still, modules that build the same
module-specific tag, or depend on one another's images, stay in the same group.

Balanced by measured wall time, module set-up and tear-down included (one run of the whole
integration half, alone on the 2-core machine but beside other engineers' work, so noisy):
the minutes beside each module; 22.7 min in all.
"""

from __future__ import annotations

GROUPS: dict[str, list[str]] = {
    # RQ stacks (docker/compose.yaml), and the arq and load stacks for balance: 11.3 min.
    # - test_stack_kinds + test_stack_run: the one session stack `jobcheck-itest` (conftest.py).
    # - test_drills_more_rq + test_rollback_drill: both publish 127.0.0.1:18600 and :16600
    #   (jc-drill2-rq, jobcheck-rdrill-rq), so one after the other.
    # - test_drills_rq + test_security: both build jobcheck/demo-service:itest-drills.
    # - test_containers_by_label: runs jobcheck/demo-service:staging, which the session stack
    #   builds.
    "rq": [
        "test_arq_stack.py",  # 1.7
        "test_containers_by_label.py",  # 0.35
        "test_drills_more_rq.py",  # 1.1
        "test_drills_rq.py",  # 1.7
        "test_load.py",  # 1.5, its own tags (:load-itest), projects and ports
        "test_rollback_drill.py",  # 3.7
        "test_security.py",  # 0.2
        "test_stack_kinds.py",  # 0.8
        "test_stack_run.py",  # 0.2
    ],
    # Celery and Dramatiq stacks, and the flask-rq sample for balance: 11.4 min.
    # - test_celery_stack, test_dramatiq_stack, test_drills_more_celery: all on
    #   jobcheck/celery-rabbitmq:staging, which test_celery_stack builds from the public
    #   rabbitmq image where one is present and the others from the offline one: in one group,
    #   no module runs it while another rebuilds it differently.
    "celery": [
        "test_celery_stack.py",  # 4.1
        "test_dramatiq_stack.py",  # 2.0
        "test_drills_celery.py",  # 1.0
        "test_drills_more_celery.py",  # 4.0
        "test_samples.py",  # 0.25
    ],
}
