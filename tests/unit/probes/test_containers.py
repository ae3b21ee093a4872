"""probes/containers: the process tree, stop signal, privileges and log scan of a container,
read from what the Docker SDK returns (a fake container with the SDK's shapes)."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from jobcheck.kinds.stop_config import pid1_problem
from jobcheck.probes import containers, engine


@dataclass
class FakeContainer:
    rows: list[list[str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    status: str = "running"

    def top(self, ps_args: str = "") -> dict[str, Any]:
        return {"Titles": ["PID", "PPID", "COMMAND"], "Processes": self.rows}


def tree(*rows: tuple[int, int, str], host_pid1: int = 100) -> FakeContainer:
    return FakeContainer(
        rows=[[str(pid), str(ppid), args] for pid, ppid, args in rows],
        attrs={"State": {"Pid": host_pid1}},
    )


@pytest.mark.parametrize(
    ("value", "name"),
    [("15", "SIGTERM"), ("TERM", "SIGTERM"), ("sigint", "SIGINT"), ("9", "SIGKILL")],
)
def test_signal_names(value: str, name: str) -> None:
    assert containers.signal_name(value) == name


def test_the_stop_signal_defaults_to_sigterm() -> None:
    assert containers.stop_signal(FakeContainer(attrs={"Config": {}})) == "SIGTERM"
    assert containers.stop_signal(FakeContainer(attrs={"Config": {"StopSignal": "2"}})) == "SIGINT"


def test_the_worker_as_pid1_is_fine() -> None:
    assert (
        pid1_problem(tree((100, 90, "celery -A app worker"), (120, 100, "celery -A app worker")))
        == ""
    )


def test_a_shell_as_pid1_is_named() -> None:
    problem = pid1_problem(
        tree((100, 90, "sh -c celery -A app worker; echo done"), (110, 100, "celery"))
    )
    assert problem.startswith("PID 1 is a shell (`sh -c celery -A app worker; echo done`)")


def test_an_init_with_the_worker_below_is_fine_and_with_a_shell_below_is_not() -> None:
    assert (
        pid1_problem(tree((100, 90, "/sbin/docker-init -- rq worker"), (110, 100, "rq worker")))
        == ""
    )
    problem = pid1_problem(
        tree((100, 90, "/sbin/docker-init -- sh -c rq worker"), (110, 100, "/bin/sh -c rq worker"))
    )
    assert problem.startswith("PID 1 is an init (docker-init) but its child is a shell")


def test_privileges_read_from_the_inspect_data() -> None:
    seen = containers.privileges(
        FakeContainer(
            attrs={
                "HostConfig": {
                    "Privileged": True,
                    "CapAdd": ["NET_ADMIN"],
                    "ReadonlyRootfs": False,
                },
                "Mounts": [{"Source": "/var/run/docker.sock", "Destination": "/run/docker.sock"}],
                "Config": {"User": ""},
            }
        )
    )
    assert seen == containers.Privileges(True, ("NET_ADMIN",), ("/run/docker.sock",), False, "")
    assert seen.root


def test_capabilities_are_named_alike_whichever_compose_created_the_container() -> None:
    v2 = FakeContainer(attrs={"HostConfig": {"CapAdd": ["CAP_NET_ADMIN", "CAP_SYS_TIME"]}})
    assert containers.privileges(v2).cap_add == ("NET_ADMIN", "SYS_TIME")


def test_secret_hits_count_lines_by_name_and_never_return_values() -> None:
    lines = ["connecting to redis://:s3cret-value@redis", "ok", "again s3cret-value"]
    hits = containers.secret_hits(lines, {"REDIS_PASSWORD": "s3cret-value", "OTHER": "absent"})
    assert hits == {"REDIS_PASSWORD": 2}


# --- a container removed between the listing and its inspection ---------------------------------


class _Gone(Exception):
    pass


class _RacingContainers:
    """The SDK's containers collection as an engine answers while a recreate finishes: the
    listing still names ``old``, whose inspection then finds nothing."""

    def __init__(self) -> None:
        self.list_kwargs: dict[str, object] = {}

    def list(self, **kwargs: object) -> list[types.SimpleNamespace]:
        self.list_kwargs = kwargs
        sparse = [
            types.SimpleNamespace(id=name, attrs={"Names": [f"/{name}"]}) for name in ("new", "old")
        ]
        return sparse if kwargs.get("sparse") else []

    def get(self, ident: str) -> object:
        if ident == "old":
            raise _Gone(ident)
        return types.SimpleNamespace(id=ident, name=ident)


def test_a_container_removed_after_the_listing_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine, "not_found", lambda: _Gone)
    sdk = types.SimpleNamespace(containers=_RacingContainers())
    found = containers.select(sdk, containers.Selector(labels={"tier": "worker"}))
    assert [c.name for c in found] == ["new"]


def test_compose_listing_asks_the_sdk_to_skip_removed_containers() -> None:
    racing = _RacingContainers()
    sdk = types.SimpleNamespace(containers=racing)
    containers.select(sdk, containers.Selector(project="p", service="redis"))
    assert racing.list_kwargs.get("ignore_removed") is True


def test_jobcheck_s_own_forwarders_are_no_container_of_a_service() -> None:
    """A forwarder (probes/reach.py) made from an image Compose v2 built carries that image's
    project and service labels unless blanked; the listing leaves it out either way."""
    service = types.SimpleNamespace(name="shop-redis-1", labels={})
    forwarder = types.SimpleNamespace(
        name="jobcheck-reach-shop-1a2b",
        labels={engine.REACH_LABEL: "shop", engine.PROJECT_LABEL: "shop"},
    )

    class Listing:
        def list(self, **kwargs: object) -> list[types.SimpleNamespace]:
            return [service, forwarder]

    sdk = types.SimpleNamespace(containers=Listing())
    assert engine.containers(sdk, "shop", "redis") == [service]  # type: ignore[arg-type]
