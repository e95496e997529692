"""Discord's `[discord]` section, its secret and what it needs to start: declared here, loaded by the core.

Every key is declared once with `setting(default, parser)`, as the core's sections are; the
environment overrides it as `PAPERBOT_DISCORD__<KEY>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import config_values as v
from bot.config_values import setting

if TYPE_CHECKING:
    from bot.config import Config, Secrets

TOKEN = "DISCORD_TOKEN"
DEFAULT_API_URL = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"
SECRETS = (TOKEN,)


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    dev_guild_id: int = setting(0, v.expect(int, "a guild id"))  # 0: sync commands globally
    # needed for /track, /untrack, /settings, /digest
    manage_permission: str = setting("manage_channels", v.expect(str, "a Discord permission name"))
    # Discord's REST base and gateway; only tests and proxies point elsewhere.
    api_url: str = setting(DEFAULT_API_URL, v.url())
    gateway_url: str = setting(DEFAULT_GATEWAY_URL, v.url("ws", "wss"))


def discord_config(config: Config) -> DiscordConfig:
    """The `[discord]` section of `config`."""
    return config.section("discord", DiscordConfig)


def missing(section: DiscordConfig, secrets: Secrets) -> list[str]:
    """The bot token, when it is not set."""
    return [] if secrets.get(TOKEN) is not None else [TOKEN]
