"""Broker URLs: which kind of broker, where it is (for messages), and the URL with its password
masked. Pure string work, no network and no third-party import, so options models can use it
(``validate``) and so can the adapters (``parse_broker``: a URL or a ``CheckError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from jobcheck.outcomes import CheckError
from jobcheck.secrets import mask_url_passwords

REDIS_SCHEMES = ("redis", "rediss")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "pyamqp": 5672}
ACCEPTED = "redis://[:PASSWORD@]HOST[:PORT][/DB] or amqp://USER:PASSWORD@HOST[:PORT][/VHOST]"


def masked(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: safe for any message."""
    return mask_url_passwords(url)


@dataclass(frozen=True)
class BrokerURL:
    """A parsed ``redis://`` or ``amqp://`` URL; ``url`` keeps the original (with password)."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # Redis: the database number; AMQP: the virtual host

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError(f"expected {ACCEPTED}, got {masked(url)!r}") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"expected {ACCEPTED}, got {masked(url)!r}")
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if scheme in REDIS_SCHEMES and path and not path.isdigit():
            raise ValueError(f"the database in {masked(url)!r} must be a number")
        return cls(url, scheme, parts.hostname, port or DEFAULT_PORTS[scheme], path)

    @property
    def is_redis(self) -> bool:
        return self.scheme in REDIS_SCHEMES

    @property
    def db(self) -> int:
        return int(self.path or 0) if self.is_redis else 0

    @property
    def masked(self) -> str:
        return masked(self.url)

    @property
    def password(self) -> str:
        return unquote(urlsplit(self.url).password or "")

    @property
    def where(self) -> str:
        """'Redis at 127.0.0.1:6379/0' or 'AMQP broker at 127.0.0.1:5672 (vhost /)'."""
        if self.is_redis:
            return f"Redis at {self.host}:{self.port}/{self.db}"
        return f"AMQP broker at {self.host}:{self.port} (vhost {self.path or '/'})"


def validate(url: str, *, redis_only: bool = False) -> str:
    """For options models: ``url`` unchanged, or a ValueError saying the accepted form."""
    parsed = BrokerURL.parse(url)
    if redis_only and not parsed.is_redis:
        raise ValueError(
            f"expected redis://[:PASSWORD@]HOST[:PORT][/DB], got {parsed.masked!r}: "
            "RQ keeps its queues in Redis"
        )
    return url


def parse_broker(
    url: str, *, option: str = "", redis_for: str = "", because: str = ""
) -> BrokerURL:
    """``url`` parsed, or CheckError saying why (prefixed ``option: `` when given). With
    ``redis_for`` (a framework that keeps its queues in Redis), anything else is refused too:
    "framework: NAME needs a Redis URL ..., got ...: ``because``"."""
    try:
        broker = BrokerURL.parse(url)
    except ValueError as exc:
        raise CheckError(f"{option}: {exc}" if option else str(exc)) from None
    if redis_for and not broker.is_redis:
        raise CheckError(
            f"framework: {redis_for} needs a Redis URL (redis://...), got {broker.masked!r}: "
            + because
        )
    return broker
