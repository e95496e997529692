"""Ingesting arXiv: the daily announcement harvest, catch-up, lookups, backfill and enrichment.

The daily cost is one feed request per *category group*, whatever the number of channels and
queries: every subscription only contributes the categories it needs, and matching is local.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TextIO

from bot import metrics
from bot.arxiv_calendar import (
    REPOLL_EVERY,
    REPOLL_TIMES,
    announcement_date,
    missed_announcements,
    submission_window,
)
from bot.arxiv_client import ArxivClient, FeedResult
from bot.arxiv_ids import parse_arxiv_id
from bot.config import Config
from bot.errors import ArxivUnavailable, UserError
from bot.feeds import ParsedFeed, merge
from bot.models import Card, Link, Paper, Reply
from bot.query import parse
from bot.text import is_unspecific, words
from storage.store import Store

log = logging.getLogger(__name__)

# arXiv answers at most 2000 items per feed request; plan for 1500 so a busy Monday still fits.
FEED_ITEM_BUDGET = 1500

# Typical items per announcement day (new + cross-lists + replacements) in the announcement feed,
# rounded up from arXiv's listing pages in 2024-2025. Only their sizes relative to the budget
# matter: `cs` alone can exceed 2000 and is split into its subjects; `math` and `physics` get a
# request of their own; the small archives share one.
DAILY_ITEMS: dict[str, int] = {
    "astro-ph": 400, "cond-mat": 550, "cs": 2600, "econ": 60, "eess": 500, "gr-qc": 150,
    "hep-ex": 60, "hep-lat": 40, "hep-ph": 250, "hep-th": 250, "math": 1300, "math-ph": 120,
    "nlin": 60, "nucl-ex": 40, "nucl-th": 90, "physics": 800, "q-bio": 150, "q-fin": 70,
    "quant-ph": 450, "stat": 500,
    # cs subjects (a paper is often in several, so they add up to more than `cs`)
    "cs.AI": 700, "cs.LG": 1000, "cs.CV": 650, "cs.CL": 500, "cs.RO": 200, "cs.CR": 180,
    "cs.SE": 120, "cs.HC": 110, "cs.IR": 110, "cs.IT": 100, "cs.DC": 90, "cs.NI": 70,
    "cs.SY": 100, "cs.CY": 90, "cs.NE": 60, "cs.DS": 80, "cs.LO": 50, "cs.SD": 60, "cs.MA": 40,
}  # fmt: skip
DEFAULT_ITEMS = 40  # a category not in the table: small

# Subjects of archives too big for one request (all of them, so splitting loses nothing).
SUBJECTS: dict[str, tuple[str, ...]] = {
    "cs": (
        "cs.AI", "cs.AR", "cs.CC", "cs.CE", "cs.CG", "cs.CL", "cs.CR", "cs.CV", "cs.CY", "cs.DB",
        "cs.DC", "cs.DL", "cs.DM", "cs.DS", "cs.ET", "cs.FL", "cs.GL", "cs.GR", "cs.GT", "cs.HC",
        "cs.IR", "cs.IT", "cs.LG", "cs.LO", "cs.MA", "cs.MM", "cs.MS", "cs.NA", "cs.NE", "cs.NI",
        "cs.OH", "cs.OS", "cs.PF", "cs.PL", "cs.RO", "cs.SC", "cs.SD", "cs.SE", "cs.SI", "cs.SY",
    ),
}  # fmt: skip

Progress = Callable[[str], None]

TITLE_MIN_WORDS = 3  # shorter text sent to the bot is a greeting, not a title


def _archive(category: str) -> str:
    return category.split(".", 1)[0]


def needed_union(needed: Iterable[frozenset[str] | None], default: Sequence[str]) -> list[str]:
    """The categories a harvest must read: the union of what subscriptions need, archives absorbing
    their own categories (`cs` makes `cs.CV` redundant). None or an empty set means `default`."""
    wanted: set[str] = set()
    any_needed = False
    for cats in needed:
        any_needed = True
        wanted.update(cats if cats else default)
    if not any_needed:
        wanted.update(default)
    archives = {c for c in wanted if "." not in c}
    return sorted(c for c in wanted if "." not in c or _archive(c) not in archives)


def estimated_items(category: str) -> int:
    """Typical daily feed items of a category or archive (see DAILY_ITEMS)."""
    if category in DAILY_ITEMS:
        return DAILY_ITEMS[category]
    return DEFAULT_ITEMS


def plan_feed_requests(categories: Iterable[str], budget: int = FEED_ITEM_BUDGET) -> list[tuple[str, ...]]:
    """Group categories into feed requests of at most `budget` expected items each (first-fit decreasing).

    Pure and deterministic. An archive too big for one request is replaced by its subjects.
    """
    cats = needed_union([frozenset(categories)], ())
    expanded: list[str] = []
    for c in cats:
        if "." not in c and estimated_items(c) > budget and c in SUBJECTS:
            expanded.extend(s for s in SUBJECTS[c] if s not in expanded)
        elif c not in expanded:
            expanded.append(c)
    bins: list[tuple[int, list[str]]] = []
    for c in sorted(expanded, key=lambda c: (-estimated_items(c), c)):
        size = estimated_items(c)
        for i, (used, members) in enumerate(bins):
            if used + size <= budget:
                members.append(c)
                bins[i] = (used + size, members)
                break
        else:
            bins.append((size, [c]))
    return [tuple(sorted(members)) for _, members in bins]


def api_categories(categories: Iterable[str]) -> list[str]:
    """Categories for an API fallback query (archives stay archives: `cat:cs.*`)."""
    return needed_union([frozenset(categories)], ())


@dataclass(frozen=True, slots=True)
class HarvestReport:
    """What one harvest did."""

    announced: date | None
    status: str  # ok | empty | no_announcement | failed | skipped
    requests: int = 0
    new: int = 0
    cross: int = 0
    replaced: int = 0
    seconds: float = 0.0
    error: str | None = None
    source: str = "feed"  # feed | api (the submission-window fallback)
    stored_new: int = 0  # papers the store had never seen
    run_id: int | None = None

    def summary(self) -> str:
        """One line for people: `harvest 2026-11-20: 3 requests, 1534 new, ... 9.4 s`."""
        day = self.announced.isoformat() if self.announced else "(no day)"
        tail = f"{self.requests} requests, {self.seconds:.1f} s"
        if self.status == "ok":
            via = " via the API fallback" if self.source == "api" else ""
            return (
                f"harvest {day}{via}: {self.requests} requests, {self.new} new, {self.cross} cross-lists,"
                f" {self.replaced} replaced, {self.seconds:.1f} s"
            )
        if self.status == "empty":
            return f"harvest {day}: the feed is not updated yet (will retry later); {tail}"
        if self.status == "no_announcement":
            return f"harvest {day}: no announcement (weekend or holiday); {tail}"
        if self.status == "skipped":
            return f"harvest {day}: already harvested"
        return f"harvest {day}: FAILED: {self.error}; {tail}"


def _counts(papers: Iterable[Paper]) -> tuple[int, int, int]:
    new = cross = replaced = 0
    for p in papers:
        if p.announce_type == "cross":
            cross += 1
        elif p.announce_type and p.announce_type.startswith("replace"):
            replaced += 1
        else:
            new += 1
    return new, cross, replaced


async def _no_sleep(_: float) -> None:
    return None


class Harvester:
    """Reads a day's announcements into the store, all or nothing."""

    def __init__(
        self, client: ArxivClient, store: Store, config: Config, *, holidays: Collection[date] = ()
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.holidays = holidays

    async def harvest(
        self,
        now: datetime,
        *,
        needed: Iterable[frozenset[str] | None] = (),
        day: date | None = None,
        dry_run: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> HarvestReport:
        """Harvest the announcement visible at `now` (or an older `day`, through the API fallback)."""
        report = await self._harvest(now, needed, day, dry_run, force, progress)
        stored = report.status == "ok" and not dry_run
        counts = {"new": report.new, "cross": report.cross, "replace": report.replaced} if stored else None
        metrics.harvested(report.status, report.seconds, report.announced, counts)
        return report

    async def _harvest(
        self,
        now: datetime,
        needed: Iterable[frozenset[str] | None],
        day: date | None,
        dry_run: bool,
        force: bool,
        progress: Progress | None,
    ) -> HarvestReport:
        say = progress or (lambda line: None)
        expected = announcement_date(now, self.holidays)
        target = day or expected
        categories = needed_union(needed, self.config.arxiv.categories)
        if target is not None and not force and not dry_run and await self.store.harvests.is_done(target):
            return HarvestReport(target, "skipped")

        started = time.monotonic()
        requests_before = self.client.requests_made
        run_id = None if dry_run else await self.store.harvests.start(now, target)

        def report(
            status: str,
            announced: date | None,
            papers: Sequence[Paper] = (),
            *,
            error: str | None = None,
            source: str = "feed",
        ) -> HarvestReport:
            new, cross, replaced = _counts(papers)
            return HarvestReport(
                announced,
                status,
                self.client.requests_made - requests_before,
                new,
                cross,
                replaced,
                round(time.monotonic() - started, 3),
                error=error,
                source=source,
                run_id=run_id,
            )

        try:
            if day is not None and day != expected:
                # Feeds only show the latest day; an older one comes from the API by submission window.
                papers = await self._fetch_day_via_api(day, categories, say)
                result = report("ok", day, papers, source="api")
            else:
                result, papers = await self._fetch_feeds(expected, categories, say, report)
        except ArxivUnavailable as err:
            result = report("failed", target, error=str(err))
            papers = []
        except BaseException as err:
            if run_id is not None:
                await self._record_failure(run_id, now, f"{type(err).__name__}: {err}")
            raise

        if dry_run or run_id is None:
            return result
        if result.status != "ok":
            await self.store.harvests.finish(
                run_id,
                now,
                status=result.status,
                announced=result.announced,
                requests=result.requests,
                error=result.error,
            )
            if result.status == "failed":
                log.error("%s", result.summary())
            return result
        try:
            # Papers and the run's record commit together: a crash here leaves the day to redo.
            async with self.store.db.transaction():
                counts = await self.store.papers.upsert_many(papers, now)
                await self.store.harvests.finish(
                    run_id,
                    now,
                    status="ok",
                    announced=result.announced,
                    requests=result.requests,
                    new=result.new,
                    cross=result.cross,
                    replaced=result.replaced,
                    error=result.error,
                )
        except BaseException as err:
            await self._record_failure(run_id, now, f"storing failed: {type(err).__name__}: {err}")
            raise
        log.info("%s", result.summary())
        return dataclasses.replace(result, stored_new=counts.new)

    async def _record_failure(self, run_id: int, now: datetime, error: str) -> None:
        try:
            await self.store.harvests.fail(run_id, now, error)
        except Exception:  # the store itself may be what failed; the original error matters more
            log.exception("could not record harvest run %d as failed", run_id)

    async def _fetch_feeds(
        self,
        expected: date | None,
        categories: Sequence[str],
        say: Progress,
        report: Callable[..., HarvestReport],
    ) -> tuple[HarvestReport, list[Paper]]:
        results: list[FeedResult] = []
        failed: list[str] = []
        feed_error: str | None = None
        for group in plan_feed_requests(categories):
            try:
                res = await self.client.fetch_feed(group)
            except ArxivUnavailable as err:
                if expected is None:
                    raise
                failed.extend(group)
                feed_error = str(err)
                say(f"GET {self.client.feed_url(group)} ... failed: {err}")
                continue
            say(f"GET {res.url} ... {res.items} items")
            results.append(res)

        papers = merge([ParsedFeed(r.papers, r.announced, r.items, r.skipped) for r in results])
        items = sum(r.items for r in results)
        feed_days = [r.announced for r in results if r.items and r.announced]
        feed_day = max(feed_days) if feed_days else None

        if failed:
            assert expected is not None
            # Feeds failing on an announcement day: new submissions by submission window instead
            # (no cross-lists or replacements, but nobody misses a new paper).
            fallback = await self._fetch_day_via_api(expected, failed, say)
            known = {p.arxiv_id for p in papers}
            papers.extend(p for p in fallback if p.arxiv_id not in known)
            note = f"feed failed, used the API fallback for {', '.join(failed)}: {feed_error}"
            return report("ok", expected, papers, source="api" if not results else "feed", error=note), papers
        if items == 0:
            return report("empty" if expected else "no_announcement", expected), []
        if expected is not None and feed_day is not None and feed_day < expected:
            return report("empty", expected, error=f"the feed still shows {feed_day}"), []
        announced = feed_day or expected
        return report("ok", announced, papers), papers

    async def _fetch_day_via_api(self, day: date, categories: Sequence[str], say: Progress) -> list[Paper]:
        start, end = submission_window(day, self.holidays)
        before = self.client.requests_made
        found = await self.client.fetch_recent(api_categories(categories), start, end)
        say(
            f"GET {self.config.arxiv.api_url} (submitted {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ET)"
            f" ... {len(found)} papers in {self.client.requests_made - before} requests"
        )
        return [dataclasses.replace(p, announced=day, announce_type="new") for p in found]

    async def harvest_with_repolls(
        self,
        now: Callable[[], datetime],
        *,
        needed: Iterable[frozenset[str] | None] = (),
        sleep: Callable[[float], Awaitable[None]] = _no_sleep,
        times: int = REPOLL_TIMES,
        progress: Progress | None = None,
    ) -> HarvestReport:
        """The scheduled harvest: when the day's feed is not there yet, look again a few times."""
        needed = list(needed)
        result = await self.harvest(now(), needed=needed, progress=progress)
        for _ in range(times):
            if result.status != "empty":
                break
            log.info("%s; looking again in %s", result.summary(), REPOLL_EVERY)
            await sleep(REPOLL_EVERY.total_seconds())
            result = await self.harvest(now(), needed=needed, progress=progress)
        return result

    async def catch_up(
        self, now: datetime, *, needed: Iterable[frozenset[str] | None] = (), progress: Progress | None = None
    ) -> list[HarvestReport]:
        """On start: harvest announcement days missed since the last successful harvest, oldest first."""
        needed = list(needed)
        last_ok = await self.store.harvests.last_ok()
        days = missed_announcements(last_ok, now, self.holidays)
        reports = []
        for day in days:
            reports.append(await self.harvest(now, needed=needed, day=day, progress=progress))
        return reports


# Someone is waiting for a lookup: one retry (a few seconds), then "arXiv is not answering",
# rather than the harvest's full backoff of half a minute.
INTERACTIVE_RETRIES = 1


class ArxivService:
    """Paper lookups for commands: the local store first, then the API (and what it fetched is kept)."""

    def __init__(
        self, client: ArxivClient, store: Store, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.client = client
        self.store = store
        self._now = clock or (lambda: datetime.now(UTC))

    async def lookup(self, arxiv_id: str) -> Paper | None:
        """The paper `arxiv_id` (no version), from the store or else arXiv; None if arXiv has none."""
        paper = await self.store.papers.get(arxiv_id)
        if paper is not None:
            return paper
        fetched = await self.client.fetch_by_ids([arxiv_id], retries=INTERACTIVE_RETRIES)
        if not fetched:
            return None
        await self.store.papers.upsert_many(fetched, self._now())
        return await self.store.papers.get(arxiv_id) or fetched[0]

    async def lookup_text(self, text: str) -> Paper:
        """The paper named by an id or URL in `text`; UserError when it is not an id or not on arXiv."""
        parsed = parse_arxiv_id(text)
        if parsed is None:
            raise UserError(
                f"{text.strip()[:80]!r} is not an arXiv id or link (try 2401.01234 or https://arxiv.org/abs/2401.01234)"
            )
        paper = await self.lookup(parsed[0])
        if paper is None:
            raise UserError(f"arXiv has no paper {parsed[0]}.")
        return paper

    async def lookup_title(self, title: str) -> Paper | None:
        """The paper with this title (case, accents and punctuation aside), asking arXiv by phrase."""
        wanted = words(title)
        if len(wanted) < TITLE_MIN_WORDS or is_unspecific(wanted):  # "what is this" is not a title
            return None
        # Only letters and digits reach arXiv's query syntax: a title cannot inject operators.
        found = await self.client.search(f'ti:"{" ".join(wanted)}"', 5, retries=INTERACTIVE_RETRIES)
        exact = [p for p in found if words(p.title) == wanted]
        return exact[0] if exact else (found[0] if len(found) == 1 else None)

    async def search(self, query: str, n: int) -> list[Paper]:
        """The newest `n` papers for an API query (backfill); stored, but not as announcements."""
        found = await self.client.search(query, n, retries=INTERACTIVE_RETRIES)
        if found:
            await self.store.papers.upsert_many(found, self._now())
        return found

    async def enrich(self, ids: Sequence[str]) -> int:
        """Fill in comment, journal ref and DOI of stored papers from the API; returns papers fetched."""
        if not ids:
            return 0
        found = await self.client.fetch_by_ids(ids)
        # upsert keeps a stored paper's first announcement date and fills only missing fields.
        await self.store.papers.upsert_many(found, self._now())
        return len(found)


def abstract_reply(paper: Paper) -> Reply:
    """The answer to `/abstract <id>` or a DM'd id: title, authors, abstract and links."""
    authors = ", ".join(paper.authors[:10]) + (" et al." if len(paper.authors) > 10 else "")
    meta = tuple(
        x
        for x in (
            paper.primary_category,
            f"v{paper.version}",
            paper.published.date().isoformat() if paper.published else "",
            paper.journal_ref or "",
        )
        if x
    )
    links = [Link("abs", paper.abs_url), Link("pdf", paper.pdf_url)]
    if paper.doi:
        links.append(Link("doi", f"https://doi.org/{paper.doi}"))
    card = Card(
        title=paper.title,
        url=paper.abs_url,
        authors=authors,
        meta=meta,
        body=paper.abstract,
        links=tuple(links),
        footer=paper.comment or "",
    )
    return Reply(text=f"{paper.title} ({paper.arxiv_id})", cards=(card,))


def subscription_categories(query: str) -> frozenset[str] | None:
    """The categories a subscription's query needs; None when any category can match."""
    try:
        # `cat:cs.*` needs the whole archive: the feed of `cs`.
        cats = {c.removesuffix(".*") for c in parse(query).categories() or ()}
    except Exception as err:  # a stored query that no longer parses must not stop the harvest
        log.warning("cannot read the categories of query %r: %s", query, err)
        return None
    return frozenset(cats) if cats else None


async def needed_categories(store: Store) -> list[frozenset[str] | None]:
    """What each stored subscription needs from the harvest."""
    return [subscription_categories(s.query) for s in await store.subscriptions.all()]


async def run_harvest_command(config: Config, *, dry_run: bool, out: TextIO) -> int:
    """`paperbot harvest [--dry-run]`: one harvest now, a line per request and a summary; the exit code."""
    client = ArxivClient(config.arxiv)
    redact = config.redactor()  # a mirror's URL may carry a password
    try:
        async with await Store.open(config.database_path) as store:
            needed = await needed_categories(store)
            harvester = Harvester(client, store, config)

            def progress(line: str) -> None:
                print(redact(line), file=out, flush=True)

            result = await harvester.harvest(
                datetime.now(UTC), needed=needed, dry_run=dry_run, force=True, progress=progress
            )
    finally:
        client.close()
    print(redact(result.summary()) + (" (dry run: nothing stored)" if dry_run else ""), file=out, flush=True)
    return 1 if result.status == "failed" else 0
