"""Posting digests exactly once: plan in the ledger, post, record each message, resume after a crash.

The ledger (`storage.deliveries`) is written before anything is posted. As each
message lands the adapter calls back and its platform id is recorded, so a
restart finds the open digest and appends only what is missing to the same
thread. A channel that cannot be posted to is marked unreachable and retried
with backoff; it never holds up the other channels, which are delivered
concurrently (bounded).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import digest, metrics
from bot.config import Config
from bot.errors import ChannelUnreachable, ErrorReporter
from bot.models import ChannelRef, Platform, Post, PostRef
from bot.ports import Adapter
from storage import Store
from storage.deliveries import DigestRecord, LedgerEntry

log = logging.getLogger(__name__)

MAX_CONCURRENT_CHANNELS = 64
# From this many subscriptions on, a run matches with the index kept between runs.
PERSISTENT_INDEX_FROM = 1_000
# Up to this many channels, their subscriptions are read channel by channel rather than all.
FEW_CHANNELS = 20


@dataclass(frozen=True, slots=True)
class Outcome:
    """What delivering one channel did."""

    channel: ChannelRef
    status: str  # posted | nothing | paused | unreachable | waiting | failed
    posted: int = 0
    detail: str = ""

    def describe(self) -> str:
        if self.status == "posted":
            return f"Posted a digest with {self.posted} {'paper' if self.posted == 1 else 'papers'}."
        if self.status == "nothing":
            return "Nothing new since the last digest."
        if self.status == "paused":
            return "Digests are paused in this channel (/settings resume)."
        if self.status in ("unreachable", "waiting"):
            return f"I cannot post in this channel: {self.detail}"
        return "The digest could not be posted; it will be retried."


class Deliverer:
    """Delivers channels' digests through their platform's adapter."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[Platform, Adapter],
        config: Config,
        clock: Callable[[], datetime],
        reporter: ErrorReporter,
        *,
        concurrency: int = MAX_CONCURRENT_CHANNELS,
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.config = config
        self.clock = clock
        self.reporter = reporter
        self._slots = asyncio.Semaphore(concurrency)
        # One delivery per channel at a time: the scheduled job and /digest must not race.
        self._channel_locks: dict[ChannelRef, asyncio.Lock] = {}
        # The index over all subscriptions, synced (not rebuilt) on each run; one run at a time.
        self._index = digest.SubscriptionIndex()
        self._index_lock = asyncio.Lock()

    async def deliver_many(self, channels: Iterable[ChannelRef]) -> list[Outcome]:
        """Deliver every channel concurrently (bounded); one failing never affects the others."""
        channels = list(dict.fromkeys(channels))
        # Match once for all of them: one index over every subscription, one pass over the papers.
        try:
            found = await self.new_matches(channels)
        except Exception as exc:
            self.reporter.report(exc, "digest matching")
            return [Outcome(c, "failed", detail=str(exc)) for c in channels]

        async def one(channel: ChannelRef) -> Outcome:
            async with self._slots:
                try:
                    return await self.deliver(channel, matches=found.get(channel, []))
                except Exception as exc:
                    metrics.delivery_failed(channel.platform, "error")
                    self.reporter.report(exc, "digest delivery", {"channel": str(channel)})
                    return Outcome(channel, "failed", detail=str(exc))

        return list(await asyncio.gather(*(one(c) for c in channels)))

    async def new_matches(
        self, channels: Sequence[ChannelRef] | None = None
    ) -> dict[ChannelRef, list[digest.Entry]]:
        """Per channel (all of them by default), the matches not yet delivered there, ranked."""
        if channels is not None and len(channels) <= FEW_CHANNELS:  # a channel's own job, /digest
            subs = [s for c in dict.fromkeys(channels) for s in await self.store.subscriptions.for_channel(c)]
        else:
            subs = await self.store.subscriptions.all()
            if channels is not None:
                wanted = set(channels)
                subs = [s for s in subs if s.channel in wanted]
        if not subs:
            return {}
        window = self.clock() - timedelta(days=self.config.digest.lookback_days)
        candidates = await self.store.papers.harvested_since(max(window, min(s.created_at for s in subs)))
        delivered = {c: await self.store.deliveries.delivered_ids(c) for c in {s.channel for s in subs}}
        if len(subs) < PERSISTENT_INDEX_FROM:  # one channel's /digest or job: a small index is quicker
            return await asyncio.to_thread(digest.matches, subs, candidates, delivered)
        async with self._index_lock:
            # In a thread: at 100,000 subscriptions matching takes a second or two, and the
            # event loop must keep answering slash commands and gateway heartbeats meanwhile.
            return await asyncio.to_thread(digest.matches, subs, candidates, delivered, self._index)

    async def deliver(
        self, channel: ChannelRef, *, on_request: bool = False, matches: list[digest.Entry] | None = None
    ) -> Outcome:
        """Finish an interrupted digest, then post what is new; `on_request` is /digest (ignores pause).

        `matches` are the channel's new matches when `deliver_many` already found them.
        """
        lock = self._channel_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            now = self.clock()
            if not on_request:
                if (await self.store.channels.settings(channel)).paused:
                    return Outcome(channel, "paused")
                retry_at = await self.store.channels.retry_at(channel)
                if retry_at is not None and now < retry_at:
                    return Outcome(channel, "waiting", detail=f"retrying after {retry_at:%Y-%m-%d %H:%M} UTC")
            posted = 0
            open_digest = await self.store.deliveries.open_digest(channel)
            if open_digest is not None:
                log.info("resuming digest %d in %s", open_digest.id, channel)
                outcome = await self._post(open_digest)
                if outcome.status != "posted":
                    return outcome
                posted += outcome.posted
            if matches is None:
                matches = (await self.new_matches([channel])).get(channel, [])
            record = await self._plan(channel, matches, now) if matches else None
            if record is not None:
                outcome = await self._post(record)
                if outcome.status != "posted":
                    return outcome
                posted += outcome.posted
            return Outcome(channel, "posted", posted) if posted else Outcome(channel, "nothing")

    async def _plan(self, channel: ChannelRef, entries: list[digest.Entry], now: datetime) -> DigestRecord:
        """Write the next digest (ranked `entries`, capped) to the ledger before anything is posted."""
        settings = await self.store.channels.settings(channel)
        plan = digest.plan(entries, settings.max_papers or self.config.digest.max_papers)
        ledger = [
            LedgerEntry(
                e.paper.arxiv_id, i, e.queries, json.dumps(e.why(words=shown), ensure_ascii=False), state
            )
            for i, (e, shown, state) in enumerate(
                [(e, True, "pending") for e in plan.shown] + [(e, False, "overflow") for e in plan.rest]
            )
        ]
        days = [e.paper.announced for e in entries if e.paper.announced]
        return await self.store.deliveries.plan(
            channel,
            announced=max(days).isoformat() if days else now.date().isoformat(),
            header=plan.header,
            lines=plan.lines,
            footer=plan.footer,
            entries=ledger,
            now=now,
        )

    async def _post(self, record: DigestRecord) -> Outcome:
        channel = record.channel
        adapter = self.adapters.get(channel.platform)
        if adapter is None:
            metrics.delivery_failed(channel.platform, "no_adapter")
            return Outcome(channel, "failed", detail=f"no {channel.platform} adapter is running")
        pending = record.pending
        papers = await self.store.papers.get_many([e.arxiv_id for e in pending])
        # A paper can only be missing if the database was edited by hand; skip rather than stall.
        items = [(e, papers[e.arxiv_id]) for e in pending if e.arxiv_id in papers]
        cards = tuple(digest.card(p, json.loads(e.why)) for e, p in items)
        resume = PostRef(record.parent_message_id) if record.parent_message_id else None
        # Resuming with every paper already posted: the crash came after the last card, before or
        # after the footer. The ledger cannot tell which, and a repeated footer is worse than none.
        footer = "" if resume is not None and not items else record.footer
        post = Post(record.header, record.lines, cards, footer)

        async def on_posted(index: int, message_id: str) -> None:
            metrics.posted(channel.platform, index)
            if index < 0:
                await self.store.deliveries.set_parent(record.id, message_id)
            else:
                await self.store.deliveries.mark_posted(
                    record.id, items[index][0].arxiv_id, message_id, self.clock()
                )

        try:
            await adapter.post(channel, post, resume=resume, on_posted=on_posted)
        except ChannelUnreachable as exc:
            metrics.delivery_failed(channel.platform, "unreachable")
            retry_at = await self.store.channels.mark_unreachable(channel, exc.reason, self.clock())
            log.warning(
                "cannot post to %s: %s. %s The digest is kept and retried after %s.",
                channel,
                exc.reason,
                exc.fix or "",
                f"{retry_at:%Y-%m-%d %H:%M} UTC",
            )
            return Outcome(channel, "unreachable", detail=f"{exc.reason}. {exc.fix}".strip())
        await self.store.deliveries.complete(record.id, self.clock())
        if await self.store.channels.retry_at(channel) is not None:
            await self.store.channels.clear_unreachable(channel)
            log.info("%s is reachable again", channel)
        return Outcome(channel, "posted", len(items))
