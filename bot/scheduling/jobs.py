"""The bot's scheduled work: the daily harvest, its catch-up, the digests' delivery slots.

One delivery job per distinct digest time and timezone (it delivers the channels set to it when
it fires), the harvest job on weekdays (it also delivers the `asap` channels), a catch-up half a
day later, a job finishing digests left open, and the catch-up after a restart. The App builds
this once its resources are up; `bot.scheduling.scheduler.Scheduler` runs the jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.arxiv.feed_plan import harvest_needs
from bot.arxiv.harvest import SCHEDULED_WINDOW, Harvester
from bot.arxiv.harvest_report import HarvestReport
from bot.arxiv.lookups import ArxivService
from bot.config import Config
from bot.digest.delivery import Deliverer
from bot.digest.llm import Summarizer, to_be_shown
from bot.digest.posting import Outcome
from bot.errors import ArxivUnavailable, ErrorReporter
from bot.models import ChannelRef
from bot.scheduling.effective import ASAP, effective, effective_max_papers, harvest_at, post_time, zone
from bot.scheduling.scheduler import Scheduler
from bot.trending.daily import Trending
from storage import Store

log = logging.getLogger(__name__)

RESUME_EVERY_MINUTES = 10
CATCH_UP_AFTER_HOURS = 12  # the daily catch-up job runs this long after the harvest time
_SLOT_PREFIX = "deliver:"


def slot_job_id(post_time: str, timezone: str) -> str:
    """The job delivering every channel whose digest comes at `post_time` in `timezone` (as stored)."""
    return f"{_SLOT_PREFIX}{post_time} {timezone}"


@dataclass(frozen=True, slots=True)
class Slot:
    """A digest time channels share, and the stored (post time, timezone) texts that resolve to it."""

    post_time: time | None  # None: asap
    timezone: ZoneInfo
    stored: tuple[tuple[str, str], ...]  # one, unless a stored timezone is unknown here (see `zone`)

    @property
    def job_id(self) -> str:
        return slot_job_id(_hhmm(self.post_time), self.timezone.key)


def _hhmm(when: time | None) -> str:
    return ASAP if when is None else f"{when:%H:%M}"


class Jobs:
    """What runs on a schedule, and when: built by the App once storage, arXiv and adapters are up."""

    def __init__(
        self,
        config: Config,
        store: Store,
        scheduler: Scheduler,
        reporter: ErrorReporter,
        *,
        arxiv: ArxivService,
        harvester: Harvester,
        deliverer: Deliverer,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]],
        summarizer: Summarizer | None = None,
        trending: Trending | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.scheduler = scheduler
        self.reporter = reporter
        self.arxiv = arxiv
        self.harvester = harvester
        self.deliverer = deliverer
        self.clock = clock
        self._sleep = sleep  # between the harvest's re-polls; tests drive time instead
        self._summarizer = summarizer
        self._trending = trending
        self._harvesting = asyncio.Lock()  # one harvest at a time: the daily one, the catch-up
        self._background: set[asyncio.Task[None]] = set()

    async def schedule(self) -> None:
        """The harvest job, and a delivery job for each distinct digest time and timezone."""
        when, harvest_tz = harvest_at(self.config)
        self.scheduler.cron(
            "harvest",
            self.harvest_job,
            timezone=harvest_tz,
            day_of_week="mon-fri",  # the feeds of Sunday-Thursday's announcements
            hour=when.hour,
            minute=when.minute,
        )
        # Half a day later, every day: whatever the harvest could not read (arXiv down all night, a
        # feed stale past the re-polls) is read then, not at the next harvest, maybe days later.
        self.scheduler.cron(
            "catch-up",
            self.catch_up_job,
            timezone=harvest_tz,
            hour=(when.hour + CATCH_UP_AFTER_HOURS) % 24,
            minute=when.minute,
        )
        await self._schedule_slots()
        # A digest left open by a failure that is not the channel's (the platform erring, the
        # database locked for minutes) is finished soon, not at the channel's next digest time.
        self.scheduler.cron(
            "resume", self.resume_open_digests, timezone=UTC, minute=f"*/{RESUME_EVERY_MINUTES}"
        )

    async def schedule_channel(self, channel: ChannelRef) -> None:
        """Make the delivery jobs follow a change of `channel` (tracked queries, time, timezone).

        Jobs are per time slot, not per channel: 100,000 subscriptions over 10,000 channels took
        1.9 s to schedule at start, one job each. A slot's job reads its channels when it fires,
        so a changed setting takes effect without touching any job but the slot's own.
        """
        await self._schedule_slots()

    async def _slots(self) -> list[Slot]:
        """The distinct digest times of the channels that get digests, defaults applied."""
        cfg = self.config.schedule
        stored: dict[tuple[time | None, str], list[tuple[str, str]]] = {}
        for when, tz in sorted(await self.store.channels.schedule_slots(cfg.post_time, cfg.timezone)):
            stored.setdefault((post_time(when), zone(tz, cfg.timezone).key), []).append((when, tz))
        return [Slot(when, ZoneInfo(key), tuple(texts)) for (when, key), texts in stored.items()]

    async def _schedule_slots(self) -> None:
        timed = {s.job_id: s for s in await self._slots() if s.post_time is not None}  # asap: harvest job's
        for job_id in self.scheduler.job_ids():
            if job_id.startswith(_SLOT_PREFIX) and job_id not in timed:
                self.scheduler.remove(job_id)
        scheduled = set(self.scheduler.job_ids())
        for job_id, slot in timed.items():
            if job_id in scheduled:
                continue
            assert slot.post_time is not None

            async def job(slot: Slot = slot) -> None:
                await self.deliver_channels(await self._at(slot))

            self.scheduler.cron(
                job_id, job, timezone=slot.timezone, hour=slot.post_time.hour, minute=slot.post_time.minute
            )

    async def _at(self, slot: Slot) -> list[ChannelRef]:
        cfg = self.config.schedule
        found: list[ChannelRef] = []
        for when, tz in slot.stored:
            found += await self.store.channels.at_slot(when, tz, cfg.post_time, cfg.timezone)
        return found

    async def delivery_job(self, channel: ChannelRef) -> str | None:
        """The id of the job that delivers `channel`'s digests (None: it tracks nothing, or `asap`)."""
        settings = await self.store.channels.settings(channel)
        if await self.store.subscriptions.count(channel) == 0 and not settings.trending:
            return None
        when = effective(settings, self.config)
        if when.post_time is None:
            return None
        return slot_job_id(_hhmm(when.post_time), when.timezone.key)

    async def harvest_job(self) -> HarvestReport:
        """The scheduled harvest (re-polling while a feed is not updated), then `asap` channels.

        It reads every missing or partial day of the catch-up window, not only today's.
        """
        async with self._harvesting:
            needs = await harvest_needs(self.store)
            if not needs.needed:  # nobody tracks anything: nothing to ask arXiv for
                self.read_trending_later()
                return HarvestReport(self.clock())
            report = await self.harvester.harvest_with_repolls(
                self.clock, needed=needs.needed, since=needs.since, sleep=self._sleep
            )
        self.read_trending_later()
        await self._after_harvest(report)
        return report

    def read_trending_later(self) -> None:
        """Read Hugging Face's list of the day in the background: nothing waits for it or fails with it."""
        if self._trending is not None:
            self.spawn(self._read_trending(self._trending), "Hugging Face's papers")

    async def _read_trending(self, trending: Trending) -> None:
        if await self.store.channels.wants_trending():  # else /trending reads it when asked
            await trending.refresh()

    async def catch_up_job(self) -> HarvestReport:
        """Every day, half a day after the harvest: read the days still missing or partial, if any.

        Usually there are none and nothing is asked of arXiv. What it reads goes out with each
        channel's next digest (right away for `asap` channels).
        """
        async with self._harvesting:  # after a harvest still running, this finds its days read
            needs = await harvest_needs(self.store)
            if not needs.needed:
                return HarvestReport(self.clock())
            report = await self.harvester.harvest(
                self.clock(), needed=needs.needed, since=needs.since, window=SCHEDULED_WINDOW
            )
        await self._after_harvest(report)
        return report

    async def _after_harvest(self, report: HarvestReport) -> None:
        if report.stored_new:
            await self.enrich_matches()
            await self.deliver_channels(await self._asap_channels())

    async def enrich_matches(self) -> int:
        """Fill in comments, journal refs and DOIs of undelivered matches: the feeds lack some.

        One id_list request per 100 matched papers, whatever the number of channels. With [llm]
        on, the TL;DRs of the papers the digests will show are written now, hours before them.
        """
        found = await self.deliverer.new_matches()
        ids = {e.paper.arxiv_id for entries in found.values() for e in entries}
        try:
            enriched = await self.arxiv.enrich(sorted(ids))
        except ArxivUnavailable as exc:  # the digest goes out without them rather than not at all
            log.warning("could not fetch comments and journal refs of %d papers: %s", len(ids), exc)
            enriched = 0
        if self._summarizer is not None:
            caps = {
                c: effective_max_papers(s, self.config)
                for c, s in await self.store.channels.with_subscriptions()
            }
            await self._summarizer.summaries(to_be_shown(found, caps))
        return enriched

    async def resume_open_digests(self) -> list[Outcome]:
        """Finish the digests that were planned but not completed (unreachable channels wait their turn)."""
        return await self.deliverer.resume_open(await self.store.deliveries.channels_with_open_digests())

    async def deliver_channels(self, channels: list[ChannelRef]) -> list[Outcome]:
        return await self.deliverer.deliver_many(channels)

    async def catch_up(self) -> None:
        """After a restart: read missed or partial days, finish open digests, post overdue ones."""
        self.read_trending_later()
        report = await self.catch_up_job()
        if report.failed:
            log.warning("catch-up harvest incomplete, later harvests will retry: %s", report.summary())
        overdue = await self._overdue_channels()
        if overdue:
            log.info(
                "catching up %d channel(s) whose digest time passed while paperbot was down", len(overdue)
            )
            await self.deliver_channels(overdue)

    async def _asap_channels(self) -> list[ChannelRef]:
        cfg = self.config.schedule
        return await self.store.channels.at_slot(ASAP, None, cfg.post_time, cfg.timezone)

    async def _overdue_channels(self) -> list[ChannelRef]:
        """Channels with an unfinished digest, or whose digest time today has already passed."""
        chosen = dict.fromkeys(await self.store.deliveries.channels_with_open_digests())
        now = self.clock()
        for slot in await self._slots():
            if slot.post_time is None or now.astimezone(slot.timezone).time() >= slot.post_time:
                chosen.update(dict.fromkeys(await self._at(slot)))
        return list(chosen)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run `coro` in the background; a failure goes to the one error path, as a job's does."""
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guard(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coro
        except Exception as exc:
            self.reporter.failed(exc, name)

    async def cancel_background(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
