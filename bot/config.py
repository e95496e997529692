"""Configuration: a TOML file for settings, the environment for secrets.

`load_config` validates everything at startup and names file, key and reason
on error (`config.toml: schedule.post_time: "25:00" is not a time`). Every key
has a default, so running with no file at all works.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import platformdirs

from bot.arxiv_calendar import ARXIV_HOLIDAYS, holiday_dates
from bot.errors import ConfigError
from bot.settings import parse_max_papers, parse_post_time, parse_timezone

ADAPTERS = ("console", "slack", "discord")
SECRET_ENV_VARS = ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")
ARXIV_HOSTS = ("arxiv.org", "export.arxiv.org", "rss.arxiv.org", "export.arxiv.org")

# Every arXiv archive: a subscription without `cat:` needs all of them.
ALL_ARXIV_ARCHIVES = (
    "astro-ph", "cond-mat", "cs", "econ", "eess", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th",
    "math", "math-ph", "nlin", "nucl-ex", "nucl-th", "physics", "q-bio", "q-fin", "quant-ph", "stat",
)  # fmt: skip


class Secret:
    """A secret value whose repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'**********'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class BotConfig:
    adapter: str = "auto"  # auto: every platform whose tokens are set, else the console
    database: str = ""  # empty: <user data dir>/paperbot.db
    log_level: str = "INFO"
    max_subscriptions_per_channel: int = 50


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    timezone: str = "UTC"  # default timezone of a channel's post time
    post_time: str = "09:00"  # default digest time, or "asap"
    harvest_time: str = "00:30"  # when the day's feeds are read, in harvest_timezone
    harvest_timezone: str = "America/New_York"  # arXiv's own clock


@dataclass(frozen=True, slots=True)
class DigestConfig:
    max_papers: int = 15  # default cap of papers in one digest
    # How far back a digest looks for undelivered papers (a channel paused or unreachable for
    # longer gets only the most recent ones); it also bounds how many papers each run matches.
    lookback_days: int = 14


@dataclass(frozen=True, slots=True)
class ArxivConfig:
    api_url: str = "https://export.arxiv.org/api/query"
    feed_url: str = "https://rss.arxiv.org"
    categories: tuple[str, ...] = ALL_ARXIV_ARCHIVES
    contact: str = ""
    min_interval_s: float = 3.0
    timeout_s: float = 30.0  # the whole of one request: connecting, sending and reading the answer
    max_retries: int = 4
    # Announcement days every harvest makes sure of: missing or partial ones are read again.
    catch_up_days: int = 7
    # Evenings without an announcement, in arXiv's convention, on top of ARXIV_HOLIDAYS.
    holidays: tuple[date, ...] = ()

    def no_announcement_dates(self) -> frozenset[date]:
        """Announcement dates that do not exist: the built-in holidays and the configured ones."""
        return holiday_dates((*ARXIV_HOLIDAYS, *self.holidays))


@dataclass(frozen=True, slots=True)
class SlackConfig:
    mode: str = "socket"  # socket | http
    api_url: str = "https://slack.com/api/"
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    http_path: str = "/slack/events"


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    dev_guild_id: int = 0  # 0: sync commands globally
    manage_permission: str = "manage_channels"  # needed for /track, /untrack, /settings, /digest
    # Discord's REST base and gateway; only tests and proxies point elsewhere.
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"


@dataclass(frozen=True, slots=True)
class Secrets:
    discord_token: Secret | None = None
    slack_bot_token: Secret | None = None
    slack_app_token: Secret | None = None
    slack_signing_secret: Secret | None = None


@dataclass(frozen=True, slots=True)
class Config:
    bot: BotConfig = field(default_factory=BotConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    arxiv: ArxivConfig = field(default_factory=ArxivConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    secrets: Secrets = field(default_factory=Secrets)
    source: str = "(defaults)"  # the file this came from, for messages

    @property
    def database_path(self) -> Path:
        if self.bot.database:
            return Path(self.bot.database).expanduser()
        return Path(platformdirs.user_data_dir("paperbot", appauthor=False)) / "paperbot.db"

    def adapters(self) -> tuple[str, ...]:
        """The adapters to start: the configured one, or every platform with tokens, else console."""
        if self.bot.adapter != "auto":
            return (self.bot.adapter,)
        chosen = []
        if self.secrets.slack_bot_token and (self.secrets.slack_app_token or self.slack.mode == "http"):
            chosen.append("slack")
        if self.secrets.discord_token:
            chosen.append("discord")
        return tuple(chosen) or ("console",)


T = TypeVar("T")


def _check(source: str, key: str, value: Any, parse: Callable[[Any], T]) -> T:
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {key}: {exc}") from None


def _expect(kind: type | tuple[type, ...], what: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        # bool is an int in Python; a TOML `true` where a number belongs is a mistake.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise TypeError(f"{value!r} is not {what}")
        if not isinstance(value, kind):
            raise TypeError(f"{value!r} is not {what}")
        return value

    return parse


def _one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return parse


def _url(value: Any, schemes: tuple[str, str] = ("http", "https")) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in schemes or not urlsplit(value).netloc:
        raise ValueError(f"{value!r} is not an {schemes[0]}(s) URL")
    return value


def _positive(what: str, upper: float) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        _expect((int, float), what)(value)
        if not 0 < value <= upper:
            raise ValueError(f"{value!r} is out of range (0-{upper:g})")
        return value

    return parse


def _dates(value: Any) -> tuple[date, ...]:
    if not isinstance(value, list):
        raise TypeError('must be a list of dates such as ["2026-12-24"]')
    out = []
    for v in value:
        if isinstance(v, date) and not isinstance(v, datetime):  # TOML's bare 2026-12-24
            out.append(v)
            continue
        if isinstance(v, str):
            with contextlib.suppress(ValueError):
                out.append(date.fromisoformat(v.strip()))
                continue
        raise ValueError(f"{v!r} is not a date (YYYY-MM-DD)")
    return tuple(sorted(set(out)))


def _categories(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise TypeError(
            'must be a non-empty list of arXiv categories such as "cs.CV" or archives such as "cs"'
        )
    return tuple(v.strip() for v in value)


# section -> key -> parser; the parser gets the raw TOML value and returns the typed one.
_PARSERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "bot": {
        "adapter": _one_of("auto", *ADAPTERS),
        "database": _expect(str, "a path"),
        "log_level": _one_of("DEBUG", "INFO", "WARNING", "ERROR"),
        "max_subscriptions_per_channel": lambda v: int(_positive("a number", 10_000)(v)),
    },
    "schedule": {
        "timezone": lambda v: parse_timezone(_expect(str, "a timezone")(v)),
        "post_time": lambda v: parse_post_time(_expect(str, "a time")(v)),
        "harvest_time": lambda v: parse_post_time(_expect(str, "a time")(v), allow_asap=False),
        "harvest_timezone": lambda v: parse_timezone(_expect(str, "a timezone")(v)),
    },
    "digest": {
        "max_papers": lambda v: parse_max_papers(_expect(int, "a number")(v)),
        "lookback_days": lambda v: int(_positive("a number of days", 90)(v)),
    },
    "arxiv": {
        "api_url": _url,
        "feed_url": _url,
        "categories": _categories,
        "contact": _expect(str, "an email address or URL"),
        "min_interval_s": _positive("a number of seconds", 3600),
        "timeout_s": _positive("a number of seconds", 600),
        "max_retries": lambda v: int(_positive("a number", 20)(v)),
        "catch_up_days": lambda v: int(
            _positive("a number of announcement days", 30)(_expect(int, "a number")(v))
        ),
        "holidays": _dates,
    },
    "slack": {
        "mode": _one_of("socket", "http"),
        "api_url": _url,
        "http_host": _expect(str, "a host name or address"),
        "http_port": lambda v: int(_positive("a port", 65535)(v)),
        "http_path": _expect(str, "a URL path"),
    },
    "discord": {
        "dev_guild_id": lambda v: int(_expect(int, "a guild id")(v)),
        "manage_permission": _expect(str, "a Discord permission name"),
        "api_url": _url,
        "gateway_url": lambda v: _url(v, ("ws", "wss")),
    },
}

_SECTION_TYPES: dict[str, type] = {
    "bot": BotConfig,
    "schedule": ScheduleConfig,
    "digest": DigestConfig,
    "arxiv": ArxivConfig,
    "slack": SlackConfig,
    "discord": DiscordConfig,
}


def default_config_path(environ: Mapping[str, str]) -> Path | None:
    """$PAPERBOT_CONFIG, else ./config.toml when it exists, else None (defaults only)."""
    if environ.get("PAPERBOT_CONFIG"):
        return Path(environ["PAPERBOT_CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file (or defaults) and the secrets from `environ`."""
    env = os.environ if environ is None else environ
    source = "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{source}: no such file (copy config.example.toml to start)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None

    sections: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in _PARSERS:
            raise ConfigError(f"{source}: [{name}]: unknown section (known: {', '.join(_PARSERS)})")
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: {name}: must be a [{name}] table")
        values = {}
        for key, value in raw.items():
            parser = _PARSERS[name].get(key)
            if parser is None:
                known = ", ".join(_PARSERS[name])
                raise ConfigError(f"{source}: {name}.{key}: unknown key (known in [{name}]: {known})")
            values[key] = _check(source, f"{name}.{key}", value, parser)
        sections[name] = _SECTION_TYPES[name](**values)

    cfg = Config(**sections, secrets=_secrets(env), source=source)
    if env.get("PAPERBOT_DATABASE"):
        cfg = replace(cfg, bot=replace(cfg.bot, database=env["PAPERBOT_DATABASE"]))
    _check_cross_field(cfg)
    return cfg


def _secrets(env: Mapping[str, str]) -> Secrets:
    def get(name: str) -> Secret | None:
        value = env.get(name, "").strip()
        return Secret(value) if value else None

    return Secrets(
        discord_token=get("DISCORD_TOKEN"),
        slack_bot_token=get("SLACK_BOT_TOKEN"),
        slack_app_token=get("SLACK_APP_TOKEN"),
        slack_signing_secret=get("SLACK_SIGNING_SECRET"),
    )


def _check_cross_field(cfg: Config) -> None:
    src = cfg.source
    if cfg.arxiv.min_interval_s < 3 and any(
        urlsplit(u).hostname in ARXIV_HOSTS for u in (cfg.arxiv.api_url, cfg.arxiv.feed_url)
    ):
        raise ConfigError(
            f"{src}: arxiv.min_interval_s: {cfg.arxiv.min_interval_s:g} is below arXiv's limit of one "
            "request every 3 seconds (lower values are only for local test servers)"
        )


def missing_secrets(cfg: Config, adapter: str) -> list[str]:
    """The environment variables `adapter` needs that are not set."""
    s = cfg.secrets
    need: list[tuple[str, Secret | None]] = []
    if adapter == "discord":
        need = [("DISCORD_TOKEN", s.discord_token)]
    elif adapter == "slack":
        need = [("SLACK_BOT_TOKEN", s.slack_bot_token)]
        if cfg.slack.mode == "socket":
            need.append(("SLACK_APP_TOKEN", s.slack_app_token))
        else:
            need.append(("SLACK_SIGNING_SECRET", s.slack_signing_secret))
    return [name for name, value in need if value is None]


def describe(cfg: Config) -> str:
    """The effective configuration as TOML-like text, secrets masked."""
    lines = [f"# effective configuration (from {cfg.source})"]
    for f in fields(cfg):
        if f.name in ("secrets", "source"):
            continue
        section = getattr(cfg, f.name)
        lines.append(f"\n[{f.name}]")
        for sf in fields(section):
            lines.append(f"{sf.name} = {_toml_value(getattr(section, sf.name))}")
    lines.append(f"\n# database file: {cfg.database_path}")
    lines.append(f"# adapters: {', '.join(cfg.adapters())}")
    lines.append("\n# secrets (from the environment)")
    for name in SECRET_ENV_VARS:
        value = getattr(cfg.secrets, name.lower())
        lines.append(f"# {name}: {'**********' if value else '(not set)'}")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, date):
        return value.isoformat()  # a TOML date
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
