"""Broker URLs: kinds, places for messages, passwords masked."""

from __future__ import annotations

import pytest

from jobcheck.probes.broker_url import BrokerURL, masked, validate


def test_redis_url_parts_and_where() -> None:
    parsed = BrokerURL.parse("redis://:p%40ss@cache.local:6380/4")
    assert (parsed.scheme, parsed.host, parsed.port, parsed.db) == ("redis", "cache.local", 6380, 4)
    assert parsed.is_redis
    assert parsed.where == "Redis at cache.local:6380/4"
    assert parsed.masked == "redis://:***@cache.local:6380/4"


def test_redis_defaults() -> None:
    parsed = BrokerURL.parse("redis://127.0.0.1")
    assert (parsed.port, parsed.db, parsed.where) == (6379, 0, "Redis at 127.0.0.1:6379/0")


def test_amqp_url_where_names_the_vhost() -> None:
    parsed = BrokerURL.parse("amqp://guest:guest@rabbit:5673/staging")
    assert not parsed.is_redis
    assert parsed.where == "AMQP broker at rabbit:5673 (vhost staging)"
    assert parsed.masked == "amqp://guest:***@rabbit:5673/staging"
    assert BrokerURL.parse("amqp://rabbit").where == "AMQP broker at rabbit:5672 (vhost /)"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://:secret@127.0.0.1:6379", "expected redis://"),
        ("redis://:secret@127.0.0.1:6379/x", "must be a number"),
        ("redis://:secret@127.0.0.1:notaport/0", "expected redis://"),
        ("redis://", "expected redis://"),
    ],
)
def test_bad_urls_say_the_accepted_form_and_hide_the_password(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as caught:
        BrokerURL.parse(url)
    assert "secret" not in str(caught.value)


def test_validate_redis_only_refuses_amqp() -> None:
    assert validate("amqp://u:p@h//") == "amqp://u:p@h//"
    with pytest.raises(ValueError, match="RQ keeps its queues in Redis") as caught:
        validate("amqp://u:topsecret@h//", redis_only=True)
    assert "topsecret" not in str(caught.value)


def test_masked_leaves_urls_without_password_alone() -> None:
    assert masked("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert masked("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"


def test_password_is_decoded() -> None:
    assert BrokerURL.parse("redis://:p%40ss@h/0").password == "p@ss"
    assert BrokerURL.parse("redis://h/0").password == ""


def test_masked_hides_the_password_of_a_url_urllib_refuses() -> None:
    """The one string masker of URL passwords (``secrets.mask_url_passwords``): a port out of
    range or a password holding `@` still hides the password."""
    assert masked("redis://u:pw@h:99999999/0") == "redis://u:***@h:99999999/0"
    assert masked("amqp://u:p@ss@rabbit/") == "amqp://u:***@rabbit/"
