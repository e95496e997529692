"""The one lifecycle: storage, scheduler and adapters, started and stopped in order.

    async with App.from_config(cfg) as app:
        await app.wait_until_stopped()

Start-up happens in `__aenter__`; if any step fails, what was already started
is torn down in reverse before the exception propagates.
"""

from __future__ import annotations

import asyncio
import logging
import zoneinfo
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType

from bot.commands import Context, QueryReader, dispatch, read_plain_query
from bot.config import Config
from bot.errors import INTERNAL_ERROR_REPLY, ErrorReporter, UserError
from bot.models import ChannelRef, Command, DirectMessage, Reply
from bot.ports import Adapter
from bot.scheduling import Scheduler
from storage import Store

log = logging.getLogger(__name__)

DM_HELP = (
    "Send me an arXiv id (2401.01234), an arXiv link, or a paper title and I'll answer with its abstract. "
    "In a channel, /track <topic> follows a topic; /help lists the commands."
)


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
        read_query: QueryReader = read_plain_query,
    ) -> None:
        self.config = config
        self.adapters = list(adapters)
        self.clock = clock
        self.reporter = ErrorReporter()
        self.scheduler = Scheduler(zoneinfo.ZoneInfo(config.schedule.timezone), self.reporter)
        self._read_query = read_query
        self._store: Store | None = None
        self._stack = AsyncExitStack()
        self._stopped = asyncio.Event()

    @classmethod
    def from_config(cls, config: Config, *, adapter: str | None = None) -> App:
        """An App with the adapters the config (or `adapter`) names; nothing is started yet."""
        from adapters import create_adapters  # the core proper never imports a platform

        return cls(config, create_adapters(config, only=adapter))

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("App is not started: use `async with App(...)`")
        return self._store

    @property
    def context(self) -> Context:
        return Context(self.config, self.store, self.clock, self._read_query)

    async def __aenter__(self) -> App:
        try:
            self._store = await Store.open(self.config.database_path)
            self._stack.push_async_callback(self._store.close)
            self.scheduler.start()
            self._stack.callback(self.scheduler.shutdown)
            for adapter in self.adapters:
                await adapter.start(self)
                self._stack.push_async_callback(adapter.stop)
                log.info("adapter %s started", adapter.name)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    # -- Inbox -------------------------------------------------------------

    async def command(self, cmd: Command) -> Reply:
        """Answer a command; any failure becomes a short reply, never an exception."""
        try:
            return await dispatch(self.context, cmd)
        except UserError as exc:
            return Reply(str(exc))
        except Exception as exc:
            self.reporter.report(exc, f"command /{cmd.name}", {"channel": str(cmd.channel)})
            return Reply(INTERNAL_ERROR_REPLY)

    async def direct_message(self, dm: DirectMessage) -> Reply:
        """Answer a DM: an arXiv lookup once ingestion is wired; help otherwise."""
        return Reply(DM_HELP)

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return [s.query for s in await self.store.subscriptions.for_channel(channel)]

    def request_stop(self) -> None:
        """Ask the running bot to shut down (console EOF, a signal)."""
        self._stopped.set()

    async def wait_until_stopped(self) -> None:
        await self._stopped.wait()
