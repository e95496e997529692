"""The chat platforms paperbot knows: one line per adapter package.

The core reads each platform's section, secrets, CLI tools and loggers from its descriptor
(`bot.platforms.PlatformSpec`). A new platform is a new adapter package declaring its
`PLATFORM`, and a line here. The order is the order auto mode starts them in.
"""

from __future__ import annotations

from adapters import console
from adapters.discord import platform as discord
from adapters.slack import platform as slack
from bot.platforms import PlatformSpec

PLATFORMS: tuple[PlatformSpec, ...] = (console.PLATFORM, slack.PLATFORM, discord.PLATFORM)
