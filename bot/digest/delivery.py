"""Delivering digests exactly once: what each channel gets, planned in the ledger before anything is posted.

The ledger (`storage.deliveries`) holds a digest before anything is posted; `bot.digest.posting` then
sends it message by message, each behind a write-ahead record. A restart finds the open digest
and finishes it in the same thread. A channel that cannot be posted to is retried with backoff;
it never holds up the other channels, which are delivered concurrently (bounded).

A run over many channels (`deliver_many`) first prepares them all at once (`prepare`): one
match over every subscription, each channel's settings read in one query, every digest planned
and written to the ledger in a few batched transactions, every card made once per paper. Only
then is each channel posted, as above. A channel the run cannot plan with the others (an older
digest still open, or one planned meanwhile by /digest) is planned on its own when its turn comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Config
from bot.digest import compose as digest
from bot.digest import matches as channel_matches
from bot.digest import planning
from bot.digest.llm import Summarizer
from bot.digest.posting import DigestPoster, Outcome
from bot.errors import ErrorReporter
from bot.models import Card, ChannelRef, ChannelSettings, Platform, Subscription
from bot.ops import metrics
from bot.ports import Adapter
from bot.relevance.ranking import Relevance
from bot.runtime.gil import quick_handoffs
from bot.runtime.memory import checkpoint, gc_paused, keep
from bot.scheduling.effective import effective_max_papers
from bot.trending import daily as trending
from bot.trending.daily import Pick, Trending
from storage import Store
from storage.deliveries import DigestRecord, LedgerEntry

log = logging.getLogger(__name__)

MAX_CONCURRENT_CHANNELS = 64
# From this many subscriptions on, a run matches with the index kept between runs.
PERSISTENT_INDEX_FROM = 1_000
# Up to this many channels, their subscriptions are read channel by channel rather than all.
FEW_CHANNELS = 20
# A run matches papers harvested since the channels' last run, less this much: a harvest that
# committed just after that run read the papers, with an earlier harvest time, is not missed.
MATCHED_MARGIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Planned:
    """A channel's digest as a run planned it in the ledger, with its cards made."""

    digest_id: int
    cards: tuple[Card, ...]  # by the ledger position of each shown paper


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run before its first message: the digests planned, and the matches of the other channels."""

    planned: dict[ChannelRef, Planned]
    matches: dict[ChannelRef, list[digest.Entry]]  # channels to plan one by one (if at all)
    unplanned: set[ChannelRef]  # channels the run meant to plan, but another delivery got first
    as_of: int  # the deliverer's plan count when the matches were found
    run: planning.RunCache
    began: datetime  # when the run began: the matches hold what was harvested until then


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
        relevance: Relevance | None = None,
        summarizer: Summarizer | None = None,
        trending: Trending | None = None,
    ) -> None:
        self.store = store
        self.trending = trending  # Hugging Face's papers, for channels that asked for them
        self.relevance = relevance  # like: topics and learned ranking, a step after keyword matching
        self.summarizer = summarizer  # LLM TL;DRs ([llm]), when on
        self.adapters = adapters
        self.command_names = {platform: adapter.command_name for platform, adapter in adapters.items()}
        self.config = config
        self.clock = clock
        self.reporter = reporter
        self._slots = asyncio.Semaphore(concurrency)
        # One delivery per channel at a time: catch-up, the scheduled job and /digest must not race.
        self._channel_locks: dict[ChannelRef, asyncio.Lock] = {}
        # Counts digests planned; per channel, the count when its last one was. Matches found
        # for many channels at once are stale for a channel planned since (by /digest, say).
        self._plans = 0
        self._planned_at: dict[ChannelRef, int] = {}
        # The index over all subscriptions, synced (not rebuilt) on each run; one run at a time.
        self._index = channel_matches.SubscriptionIndex()
        self._index_lock = asyncio.Lock()
        # Per channel, when the last run that matched it began, if that run recorded everything it
        # found (planned in the ledger, or nothing found): a paper harvested before then was matched
        # against every subscription the channel had (a later one only gets later papers), so it
        # can bring nothing new. The next run matches only what came since: a day, not the whole
        # lookback window of `digest.lookback_days`. Kept in memory: after a restart, a run
        # matches the whole window once.
        self._matched: dict[ChannelRef, datetime] = {}
        self.papers_matched = 0  # how many papers the last match read (for tests and benchmarks)
        self.poster = DigestPoster(store, adapters, clock, summarizer)

    async def deliver_many(self, channels: Iterable[ChannelRef]) -> list[Outcome]:
        """Deliver every channel concurrently (bounded); one failing never affects the others."""
        channels = list(dict.fromkeys(channels))
        try:
            ready = await self.prepare(channels)
        except Exception as exc:
            # Digests already written stay open in the ledger: the next delivery finishes them.
            self.reporter.report(exc, "digest matching")
            return [Outcome(c, "failed", detail=str(exc)) for c in channels]
        return await self._each(
            channels,
            lambda c: self.deliver(
                c,
                # A channel the run meant to plan but could not (planned meanwhile): matched again.
                matches=None if c in ready.unplanned else ready.matches.get(c, []),
                matched_at=ready.began,
                as_of=ready.as_of,
                run=ready.run,
                planned=ready.planned.get(c),
            ),
        )

    async def prepare(
        self, channels: Sequence[ChannelRef], *, timings: dict[str, float] | None = None
    ) -> Prepared:
        """All of a run before its first message: match, plan every digest in the ledger, make the cards.

        One match over every subscription; each channel's settings in one query; digests capped,
        written to the ledger in batched transactions while the next batch is made; each card and
        TL;DR made once per paper. Channels paused, waiting out a backoff, with an older digest
        still open, with a Hugging Face section, or planned meanwhile are left out (`matches`):
        `deliver` takes them one by one.
        `timings`, when given, gets the seconds of each step.
        """
        with quick_handoffs():  # worker threads crunch while the loop and the database need the GIL
            return await self._prepare(channels, timings if timings is not None else {})

    async def _prepare(self, channels: Sequence[ChannelRef], times: dict[str, float]) -> Prepared:
        as_of = self._plans
        began = self.clock()
        states = await self.store.channels.run_states()

        def waiting(channel: ChannelRef) -> bool:
            settings, retry_at = states.get(channel, (ChannelSettings(), None))
            return settings.paused or (retry_at is not None and began < retry_at)

        # Paused channels and those waiting out a backoff are not matched: `deliver` says why.
        live = [c for c in channels if not waiting(c)]
        after, lagging = self._matched_since(live)
        matched = [c for c in live if c not in lagging]
        found = await self.new_matches(matched, timings=times, after=after) if matched else {}
        started = time.perf_counter()
        busy = set(await self.store.deliveries.channels_with_open_digests())

        def plannable() -> list[tuple[ChannelRef, int]]:
            """The channels to plan together, with their caps."""
            targets = []
            for channel in matched:
                if not found.get(channel) or channel in busy:
                    continue
                settings, _ = states.get(channel, (ChannelSettings(), None))
                if settings.trending > 0 and self.trending is not None:
                    continue  # its Hugging Face section is read for it alone: `deliver` plans it
                targets.append((channel, effective_max_papers(settings, self.config)))
            return targets

        # 10,000 channels take tens of milliseconds: not on the event loop.
        targets = plannable() if len(matched) <= FEW_CHANNELS else await asyncio.to_thread(plannable)
        summaries: dict[str, str] = {}
        if self.summarizer is not None and targets:  # stored since the harvest, usually
            shown = {e.paper.arxiv_id: e.paper for c, n in targets for e in digest.plan(found[c], n).shown}
            summaries = await self.summarizer.summaries(list(shown.values()))
        times["settings"] = time.perf_counter() - started
        run = planning.RunCache(summaries, self.command_names)
        # The targets' matches are let go of as they are planned: `found` keeps the others'.
        planned = await self._plan_many(found, targets, run, as_of, times)
        unplanned = {c for c, _ in targets if c not in planned} | lagging
        for channel in matched:  # everything found is in the ledger now, or nothing was found
            if channel in planned or not found.get(channel):
                self._matched[channel] = began
        return Prepared(planned, found, unplanned, as_of, run, began)

    def _matched_since(self, channels: Sequence[ChannelRef]) -> tuple[datetime | None, set[ChannelRef]]:
        """Since when to match `channels` together, and the few that lag behind (matched one by one).

        A channel no run has matched since the start, or one left behind for a day or more (it was
        paused, or unreachable), would send everyone back to the whole lookback window: when only a
        few do, `deliver` matches them on their own over the whole window. None: the whole window.
        """
        marks = {c: self._matched.get(c) for c in channels}
        newest = max((m for m in marks.values() if m is not None), default=None)
        if newest is None:
            return None, set()
        lagging = {c for c, m in marks.items() if m is None or m < newest - timedelta(days=1)}
        if len(lagging) > FEW_CHANNELS:
            return None, set()
        fresh = [m for c, m in marks.items() if m is not None and c not in lagging]
        return min(fresh) - MATCHED_MARGIN, lagging

    async def _plan_many(
        self,
        found: dict[ChannelRef, list[digest.Entry]],
        targets: Sequence[tuple[ChannelRef, int]],
        run: planning.RunCache,
        as_of: int,
        times: dict[str, float],
    ) -> dict[ChannelRef, Planned]:
        """Plan `targets` in the ledger, batch by batch: one is written while the next is made."""
        started = time.perf_counter()
        now = self.clock()
        planned: dict[ChannelRef, Planned] = {}
        made = planning.batches(found, targets, run, now.date())
        writing: asyncio.Task[None] | None = None
        making = 0.0
        # Hundreds of thousands of objects in no cycle, most of them kept until posted: the
        # collector waits for the end, then passes over them once (see bot.runtime.memory).
        with gc_paused():
            try:
                while True:
                    t0 = time.perf_counter()
                    # CPU work, in a worker thread; the previous batch's transaction runs meanwhile.
                    batch = await asyncio.to_thread(planning.next_batch, made)
                    making += time.perf_counter() - t0
                    if writing is not None:
                        await writing
                        writing = None
                    if batch is None:
                        break
                    writing = asyncio.create_task(self._write(batch, as_of, now, planned))
            finally:
                if writing is not None and not writing.done():  # a batch failed: let this one end
                    await asyncio.wait([writing])
            t0 = time.perf_counter()
            await asyncio.to_thread(planning.finish, run)
        times["plans"] = making + time.perf_counter() - t0
        times["ledger"] = time.perf_counter() - started - times["plans"]
        return planned

    async def _write(
        self, batch: planning.Batch, as_of: int, now: datetime, planned: dict[ChannelRef, Planned]
    ) -> None:
        """Write a batch's digests to the ledger, for the channels nobody planned since the match."""
        held: list[asyncio.Lock] = []
        digests, rows, cards = [], [], []
        try:
            for d, r, c in zip(batch.digests, batch.rows, batch.cards, strict=True):
                lock = self._channel_locks.setdefault(d.channel, asyncio.Lock())
                if lock.locked():  # /digest or another run is at it: `deliver` takes it one by one
                    continue
                await lock.acquire()
                held.append(lock)
                if self._planned_at.get(d.channel, -1) >= as_of:
                    continue  # planned since this run's matches were found: they are stale
                self._planned_at[d.channel] = self._plans
                self._plans += 1
                digests.append(d)
                rows.append(r)
                cards.append(c)
            ids = await self.store.deliveries.plan_many(digests, "[" + ",".join(rows) + "]", now)
        finally:
            for lock in held:
                lock.release()
        for d, c in zip(digests, cards, strict=True):
            if d.number in ids:
                planned[d.channel] = Planned(ids[d.number], c)

    async def resume_open(self, channels: Iterable[ChannelRef]) -> list[Outcome]:
        """Finish the interrupted digests of `channels` (concurrently, bounded), nothing new."""
        return await self._each(list(dict.fromkeys(channels)), lambda c: self.deliver(c, only_open=True))

    async def _each(
        self, channels: list[ChannelRef], deliver: Callable[[ChannelRef], Awaitable[Outcome]]
    ) -> list[Outcome]:
        """`deliver` every channel concurrently (bounded); one failing never affects the others."""

        async def one(channel: ChannelRef) -> Outcome:
            async with self._slots:
                try:
                    return await deliver(channel)
                except Exception as exc:
                    metrics.delivery_failed(channel.platform, "error")
                    self.reporter.report(exc, "digest delivery", {"channel": str(channel)})
                    return Outcome(channel, "failed", detail=str(exc))

        return list(await asyncio.gather(*(one(c) for c in channels)))

    async def new_matches(
        self,
        channels: Sequence[ChannelRef] | None = None,
        *,
        timings: dict[str, float] | None = None,
        after: datetime | None = None,
    ) -> dict[ChannelRef, list[digest.Entry]]:
        """Per channel (all of them by default), the matches not yet delivered there, ranked.

        Papers harvested in the lookback window are matched; with `after`, only those harvested
        since then (the channels' last run saw the rest).
        """
        times = timings if timings is not None else {}
        few = channels is not None and len(channels) <= FEW_CHANNELS  # a small time slot, /digest
        if few:
            return await self._new_matches(channels, times, after, few=True)
        # Every subscription read and matched: hundreds of thousands of objects in no cycle, most of
        # them kept. The collector is paused meanwhile: what lived before is collected and frozen
        # first (little: the last run froze what it kept), the subscriptions are frozen as read,
        # and matching's checkpoints then pass over what each batch made alone, not over all of it
        # (each full collection held the GIL for a tenth of a second; see bot.runtime.memory).
        with gc_paused():
            checkpoint()
            return await self._new_matches(channels, times, after, few=False)

    async def _new_matches(
        self,
        channels: Sequence[ChannelRef] | None,
        times: dict[str, float],
        after: datetime | None,
        *,
        few: bool,
    ) -> dict[ChannelRef, list[digest.Entry]]:
        started = time.perf_counter()
        wanted = set(channels) if channels is not None else None
        if few:
            subs = [
                s
                for c in dict.fromkeys(channels or ())
                for s in await self.store.subscriptions.for_channel(c)
            ]
        else:
            # All of them, even for some channels: the kept index stays whole (`only` picks).
            subs = await self.store.subscriptions.all()
            keep()  # the index keeps them
        if not subs:
            return {}
        window = self.clock() - timedelta(days=self.config.digest.lookback_days)
        # A pass over 100,000 subscriptions takes tens of milliseconds: not on the event loop.
        of = None if few else wanted
        if len(subs) < PERSISTENT_INDEX_FROM:
            mine, targets, oldest = _scope(subs, of)
        else:
            mine, targets, oldest = await asyncio.to_thread(_scope, subs, of)
        if oldest is None:  # none of theirs
            return {}
        since = max(window, oldest, after or window)
        candidates = await self.store.papers.harvested_since(since)
        self.papers_matched = len(candidates)
        if len(targets) <= FEW_CHANNELS:
            delivered = {c: await self.store.deliveries.delivered_ids(c) for c in targets}
        else:  # one query for every channel, about these papers only (not one per channel)
            ids = {p.arxiv_id for p, _ in candidates}
            delivered = await self.store.deliveries.delivered_among(ids, since)
        times["load"] = time.perf_counter() - started
        started = time.perf_counter()
        if few or len(subs) < PERSISTENT_INDEX_FROM:  # a few channels: a small index is quicker
            found = await asyncio.to_thread(channel_matches.matches, mine, candidates, delivered)
        else:
            async with self._index_lock:
                # In a thread: at 100,000 subscriptions matching takes a second or two, and the
                # event loop must keep answering slash commands and gateway heartbeats meanwhile.
                found = await asyncio.to_thread(
                    channel_matches.matches, subs, candidates, delivered, self._index, wanted
                )
        if self.relevance is not None:
            found = await self.relevance.extend(found, mine, candidates, delivered, targets)
        times["match"] = time.perf_counter() - started
        return found

    async def deliver(
        self,
        channel: ChannelRef,
        *,
        on_request: bool = False,
        matches: list[digest.Entry] | None = None,
        matched_at: datetime | None = None,
        as_of: int = 0,
        only_open: bool = False,
        run: planning.RunCache | None = None,
        planned: Planned | None = None,
    ) -> Outcome:
        """Finish an interrupted digest, then post what is new; `on_request` is /digest (ignores pause).

        `matches` are the channel's new matches when `deliver_many` already found them, before
        the `as_of`-th plan (at `matched_at`); they are found again if the channel got a digest since. With
        `only_open`, only an interrupted digest is finished. `run` holds the cards shared with the
        other channels of a run. `planned` is the digest a run already wrote to the ledger for it
        (posted like any open digest, with the cards the run made; /digest may have posted it since).
        """
        run = run or planning.RunCache(names=self.command_names)
        lock = self._channel_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            now = self.clock()
            settings = await self.store.channels.settings(channel)
            if not on_request:
                if settings.paused:
                    return Outcome(channel, "paused")
                retry_at = await self.store.channels.retry_at(channel)
                if retry_at is not None and now < retry_at:
                    return Outcome(channel, "waiting", detail=f"retrying after {retry_at:%Y-%m-%d %H:%M} UTC")
            posted = 0
            open_digest = await self.store.deliveries.open_digest(channel)
            while open_digest is not None:
                mine = planned is not None and open_digest.id == planned.digest_id
                if not mine:
                    log.info("resuming digest %d in %s", open_digest.id, channel)
                outcome = await self.poster.post(
                    open_digest, run, planned.cards if mine and planned else None
                )
                if outcome.status != "posted":
                    return outcome
                posted += outcome.posted
                # A run's digest waits behind an older one (never, as runs leave such channels out).
                if planned is None or mine:
                    break
                open_digest = await self.store.deliveries.open_digest(channel)
            if only_open or planned is not None:
                return Outcome(channel, "posted", posted) if posted else Outcome(channel, "nothing")
            if matches is None or self._planned_at.get(channel, -1) >= as_of:
                matched_at = self.clock()
                matches = (await self.new_matches([channel])).get(channel, [])
            section = await self._trending(channel, matches, settings.trending)
            record = await self._plan(channel, matches, now, run, section) if matches or section else None
            if matched_at is not None:  # what was found is in the ledger now (or nothing was)
                self._matched[channel] = max(matched_at, self._matched.get(channel, matched_at))
            if record is not None:
                outcome = await self.poster.post(record, run)
                if outcome.status != "posted":
                    return outcome
                posted += outcome.posted
            return Outcome(channel, "posted", posted) if posted else Outcome(channel, "nothing")

    async def _trending(self, channel: ChannelRef, matches: Sequence[digest.Entry], n: int) -> list[Pick]:
        """The channel's "Trending on Hugging Face" section of `n` papers; left out on any error."""
        if self.trending is None or n <= 0:
            return []
        try:
            shown = await self.store.deliveries.delivered_ids(channel)
            return await self.trending.for_digest(channel, n, shown | {e.paper.arxiv_id for e in matches})
        except Exception as exc:
            self.reporter.report(exc, "trending section", {"channel": str(channel)})
            return []

    async def _plan(
        self,
        channel: ChannelRef,
        entries: list[digest.Entry],
        now: datetime,
        run: planning.RunCache,
        section: Sequence[Pick] = (),
    ) -> DigestRecord:
        """Write the next digest (ranked `entries`, capped, and `section`) to the ledger before posting."""
        settings = await self.store.channels.settings(channel)
        plan = digest.plan(entries, effective_max_papers(settings, self.config))
        ledger = [
            LedgerEntry(e.paper.arxiv_id, i, e.queries, run.why_json(e), "pending")
            for i, e in enumerate(plan.shown)
        ]
        head, lines = plan.header, plan.lines
        if section:  # after the papers shown: each a card of the thread, in the ledger like them
            ledger += [
                LedgerEntry(p.paper.arxiv_id, len(ledger) + i, (), p.why(), "pending")
                for i, p in enumerate(section)
            ]
            head = head if entries else trending.header(section[0].day, len(section))
            lines += (trending.section_line(len(section)),)
        self._planned_at[channel] = self._plans
        self._plans += 1
        return await self.store.deliveries.plan(
            channel,
            announced=(plan.day or now.date()).isoformat(),
            header=head,
            lines=lines,
            footer=plan.footer,
            entries=ledger,
            now=now,
            overflow=[e.paper.arxiv_id for e in plan.rest],
        )


def _scope(
    subs: list[Subscription], wanted: Collection[ChannelRef] | None
) -> tuple[list[Subscription], set[ChannelRef], datetime | None]:
    """The subscriptions of the `wanted` channels (None: all), their channels, and the oldest's creation."""
    mine = subs if wanted is None else [s for s in subs if s.channel in wanted]
    return mine, {s.channel for s in mine}, min((s.created_at for s in mine), default=None)
