"""A channel's effective settings: its own where it set them, else the config's defaults, typed.

`ChannelSettings` holds what a channel stored (None: not set, use the default). Everything that
acts on a channel's schedule or digest size reads it through `effective`, so the defaults and
the parsing of the stored text are in this one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import Config
from bot.models import ChannelSettings

log = logging.getLogger(__name__)

ASAP = "asap"  # the stored post time of a channel whose digest goes out right after each harvest


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """When a channel's digest goes out and how big it is, defaults applied."""

    timezone: ZoneInfo
    post_time: time | None  # None: as soon as possible, right after each harvest
    max_papers: int

    def timing(self) -> str:
        """`at 09:00 Europe/Berlin`, or `right after each arXiv harvest`."""
        if self.post_time is None:
            return "right after each arXiv harvest"
        return f"at {self.post_time:%H:%M} {self.timezone.key}"


def effective(settings: ChannelSettings, config: Config) -> EffectiveSettings:
    """`settings` with the config's defaults where the channel set nothing."""
    sched = config.schedule
    return EffectiveSettings(
        timezone=zone(settings.timezone or sched.timezone, sched.timezone),
        post_time=post_time(settings.post_time or sched.post_time),
        max_papers=effective_max_papers(settings, config),
    )


def harvest_at(config: Config) -> tuple[time, ZoneInfo]:
    """When the daily harvest runs: the time of day and its timezone (arXiv's own, by default)."""
    return time.fromisoformat(config.schedule.harvest_time), ZoneInfo(config.schedule.harvest_timezone)


def effective_max_papers(settings: ChannelSettings, config: Config) -> int:
    """How many papers the channel's digest shows at most."""
    return settings.max_papers or config.digest.max_papers


def post_time(stored: str) -> time | None:
    """A stored post time ("HH:MM", as /settings and the config write it) as a time; None for asap."""
    return None if stored == ASAP else time.fromisoformat(stored)


def zone(name: str, default: str) -> ZoneInfo:
    """The timezone `name`; `default` if this machine does not know it.

    /settings and the config only accept known names, but a database can outlive the timezone
    data it was written with (or move to a machine with older data): the channel then gets the
    default timezone rather than no digest at all.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        log.warning("unknown timezone %r stored for a channel; using %s", name, default)
        return ZoneInfo(default)
