"""Trending papers from Hugging Face: the day's list, read once, for /trending and the digests.

The list of a day is read once, after the harvest (a background task: the digests never wait for
it) or when /trending finds nothing recent. Its papers are stored as arXiv papers too (the
arXiv API's record, one id_list request for those paperbot lacks; Hugging Face's own title,
summary and authors when arXiv does not answer), so their cards, BibTeX and the delivery ledger
work as for any paper. A channel with `/settings trending N` gets, in its digest, the day's N most
upvoted papers, or the N most upvoted of those that match its queries when it has any; each
paper once per channel, like every paper of a digest (the ledger's key is the channel and paper).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.arxiv.lookups import INTERACTIVE_RETRIES, ArxivService
from bot.config import Config
from bot.digest import compose as digest
from bot.digest import why
from bot.errors import ArxivUnavailable
from bot.matching.paper import PreparedPaper, prepare
from bot.matching.query import parse_stored
from bot.models import Card, ChannelRef, Paper, Reply, TrendingDay, TrendingPaper
from bot.relevance import similar
from bot.relevance.ranking import Relevance
from bot.trending.huggingface import HuggingFaceClient, HuggingFaceUnavailable
from storage import Store

log = logging.getLogger(__name__)

MAX_SECTION = 10  # `/settings trending N`: a short section
RETRY_AFTER_FAILURE_S = 600.0  # /trending asks Hugging Face again at most this often after a failure


@dataclass(frozen=True, slots=True)
class Pick:
    """A trending paper chosen for a digest or /trending: the stored paper and the list's facts."""

    paper: Paper
    upvotes: int
    day: date

    def why(self) -> str:
        """The ledger's record: no query matched it, the day's list did (and how many upvoted it)."""
        return why.dumps(why.trending(self.upvotes, self.day), ascii_only=True)

    def card(self) -> Card:
        return digest.card(self.paper, why.trending(self.upvotes, self.day), dated=True)


def as_paper(p: TrendingPaper) -> Paper:
    """Hugging Face's record of a paper, for when arXiv's cannot be had: no categories, version 1."""
    return Paper(p.arxiv_id, 1, p.title, p.summary, p.authors, (), published=p.published)


def section_line(count: int) -> str:
    """The digest header's line for the section."""
    return f"• {digest.TRENDING_LINE}: {count}"


def header(day: date, count: int) -> str:
    """The header of a digest that holds only the section (nothing new matched on arXiv)."""
    return f"{digest.TRENDING_LINE}, {day:%a %d %b %Y}: {count} {'paper' if count == 1 else 'papers'}"


class Trending:
    """Hugging Face's daily lists: read, stored, and picked from."""

    def __init__(
        self,
        client: HuggingFaceClient,
        store: Store,
        config: Config,
        clock: Callable[[], datetime],
        *,
        arxiv: ArxivService | None = None,
        relevance: Relevance | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.clock = clock
        self.arxiv = arxiv
        self.relevance = relevance
        self._lock = asyncio.Lock()  # one reading at a time: the harvest's and a /trending's
        self._failed_at: float | None = None
        # The latest list's picks, read as the matcher reads them: one run's channels share them.
        self._prepared: tuple[tuple[date, datetime], list[Pick], list[PreparedPaper]] | None = None

    @property
    def _look_back(self) -> int:
        return self.config.huggingface.look_back_days

    async def refresh(self, *, waiting: bool = False) -> TrendingDay | None:
        """Read the newest day's list not read yet: yesterday's (UTC), or an earlier one past empty days.

        A day is read once. Returns the newest list with papers; None when Hugging Face did not
        answer (logged; nothing else depends on it). `waiting`: someone waits (/trending), so
        arXiv gets one retry, not a harvest's patience.
        """
        async with self._lock:
            yesterday = self.clock().astimezone(UTC).date() - timedelta(days=1)
            days = [yesterday - timedelta(days=k) for k in range(self._look_back)]
            read = await self.store.trending.days_since(days[-1])
            for day in days:
                if day in read:
                    found = await self.store.trending.latest(day)
                    if found is not None and found.day == day:
                        return found
                    continue  # read before, and empty
                try:
                    papers = await self.client.daily(day)
                except HuggingFaceUnavailable as exc:
                    self._failed_at = time.monotonic()
                    log.warning("Hugging Face's papers of %s not read: %s", day, exc)
                    return None
                await self._store_papers(papers, waiting)
                await self.store.trending.save(day, papers, self.clock())
                log.info("Hugging Face's papers of %s: %d", day, len(papers))
                if papers:
                    return await self.store.trending.latest(day)
            return None

    async def _store_papers(self, papers: Sequence[TrendingPaper], waiting: bool) -> None:
        """Every listed paper in the store: arXiv's record where it answers, Hugging Face's otherwise."""
        stored = await self.store.papers.get_many([p.arxiv_id for p in papers])
        missing = [p for p in papers if p.arxiv_id not in stored]
        if not missing:
            return
        if self.arxiv is not None:
            retries = INTERACTIVE_RETRIES if waiting else None
            try:  # one id_list request per 100; stored as looked up, not as announced
                found = await self.arxiv.client.fetch_by_ids([p.arxiv_id for p in missing], retries=retries)
                await self.store.papers.upsert_many(found, self.clock())
            except ArxivUnavailable as exc:
                log.warning("arXiv's records of %d trending papers not read: %s", len(missing), exc)
            stored = await self.store.papers.get_many([p.arxiv_id for p in missing])
        rest = [as_paper(p) for p in missing if p.arxiv_id not in stored]
        if rest:
            await self.store.papers.upsert_many(rest, self.clock())

    async def latest(self) -> TrendingDay | None:
        """The newest list read, if it is recent (a week-old list is not news)."""
        since = self.clock().astimezone(UTC).date() - timedelta(days=self._look_back + 1)
        return await self.store.trending.latest(since)

    async def current(self) -> TrendingDay | None:
        """The newest recent list, read now if there is none (not again soon after a failure)."""
        found = await self.latest()
        recently_failed = (
            self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S
        )
        if found is None and not recently_failed:
            found = await self.refresh(waiting=True)
        return found

    async def picks(self, day: TrendingDay, n: int | None = None) -> list[Pick]:
        """The day's papers as stored, most upvoted first (at most `n`)."""
        listed = day.papers[:n] if n is not None else day.papers
        stored = await self.store.papers.get_many([p.arxiv_id for p in listed])
        return [
            Pick(stored[p.arxiv_id], p.upvotes, day.day)
            for p in listed
            if p.arxiv_id in stored  # stored when the list was read (a paper edited away is left out)
        ]

    async def for_digest(self, channel: ChannelRef, n: int, exclude: set[str]) -> list[Pick]:
        """The channel's section: the day's n most upvoted papers (of those matching its queries, if it
        has any) that it was never shown. Never reads Hugging Face: a digest does not wait for it."""
        if n <= 0:
            return []
        day = await self.latest()
        if day is None:
            return []
        picks, prepared = await self._day(day)
        queries = [s.query for s in await self.store.subscriptions.for_channel(channel)]
        if queries:
            picks = await self._matching(picks, prepared, queries)
        return [p for p in picks[:n] if p.paper.arxiv_id not in exclude]

    async def _day(self, day: TrendingDay) -> tuple[list[Pick], list[PreparedPaper]]:
        key = (day.day, day.fetched_at)
        if self._prepared is None or self._prepared[0] != key:
            picks = await self.picks(day)
            prepared = await asyncio.to_thread(lambda: [prepare(p.paper) for p in picks])
            self._prepared = (key, picks, prepared)
        return self._prepared[1], self._prepared[2]

    async def _matching(
        self, picks: list[Pick], prepared: list[PreparedPaper], queries: list[str]
    ) -> list[Pick]:
        """The picks that one of the queries matches: keyword queries as the digest matches them,
        `like:` topics as similar papers (above the topic's threshold)."""
        keyword = [k for q in queries if not similar.is_like(q) and (k := parse_stored(q)) is not None]
        papers = [p.paper for p in picks]
        wanted = {
            pick.paper.arxiv_id
            for pick, pp in zip(picks, prepared, strict=True)
            if any(q.matches(pp) for q in keyword)
        }
        liking = [q for q in queries if similar.is_like(q)]
        if liking and self.relevance is not None and papers:
            model, topics = await self.relevance.topics(liking)
            for topic in topics.values():
                hits = similar.ranked(topic, model, papers, at_least=topic.threshold)
                wanted.update(h.paper.arxiv_id for h in hits)
        return [p for p in picks if p.paper.arxiv_id in wanted]


async def trending_reply(source: Trending, n: int) -> Reply:
    """`/trending [n]`: the newest recent list's n most upvoted papers, upvotes on each card."""
    day = await source.current()
    if day is None:
        return Reply(
            "No trending papers from Hugging Face right now: it did not answer, or listed none in the "
            f"last {source.config.huggingface.look_back_days} days. Try again later."
        )
    picks = await source.picks(day, n)
    # TL;DRs of fifty papers are CPU work: off the event loop.
    cards = await asyncio.to_thread(lambda: tuple(p.card() for p in picks))
    most = "most upvoted paper" if len(cards) == 1 else f"{len(cards)} most upvoted papers"
    return Reply(f"{digest.TRENDING_LINE}, {day.day:%a %d %b %Y}: the {most}:", cards=cards)
