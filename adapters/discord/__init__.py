"""The Discord adapter: slash commands, threaded digests of embeds, and DMs, on discord.py.

discord.py is imported here first, with one known warning silenced: 2.7 imports the
standard library's `audioop` for voice support (which paperbot never uses), and Python
3.11-3.12 deprecate that module. Without this, `-W error` runs fail on import.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    import discord  # noqa: F401

from adapters.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
