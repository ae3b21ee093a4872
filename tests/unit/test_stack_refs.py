"""``StackRefs``: a check's ``${stack.SERVICE.PORT}`` references, found once at load; at each
attempt only the options that hold one are resolved and validated again (the other options
keep what load-time validation made of them)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field, field_validator

from jobcheck.kinds.base import KindOptions
from jobcheck.kinds.http import Options as HttpOptions
from jobcheck.outcomes import CheckError
from jobcheck.stack_refs import StackRefs

SEEN: list[str] = []


class Counted(KindOptions):
    url: str
    label: str = "x"
    port_hint: int = Field(0)

    @field_validator("url", "label")
    @classmethod
    def _seen(cls, value: str) -> str:
        SEEN.append(value)
        if not value.startswith(("http://", "label")):
            raise ValueError("not an http URL")
        return value


def resolver(port: int) -> Any:
    from jobcheck.interpolate import STACK_REF, walk

    return lambda data: walk(data, lambda text, _: STACK_REF.sub(f"127.0.0.1:{port}", text))


def test_found_once_with_the_fields_and_services_it_names() -> None:
    refs = StackRefs.find(
        {"url": "http://${stack.api.8000}/", "label": "label", "hosts": ["${stack.redis.6379}"]}
    )
    assert refs is not None
    assert refs.fields == ("url", "hosts")
    assert refs.services == {"api", "redis"}
    assert refs.placeholders()["url"] == "http://127.0.0.1:8000/"
    assert refs.placeholders()["hosts"] == ["127.0.0.1:6379"]
    assert [m.group(0) for m in refs.ports()] == ["${stack.api.8000}", "${stack.redis.6379}"]
    assert StackRefs.find({"url": "http://127.0.0.1:8000/"}) is None


def test_an_attempt_validates_only_the_options_that_hold_a_reference() -> None:
    refs = StackRefs.find({"url": "http://${stack.api.8000}/", "label": "label-1"})
    assert refs is not None
    loaded = Counted.model_validate(refs.placeholders())
    SEEN.clear()
    options = refs.options(loaded, resolver(49153))
    assert options.url == "http://127.0.0.1:49153/"  # type: ignore[attr-defined]
    assert options.label == "label-1"  # type: ignore[attr-defined]
    assert SEEN == ["http://127.0.0.1:49153/"]  # `label` was not validated a second time
    assert loaded.url == "http://127.0.0.1:8000/"  # the loaded options are left as they were


def test_a_resolved_value_that_is_not_valid_is_a_one_line_error() -> None:
    refs = StackRefs.find({"url": "http://${stack.api.8000}/"})
    assert refs is not None
    loaded = Counted.model_validate(refs.placeholders())
    with pytest.raises(CheckError) as caught:
        refs.options(loaded, lambda data: {"url": "ftp://127.0.0.1:1/"})
    assert caught.value.message == (
        "with the stack's ports filled in, `url`: Value error, not an http URL"
    )


def test_an_option_written_under_its_alias_is_set_by_its_field_name() -> None:
    written = {"url": "http://${stack.api.8000}/", "json": {"at": "${stack.api.8000}"}}
    refs = StackRefs.find(written)
    assert refs is not None
    loaded = HttpOptions.model_validate(refs.placeholders())
    options = refs.options(loaded, resolver(5000))
    assert options.json_ == {"at": "127.0.0.1:5000"}  # type: ignore[attr-defined]
    assert refs.shown({"url": "x", "status": 200})["json"] == {"at": "${stack.api.8000}"}
