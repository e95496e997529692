"""The one lifecycle: storage, arXiv client, scheduler and adapters, started and stopped in order.

    async with App.from_config(cfg) as app:
        await app.wait_until_stopped()

Start-up happens in `__aenter__`; if any step fails, what was already started
is torn down in reverse before the exception propagates. The jobs live here
too: the daily harvest, one delivery job per distinct digest time and timezone
(it delivers the channels set to it when it fires), and the catch-up after a
restart.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import zoneinfo
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from bot import metrics
from bot.arxiv_client import ArxivClient
from bot.arxiv_ids import parse_arxiv_id
from bot.commands import Context, QueryReader, clean_text, dispatch, read_tracking_query
from bot.config import Config
from bot.delivery import Deliverer
from bot.errors import INTERNAL_ERROR_REPLY, ArxivUnavailable, ErrorReporter, UserError
from bot.harvest import SCHEDULED_WINDOW, Harvester
from bot.harvest_report import HarvestReport
from bot.health import Health, check_health
from bot.huggingface import HuggingFaceClient
from bot.ingest import ArxivService, abstract_reply, harvest_needs
from bot.llm import Summarizer, to_be_shown
from bot.models import ChannelRef, Command, DirectMessage, Platform, Reaction, Reply
from bot.ops import OpsServer, SharesHttp
from bot.platforms import create_adapters
from bot.ports import Adapter, CommandNaming, slash
from bot.posting import Outcome
from bot.relevance import Relevance
from bot.relevance_commands import record_reaction
from bot.scheduling import Scheduler
from bot.trending import Trending
from storage import Store
from storage.process_lock import ProcessLock

log = logging.getLogger(__name__)

ARXIV_DOWN_REPLY = "arXiv is not answering right now; please try again in a few minutes."
# Commands after which a channel's delivery job must follow its (new) settings.
_RESCHEDULE_AFTER = frozenset({"track", "untrack", "settings"})
MAX_DM_CHARS = 1000
SWITCH_INTERVAL = 0.001  # seconds a thread may hold the GIL before handing it on (see __aenter__)
RESUME_EVERY_MINUTES = 10
CATCH_UP_AFTER_HOURS = 12  # the daily catch-up job runs this long after the harvest time


def dm_help(name: CommandNaming = slash) -> str:
    """The answer to a DM that is no paper, in the platform's command names."""
    return (
        "Send me an arXiv id (2401.01234), an arXiv link, or a paper title and I'll answer with its "
        f"abstract. In a channel, {name('track')} <topic> follows a topic; {name('help')} lists the commands."
    )


DM_HELP = dm_help()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class App:
    """The running bot: implements the adapters' `Inbox` and owns every resource."""

    def __init__(
        self,
        config: Config,
        adapters: Sequence[Adapter],
        *,
        clock: Callable[[], datetime] = _utcnow,
        read_query: QueryReader = read_tracking_query,
        catch_up: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.adapters = list(adapters)
        self.clock = clock
        self.reporter = ErrorReporter()
        self.scheduler = Scheduler(zoneinfo.ZoneInfo(config.schedule.timezone), self.reporter)
        self._read_query = read_query
        self._catch_up = catch_up
        self._sleep = sleep  # between the harvest's re-polls; tests drive time instead
        self._harvesting = asyncio.Lock()  # one harvest at a time: the daily one, the catch-up
        self._store: Store | None = None
        self._arxiv: ArxivService | None = None
        self._harvester: Harvester | None = None
        self._deliverer: Deliverer | None = None
        self._relevance: Relevance | None = None
        self._summarizer: Summarizer | None = None
        self._trending: Trending | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._stack = AsyncExitStack()
        self._stopped = asyncio.Event()
        self.ops: OpsServer | None = None  # serving on its own port (not shared, not off)

    @classmethod
    def from_config(cls, config: Config, *, adapter: str | None = None) -> App:
        """An App with the adapters the config (or `adapter`) names; nothing is started yet."""
        # The config's platform descriptors build them: the core names no platform.
        # A real run catches up on what it missed while it was down (tests drive that themselves).
        return cls(config, create_adapters(config, only=adapter), catch_up=True)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("App is not started: use `async with App(...)`")
        return self._store

    @property
    def context(self) -> Context:
        return Context(
            self.config,
            self.store,
            self.clock,
            self._read_query,
            self._arxiv,
            self._deliverer,
            self._relevance,
            self._trending,
        )

    @property
    def _service(self) -> ArxivService:
        if self._arxiv is None:
            raise RuntimeError("App is not started: use `async with App(...)`")
        return self._arxiv

    @property
    def harvester(self) -> Harvester:
        if self._harvester is None:
            raise RuntimeError("App is not started: use `async with App(...)`")
        return self._harvester

    @property
    def deliverer(self) -> Deliverer:
        if self._deliverer is None:
            raise RuntimeError("App is not started: use `async with App(...)`")
        return self._deliverer

    async def __aenter__(self) -> App:
        try:
            # Digest runs and searches compute in worker threads; Python hands the GIL between
            # threads every 5 ms by default, so each step of answering a slash command could wait
            # that long behind them (Slack acks took 45 ms at the median, 0.3 s at worst). A
            # millisecond keeps the event loop's turn short, at a small cost to the workers.
            self._stack.callback(sys.setswitchinterval, sys.getswitchinterval())
            sys.setswitchinterval(SWITCH_INTERVAL)
            # One process per database, before anything is read: a second `paperbot run` stops
            # here with a line naming the first, instead of delivering the same digests again.
            lock = await ProcessLock.acquire(self.config.database_path)
            self._stack.callback(lock.release)
            self._store = await Store.open(self.config.database_path)
            self._stack.push_async_callback(self._store.close)
            client = ArxivClient(self.config.arxiv)
            self._stack.callback(client.close)
            self._arxiv = ArxivService(client, self._store, clock=self.clock)
            self._harvester = Harvester(client, self._store, self.config)
            by_platform = {
                Platform(a.name): a for a in self.adapters if a.name in Platform.__members__.values()
            }
            self._relevance = Relevance(self._store)
            if self.config.huggingface.enabled:
                hf = HuggingFaceClient(self.config.huggingface, contact=self.config.arxiv.contact)
                self._stack.push_async_callback(hf.close)
                self._trending = Trending(
                    hf, self._store, self.config, self.clock, arxiv=self._arxiv, relevance=self._relevance
                )
            if self.config.llm.enabled:
                self._summarizer = Summarizer(
                    self.config.llm, self.config.secrets.paperbot_llm_api_key, self._store, self.clock
                )
                self._stack.push_async_callback(self._summarizer.close)
            self._deliverer = Deliverer(
                self._store,
                by_platform,
                self.config,
                self.clock,
                self.reporter,
                relevance=self._relevance,
                summarizer=self._summarizer,
                trending=self._trending,
            )
            self.scheduler.start()
            self._stack.callback(self.scheduler.shutdown)
            await self._start_ops()
            self._stack.push_async_callback(self._cancel_background)
            for adapter in self.adapters:
                await adapter.start(self)
                self._stack.push_async_callback(adapter.stop)
                log.info("adapter %s started", adapter.name)
            await self._schedule_jobs()
            if self._catch_up:
                self._spawn(self.catch_up(), "catch-up")
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def _start_ops(self) -> None:
        """/healthz and /metrics on `ops.http_port`, or on the Slack adapter's port when it is that."""
        port = self.config.ops.http_port
        if not port:
            return
        server = OpsServer(self.health)
        routes = server.routes()
        for adapter in self.adapters:
            if isinstance(adapter, SharesHttp) and adapter.share_http(port, routes):
                log.info("serving /healthz and /metrics beside the %s adapter on port %d", adapter.name, port)
                return
        await server.start(self.config.ops.http_host, port)
        self._stack.push_async_callback(server.stop)
        self.ops = server

    async def health(self) -> Health:
        """The /healthz answer, now."""
        return await check_health(self.store, self.adapters, self.config.ops, self.clock())

    # -- Inbox -------------------------------------------------------------

    async def command(self, cmd: Command) -> Reply:
        """Answer a command; any failure becomes a short reply, never an exception."""
        with metrics.command_timer(cmd.name, cmd.channel.platform):
            return await self._command(cmd)

    async def _command(self, cmd: Command) -> Reply:
        try:
            reply = await dispatch(replace(self.context, name=self._command_name(cmd.channel.platform)), cmd)
            if cmd.name.casefold() in _RESCHEDULE_AFTER:
                await self.schedule_channel(cmd.channel)
            return reply
        except UserError as exc:
            return Reply(str(exc))
        except ArxivUnavailable as exc:
            log.warning("command /%s: %s", cmd.name, exc)
            return Reply(ARXIV_DOWN_REPLY)
        except Exception as exc:
            self.reporter.report(exc, f"command /{cmd.name}", {"channel": str(cmd.channel)})
            return Reply(INTERNAL_ERROR_REPLY)

    async def direct_message(self, dm: DirectMessage) -> Reply:
        """Answer a DM: an arXiv id, link or title gets the abstract; anything else gets help."""
        with metrics.command_timer("dm", dm.user.platform):
            return await self._direct_message(dm)

    def _command_name(self, platform: Platform) -> CommandNaming:
        """How the adapter of `platform` names commands (`/settings` where none is running)."""
        return next((a.command_name for a in self.adapters if a.name == platform), slash)

    async def _direct_message(self, dm: DirectMessage) -> Reply:
        help_reply = Reply(dm_help(self._command_name(dm.user.platform)))
        try:
            text = clean_text(dm.text[: MAX_DM_CHARS + 1])
            if not text or len(text) > MAX_DM_CHARS:
                return help_reply
            arxiv = self._arxiv
            if arxiv is None:
                return help_reply
            if parse_arxiv_id(text) is not None:
                return abstract_reply(await arxiv.lookup_text(text))
            paper = await arxiv.lookup_title(text)
            return abstract_reply(paper) if paper is not None else help_reply
        except UserError as exc:
            return Reply(str(exc))
        except ArxivUnavailable as exc:
            log.warning("DM lookup: %s", exc)
            return Reply(ARXIV_DOWN_REPLY)
        except Exception as exc:
            self.reporter.report(exc, "direct message", {"user": dm.user.user_id})
            return Reply(INTERNAL_ERROR_REPLY)

    async def reaction(self, reaction: Reaction) -> None:
        """Record a 👍 or 👎 on one of our cards; anything else is ignored. Never raises."""
        try:
            await record_reaction(self.store, reaction, self.clock())
        except Exception as exc:
            self.reporter.report(exc, "reaction", {"channel": str(reaction.channel)})

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return [s.query for s in await self.store.subscriptions.for_channel(channel)]

    # -- jobs --------------------------------------------------------------

    async def _schedule_jobs(self) -> None:
        """The harvest job, and a delivery job for each distinct digest time and timezone."""
        cfg = self.config.schedule
        hour, minute = map(int, cfg.harvest_time.split(":"))
        self.scheduler.cron(
            "harvest",
            self.harvest_job,
            timezone=zoneinfo.ZoneInfo(cfg.harvest_timezone),
            day_of_week="mon-fri",  # the feeds of Sunday-Thursday's announcements
            hour=hour,
            minute=minute,
        )
        # Half a day later, every day: whatever the harvest could not read (arXiv down all night, a
        # feed stale past the re-polls) is read then, not at the next harvest, maybe days later.
        self.scheduler.cron(
            "catch-up",
            self.catch_up_job,
            timezone=zoneinfo.ZoneInfo(cfg.harvest_timezone),
            hour=(hour + CATCH_UP_AFTER_HOURS) % 24,
            minute=minute,
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

    async def _schedule_slots(self) -> None:
        cfg = self.config.schedule
        slots = {
            slot
            for slot in await self.store.channels.schedule_slots(cfg.post_time, cfg.timezone)
            if slot[0] != "asap"  # delivered by the harvest job itself
        }
        for job_id in self.scheduler.job_ids():
            if job_id.startswith(_SLOT_PREFIX) and _slot_of(job_id) not in slots:
                self.scheduler.remove(job_id)
        scheduled = set(self.scheduler.job_ids())
        for when, tz in slots:
            job_id = slot_job_id(when, tz)
            if job_id in scheduled:
                continue
            hour, minute = map(int, when.split(":"))

            async def job(when: str = when, tz: str = tz) -> None:
                await self.deliver_channels(
                    await self.store.channels.at_slot(when, tz, cfg.post_time, cfg.timezone)
                )

            self.scheduler.cron(job_id, job, timezone=zoneinfo.ZoneInfo(tz), hour=hour, minute=minute)

    async def delivery_job(self, channel: ChannelRef) -> str | None:
        """The id of the job that delivers `channel`'s digests (None: it tracks nothing, or `asap`)."""
        settings = await self.store.channels.settings(channel)
        if await self.store.subscriptions.count(channel) == 0 and not settings.trending:
            return None
        when = settings.post_time or self.config.schedule.post_time
        if when == "asap":
            return None
        return slot_job_id(when, settings.timezone or self.config.schedule.timezone)

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
            self._spawn(self._read_trending(self._trending), "Hugging Face's papers")

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
            enriched = await self._service.enrich(sorted(ids))
        except ArxivUnavailable as exc:  # the digest goes out without them rather than not at all
            log.warning("could not fetch comments and journal refs of %d papers: %s", len(ids), exc)
            enriched = 0
        if self._summarizer is not None:
            caps = {
                c: s.max_papers or self.config.digest.max_papers
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
        return await self.store.channels.at_slot("asap", None, cfg.post_time, cfg.timezone)

    async def _overdue_channels(self) -> list[ChannelRef]:
        """Channels with an unfinished digest, or whose digest time today has already passed."""
        cfg = self.config.schedule
        chosen = dict.fromkeys(await self.store.deliveries.channels_with_open_digests())
        now = self.clock()
        for when, tz in await self.store.channels.schedule_slots(cfg.post_time, cfg.timezone):
            local = now.astimezone(zoneinfo.ZoneInfo(tz))
            if when == "asap" or local.strftime("%H:%M") >= when:
                chosen.update(
                    dict.fromkeys(await self.store.channels.at_slot(when, tz, cfg.post_time, cfg.timezone))
                )
        return list(chosen)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guard(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coro
        except Exception as exc:
            self.reporter.report(exc, name)

    async def _cancel_background(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def request_stop(self) -> None:
        """Ask the running bot to shut down (console EOF, a signal)."""
        self._stopped.set()

    async def wait_until_stopped(self) -> None:
        await self._stopped.wait()


_SLOT_PREFIX = "deliver:"


def slot_job_id(post_time: str, timezone: str) -> str:
    """The job delivering every channel whose digest comes at `post_time` in `timezone`."""
    return f"{_SLOT_PREFIX}{post_time} {timezone}"


def _slot_of(job_id: str) -> tuple[str, str]:
    post_time, _, timezone = job_id.removeprefix(_SLOT_PREFIX).partition(" ")
    return post_time, timezone
