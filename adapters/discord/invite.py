"""The OAuth2 URL that adds paperbot to a server with exactly the permissions it uses.

With the application id (`--client-id`, from the Developer Portal) the URL is made offline;
without it, the bot token is used to ask Discord for the id.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import TextIO

import aiohttp
import discord

from adapters.discord import quiet_voice
from adapters.discord.config import TOKEN, discord_config
from adapters.discord.endpoints import DEFAULT_GATEWAY_URL, redirect
from bot.config import Config
from bot.errors import PlatformAuthError

SCOPES = ("bot", "applications.commands")

# Read the channel, post the digest parent, open its thread and post embeds there.
# Read Message History lets replies reference the parent where threads are not allowed.
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    read_message_history=True,
)

# Discord ids are snowflakes: 64-bit integers, 17-20 digits today.
_SNOWFLAKE = re.compile(r"^\d{15,21}$")

TOKEN_HELP = (
    "set DISCORD_TOKEN to the bot token from https://discord.com/developers/applications "
    "(your application → Bot → Reset Token)"
)


def invite_url(application_id: int) -> str:
    """The invite URL for the application: bot + applications.commands scopes, PERMISSIONS."""
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


async def fetch_application_id(token: str, api_url: str) -> int:
    """The application id behind a bot token (`GET /oauth2/applications/@me`)."""
    quiet_voice()
    undo = redirect(api_url, DEFAULT_GATEWAY_URL)
    try:
        # The guilds intent only keeps discord.py from warning about its absence: login() opens no gateway.
        async with discord.Client(intents=discord.Intents(guilds=True)) as client:
            try:
                await client.login(token)
            except discord.LoginFailure:
                raise PlatformAuthError(f"Discord rejected the bot token: {TOKEN_HELP}") from None
            assert client.application_id is not None  # login() sets it from the application info
            return client.application_id
    finally:
        undo()


def cli_invite_url(
    config: Config, out: TextIO | None = None, err: TextIO | None = None, *, client_id: str | None = None
) -> int:
    """`paperbot discord invite-url [--client-id ID]`: print the URL; 2 when the id or token is wrong."""
    out, err = out or sys.stdout, err or sys.stderr
    if client_id is not None:
        if not _SNOWFLAKE.match(client_id.strip()):
            print(
                f"paperbot: --client-id: {client_id[:40]!r} is not an application id (the number under "
                "Application ID in the Developer Portal's General Information)",
                file=err,
            )
            return 2
        print(invite_url(int(client_id.strip())), file=out)
        return 0
    token = config.secrets.get(TOKEN)
    if token is None:
        print(
            f"paperbot: pass --client-id with the application id (Developer Portal → General Information → "
            f"Application ID), or {TOKEN_HELP}",
            file=err,
        )
        return 2
    try:
        application_id = asyncio.run(fetch_application_id(token.reveal(), discord_config(config).api_url))
    except PlatformAuthError as exc:
        print(f"paperbot: {exc}", file=err)
        return 2
    except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        print(
            f"paperbot: could not reach Discord to look up the application id: {exc}; pass --client-id "
            "with the id (Developer Portal → General Information → Application ID) to make the URL offline",
            file=err,
        )
        return 1
    print(invite_url(application_id), file=out)
    return 0
