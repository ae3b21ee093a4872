"""The ``${stack.SERVICE.PORT}`` references of one check's options: found once at load, asked by
everyone else.

A reference names a port of the running stack, known only when the check runs. At load time
the options are validated once, with each reference standing as ``127.0.0.1:PORT`` (the shape
it resolves to), so a bad value is reported with the checklist's other errors. Right before
each attempt, ``StackRefs.options`` resolves the options that hold references (the runner hands
it ``stack_ports.resolve``, which reads the running containers) and sets them on a copy of the
loaded options: only those fields are validated again, for the addresses they now hold, not
the whole mapping.

The loader (``footprint``, the cache refusal), ``explain`` and the runner (``uses_stack``, the
attempt's options) ask this object; no other module reads the options as written
(``written_options``) or looks for references in options (tests/unit/test_architecture.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from jobcheck.interpolate import STACK_REF, stack_refs, walk
from jobcheck.outcomes import CheckError

if TYPE_CHECKING:
    from jobcheck.kinds.base import KindOptions

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class StackRefs:
    """A check's ``with:`` mapping as written, and where it names stack ports."""

    written_options: Mapping[str, Any]
    references: tuple[tuple[Key, re.Match[str]], ...]

    @classmethod
    def find(cls, options: Mapping[str, Any]) -> StackRefs | None:
        """The references in ``options`` (a `with:` mapping, interpolated); None: it has none."""
        found = stack_refs(dict(options))
        return cls(dict(options), tuple(found)) if found else None

    @property
    def fields(self) -> tuple[str, ...]:
        """The options (as written: aliases) whose values hold a reference, in order."""
        return tuple(dict.fromkeys(str(at[0]) for at, _ in self.references))

    @property
    def services(self) -> frozenset[str]:
        return frozenset(match["service"] for _, match in self.references)

    def placeholders(self) -> dict[str, Any]:
        """The options as the kind's model sees them at load time: every reference an address
        on the loopback interface, like the one it resolves to."""
        return dict(
            walk(dict(self.written_options), lambda text, _: STACK_REF.sub(_placeholder, text))
        )

    def shown(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` (the loaded ones, dumped) with the references shown as written."""
        return {**options, **{name: self.written_options[name] for name in self.fields}}

    def ports(self) -> list[re.Match[str]]:
        """One match per distinct reference, in the order written."""
        first: dict[str, re.Match[str]] = {}
        for _, match in self.references:
            first.setdefault(match.group(0), match)
        return list(first.values())

    def options(self, loaded: KindOptions, resolve: Callable[[Any], Any]) -> KindOptions:
        """The options of this attempt: ``loaded`` with the fields holding references resolved
        now (``resolve``: the running stack's ports, ``stack_ports.resolve``), and validated
        for the addresses they hold; a CheckError (one line) when they are not valid."""
        model = type(loaded)
        by_alias = {f.alias: name for name, f in model.model_fields.items() if f.alias}
        resolved = resolve({name: self.written_options[name] for name in self.fields})
        options = loaded.model_copy()
        try:
            for name, value in resolved.items():
                model.__pydantic_validator__.validate_assignment(
                    options, by_alias.get(name, name), value
                )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CheckError(
                f"with the stack's ports filled in, `{where}`: {first['msg']}"
            ) from None
        return options


def _placeholder(match: re.Match[str]) -> str:
    return f"127.0.0.1:{match['port']}"
