"""The queue's URLs as the host sees them: ``redis://:${REDIS_PASSWORD:-}@127.0.0.1:6379/0``.

The project's own URL (``rq worker --url``, ``CELERY_BROKER_URL`` in an env file, the
worker's ``environment``) names the broker's compose service and usually a password; the
checklist needs the port that service publishes on the host, and a ``${NAME}`` reference where
the password was, never the password itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from jobcheck.scaffold.codeconf import Value
from jobcheck.scaffold.draft import REF as _REF
from jobcheck.scaffold.draft import soft_refs
from jobcheck.scaffold.topology import Service

DEFAULT_PORTS = {"redis": "6379", "rediss": "6379", "amqp": "5672", "amqps": "5671"}
DEFAULT_PORTS |= {"pyamqp": "5672"}
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
    code: Mapping[str, Value] = field(default_factory=dict)  # broker/backend set in the code

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
        fallback = _from_datastore(lookup, purpose)
        if fallback is not None:
            return fallback
    return reasons[0] if reasons else f"no {purpose} URL found"


def _candidates(purpose: str, worker: Service, lookup: Lookup) -> Iterable[tuple[str, str]]:
    if purpose != "backend" and worker.broker_url:
        yield worker.broker_url, f"the {worker.name} service's command"
    others = [s.name for s in lookup.services if s.name != worker.name]
    code = lookup.code.get(purpose)
    if code is not None:
        yield from _from_code(code, [worker.name, *others], lookup)
    pattern = _KEYS[purpose]
    for name in [worker.name, *others]:
        for key, value in lookup.environments.get(name, {}).items():
            if pattern.match(key) and value:
                yield value, f"{key} of the {name} service"
    for key, value in lookup.values.items():
        if pattern.match(key) and value:
            yield value, f"{key} in the env files"


def _from_code(code: Value, services: list[str], lookup: Lookup) -> Iterable[tuple[str, str]]:
    """What the code sets: a literal; else its variable as the stack sets it, then the
    default the code gives it."""
    if not code.env:
        yield code.text, code.where
        return
    for name in services:
        value = lookup.environments.get(name, {}).get(code.env)
        if value:
            yield value, f"{code.env} of the {name} service (read at {code.where})"
    if lookup.values.get(code.env):
        yield lookup.values[code.env], f"{code.env} in the env files (read at {code.where})"
    if code.text:
        yield code.text, f"the default of {code.env} at {code.where}"


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
    """``${stack.SERVICE.PORT}`` for a compose service: the port of this stack's own container,
    published or not (jobcheck reaches an unpublished one through the engine). A localhost URL
    (an app run on the host) names the service that publishes that port, else stays
    ``127.0.0.1:PORT``; ``!reason`` when the host is none of these."""
    if host in ("localhost", "127.0.0.1"):
        by_port = next((s for s in lookup.services if port in (s.published, s.target)), None)
        if by_port is not None and by_port.target.isdigit():
            return f"${{stack.{by_port.name}.{by_port.target}}}"
        return f"127.0.0.1:{soft_refs(port)}"
    service = lookup.service(host)
    if service is None:
        return f"!its host {host!r} is not a service of the compose file"
    if not port.isdigit():
        return f"!its port {port!r} is not a number"
    return f"${{stack.{service.name}.{port}}}"


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


def _from_datastore(lookup: Lookup, purpose: str) -> HostURL | None:
    """``redis://[:${REDIS_PASSWORD:-}@]${stack.redis.6379}/0`` from the Redis service itself
    (a Celery broker: the RabbitMQ service first, with its default user's variables)."""
    kinds = ("rabbitmq", "redis|valkey") if purpose == "broker" else ("redis|valkey",)
    for kind in kinds:
        for service in lookup.services:
            if service.datastore and service.is_a(kind):
                return _datastore_url(service, kind, lookup)
    return None


def _datastore_url(service: Service, kind: str, lookup: Lookup) -> HostURL:
    source = f"the {service.name} service (no URL found in the commands, code or env files)"
    if kind == "rabbitmq":
        env = lookup.environments.get(service.name, {})
        user = soft_refs(env.get("RABBITMQ_DEFAULT_USER", ""), lookup.values)
        password = _variable(env.get("RABBITMQ_DEFAULT_PASS", ""), "RABBITMQ_DEFAULT_PASS")
        auth = f"{user}:{password}@" if user else ""
        return HostURL(f"amqp://{auth}${{stack.{service.name}.5672}}//", source)
    password_name = _required_password(service) or _known_password("redis", lookup)
    auth = f":${{{password_name}:-}}@" if password_name else ""
    port = service.target if service.target.isdigit() else "6379"
    return HostURL(f"redis://{auth}${{stack.{service.name}.{port}}}/0", source)


def _variable(value: str, name: str) -> str:
    """A user or password as the checklist writes it: its own ``${NAME}`` reference, never a
    literal password."""
    reference = _REF.fullmatch(value.strip())
    if reference:
        return f"${{{reference.group(1) or reference.group(3)}:-}}"
    return f"${{{name}:-}}" if value else ""
