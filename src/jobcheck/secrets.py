"""Secret masking: values of secret-looking variables never reach any output."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASS$|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|DSN|COOKIE|SESSION)",
    re.IGNORECASE,
)
MASK = "***"
# Values this short are too common to mask without destroying unrelated text.
MIN_SECRET_LENGTH = 4
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?P<tail>@)")


def looks_secret(name: str) -> bool:
    """True when a variable name looks like it holds a secret (API_KEY, DB_PASSWORD, ...)."""
    return bool(SECRET_NAME.search(name))


class Masker:
    """Replaces every known secret value with ``***``; also hides passwords inside URLs."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                self._values.add(value)
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    @classmethod
    def from_env(cls, env: Mapping[str, str], names: Iterable[str] = ()) -> Masker:
        wanted = set(names)
        return cls(v for k, v in env.items() if k in wanted or looks_secret(k))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)

    def __contains__(self, value: str) -> bool:
        return value in self._values
