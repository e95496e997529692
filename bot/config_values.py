"""The value parsers of the configuration, and how a string from the environment becomes a value.

Each parser takes what TOML gives (str, int, float, bool, list) and returns the typed value
or raises ValueError/TypeError with the reason in a user's words. An environment variable is
always a string: `from_env` turns it into what the same key would hold in the TOML file
(`"15"` -> 15, `"true"` -> True, `"cs,math"` -> ["cs", "math"]) so one parser validates both.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Callable
from dataclasses import field
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bot.validate import parse_max_papers, parse_post_time, parse_timezone

Parser = Callable[[Any], Any]
EnvReader = Callable[[str], Any]
T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def setting(default: T, parse: Parser, env: EnvReader | None = None) -> T:
    """A config key: its default and the parser its values (from the file or the environment) go through."""
    return field(default=default, metadata={"parse": parse, "env": env or env_reader(default)})


def expect(kind: type | tuple[type, ...], what: str) -> Parser:
    kinds = kind if isinstance(kind, tuple) else (kind,)

    def parse(value: Any) -> Any:
        # bool is an int in Python; a TOML `true` where a number belongs is a mistake.
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise TypeError(f"{value!r} is not {what}")
        return value

    return parse


def one_of(*choices: str) -> Parser:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return parse


def url(*schemes: str) -> Parser:
    schemes = schemes or ("http", "https")

    def parse(value: Any) -> str:
        if not isinstance(value, str) or urlsplit(value).scheme not in schemes or not urlsplit(value).netloc:
            raise ValueError(f"{value!r} is not an {schemes[0]}(s) URL")
        return value

    return parse


def positive(what: str, upper: float, *, whole: bool = False) -> Parser:
    def parse(value: Any) -> Any:
        expect(int if whole else (int, float), what)(value)
        if not 0 < value <= upper:
            raise ValueError(f"{value!r} is out of range (0-{upper:g})")
        return int(value) if whole else value

    return parse


def count(what: str, upper: int) -> Parser:
    """A whole number from 0 to `upper` (0 meaning none: no retries, say)."""

    def parse(value: Any) -> Any:
        expect(int, what)(value)
        if not 0 <= value <= upper:
            raise ValueError(f"{value!r} is out of range (0-{upper})")
        return int(value)

    return parse


def port(value: Any) -> int:
    """0 (off, or any free port where that makes sense) to 65535."""
    number = expect(int, "a port number")(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"{number} is not a port number (0-65535)")
    return int(number)


def timezone(value: Any) -> str:
    return parse_timezone(expect(str, "a timezone")(value))


def post_time(value: Any) -> str:
    return parse_post_time(expect(str, "a time")(value))


def harvest_time(value: Any) -> str:
    return parse_post_time(expect(str, "a time")(value), allow_asap=False)


def max_papers(value: Any) -> int:
    return parse_max_papers(expect(int, "a number")(value))


def categories(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise TypeError(
            'must be a non-empty list of arXiv categories such as "cs.CV" or archives such as "cs"'
        )
    return tuple(v.strip() for v in value)


def dates(value: Any) -> tuple[date, ...]:
    """A list of days: TOML dates (`2026-12-24`) or "YYYY-MM-DD" strings; sorted, each once."""
    if not isinstance(value, list):
        raise TypeError('must be a list of dates such as ["2026-12-24"]')
    out = []
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):  # TOML's bare 2026-12-24
            out.append(item)
            continue
        text = item.strip() if isinstance(item, str) else ""
        day = None
        if _DATE.match(text):
            with contextlib.suppress(ValueError):  # 2026-02-30 has the shape but is no day
                day = date.fromisoformat(text)
        if day is None:
            raise ValueError(f"{item!r} is not a date (YYYY-MM-DD)")
        out.append(day)
    return tuple(sorted(set(out)))


# -- the environment -----------------------------------------------------------------------------


def env_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f'"{text}" is not true or false (use true/false, 1/0, yes/no, on/off)')


def env_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f'"{text}" is not a whole number') from None


def env_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f'"{text}" is not a number') from None


def env_list(text: str) -> list[str]:
    """`cs, math` or a TOML array `["cs", "math"]`."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = tomllib.loads(f"v = {stripped}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f'"{text}" is not a list ({exc})') from None
        return list(value)
    return [item.strip() for item in stripped.split(",") if item.strip()]


def env_word_or_list(text: str) -> str | list[str]:
    """A single word as is (`admins`), anything with a comma or bracket as a list."""
    stripped = text.strip()
    return env_list(stripped) if stripped.startswith("[") or "," in stripped else stripped


def env_reader(default: object) -> EnvReader:
    """How an environment string becomes a TOML-like value, from the type of the key's default."""
    if isinstance(default, bool):
        return env_bool
    if isinstance(default, int):
        return env_int
    if isinstance(default, float):
        return env_float
    if isinstance(default, tuple):
        return env_list
    return str
