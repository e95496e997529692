"""Validation of the values people set: post times, timezones, digest sizes.

Shared by the config loader and the `settings` command so a value that is
refused in one is refused in the other, with the same words.
"""

from __future__ import annotations

import re
import zoneinfo

MAX_PAPERS_LIMIT = 50
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_post_time(value: str, *, allow_asap: bool = True) -> str:
    """'8:30' -> '08:30'; 'asap' (post right after the harvest) where allowed."""
    text = value.strip().lower()
    if allow_asap and text == "asap":
        return "asap"
    m = _TIME.match(text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        hint = ' (use HH:MM, 00:00-23:59, or "asap")' if allow_asap else " (use HH:MM, 00:00-23:59)"
        raise ValueError(f'"{_shown(value)}" is not a time{hint}')
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def parse_timezone(value: str) -> str:
    """An IANA timezone name such as 'Europe/Berlin'; returned in its canonical spelling."""
    name = value.strip()
    try:
        if not name or ".." in name or name.startswith("/"):
            raise ValueError(name)
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        raise ValueError(
            f'"{_shown(value)}" is not a timezone (use an IANA name such as Europe/Berlin)'
        ) from None
    return name


def parse_max_papers(value: str | int) -> int:
    """How many papers one digest shows, 1 to MAX_PAPERS_LIMIT."""
    text = str(value).strip()
    try:
        n = int(text) if len(text) <= 6 else MAX_PAPERS_LIMIT + 1  # int() refuses thousands of digits
    except ValueError:
        raise ValueError(f'"{_shown(text)}" is not a number (use 1-{MAX_PAPERS_LIMIT})') from None
    if not 1 <= n <= MAX_PAPERS_LIMIT:
        raise ValueError(f"{_shown(text)} papers is out of range (use 1-{MAX_PAPERS_LIMIT})")
    return n


TRENDING_LIMIT = 10  # a digest's "Trending on Hugging Face" section is short


def parse_trending(value: str) -> int:
    """How many of the day's trending papers the digest adds, 0 (none) to TRENDING_LIMIT."""
    text = value.strip()
    if not text.isdigit() or len(text) > 6 or int(text) > TRENDING_LIMIT:
        raise ValueError(f'"{_shown(text)}" is not a number from 0 to {TRENDING_LIMIT} (0: none)')
    return int(text)


def parse_switch(value: str) -> bool:
    """'on' / 'off' (also yes/no, true/false)."""
    text = value.strip().casefold()
    if text in ("on", "yes", "true"):
        return True
    if text in ("off", "no", "false"):
        return False
    raise ValueError(f'"{_shown(value)}" is not on or off')


def _shown(value: str | int, limit: int = 40) -> str:
    """A refused value as the answer quotes it: enough to recognise, never a wall of text."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
