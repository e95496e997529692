"""Chat platform adapters. Each translates its platform to and from the core's types."""

from __future__ import annotations

from bot.config import Config, missing_secrets
from bot.errors import ConfigError
from bot.ports import Adapter


def create_adapters(config: Config, only: str | None = None) -> list[Adapter]:
    """The adapters to run: `only` if given, else what the config selects."""
    names = (only,) if only else config.adapters()
    adapters: list[Adapter] = []
    for name in names:
        missing = missing_secrets(config, name)
        if missing:
            raise ConfigError(
                f"the {name} adapter needs the environment variable(s) {', '.join(missing)}; "
                "see the README's setup section"
            )
        # Imported lazily so the console never pays for discord.py or slack-bolt.
        if name == "console":
            from adapters.console import ConsoleAdapter

            adapters.append(ConsoleAdapter.from_stdio())
        elif name == "slack":
            from adapters.slack import SlackAdapter

            adapters.append(SlackAdapter.from_config(config))
        elif name == "discord":
            from adapters.discord import DiscordAdapter

            adapters.append(DiscordAdapter.from_config(config))
        else:
            raise ConfigError(f"unknown adapter {name!r} (use console, slack or discord)")
    return adapters
