"""Masking secrets in anything paperbot shows: config output, error messages, log lines.

Three kinds are masked wherever they appear: the values of the secrets paperbot was given,
passwords in URLs (`https://user:pass@host/` -> `https://user:**********@host/`), and strings
shaped like Slack or Discord tokens (someone may paste one where it does not belong).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "**********"

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):(?P<password>[^/\s@]+)@")
_TOKEN_SHAPES = re.compile(
    r"\bxox[abposre]-[A-Za-z0-9-]{8,}"  # Slack bot, user and legacy tokens
    r"|\bxapp-[A-Za-z0-9-]{8,}"  # Slack app-level tokens
    r"|\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"  # Discord bot tokens
)
# Shorter values would mask ordinary words; no real token or password manager output is this short.
MIN_SECRET_CHARS = 6


def mask_url_credentials(text: str) -> str:
    """`scheme://user:password@` -> `scheme://user:**********@`, anywhere in `text`."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)


class Secret:
    """A secret value whose repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"'{MASK}'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Redactor:
    """Masks the given secret values, URL passwords and token-shaped strings in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if len(s) >= MIN_SECRET_CHARS}
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _TOKEN_SHAPES.sub(MASK, mask_url_credentials(text))
