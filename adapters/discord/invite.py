"""The OAuth2 URL that adds paperbot to a server with exactly the permissions it uses."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import aiohttp
import discord

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

TOKEN_HELP = (
    "set DISCORD_TOKEN to the bot token from https://discord.com/developers/applications "
    "(your application → Bot → Reset Token)"
)


def invite_url(application_id: int) -> str:
    """The invite URL for the application: bot + applications.commands scopes, PERMISSIONS."""
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


async def fetch_application_id(token: str, api_url: str) -> int:
    """The application id behind a bot token (`GET /oauth2/applications/@me`)."""
    undo = redirect(api_url, DEFAULT_GATEWAY_URL)
    try:
        async with discord.Client(intents=discord.Intents.none()) as client:
            try:
                await client.login(token)
            except discord.LoginFailure:
                raise PlatformAuthError(f"Discord rejected the bot token: {TOKEN_HELP}") from None
            assert client.application_id is not None  # login() sets it from the application info
            return client.application_id
    finally:
        undo()


def cli_invite_url(config: Config, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`paperbot discord invite-url`: print the URL; the exit code (2 when the token is missing or bad)."""
    out, err = out or sys.stdout, err or sys.stderr
    token = config.secrets.discord_token
    if token is None:
        print(f"paperbot: DISCORD_TOKEN is not set: {TOKEN_HELP}", file=err)
        return 2
    try:
        application_id = asyncio.run(fetch_application_id(token.reveal(), config.discord.api_url))
    except PlatformAuthError as exc:
        print(f"paperbot: {exc}", file=err)
        return 2
    except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        print(f"paperbot: could not reach Discord to look up the application id: {exc}", file=err)
        return 1
    print(invite_url(application_id), file=out)
    return 0
