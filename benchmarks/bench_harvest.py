"""arXiv requests for one day's harvest, and for a week's catch-up, for 10, 1,000 and 100,000 queries.

paperbot reads the day's announcement feeds (one request per category group) and matches locally,
so its cost does not depend on the number of queries. A day it missed comes from the API: one query
by submission window for all categories, a page per 1,000 papers. The naive way (DailyArXiv and
most alert scripts) sends one API search per query per day. The paperbot figures are measured: the
real Harvester, client, feedparser and store against an in-process fake arXiv (tests/fakes) holding
days of realistic size, with the request interval near zero; the naive figure is measured on the
smallest size and is one request per query and day by construction.

Then one busy day of 2,500 papers (the categories people track, a tenth of them new versions of
stored papers): its two steps timed apart, parsing the feed (feedparser) and storing the papers
with the search index (after tokenising them for it, which the harvester does before it takes the
write lock), and storing compared with the per-paper way paperbot had before (a SELECT, an INSERT or
UPDATE and a second UPDATE for each paper), measured in the same run.

Run from the repository root: `python benchmarks/bench_harvest.py`.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_matching

from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.client import ArxivClient
from bot.arxiv.feeds import merge, parse_feed
from bot.arxiv.harvest import Harvester
from bot.arxiv.harvest_report import HarvestReport
from bot.config import ArxivConfig, Config
from bot.matching.fulltext import search_text
from bot.models import Paper
from storage import Store
from tests.fakes.arxiv_formats import atom_feed
from tests.fakes.arxiv_server import FakeArxiv, load_sample

DAY = date(2025, 10, 15)  # a Wednesday
NOW = datetime.combine(DAY, dtime(0, 30), ARXIV_TZ)
# A week paperbot was down: Monday 16 to Friday 20 November 2026, back on Monday 23rd.
WEEK = [date(2026, 11, 16) + timedelta(days=i) for i in range(5)]
BACK = datetime.combine(date(2026, 11, 23), dtime(0, 30), ARXIV_TZ)
# An announcement day across all of arXiv (2025): about 1,100 new submissions (more on Tuesdays,
# which cover the weekend), a few hundred cross-lists and replacements.
NEW_PER_DAY, CROSS_PER_DAY, REPLACED_PER_DAY = 1_200, 400, 500
SIZES = (10, 1_000, 100_000)
CAT_QUERIES = (
    "cs.CV", "cs.CL", "cs.LG", "cs.IR", "cs.RO", "math.GT", "hep-th", "quant-ph", "stat.ML", "q-bio.NC",
)  # fmt: skip


def tracked_queries(n: int, rng: random.Random) -> list[frozenset[str] | None]:
    """What n subscriptions need: about 80% have no cat: (all categories), the rest one or two."""
    needed: list[frozenset[str] | None] = []
    for _ in range(n):
        if rng.random() < 0.8:
            needed.append(None)
        else:
            needed.append(frozenset(rng.sample(CAT_QUERIES, rng.choice((1, 2)))))
    return needed


async def harvest(server: FakeArxiv, db: Path, now: datetime, **options: Any) -> HarvestReport:
    """One harvest by the real Harvester and client, against the fake, near-zero request interval."""
    cfg = ArxivConfig(api_url=server.api_url, feed_url=server.feed_url, min_interval_s=0.001, timeout_s=30)
    client = ArxivClient(cfg)
    try:
        async with await Store.open(db) as store:
            return await Harvester(client, store, replace(Config(), arxiv=cfg)).harvest(now, **options)
    finally:
        client.close()


async def paperbot_requests(
    server: FakeArxiv, needed: list[frozenset[str] | None], db: Path
) -> tuple[int, float]:
    report = await harvest(server, db, NOW, needed=needed, force=True)
    assert report.status == "ok", report
    return report.requests, report.seconds


def a_day(day: date, sample: list[Paper]) -> list[Paper]:
    """A full announcement day, made of the sample's text under fresh ids."""
    kinds = ["new"] * NEW_PER_DAY + ["cross"] * CROSS_PER_DAY + ["replace"] * REPLACED_PER_DAY
    return [
        replace(
            sample[i % len(sample)],
            arxiv_id=f"{day:%y%m}.{day.day * 3000 + i:05d}",  # unique across the days of a month
            announce_type=kind,
            published=datetime(2026, 1, 5, tzinfo=ARXIV_TZ),
        )
        for i, kind in enumerate(kinds)
    ]


async def week_catch_up(
    server: FakeArxiv, needed: list[frozenset[str] | None], db: Path
) -> tuple[int, float, int]:
    """The first harvest after a week down: requests, seconds, and the days it read."""
    since = datetime.combine(date(2026, 11, 13), dtime(9), ARXIV_TZ)  # tracked before the week
    report = await harvest(server, db, BACK, needed=needed, since=since)
    assert all(d.read for d in report.days), report.summary()
    return report.requests, report.seconds, len(report.days)


async def naive_requests(server: FakeArxiv, n: int) -> int:
    """One API search per query (measured: the real client sends them)."""
    cfg = ArxivConfig(api_url=server.api_url, feed_url=server.feed_url, min_interval_s=0.001, timeout_s=10)
    client = ArxivClient(cfg)
    before = len(server.requests)
    try:
        for i in range(n):
            await client.search(f'abs:"video retrieval {i}"', 100)
    finally:
        client.close()
    return len(server.requests) - before


async def main() -> None:
    rng = random.Random(42)
    papers = load_sample()
    with FakeArxiv(papers) as server, tempfile.TemporaryDirectory() as tmp:
        server.announce([replace(p, announce_type="new") for p in papers], DAY)
        naive_small = await naive_requests(server, SIZES[0])
        rows = []
        for n in SIZES:
            started = time.perf_counter()
            requests, _ = await paperbot_requests(server, tracked_queries(n, rng), Path(tmp) / f"bench{n}.db")
            elapsed = time.perf_counter() - started
            naive = naive_small if n == SIZES[0] else n
            rows.append((n, requests, naive, naive / requests, elapsed))

        for day in [*WEEK, BACK.date()]:
            server.publish(day, a_day(day, papers))
        server.today(BACK.date())
        week_rows = []
        for n in SIZES:
            requests, seconds, days = await week_catch_up(
                server, tracked_queries(n, rng), Path(tmp) / f"week{n}.db"
            )
            week_rows.append((n, requests, days, n * days, seconds))

    print("arXiv requests for one day's harvest")
    print(f"{'tracked queries':>16} {'paperbot':>9} {'naive (1/query)':>16} {'ratio':>9} {'harvest s':>10}")
    for n, requests, naive, ratio, elapsed in rows:
        print(f"{n:>16,} {requests:>9} {naive:>16,} {ratio:>8.0f}x {elapsed:>10.2f}")
    counts = {r[1] for r in rows}
    at_3s = max(counts) * 3
    print(
        f"\npaperbot: {sorted(counts)} request(s) per day at every size; requests/day do not grow with the "
        f"number of queries (about {at_3s} s of arXiv's 3-second spacing)."
    )
    print(
        f"naive: {SIZES[-1]:,} queries would take {SIZES[-1] * 3 / 3600:.0f} hours at one request every 3 s."
    )

    day_size = NEW_PER_DAY + CROSS_PER_DAY + REPLACED_PER_DAY
    print(
        f"\na week's catch-up: paperbot down Mon 16 to Fri 20 Nov, back Mon 23 (6 announcement days of"
        f" {day_size:,} announcements each, {NEW_PER_DAY:,} of them new)"
    )
    head = f"{'tracked queries':>16} {'paperbot':>9} {'per missed day':>15}"
    print(f"{head} {'naive (1/query/day)':>20} {'ratio':>9} {'harvest s':>10}")
    for n, requests, days, naive, seconds in week_rows:
        missed = (requests - _feed_requests(rows)) / (days - 1)
        print(
            f"{n:>16,} {requests:>9} {missed:>15.1f} {naive:>20,} {naive / requests:>8.0f}x {seconds:>10.2f}"
        )
    worst = max(r[1] for r in week_rows)
    print(
        f"\npaperbot: {worst} requests for the whole week (today's feeds plus one paginated API query per"
        f" missed day), about {worst * 3} s at one request every 3 s; the same at every size."
    )
    if len(counts) != 1 or len({r[1] for r in week_rows}) != 1:
        raise SystemExit("requests changed with the number of queries")
    with tempfile.TemporaryDirectory() as tmp:
        await day_of_papers(Path(tmp))


def busy_day(n: int = 2_500) -> tuple[list[Paper], list[Paper]]:
    """A day's announcements (a tenth are new versions of papers stored earlier), and those papers."""
    rng = random.Random(7)
    records = bench_matching.load_records()
    surnames = bench_matching.make_surnames(rng)
    fresh = bench_matching.make_papers(records, n - n // 10, rng, surnames, topical=0.1)
    earlier = bench_matching.make_papers(records, n // 10, rng, surnames, topical=0.1)
    earlier = [
        replace(p, arxiv_id=f"2509.{i:05d}", announced=date(2025, 9, 15), announce_type="new")
        for i, p in enumerate(earlier)
    ]
    day = [replace(p, arxiv_id=f"2510.{i:05d}", announce_type="new") for i, p in enumerate(fresh)]
    day += [replace(p, version=2, announce_type="replace") for p in earlier]
    return day, earlier


async def naive_store(store: Store, papers: list[Paper], now: datetime) -> None:
    """The per-paper upsert paperbot had before: three statements per paper, each a round trip.

    (Without a search index to keep: cheaper than it would be today.)
    """
    stamp = now.isoformat()

    def values(p: Paper) -> tuple[object, ...]:
        dates = (p.published, p.updated, p.announced)
        return (
            *(p.arxiv_id, p.version, p.title, p.abstract, json.dumps(p.authors), json.dumps(p.categories)),
            *(p.comment, p.journal_ref, p.doi, *(d and d.isoformat() for d in dates), p.announce_type),
        )

    async with store.db.transaction() as conn:
        for p in papers:
            async with conn.execute("SELECT version FROM papers WHERE arxiv_id = ?", (p.arxiv_id,)) as cur:
                row = await cur.fetchone()
            harvested = stamp if p.announced is not None else None
            if row is None:
                await conn.execute(
                    "INSERT INTO papers (arxiv_id, version, title, abstract, authors, categories, comment,"
                    " journal_ref, doi, published, updated, announced, announce_type, harvested_at,"
                    " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values(p), harvested, stamp, stamp),
                )
                continue
            if p.version > int(row[0]):
                await conn.execute(
                    "UPDATE papers SET version = ?, title = ?, abstract = ? WHERE arxiv_id = ?",
                    (p.version, p.title, p.abstract, p.arxiv_id),
                )
            await conn.execute(
                "UPDATE papers SET last_seen = ?, announced = COALESCE(announced, ?) WHERE arxiv_id = ?",
                (stamp, p.announced and p.announced.isoformat(), p.arxiv_id),
            )


async def day_of_papers(tmp: Path) -> None:
    """Parse and store a 2,500-paper day (median of three stores) against the per-paper way."""
    day, earlier = busy_day()
    feed = atom_feed("cs", day, DAY)
    t0 = time.perf_counter()
    parsed = merge([parse_feed(feed)])
    t_parse = time.perf_counter() - t0
    times, tokens, naive = [], [], []
    for k in range(3):
        async with await Store.open(tmp / f"store{k}.db") as store:
            await store.papers.upsert_many(earlier, NOW)
            # As the harvester does: the index's tokens first (a worker thread, no lock held), then
            # the write, which also tokenises the old text of the papers replaced.
            t0 = time.perf_counter()
            search = await asyncio.to_thread(lambda: {p: search_text(p) for p in parsed})
            tokens.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            counts = await store.papers.upsert_many(parsed, NOW, search=search)
            times.append(time.perf_counter() - t0)
        async with await Store.open(tmp / f"naive{k}.db") as store:
            await store.papers.upsert_many(earlier, NOW)
            t0 = time.perf_counter()
            await naive_store(store, parsed, NOW)
            naive.append(time.perf_counter() - t0)
    store_s, naive_s = statistics.median(times), statistics.median(naive)
    print(
        f"\na day of {len(day):,} announcements ({counts.new:,} new papers, {counts.replaced:,} new versions)"
    )
    print(f"  parse the feed (feedparser)       {t_parse:6.2f} s")
    print(f"  tokens for the search index       {statistics.median(tokens):6.2f} s   (before the write lock)")
    print(f"  store them, with the search index {store_s:6.2f} s   <- target 0.2 s (median of 3)")
    print(f"  naive: three statements a paper   {naive_s:6.2f} s   ({naive_s / store_s:.1f}x)")


def _feed_requests(rows: list[tuple[int, int, int, float, float]]) -> int:
    """Requests of one day's feeds (the first table): what the catch-up spends on today."""
    return rows[0][1]


if __name__ == "__main__":
    asyncio.run(main())
