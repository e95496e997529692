"""The one lifecycle: storage, arXiv client, scheduler and adapters, started and stopped in order.

    async with App.from_config(cfg) as app:
        await app.wait_until_stopped()

Start-up happens in `__aenter__`; if any step fails, what was already started
is torn down in reverse before the exception propagates. What runs on a
schedule, and when, is `bot.scheduling.jobs`; what commands and DMs answer is
`bot.commands.dispatch` and `bot.commands.lookups`. Every failure takes the one error
path (`ErrorReporter.failed`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import zoneinfo
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar

from bot.arxiv.client import ArxivClient
from bot.arxiv.harvest import Harvester
from bot.arxiv.lookups import ArxivService
from bot.commands.dispatch import Context, dispatch
from bot.commands.lookups import answer_dm
from bot.commands.relevance import record_reaction
from bot.config import Config
from bot.digest.delivery import Deliverer
from bot.digest.llm import Summarizer
from bot.errors import ErrorReporter
from bot.models import ChannelRef, Command, DirectMessage, Platform, Reaction, Reply
from bot.ops import metrics
from bot.ops.health import Health, check_health
from bot.ops.server import OpsServer, SharesHttp
from bot.platforms import create_adapters
from bot.ports import Adapter, CommandNaming, slash
from bot.relevance.ranking import Relevance
from bot.runtime.memory import settle
from bot.scheduling.jobs import Jobs
from bot.scheduling.scheduler import Scheduler
from bot.trending.daily import Trending
from bot.trending.huggingface import HuggingFaceClient
from storage import Store
from storage.process_lock import ProcessLock

log = logging.getLogger(__name__)
T = TypeVar("T")

# Commands after which a channel's delivery job must follow its (new) settings.
_RESCHEDULE_AFTER = frozenset({"track", "untrack", "settings"})
SWITCH_INTERVAL = 0.001  # seconds a thread may hold the GIL before handing it on (see __aenter__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _started(resource: T | None) -> T:
    if resource is None:
        raise RuntimeError("App is not started: use `async with App(...)`")
    return resource


class App:
    """The running bot: implements the adapters' `Inbox` and owns every resource."""

    def __init__(
        self,
        config: Config,
        adapters: Sequence[Adapter],
        *,
        clock: Callable[[], datetime] = _utcnow,
        catch_up: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.adapters = list(adapters)
        self.clock = clock
        self.reporter = ErrorReporter()
        self.scheduler = Scheduler(zoneinfo.ZoneInfo(config.schedule.timezone), self.reporter)
        self._catch_up = catch_up
        self._sleep = sleep  # between the harvest's re-polls; tests drive time instead
        self._store: Store | None = None
        self._arxiv: ArxivService | None = None
        self._harvester: Harvester | None = None
        self._deliverer: Deliverer | None = None
        self._relevance: Relevance | None = None
        self._summarizer: Summarizer | None = None
        self._trending: Trending | None = None
        self._jobs: Jobs | None = None
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
        return _started(self._store)

    @property
    def context(self) -> Context:
        return Context(
            self.config,
            self.store,
            self.clock,
            self._arxiv,
            self._deliverer,
            self._relevance,
            self._trending,
        )

    @property
    def jobs(self) -> Jobs:
        """What runs on a schedule (the harvest, the delivery slots, the catch-up)."""
        return _started(self._jobs)

    @property
    def harvester(self) -> Harvester:
        return _started(self._harvester)

    @property
    def deliverer(self) -> Deliverer:
        return _started(self._deliverer)

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
            self._jobs = jobs = Jobs(
                self.config,
                self._store,
                self.scheduler,
                self.reporter,
                arxiv=self._arxiv,
                harvester=self._harvester,
                deliverer=self._deliverer,
                clock=self.clock,
                sleep=self._sleep,
                summarizer=self._summarizer,
                trending=self._trending,
            )
            self.scheduler.start()
            self._stack.callback(self.scheduler.shutdown)
            await self._start_ops()
            self._stack.push_async_callback(jobs.cancel_background)
            for adapter in self.adapters:
                await adapter.start(self)
                self._stack.push_async_callback(adapter.stop)
                log.info("adapter %s started", adapter.name)
            await jobs.schedule()
            # What the start made and imported lives as long as the process: out of the collector's
            # way, or the next digest run's first collection passes over it with the GIL held.
            settle()
            if self._catch_up:
                jobs.spawn(jobs.catch_up(), "catch-up")
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
                await self.jobs.schedule_channel(cmd.channel)
            return reply
        except Exception as exc:
            return Reply(self.reporter.failed(exc, f"command /{cmd.name}", {"channel": str(cmd.channel)}))

    async def direct_message(self, dm: DirectMessage) -> Reply:
        """Answer a DM: an arXiv id, link or title gets the abstract; anything else gets help."""
        with metrics.command_timer("dm", dm.user.platform):
            try:
                return await answer_dm(self._arxiv, dm.text, self._command_name(dm.user.platform))
            except Exception as exc:
                return Reply(self.reporter.failed(exc, "direct message", {"user": dm.user.user_id}))

    def _command_name(self, platform: Platform) -> CommandNaming:
        """How the adapter of `platform` names commands (`/settings` where none is running)."""
        return next((a.command_name for a in self.adapters if a.name == platform), slash)

    async def reaction(self, reaction: Reaction) -> None:
        """Record a 👍 or 👎 on one of our cards; anything else is ignored. Never raises."""
        try:
            await record_reaction(self.store, reaction, self.clock())
        except Exception as exc:
            self.reporter.failed(exc, "reaction", {"channel": str(reaction.channel)})

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return [s.query for s in await self.store.subscriptions.for_channel(channel)]

    def request_stop(self) -> None:
        """Ask the running bot to shut down (console EOF, a signal)."""
        self._stopped.set()

    async def wait_until_stopped(self) -> None:
        await self._stopped.wait()
