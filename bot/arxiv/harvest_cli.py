"""`paperbot harvest` and `paperbot status`: a harvest now, and the state of the last announcement days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TextIO

from bot.arxiv.calendar import ARXIV_TZ, announced_at, holidays_between, next_harvest, recent_announcements
from bot.arxiv.client import ArxivClient
from bot.arxiv.feed_plan import harvest_needs
from bot.arxiv.harvest import COMMAND_WINDOW, Harvester
from bot.config import Config
from bot.models import AnnouncementDay, DayState
from bot.scheduling.effective import harvest_at
from storage.store import Store


async def run_harvest_command(config: Config, *, dry_run: bool, out: TextIO) -> int:
    """`paperbot harvest [--dry-run]`: read what the window lacks now, a line per request and per day.

    Exit code 1 when arXiv could not be read (the days stay partial or missing for the next run).
    """
    client = ArxivClient(config.arxiv)
    redact = config.redactor()  # a mirror's URL may carry a password

    def progress(line: str) -> None:
        print(redact(line), file=out, flush=True)

    try:
        async with await Store.open(config.database_path) as store:
            needs = await harvest_needs(store)
            harvester = Harvester(client, store, config)
            report = await harvester.harvest(
                datetime.now(UTC),
                needed=needs.needed,
                since=needs.since,
                dry_run=dry_run,
                window=COMMAND_WINDOW,
                progress=progress,
            )
    finally:
        client.close()
    for line in report.lines():
        progress(line)
    return 1 if report.failed else 0


def _when(moment: datetime) -> str:
    return moment.astimezone(ARXIV_TZ).strftime("%Y-%m-%d %H:%M ET")


def day_line(day: date, record: AnnouncementDay | None, papers: int, owed: bool) -> str:
    """`  Tue 24 Nov 2026  partial   15 papers  cs.CV from the API: no replacements`."""
    if record is None:
        state, note = (
            ("missing", "the next harvest reads it") if owed else ("-", "before anything was tracked")
        )
    else:
        state = str(record.state)
        note = "from the feeds" if record.state is DayState.COMPLETE else record.error or ""
    count = f"{papers} papers" if record is not None else ""
    return f"  {day:%a %d %b %Y}  {state:<9} {count:>11}  {note}".rstrip()


async def status_lines(store: Store, config: Config, now: datetime) -> list[str]:
    """The last `arxiv.catch_up_days` announcement days (and the holidays among them), newest first."""
    holidays = config.arxiv.no_announcement_dates()
    days = recent_announcements(now, config.arxiv.catch_up_days, holidays)
    records = await store.days.get_many(days)
    counts = await store.days.paper_counts(days)
    since = (await harvest_needs(store)).since
    lines = [
        f"arXiv announcement days (US Eastern), newest first; every harvest reads the last "
        f"{config.arxiv.catch_up_days} again until they are complete:"
    ]
    skipped = set(holidays_between(days[0], now.astimezone(ARXIV_TZ).date(), holidays))
    for day in sorted(set(days) | skipped, reverse=True):
        if day in skipped:
            lines.append(f"  {day:%a %d %b %Y}  holiday   {'':>11}  arXiv announces nothing")
            continue
        owed = since is not None and (announced_at(day) >= since or day == days[-1])
        lines.append(day_line(day, records.get(day), counts.get(day, 0), owed))
    pending = max((r.not_before for r in records.values() if r.not_before), default=None)
    if pending is not None and pending > now:
        lines.append(f"arXiv asked for no requests before {_when(pending)} (Retry-After)")
    runs = await store.harvests.recent(1)
    if runs:
        run = runs[0]
        lines.append(f"last harvest: {_when(run.started_at)}, {run.status}, {run.requests} requests")
    upcoming = next_harvest(now, *harvest_at(config), holidays)
    lines.append(f"next scheduled harvest: {upcoming:%a %d %b %Y %H:%M} {config.schedule.harvest_timezone}")
    return lines


async def run_status_command(config: Config, *, out: TextIO, now: datetime | None = None) -> int:
    """`paperbot status`: what paperbot holds of the last announcement days; no request to arXiv."""
    async with await Store.open(config.database_path) as store:
        for line in await status_lines(store, config, now or datetime.now(UTC)):
            print(line, file=out)
    return 0
