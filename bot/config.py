"""Configuration: a TOML file and the environment for settings, the environment alone for secrets.

Every key is declared once, in its section's dataclass, with the parser that validates it
(`setting(default, parser)`). The core's sections are here; each chat platform declares its
own section and secrets in its adapter package (`bot.platforms.PlatformSpec`, listed in
`adapters/registry.py`), loaded the same way. The same parser checks the file and the
environment: any key can be overridden as `PAPERBOT_<SECTION>__<KEY>`
(`PAPERBOT_SCHEDULE__POST_TIME=08:30`), the string read as the file's type would be (numbers,
true/false, comma-separated lists).
`load_config` reports every problem at once, each naming where it came from, the key and the
reason (`config.toml: schedule.post_time: "25:00" is not a time`). Every key has a default,
so running with no file at all works.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

import platformdirs

from bot import config_values as v
from bot.arxiv.calendar import ARXIV_HOLIDAYS, holiday_dates
from bot.arxiv.categories import ALL_ARXIV_ARCHIVES
from bot.config_values import setting
from bot.errors import ConfigError
from bot.ops.redact import Redactor
from bot.ops.redact import Secret as Secret  # re-exported: adapters take their tokens as Secret
from bot.platforms import PlatformSpec, wanted

LLM_API_KEY = "PAPERBOT_LLM_API_KEY"
CORE_SECRETS = (LLM_API_KEY,)  # the platforms' come from their PlatformSpec
ARXIV_HOSTS = ("arxiv.org", "export.arxiv.org", "rss.arxiv.org")
ENV_PREFIX = "PAPERBOT_"
# PAPERBOT_* variables that are not `<SECTION>__<KEY>` overrides.
ENV_OWN = {
    "PAPERBOT_CONFIG": "the config file",
    "PAPERBOT_DATABASE": "bot.database",
    "PAPERBOT_LLM_API_KEY": "the [llm] endpoint's key",
}

S = TypeVar("S")


def registered_platforms() -> tuple[PlatformSpec, ...]:
    """The platforms `adapters/registry.py` lists (imported late: the adapters build on this module)."""
    from adapters.registry import PLATFORMS

    return PLATFORMS


@dataclass(frozen=True, slots=True)
class BotConfig:
    # auto: every platform whose tokens are set, else the console; one of the registered platforms
    adapter: str = setting("auto", v.expect(str, "an adapter name"))
    database: str = setting("", v.expect(str, "a path"))  # empty: <user data dir>/paperbot.db
    log_level: str = setting("INFO", lambda x: v.one_of("DEBUG", "INFO", "WARNING", "ERROR")(str(x).upper()))
    log_format: str = setting("text", v.one_of("text", "json"))  # json: one object per line
    max_subscriptions_per_channel: int = setting(50, v.positive("a number", 10_000, whole=True))


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    timezone: str = setting("UTC", v.timezone)  # default timezone of a channel's post time
    post_time: str = setting("09:00", v.post_time)  # default digest time, or "asap"
    harvest_time: str = setting("00:30", v.harvest_time)  # when the day's feeds are read
    harvest_timezone: str = setting("America/New_York", v.timezone)  # arXiv's own clock


@dataclass(frozen=True, slots=True)
class DigestConfig:
    max_papers: int = setting(15, v.max_papers)  # default cap of papers in one digest
    # How far back a digest looks for undelivered papers (a channel paused or unreachable for
    # longer gets only the most recent ones); it also bounds how many papers each run matches.
    lookback_days: int = setting(14, v.positive("a number of days", 90, whole=True))


@dataclass(frozen=True, slots=True)
class ArxivConfig:
    api_url: str = setting("https://export.arxiv.org/api/query", v.url())
    feed_url: str = setting("https://rss.arxiv.org", v.url())
    categories: tuple[str, ...] = setting(ALL_ARXIV_ARCHIVES, v.categories)
    contact: str = setting("", v.expect(str, "an email address or URL"))
    min_interval_s: float = setting(3.0, v.positive("a number of seconds", 3600))
    # the whole of one request: connecting, sending and reading the answer
    timeout_s: float = setting(30.0, v.positive("a number of seconds", 600))
    max_retries: int = setting(4, v.positive("a number", 20, whole=True))
    # Announcement days every harvest makes sure of: missing or partial ones are read again.
    catch_up_days: int = setting(7, v.positive("a number of announcement days", 30, whole=True))
    # Evenings without an announcement, in arXiv's convention, on top of ARXIV_HOLIDAYS.
    holidays: tuple[date, ...] = setting((), v.dates)

    def no_announcement_dates(self) -> frozenset[date]:
        """Announcement dates that do not exist: the built-in holidays and the configured ones."""
        return holiday_dates((*ARXIV_HOLIDAYS, *self.holidays))


@dataclass(frozen=True, slots=True)
class OpsConfig:
    http_port: int = setting(0, v.port)  # /healthz and /metrics; 0: off
    http_host: str = setting("0.0.0.0", v.expect(str, "a host name or address"))
    # /healthz fails when the latest harvest failed and the last good one is older than this.
    harvest_max_age_hours: float = setting(80.0, v.positive("a number of hours", 24 * 90))


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """Optional one-sentence TL;DRs from an OpenAI-compatible endpoint; off while base_url is empty."""

    # e.g. https://api.openai.com/v1, http://localhost:11434/v1 (Ollama); empty: off
    base_url: str = setting("", lambda x: x if x == "" else v.url()(x))
    model: str = setting("", v.expect(str, "a model name"))  # e.g. gpt-4o-mini, llama3.2
    # requests a day at most (UTC); past it, the extractive TL;DR
    max_papers_per_day: int = setting(200, v.positive("a number", 100_000, whole=True))
    # the most a digest waits for its TL;DRs, all requests together
    timeout_s: float = setting(20.0, v.positive("a number of seconds", 600))
    concurrency: int = setting(4, v.positive("a number", 64, whole=True))  # requests in flight at once

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


@dataclass(frozen=True, slots=True)
class HuggingfaceConfig:
    """Hugging Face's daily papers: /trending, and the "Trending on Hugging Face" digest section."""

    enabled: bool = setting(True, v.expect(bool, "true or false"))  # false: never asked
    api_url: str = setting("https://huggingface.co/api/daily_papers", v.url())
    # the whole of one request: connecting, sending and reading the answer
    timeout_s: float = setting(20.0, v.positive("a number of seconds", 300))
    max_retries: int = setting(2, v.count("a number", 10))  # after a 429, a 5xx or a timeout
    # A day without papers (a weekend) is looked past, back this many days.
    look_back_days: int = setting(3, v.positive("a number of days", 14, whole=True))


@dataclass(frozen=True, slots=True)
class Secrets:
    """The secrets the environment set, by variable name: paperbot's own and its platforms'."""

    by_name: Mapping[str, Secret] = field(default_factory=dict)

    def get(self, name: str) -> Secret | None:
        return self.by_name.get(name)

    @property
    def paperbot_llm_api_key(self) -> Secret | None:  # [llm]: OpenAI and hosted endpoints; Ollama needs none
        return self.get(LLM_API_KEY)

    def values(self) -> list[str]:
        """The revealed values, for masking them wherever text is shown."""
        return [s.reveal() for s in self.by_name.values()]


@dataclass(frozen=True, slots=True)
class Config:
    bot: BotConfig = field(default_factory=BotConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    arxiv: ArxivConfig = field(default_factory=ArxivConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    huggingface: HuggingfaceConfig = field(default_factory=HuggingfaceConfig)
    secrets: Secrets = field(default_factory=Secrets)
    source: str = "(defaults)"  # the file this came from, for messages
    # (section.key, environment variable) of every key the environment set
    overrides: tuple[tuple[str, str], ...] = ()
    # The chat platforms this config knows, and their sections by name (defaults where not given).
    platforms: tuple[PlatformSpec, ...] = field(default_factory=registered_platforms, repr=False)
    platform_sections: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = dict(self.platform_sections)
        complete = {
            spec.name: given[spec.name] if spec.name in given else spec.section()
            for spec in self.platforms
            if spec.section is not None
        }
        object.__setattr__(self, "platform_sections", complete)

    @property
    def database_path(self) -> Path:
        if self.bot.database:
            return Path(self.bot.database).expanduser()
        return Path(platformdirs.user_data_dir("paperbot", appauthor=False)) / "paperbot.db"

    def adapters(self) -> tuple[str, ...]:
        """The adapters to start: the configured one, or every platform with tokens, else the default."""
        if self.bot.adapter != "auto":
            return (self.bot.adapter,)
        chosen = tuple(spec.name for spec in self.platforms if wanted(self, spec))
        return chosen or tuple(spec.name for spec in self.platforms if spec.default)

    def platform_spec(self, name: str) -> PlatformSpec:
        for spec in self.platforms:
            if spec.name == name:
                return spec
        raise ConfigError(f"unknown adapter {name!r} (use {', '.join(s.name for s in self.platforms)})")

    def platform_section(self, name: str) -> object:
        """The `[name]` section of a platform (None for one without settings, the console)."""
        return self.platform_sections.get(name)

    @overload
    def section(self, name: str) -> Any: ...
    @overload
    def section(self, name: str, kind: type[S]) -> S: ...
    def section(self, name: str, kind: type[Any] = object) -> Any:
        """The `[name]` section, the core's or a platform's; `kind` checks its type for the caller."""
        value = self.platform_sections[name] if name in self.platform_sections else getattr(self, name)
        if not isinstance(value, kind):
            raise TypeError(f"[{name}] holds {type(value).__name__}, not {kind.__name__}")
        return value

    def with_section(self, name: str, value: object) -> Config:
        """This config with the platform section `name` replaced (tests, tools)."""
        return replace(self, platform_sections={**self.platform_sections, name: value})

    def secret_names(self) -> tuple[str, ...]:
        """Every environment variable a secret is read from: the platforms' and paperbot's own."""
        return (*(n for spec in self.platforms for n in spec.secrets), *CORE_SECRETS)

    def origin(self, key: str) -> str:
        """Where `section.key` was set, for messages: `config.toml: bot.adapter` or the variable."""
        var = dict(self.overrides).get(key)
        return f"environment: {var}" if var else f"{self.source}: {key}"

    def redactor(self) -> Redactor:
        """Masks this config's secrets (and URL passwords, token-shaped strings) in text."""
        return Redactor(self.secrets.values())


# The core's sections; the platforms add theirs (`section_types`).
CORE_SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(Config)
    if f.name not in ("secrets", "platforms", "platform_sections") and callable(f.default_factory)
}


def section_types(platforms: tuple[PlatformSpec, ...]) -> dict[str, type]:
    """Every section by name: the core's, then each platform's."""
    return {**CORE_SECTIONS, **{spec.name: spec.section for spec in platforms if spec.section is not None}}


def env_name(section: str, key: str) -> str:
    """`schedule`, `post_time` -> `PAPERBOT_SCHEDULE__POST_TIME`."""
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def default_config_path(environ: Mapping[str, str]) -> Path | None:
    """$PAPERBOT_CONFIG, else ./config.toml when it exists, else None (defaults only)."""
    if environ.get("PAPERBOT_CONFIG"):
        return Path(environ["PAPERBOT_CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


class _Loader:
    """Collects the values of a load and every problem found on the way."""

    def __init__(self, source: str, platforms: tuple[PlatformSpec, ...]) -> None:
        self.source = source
        self.sections = section_types(platforms)
        # bot.adapter names a registered platform: its parser is only known here.
        self.parsers = {("bot", "adapter"): v.one_of("auto", *(spec.name for spec in platforms))}
        self.values: dict[str, dict[str, Any]] = {name: {} for name in self.sections}
        self.origin: dict[str, str] = {}  # "section.key" -> where its value came from, for messages
        self.overrides: dict[str, str] = {}
        self.errors: list[str] = []

    def keys(self, section: str) -> dict[str, Field[Any]]:
        return {f.name: f for f in fields(self.sections[section])}

    def where(self, key: str) -> str:
        return self.origin.get(key, f"{self.source}: {key}")

    def set(self, section: str, key: str, raw: Any, origin: str, *, from_env: str | None = None) -> None:
        spec = self.keys(section)[key]
        parse = self.parsers.get((section, key), spec.metadata["parse"])
        try:
            if from_env is not None:
                raw = spec.metadata["env"](raw)
            self.values[section][key] = parse(raw)
        except (ValueError, TypeError) as exc:
            self.errors.append(f"{origin}: {exc}")
            return
        self.origin[f"{section}.{key}"] = origin
        if from_env is not None:
            self.overrides[f"{section}.{key}"] = from_env

    def read_file(self, path: Path) -> None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.errors.append(f"{self.source}: no such file (copy config.example.toml to start)")
            return
        except (OSError, UnicodeDecodeError) as exc:
            self.errors.append(f"{self.source}: cannot be read: {exc}")
            return
        except tomllib.TOMLDecodeError as exc:
            self.errors.append(f"{self.source}: not valid TOML: {exc}")
            return
        for name, raw in data.items():
            if name not in self.sections:
                known = ", ".join(self.sections)
                self.errors.append(f"{self.source}: [{name}]: unknown section (known: {known})")
            elif not isinstance(raw, dict):
                self.errors.append(f"{self.source}: {name}: must be a [{name}] table")
            else:
                for key, value in raw.items():
                    if key not in self.keys(name):
                        known = ", ".join(self.keys(name))
                        self.errors.append(
                            f"{self.source}: {name}.{key}: unknown key (known in [{name}]: {known})"
                        )
                    else:
                        self.set(name, key, value, f"{self.source}: {name}.{key}")

    def read_environment(self, env: Mapping[str, str]) -> None:
        own_database = env.get("PAPERBOT_DATABASE", "").strip()
        if own_database and not env.get(env_name("bot", "database"), "").strip():
            self.set(
                "bot",
                "database",
                own_database,
                "environment: PAPERBOT_DATABASE",
                from_env="PAPERBOT_DATABASE",
            )
        for var in sorted(env):
            text = env[var]
            if not var.upper().startswith(ENV_PREFIX) or var.upper() in ENV_OWN or not text.strip():
                continue  # an empty value counts as unset, as compose and systemd files often leave them
            section, sep, key = var[len(ENV_PREFIX) :].lower().partition("__")
            origin = f"environment: {var}"
            if not sep or section not in self.sections:
                self.errors.append(
                    f"{origin}: not a paperbot setting (settings are PAPERBOT_<SECTION>__<KEY>, with two "
                    f"underscores, sections: {', '.join(self.sections)}; also {', '.join(ENV_OWN)})"
                )
            elif key not in self.keys(section):
                known = ", ".join(env_name(section, k) for k in self.keys(section))
                self.errors.append(f"{origin}: unknown key (known for [{section}]: {known})")
            else:
                self.set(section, key, text, origin, from_env=var)

    def check_cross_field(self, cfg: Config) -> None:
        if cfg.arxiv.min_interval_s < 3 and any(
            urlsplit(u).hostname in ARXIV_HOSTS for u in (cfg.arxiv.api_url, cfg.arxiv.feed_url)
        ):
            self.errors.append(
                f"{self.where('arxiv.min_interval_s')}: {cfg.arxiv.min_interval_s:g} is below arXiv's limit "
                "of one request every 3 seconds (lower values are only for local test servers)"
            )
        if bool(cfg.llm.base_url) != bool(cfg.llm.model):
            missing = "llm.model" if cfg.llm.base_url else "llm.base_url"
            given = "llm.base_url" if cfg.llm.base_url else "llm.model"
            self.errors.append(
                f"{self.where(given)}: {missing} is needed too: LLM TL;DRs take both llm.base_url and "
                "llm.model (leave both empty for the extractive TL;DR)"
            )


def check_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    platforms: tuple[PlatformSpec, ...] | None = None,
) -> tuple[Config, list[str]]:
    """The configuration as far as it is valid (defaults elsewhere), and every problem, secrets masked.

    `platforms`: the chat platforms whose sections and secrets to read (default: the registered ones).
    """
    env = os.environ if environ is None else environ
    platforms = registered_platforms() if platforms is None else platforms
    loader = _Loader(str(path) if path is not None else "(defaults)", platforms)
    if path is not None:
        loader.read_file(path)
    loader.read_environment(env)
    sections = {name: loader.sections[name](**values) for name, values in loader.values.items()}
    cfg = Config(
        **{name: section for name, section in sections.items() if name in CORE_SECTIONS},
        secrets=_secrets(env, (*(n for spec in platforms for n in spec.secrets), *CORE_SECRETS)),
        source=loader.source,
        overrides=tuple(sorted(loader.overrides.items())),
        platforms=platforms,
        platform_sections={name: section for name, section in sections.items() if name not in CORE_SECTIONS},
    )
    loader.check_cross_field(cfg)
    redact = cfg.redactor()
    return cfg, [redact(e) for e in loader.errors]


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    platforms: tuple[PlatformSpec, ...] | None = None,
) -> Config:
    """Read and validate the config file (or defaults), the environment's overrides and the secrets.

    Raises ConfigError listing every problem, one per line.
    """
    cfg, errors = check_config(path, environ, platforms)
    if errors:
        raise ConfigError("\n".join(errors))
    return cfg


def _secrets(env: Mapping[str, str], names: tuple[str, ...]) -> Secrets:
    values = {name: env.get(name, "").strip() for name in names}
    return Secrets({name: Secret(value) for name, value in values.items() if value})
