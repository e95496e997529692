"""arXiv requests for one day's harvest, for 10, 1,000 and 100,000 tracked queries.

paperbot reads the day's announcement feeds (one request per category group) and matches locally,
so its cost does not depend on the number of queries. The naive way (DailyArXiv and most alert
scripts) sends one API search per query per day. The paperbot figures are measured: the real
Harvester, client, feedparser and store against an in-process fake arXiv (tests/fakes), with the
request interval near zero; the naive figure is measured on the smallest size and is one request per
query by construction.

Run from the repository root: `python benchmarks/bench_harvest.py`.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.arxiv_calendar import ARXIV_TZ
from bot.arxiv_client import ArxivClient
from bot.config import ArxivConfig, Config
from bot.ingest import Harvester
from storage import Store
from tests.fakes.arxiv_server import FakeArxiv, load_sample

DAY = date(2025, 10, 15)  # a Wednesday
NOW = datetime.combine(DAY, dtime(0, 30), ARXIV_TZ)
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


async def paperbot_requests(
    server: FakeArxiv, needed: list[frozenset[str] | None], db: Path
) -> tuple[int, float]:
    cfg = ArxivConfig(api_url=server.api_url, feed_url=server.feed_url, min_interval_s=0.001, timeout_s=10)
    client = ArxivClient(cfg)
    try:
        async with await Store.open(db) as store:
            harvester = Harvester(client, store, replace(Config(), arxiv=cfg))
            report = await harvester.harvest(NOW, needed=needed, force=True)
    finally:
        client.close()
    assert report.status == "ok", report
    return report.requests, report.seconds


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
    if len(counts) != 1:
        raise SystemExit("requests per day changed with the number of queries")


if __name__ == "__main__":
    asyncio.run(main())
