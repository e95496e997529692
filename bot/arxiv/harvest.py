"""The harvest: every announcement day of the catch-up window read, recorded, and read again until done.

Every harvest (the scheduled one, the catch-up at start, `paperbot harvest`) looks at the last
`arxiv.catch_up_days` announcement days and reads what is missing or partial. Today's announcement
comes from the feeds, one request per category group; the feeds hold nothing older, so an earlier
day comes from arXiv's API by submission window (paginated, one query for all its categories).
A day is *complete* when every category was read from its feed, *partial* when some were read from
the API (a fallback, or a past day) or not at all, *missing* when nothing was. Papers and the day's
record commit together, day by day.

Each feed group is checked on its own: a group still showing an older day is looked at again at
the next re-poll and, if still stale at the last one, filled from the API for that group alone;
the day stays partial until a later read of that feed succeeds (while the feed still shows it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from bot.arxiv.calendar import (
    ARXIV_TZ,
    REPOLL_EVERY,
    REPOLL_TIMES,
    announcement_date,
    catch_up_days,
    submission_window,
)
from bot.arxiv.client import ArxivClient, FeedResult
from bot.arxiv.feed_plan import api_categories, needed_union, plan_feed_requests
from bot.arxiv.feeds import ParsedFeed, merge
from bot.arxiv.harvest_report import DayReport, HarvestReport, combined, counts, day_state, to_read
from bot.config import Config
from bot.errors import ArxivDeferred, ArxivUnavailable
from bot.matching.fulltext import search_text
from bot.models import AnnouncementDay, DayState, Paper, Source
from bot.ops import metrics
from storage.store import Store

log = logging.getLogger(__name__)

# How long a scheduled harvest may wait for arXiv (its re-polls, a Retry-After): past this, what is
# left stays partial for the next harvest. Someone running `paperbot harvest` waits less.
SCHEDULED_WINDOW = REPOLL_EVERY * (REPOLL_TIMES + 1)
COMMAND_WINDOW = timedelta(minutes=5)

Progress = Callable[[str], None]


@dataclass
class _DayRead:
    """What reading one day produced, before it is stored."""

    papers: list[Paper] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    error: str | None = None
    deferred_s: float | None = None  # arXiv's Retry-After, when it reached past the window


async def _no_sleep(_: float) -> None:
    return None


class Harvester:
    """Reads announcement days into the store and keeps each day's record."""

    def __init__(
        self, client: ArxivClient, store: Store, config: Config, *, holidays: Collection[date] | None = None
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.holidays = config.arxiv.no_announcement_dates() if holidays is None else holidays

    def units(self, needed: Iterable[frozenset[str] | None]) -> list[str]:
        """The categories a harvest reads, as its feed requests group them."""
        planned = plan_feed_requests(needed_union(needed, self.config.arxiv.categories))
        return [c for group in planned for c in group]

    async def harvest(
        self,
        now: datetime,
        *,
        needed: Iterable[frozenset[str] | None] = (),
        since: datetime | None = None,
        final: bool = True,
        force: bool = False,
        dry_run: bool = False,
        window: timedelta = COMMAND_WINDOW,
        progress: Progress | None = None,
    ) -> HarvestReport:
        """Read every missing or partial day of the window at `now`; today's from the feeds.

        `since`: when the first subscription was made (no day announced before it is owed).
        `final`: the last look today, so a feed group still not updated is read from the API.
        `force`: read today's feeds even if the day is complete. `window`: the longest wait for arXiv.
        """
        say = progress or (lambda line: None)
        clock = time.monotonic()
        requests_before = self.client.requests_made
        self.client.forget_unreachable()  # every run gives a host that was down a new chance
        units = self.units(needed)
        days = catch_up_days(now, self.config.arxiv.catch_up_days, since, self.holidays)
        records = await self.store.days.get_many(days)
        today = announcement_date(now, self.holidays)
        self._remember_retry_after(records.values(), now)

        work = []
        for d in days:
            todo = units if force and d == today else to_read(records.get(d), units, d == today)
            if todo:
                work.append((d, todo))
        work.sort(key=lambda w: (w[0] != today, w[0]))  # today first: its feed is there only today
        run_id = None if dry_run or not work else await self.store.harvests.start(now, days[-1])

        reports: list[DayReport] = []
        stopped: _DayRead | None = None
        try:
            with self.client.window(window.total_seconds()):
                for d, todo in work:
                    before = self.client.requests_made
                    got = await self._read_day(d, todo, records.get(d), today=today, final=final, say=say)
                    at = now + timedelta(seconds=time.monotonic() - clock)
                    used = self.client.requests_made - before
                    stored = await self._store_day(
                        records.get(d), d, units, got, at, used, d == today, dry_run
                    )
                    reports.append(stored)
                    if got.deferred_s is not None or self._arxiv_unreachable():
                        stopped = got  # the rest would fail without a request: leave it to the next run
                        break
        except BaseException as err:
            if run_id is not None:
                await self._record_run_failure(run_id, now, f"{type(err).__name__}: {err}")
            raise

        after = records if dry_run else await self.store.days.get_many(days)
        result = HarvestReport(
            now,
            tuple(reports),
            tuple(after.get(d) or AnnouncementDay(d) for d in days if not _complete(after.get(d))),
            self.client.requests_made - requests_before,
            round(time.monotonic() - clock, 3),
            stopped.error if stopped else None,
            bool(stopped and stopped.deferred_s is not None),
            dry_run,
        )
        if run_id is not None:
            await self._record_run(run_id, now, days[-1], result)
        kept = [] if dry_run else [d for d in reports if d.read]
        metrics.harvested(
            result.status,
            result.seconds,
            [(d.day, {"new": d.new, "cross": d.cross, "replace": d.replaced}) for d in kept],
        )
        if work and progress is None:  # with a progress callback, the caller shows the report
            log.info("%s", result.summary())
        return result

    def _remember_retry_after(self, records: Iterable[AnnouncementDay], now: datetime) -> None:
        # A Retry-After seen by an earlier run (or process) still holds: nothing goes out before it.
        pending = max((r.not_before for r in records if r.not_before is not None), default=None)
        if pending is not None and pending > now:
            self.client.defer((pending - now).total_seconds())

    def _arxiv_unreachable(self) -> bool:
        return all(self.client.unreachable(h) for h in (self.client.feed_host, self.client.api_host))

    async def _read_day(
        self,
        day: date,
        units: list[str],
        record: AnnouncementDay | None,
        *,
        today: date | None,
        final: bool,
        say: Progress,
    ) -> _DayRead:
        got = _DayRead()
        if day != today:  # the feeds only show today's announcement
            await self._fallback(day, units, got, say)
            return got
        failed: list[str] = []
        fresh: list[FeedResult] = []
        empty: list[str] = []
        for group in plan_feed_requests(units):
            before = self.client.requests_made
            try:
                res = await self.client.fetch_feed(group)
            except ArxivUnavailable as err:
                if self.client.requests_made > before:
                    say(f"GET {self.client.feed_url(group)} ... failed: {err}")
                failed += group
                got.error = f"feed failed: {err}"
                if isinstance(err, ArxivDeferred):
                    got.deferred_s = err.retry_after_s
                    failed += [u for u in units if u not in failed and u not in got.sources]
                    break
                continue
            if res.announced == day and res.items:
                say(f"GET {res.url} ... {res.items} items")
                fresh.append(res)
                got.sources.update(dict.fromkeys(group, Source.FEED))
            elif res.items == 0 and res.announced in (day, None):
                say(f"GET {res.url} ... no items")
                empty += group
            else:
                shown = res.announced.strftime("%a %d %b") if res.announced else "no date"
                say(f"GET {res.url} ... {res.items} items of {shown}: not updated yet")
                got.waiting += group
        if fresh or (record is not None and record.categories(Source.FEED)):
            # arXiv rebuilds its feeds together: beside an updated group, an empty one had a quiet day.
            got.sources.update(dict.fromkeys(empty, Source.FEED))
        else:
            got.waiting += empty
        got.papers = merge([ParsedFeed(r.papers, r.announced, r.items, r.skipped) for r in fresh])
        fallback = failed + (got.waiting if final else [])
        if final:
            got.waiting = []
        if fallback:
            await self._fallback(day, fallback, got, say)
        return got

    async def _fallback(self, day: date, units: list[str], got: _DayRead, say: Progress) -> None:
        """The API by submission window for `units`: a past day, or a feed that failed or stayed stale."""
        if got.deferred_s is not None:  # arXiv asked for quiet: nothing more is sent this run
            got.sources.update({u: Source.FAILED for u in units if u not in got.sources})
            return
        start, end = submission_window(day, self.holidays)
        where = (
            f"GET {self.config.arxiv.api_url} (submitted {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ET)"
        )
        before = self.client.requests_made
        try:
            found = await self.client.fetch_recent(api_categories(units), start, end)
        except ArxivUnavailable as err:
            if self.client.requests_made > before:
                say(f"{where} ... failed: {err}")
            got.sources.update({u: Source.FAILED for u in units if u not in got.sources})
            got.error = str(err)
            if isinstance(err, ArxivDeferred):
                got.deferred_s = err.retry_after_s
            return
        say(f"{where} ... {len(found)} papers in {self.client.requests_made - before} requests")
        known = {p.arxiv_id for p in got.papers}
        got.papers += [
            replace(p, announced=day, announce_type="new") for p in found if p.arxiv_id not in known
        ]
        got.sources.update(dict.fromkeys(units, Source.API))

    async def _store_day(
        self,
        record: AnnouncementDay | None,
        day: date,
        units: list[str],
        got: _DayRead,
        now: datetime,
        requests: int,
        from_feed: bool,
        dry_run: bool,
    ) -> DayReport:
        record = record or AnnouncementDay(day)
        sources = dict(record.merged(got.sources))
        state = day_state(sources, units)
        new, cross, replaced = counts(got.papers)
        read = tuple(dict.fromkeys(s for s in got.sources.values() if s is not Source.FAILED))
        report = DayReport(
            day,
            state,
            tuple(sorted(read, reverse=True)),  # feed before api
            new,
            cross,
            replaced,
            requests=requests,
            waiting=tuple(got.waiting),
            caught_up=now.astimezone(ARXIV_TZ).date() > day,
            error=_why_not_complete(state, sources, got),
            failed=got.error is not None and not read,
            retry=state is not DayState.COMPLETE and (from_feed or (got.error is not None and not read)),
        )
        if dry_run:
            return report
        not_before = record.not_before
        if got.deferred_s is not None:
            not_before = now + timedelta(seconds=got.deferred_s)
        updated = replace(
            record,
            state=state,
            sources=tuple(sorted(sources.items())),
            requests=record.requests + requests,
            first_read=record.first_read or (now if got.papers else None),
            last_tried=now,
            error=report.error,
            not_before=not_before,
        )
        # What the search index is given for each paper, worked out before the write lock is taken
        # (tokenising a day is a tenth of a second that nothing else need wait behind).
        papers = got.papers
        search = await asyncio.to_thread(lambda: {p: search_text(p) for p in papers})
        # The papers and the day's record commit together: a crash here leaves the day to redo.
        async with self.store.db.transaction():
            stored = await self.store.papers.upsert_many(papers, now, search=search)
            await self.store.days.save(updated)
        return replace(report, stored_new=stored.new)

    async def _record_run(self, run_id: int, now: datetime, day: date, result: HarvestReport) -> None:
        status = {"ok": "ok", "waiting": "empty", "failed": "failed", "nothing": "no_announcement"}
        await self.store.harvests.finish(
            run_id,
            now,
            status=status[result.status],
            announced=day,
            requests=result.requests,
            new=sum(d.new for d in result.days),
            cross=sum(d.cross for d in result.days),
            replaced=sum(d.replaced for d in result.days),
            error=result.error or next((d.error for d in result.days if d.error), None),
        )

    async def _record_run_failure(self, run_id: int, now: datetime, error: str) -> None:
        try:
            await self.store.harvests.fail(run_id, now, error)
        except Exception:  # the store itself may be what failed; the original error matters more
            log.exception("could not record harvest run %d as failed", run_id)

    async def harvest_with_repolls(
        self,
        now: Callable[[], datetime],
        *,
        needed: Iterable[frozenset[str] | None] = (),
        since: datetime | None = None,
        sleep: Callable[[float], Awaitable[None]] = _no_sleep,
        times: int = REPOLL_TIMES,
        progress: Progress | None = None,
    ) -> HarvestReport:
        """The scheduled harvest: while a feed is not updated yet or arXiv fails, look again every 30
        minutes; at the last look, what the feeds still lack comes from the API."""
        needed = list(needed)
        first = now()
        runs = [await self._attempt(first, first, needed, since, times == 0, progress)]
        for i in range(times):
            if not runs[-1].retry_soon:
                break
            log.info("looking at arXiv again in %s", REPOLL_EVERY)
            await sleep(REPOLL_EVERY.total_seconds())
            runs.append(await self._attempt(now(), first, needed, since, i == times - 1, progress))
        return combined(runs)

    async def _attempt(
        self,
        at: datetime,
        first: datetime,
        needed: list[frozenset[str] | None],
        since: datetime | None,
        final: bool,
        progress: Progress | None,
    ) -> HarvestReport:
        window = max(SCHEDULED_WINDOW - (at - first), timedelta(seconds=1))
        return await self.harvest(
            at, needed=needed, since=since, final=final, window=window, progress=progress
        )


def _complete(record: AnnouncementDay | None) -> bool:
    return record is not None and record.state is DayState.COMPLETE


def _why_not_complete(state: DayState, sources: dict[str, Source], got: _DayRead) -> str | None:
    if state is DayState.COMPLETE:
        return None
    if got.error:
        return got.error
    if got.waiting:
        return f"the feed of {', '.join(got.waiting)} does not show the day yet"
    from_api = [u for u, how in sources.items() if how is Source.API]
    if from_api:
        return f"{', '.join(api_categories(from_api))} read from the API: no replacements"
    return None
