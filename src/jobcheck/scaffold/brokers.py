"""The queue's URLs as the host sees them: ``redis://:${REDIS_PASSWORD:-}@127.0.0.1:6379/0``.

The project's own URL (``rq worker --url``, ``CELERY_BROKER_URL`` in an env file, the
worker's ``environment``) names the broker's compose service and usually a password; the
checklist needs the port that service publishes on the host, and a ``${NAME}`` reference where
the password was, never the password itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from jobcheck.scaffold.draft import REF as _REF
from jobcheck.scaffold.draft import soft_refs
from jobcheck.scaffold.topology import Service

DEFAULT_PORTS = {"redis": "6379", "rediss": "6379", "amqp": "5672", "amqps": "5671"}
PASSWORD_NAMES = {"redis": "REDIS_PASSWORD", "amqp": "RABBITMQ_PASSWORD"}
_URL = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?:(?P<user>[^:@/]*)(?::(?P<password>[^@/]*))?@)?"
    r"(?P<host>[^:/?#]*)(?::(?P<port>[^/?#]*))?(?P<rest>.*)$"
)
_REQUIREPASS = re.compile(r"--requirepass[=\s]+[\"']?\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_KEYS = {
    "redis": re.compile(r"^(RQ_)?REDIS_(URL|DSN|URI)$|^RQ_.*URL$"),
    "broker": re.compile(r"^(CELERY_)?BROKER(_URL)?$|^CELERY__?BROKER_URL$"),
    "backend": re.compile(r"^(CELERY_)?RESULT_BACKEND$|^CELERY_BACKEND(_URL)?$"),
}


@dataclass(frozen=True)
class HostURL:
    url: str  # ready for the checklist: ``$`` escaped, passwords as ${NAME:-}
    source: str  # where the project sets it
    note: str = ""  # what the reader should know (a literal password was replaced)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]


@dataclass(frozen=True)
class Lookup:
    """Where URLs are looked for: the services, and each one's environment."""

    services: list[Service]
    environments: Mapping[str, Mapping[str, str]]  # service -> its variables
    values: Mapping[str, str]  # every variable of every env file, for references

    def service(self, host: str) -> Service | None:
        return next((s for s in self.services if s.name == host), None)


def find(purpose: str, worker: Service, lookup: Lookup) -> HostURL | str:
    """The URL for ``purpose`` (redis, broker, backend), or why there is none."""
    candidates = list(_candidates(purpose, worker, lookup))
    reasons = []
    for raw, source in candidates:
        found = host_url(raw, source, lookup)
        if isinstance(found, HostURL):
            return found
        reasons.append(found)
    if purpose in ("redis", "broker"):
        fallback = _from_datastore(lookup)
        if fallback is not None:
            return fallback
    return reasons[0] if reasons else f"no {purpose} URL found"


def _candidates(purpose: str, worker: Service, lookup: Lookup) -> Iterable[tuple[str, str]]:
    if purpose != "backend" and worker.broker_url:
        yield worker.broker_url, f"the {worker.name} service's command"
    others = [s.name for s in lookup.services if s.name != worker.name]
    pattern = _KEYS[purpose]
    for name in [worker.name, *others]:
        for key, value in lookup.environments.get(name, {}).items():
            if pattern.match(key) and value:
                yield value, f"{key} of the {name} service"
    for key, value in lookup.values.items():
        if pattern.match(key) and value:
            yield value, f"{key} in the env files"


def host_url(raw: str, source: str, lookup: Lookup, depth: int = 0) -> HostURL | str:
    whole = _REF.fullmatch(raw.strip())
    if whole and depth < 3:
        name = whole.group(1) or whole.group(3)
        value = lookup.values.get(name, whole.group(2) or "")
        if not value:
            return f"{source} is ${{{name}}}, which no env file sets"
        return host_url(value, f"{name} ({source})", lookup, depth + 1)
    match = _URL.match(raw.strip())
    if match is None:
        return f"{source} is not a URL"
    scheme = match["scheme"].split("+")[0]
    if scheme not in DEFAULT_PORTS:
        return f"{source} is a {scheme}:// URL (jobcheck reads redis:// and amqp:// brokers)"
    hostport = _host_port(match["host"], match["port"] or DEFAULT_PORTS[scheme], lookup)
    if hostport.startswith("!"):
        return f"{source}: {hostport[1:]}"
    service = lookup.service(match["host"])
    auth, note = _auth(scheme, match["user"], match["password"], service, source, lookup)
    rest = soft_refs(match["rest"]) or ("/0" if scheme.startswith("redis") else "/")
    return HostURL(f"{match['scheme']}://{auth}{hostport}{rest}", source, note)


def _host_port(host: str, port: str, lookup: Lookup) -> str:
    """``${stack.SERVICE.PORT}`` for a compose service that publishes that port on 127.0.0.1
    (the port this stack's container got, read when the check runs), else
    ``127.0.0.1:PUBLISHED``; ``!reason`` when the host cannot reach it."""
    if host in ("localhost", "127.0.0.1"):
        return f"127.0.0.1:{soft_refs(port)}"
    service = lookup.service(host)
    if service is None:
        return f"!its host {host!r} is not a service of the compose file"
    if not service.published:
        return f"!the {host} service publishes no port for the host to reach"
    if service.loopback and service.target == port:
        return f"${{stack.{service.name}.{port}}}"
    return f"127.0.0.1:{soft_refs(service.published, lookup.values)}"


def _auth(
    scheme: str, user: str | None, password: str | None, service: Service | None, source: str,
    lookup: Lookup,
) -> tuple[str, str]:  # fmt: skip
    user_text = soft_refs(user or "")
    if password:
        reference = _REF.fullmatch(password)
        if reference:
            return f"{user_text}:${{{reference.group(1) or reference.group(3)}:-}}@", ""
        name = _key_holding(password, lookup) or PASSWORD_NAMES.get(scheme, "BROKER_PASSWORD")
        note = f"the URL in {source} has a literal password: set {name} where jobcheck runs"
        return f"{user_text}:${{{name}:-}}@", note
    required = _required_password(service) or _known_password(scheme, lookup)
    if required:
        return f"{user_text}:${{{required}:-}}@", ""
    return (f"{user_text}@" if user_text else ""), ""


def _known_password(scheme: str, lookup: Lookup) -> str:
    """REDIS_PASSWORD when an env file sets one: the stack is likely to use it."""
    name = PASSWORD_NAMES.get(scheme, "")
    return name if scheme.startswith("redis") and name in lookup.values else ""


def _key_holding(secret: str, lookup: Lookup) -> str:
    return next((k for k, v in lookup.values.items() if v == secret and "PASS" in k.upper()), "")


def _required_password(service: Service | None) -> str:
    if service is None:
        return ""
    found = _REQUIREPASS.search(service.command)
    return found.group(1) if found else ""


def _from_datastore(lookup: Lookup) -> HostURL | None:
    """``redis://[:${REDIS_PASSWORD:-}@]127.0.0.1:PORT/0`` from the Redis service itself."""
    for service in lookup.services:
        if service.datastore and service.is_a("redis|valkey") and service.published:
            password = _required_password(service) or _known_password("redis", lookup)
            auth = f":${{{password}:-}}@" if password else ""
            if service.loopback:
                where = f"${{stack.{service.name}.{service.target}}}"
            else:
                where = f"127.0.0.1:{soft_refs(service.published, lookup.values)}"
            return HostURL(f"redis://{auth}{where}/0", f"the {service.name} service")
    return None
