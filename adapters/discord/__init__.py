"""The Discord adapter: slash commands, threaded digests of embeds, and DMs, on discord.py.

discord.py is imported here first, with its voice noise silenced: 2.7 imports the standard
library's `audioop` for voice support (which paperbot never uses), and Python 3.11-3.12
deprecate that module (without this, `-W error` runs fail on import); and every client it
creates logs that PyNaCl and davey (voice libraries) are not installed.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    import discord

from adapters.discord.adapter import DiscordAdapter

discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False

__all__ = ["DiscordAdapter"]
