"""`/settings`: a channel's digest time, timezone, size, learning and trending papers.

Every value is validated before anything is written: one bad value refuses the whole command.
"""

from __future__ import annotations

from bot.arxiv.calendar import ARXIV_TZ, holidays_between, next_digest
from bot.commands.context import Context, clean_text
from bot.errors import UserError
from bot.models import ChannelSettings, Command, Reply, Visibility
from bot.ports import CommandNaming, slash
from bot.scheduling.effective import effective, harvest_at
from bot.validate import parse_max_papers, parse_post_time, parse_switch, parse_timezone, parse_trending


def describe_schedule(ctx: Context, settings: ChannelSettings) -> str:
    """One line: when and how big this channel's digest is."""
    eff = effective(settings, ctx.config)
    line = f"Digest {eff.timing()} after each arXiv announcement day, up to {eff.max_papers} papers."
    if settings.trending:
        line += f" Plus up to {settings.trending} trending on Hugging Face."
    return "Digests are paused. " + line if settings.paused else line


def next_digest_line(ctx: Context, settings: ChannelSettings) -> str:
    """`Next digest: Mon 30 Nov at 09:00 UTC (no arXiv announcement on Fri 27 Nov: holiday).`"""
    eff = effective(settings, ctx.config)
    holidays = ctx.config.arxiv.no_announcement_dates()
    now = ctx.clock()
    upcoming = next_digest(
        now,
        eff.post_time,
        eff.timezone,
        *harvest_at(ctx.config),
        holidays,
    ).astimezone(eff.timezone)
    line = f"Next digest: {upcoming:%a %d %b} at {upcoming:%H:%M} {eff.timezone.key}"
    skipped = holidays_between(
        now.astimezone(ARXIV_TZ).date(), upcoming.astimezone(ARXIV_TZ).date(), holidays
    )
    if skipped:
        days = ", ".join(d.strftime("%a %d %b") for d in skipped)
        line += f" (no arXiv announcement on {days}: holiday)"
    return line + "."


_SETTING_KEYS = {
    "time": "post_time",
    "post_time": "post_time",
    "tz": "timezone",
    "timezone": "timezone",
    "max": "max_papers",
    "max_papers": "max_papers",
    "learn": "learn",
    "trending": "trending",
}


def settings_usage(name: CommandNaming = slash) -> str:
    """How to use /settings, in the platform's command names."""
    return (
        f"Usage: {name('settings')} [time HH:MM|asap] [tz Area/City] [max 1-50] [pause|resume] "
        f"[learn on|off] [trending 0-10], e.g. {name('settings')} time 08:30 tz Europe/Berlin max 15"
    )


async def settings(ctx: Context, cmd: Command) -> Reply:
    """`/settings`: show, or set post time, timezone, max papers, pause/resume."""
    words = clean_text(cmd.args).split()
    current = await ctx.store.channels.settings(cmd.channel)
    usage = settings_usage(ctx.name)
    if not words:
        return Reply(describe_schedule(ctx, current) + "\n" + usage)
    changes: dict[str, object] = {}
    i = 0
    while i < len(words):
        word = words[i].casefold()
        if word in ("pause", "resume"):
            changes["paused"] = word == "pause"
            i += 1
            continue
        field_name = _SETTING_KEYS.get(word)
        if field_name is None:
            raise UserError(f'Unknown setting "{words[i][:40]}". {usage}')
        if i + 1 >= len(words):
            raise UserError(f'"{words[i]}" needs a value. {usage}')
        value = words[i + 1]
        try:
            if field_name == "post_time":
                changes[field_name] = parse_post_time(value)
            elif field_name == "timezone":
                changes[field_name] = parse_timezone(value)
            elif field_name == "learn":
                changes[field_name] = parse_switch(value)
            elif field_name == "trending":
                changes[field_name] = parse_trending(value)
            else:
                changes[field_name] = parse_max_papers(value)
        except ValueError as exc:
            raise UserError(f"{word}: {exc}") from None
        i += 2
    new = await ctx.store.channels.update_settings(cmd.channel, changes, ctx.clock())
    learning = " Learning from reactions is on." if new.learn else " Learning from reactions is off."
    return Reply("Settings saved. " + describe_schedule(ctx, new) + learning, Visibility.CHANNEL)
