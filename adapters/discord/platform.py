"""Discord as the core knows it: its section, secret, `paperbot discord` tools and loggers.

Listed in adapters/registry.py. Cheap to import: discord.py is imported only when the adapter
is built or a tool runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from adapters.discord.config import SECRETS, DiscordConfig, missing
from bot.platforms import PlatformSpec, add_tool

if TYPE_CHECKING:
    from bot.config import Config
    from bot.platforms import SubParsers
    from bot.ports import Adapter


def _create(config: Config) -> Adapter:
    from adapters.discord.adapter import DiscordAdapter

    return DiscordAdapter.from_config(config)


def _add_tools(sub: SubParsers, late_config: argparse.ArgumentParser) -> None:
    invite = add_tool(
        sub,
        late_config,
        "discord",
        "invite-url",
        _invite_url,
        help="print the URL that adds the bot to a server, with exactly the permissions it needs",
    )
    invite.add_argument(
        "--client-id",
        metavar="ID",
        help="the application id (Developer Portal → General Information); "
        "without it, DISCORD_TOKEN is used to look it up",
    )


def _invite_url(config: Config, args: argparse.Namespace) -> int:
    from adapters.discord.invite import cli_invite_url

    return cli_invite_url(config, client_id=args.client_id)


PLATFORM = PlatformSpec(
    name="discord",
    title="Discord",
    create=_create,
    section=DiscordConfig,
    secrets=SECRETS,
    missing=missing,
    add_tools=_add_tools,
    loggers=("discord",),
)
