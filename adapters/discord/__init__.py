"""The Discord adapter: slash commands, threaded digests of embeds, and DMs, on discord.py.

Importing the package is cheap (the core reads `adapters.discord.platform` at every start);
`DiscordAdapter` imports discord.py when first asked for. Its voice noise is silenced here:
discord.py 2.7 imports the standard library's `audioop` for voice support (which paperbot
never uses), and Python 3.11-3.12 deprecate that module (without this, `-W error` runs fail on
import), so it is imported first, quietly; and every client discord.py creates logs that PyNaCl
and davey (voice libraries) are not installed unless `quiet_voice()` ran first.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any

with warnings.catch_warnings(), contextlib.suppress(ImportError):  # gone in Python 3.13
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    import audioop  # noqa: F401

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter", "quiet_voice"]


def quiet_voice() -> None:
    """Keep discord.py from logging, at each client it creates, that voice libraries are missing."""
    import discord

    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False


def __getattr__(name: str) -> Any:
    if name == "DiscordAdapter":
        from adapters.discord.adapter import DiscordAdapter

        return DiscordAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
