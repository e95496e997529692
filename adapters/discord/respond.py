"""Answering an interaction within Discord's 3 seconds, whatever the core takes.

Discord drops an interaction that is neither answered nor deferred within 3 s.
The core's reply is awaited for `defer_after` seconds; a quick reply is sent as
the response itself, with its own visibility. A slow one is deferred ("paperbot
is thinking…") and sent as a follow-up once ready. A deferred response's
visibility is fixed at defer time, so the defer guesses it from the command; when
the guess is wrong the placeholder is deleted and the reply follows with the
visibility the core asked for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import discord

from adapters.discord.render import Message, discord_files, reply_messages
from bot.models import Reply, Visibility

log = logging.getLogger(__name__)


async def answer(
    interaction: discord.Interaction,
    pending: Awaitable[Reply],
    *,
    defer_after: float,
    likely_public: bool,
) -> None:
    """Send the core's reply to `interaction`, deferring first if it is not ready in time."""
    task = asyncio.ensure_future(pending)
    done, _ = await asyncio.wait({task}, timeout=defer_after)
    if done:
        reply = task.result()
        ephemeral = reply.visibility is Visibility.EPHEMERAL
        first, *rest = reply_messages(reply)
        await interaction.response.send_message(
            first.content or None, embeds=first.embeds, files=discord_files(first), ephemeral=ephemeral
        )
        await _follow(interaction, rest, ephemeral)
        return
    await interaction.response.defer(ephemeral=not likely_public, thinking=True)
    reply = await task
    ephemeral = reply.visibility is Visibility.EPHEMERAL
    if ephemeral == likely_public:
        await interaction.delete_original_response()
    await _follow(interaction, reply_messages(reply), ephemeral)


async def answer_text(interaction: discord.Interaction, text: str) -> None:
    """A short private answer (a refusal, an error), as response or follow-up as the state allows."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def _follow(interaction: discord.Interaction, messages: list[Message], ephemeral: bool) -> None:
    for message in messages:
        await interaction.followup.send(
            message.content or discord.utils.MISSING,
            embeds=message.embeds,
            files=discord_files(message),
            ephemeral=ephemeral,
        )
