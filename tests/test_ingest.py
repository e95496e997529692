"""The daily harvest, catch-up and lookups: real store, real libraries, the fake arXiv."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.arxiv_calendar import ARXIV_TZ
from bot.arxiv_client import ArxivClient
from bot.config import ALL_ARXIV_ARCHIVES, ArxivConfig, Config
from bot.errors import UserError
from bot.ingest import (
    FEED_ITEM_BUDGET,
    SUBJECTS,
    ArxivService,
    Harvester,
    abstract_reply,
    estimated_items,
    needed_union,
    plan_feed_requests,
    run_harvest_command,
)
from bot.models import Paper
from storage import Store
from tests.conftest import GENERAL
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_sample

PAPERS = load_sample()
WED = date(2025, 10, 15)
NOW = datetime.combine(WED, time(0, 30), ARXIV_TZ)  # the scheduled harvest time
SAT_NOW = datetime.combine(date(2025, 10, 18), time(0, 30), ARXIV_TZ)
CV = [frozenset({"cs.CV", "cs.IR"})]  # one feed request


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def client(arxiv_config: ArxivConfig) -> AsyncIterator[ArxivClient]:
    c = ArxivClient(arxiv_config, backoff_sleep=no_sleep, rng=random.Random(2))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def cfg(config: Config, arxiv_config: ArxivConfig) -> Config:
    return replace(config, arxiv=arxiv_config)


@pytest.fixture
def harvester(client: ArxivClient, store: Store, cfg: Config) -> Harvester:
    return Harvester(client, store, cfg)


def todays(papers: list[Paper]) -> list[Paper]:
    """A realistic day: mostly new, some cross-lists, some replacements (v2)."""
    out = []
    for i, p in enumerate(papers):
        kind = ("new", "new", "cross", "replace")[i % 4]
        out.append(replace(p, announce_type=kind, version=2 if kind == "replace" else 1))
    return out


# -- planning ------------------------------------------------------------------------------------


def test_union_dedupes_and_defaults() -> None:
    assert needed_union([frozenset({"cs.CV"}), frozenset({"cs", "math.GT"}), None], ("stat",)) == [
        "cs",
        "math.GT",
        "stat",
    ]
    assert needed_union([], ("cs", "math")) == ["cs", "math"]
    assert needed_union([frozenset(), frozenset({"cs.CV"})], ("cs",)) == ["cs"]
    assert needed_union([frozenset({"math-ph", "math.GT"})], ()) == ["math-ph", "math.GT"]  # not one archive


def test_plan_covers_everything_within_budget() -> None:
    plan = plan_feed_requests(ALL_ARXIV_ARCHIVES)
    assert plan == plan_feed_requests(reversed(ALL_ARXIV_ARCHIVES))  # deterministic
    flat = [c for group in plan for c in group]
    assert len(flat) == len(set(flat))
    assert "cs" not in flat and set(SUBJECTS["cs"]) <= set(flat)  # cs is too big for one request
    assert set(ALL_ARXIV_ARCHIVES) - {"cs"} <= set(flat)
    assert all(sum(estimated_items(c) for c in g) <= FEED_ITEM_BUDGET for g in plan)
    assert len(plan) <= 10
    assert plan_feed_requests(["cs.CV", "cs.IR"]) == [("cs.CV", "cs.IR")]
    assert plan_feed_requests(["math", "cs.CV"]) == [("math",), ("cs.CV",)]


# -- the harvest ---------------------------------------------------------------------------------


async def test_harvest_stores_a_day_and_records_the_run(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    day = todays(PAPERS[:20])
    arxiv_server.announce(day, WED)
    lines: list[str] = []
    report = await harvester.harvest(NOW, needed=CV, progress=lines.append)
    assert report.status == "ok" and report.announced == WED
    assert (report.new, report.cross, report.replaced) == (10, 5, 5)
    assert report.requests == 1
    assert lines == [f"GET {arxiv_server.feed_url}/atom/cs.CV+cs.IR ... 20 items"]
    assert await store.papers.count() == 20
    new_paper = await store.papers.get(day[0].arxiv_id)
    assert new_paper is not None and new_paper.announced == WED and new_paper.authors == day[0].authors
    replaced = await store.papers.get(day[3].arxiv_id)
    assert replaced is not None and replaced.version == 2 and replaced.announced is None
    (run,) = await store.harvests.recent()
    assert (run.status, run.announced, run.requests, run.new, run.cross, run.replaced) == (
        "ok",
        WED,
        1,
        10,
        5,
        5,
    )
    assert await store.harvests.last_ok() == WED


async def test_a_replacement_updates_the_stored_paper_and_is_not_new(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    tue = WED - timedelta(days=1)
    await store.papers.upsert_many([replace(PAPERS[0], announced=tue, announce_type="new")], NOW)
    arxiv_server.announce([replace(PAPERS[0], version=2, title="Better title", announce_type="replace")], WED)
    report = await harvester.harvest(NOW, needed=CV)
    assert report.replaced == 1 and report.stored_new == 0
    stored = await store.papers.get(PAPERS[0].arxiv_id)
    assert stored is not None and stored.version == 2 and stored.title == "Better title"
    assert stored.announced == tue
    assert await store.papers.announced_since(WED) == []


async def test_a_harvested_day_is_not_fetched_again_unless_forced(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS[:8]), WED)
    await harvester.harvest(NOW, needed=CV)
    again = await harvester.harvest(NOW + timedelta(hours=1), needed=CV)
    assert again.status == "skipped" and len(arxiv_server.requests) == 1
    forced = await harvester.harvest(NOW, needed=CV, force=True)
    assert forced.status == "ok" and forced.stored_new == 0
    assert await store.papers.count() == 8  # idempotent


async def test_duplicate_entries_are_stored_once(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    dup = [replace(PAPERS[0], announce_type="new"), replace(PAPERS[0], announce_type="cross"), PAPERS[1]]
    arxiv_server.announce(dup, WED)
    # two requests that both see both papers (cs.CV is in every sample paper's categories or cs.*)
    report = await harvester.harvest(NOW, needed=[frozenset({"cs.CV"}), frozenset({"math"})])
    assert report.status == "ok" and report.new == 2 and report.cross == 0
    assert await store.papers.count() == 2


async def test_a_failed_harvest_leaves_the_store_as_it_was(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS[:10]), WED)
    arxiv_server.script(Fault.ok(), *[Fault.http(503)] * 8)  # the 2nd feed and the API fallback all fail
    report = await harvester.harvest(NOW, needed=[frozenset({"cs.CV"}), frozenset({"math"})])
    assert report.status == "failed" and "503" in (report.error or "")
    assert await store.papers.count() == 0
    (run,) = await store.harvests.recent()
    assert run.status == "failed" and run.announced == WED and run.error
    assert await store.harvests.last_ok() is None
    # the next run picks the day up
    retry = await harvester.harvest(
        NOW + timedelta(minutes=30), needed=[frozenset({"cs.CV"}), frozenset({"math"})]
    )
    assert retry.status == "ok" and await store.papers.count() == 10


async def test_feed_failure_falls_back_to_the_api(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    # Papers submitted in Wednesday's window (Mon 14:00 to Tue 14:00 ET) are known to the API.
    in_window = [
        replace(p, published=datetime(2025, 10, 14, 12, i, tzinfo=UTC)) for i, p in enumerate(PAPERS[:3])
    ]
    arxiv_server.add_papers(in_window)
    arxiv_server.script(*[Fault.http(503, path_prefix="/atom")] * 4)
    lines: list[str] = []
    report = await harvester.harvest(NOW, needed=CV, progress=lines.append)
    assert report.status == "ok" and report.source == "api" and report.new == 3
    assert "API fallback" in (report.error or "")
    assert "submittedDate:[202510131800 TO 202510141800]" in arxiv_server.requests[-1].query["search_query"]
    stored = await store.papers.get(in_window[0].arxiv_id)
    assert stored is not None and stored.announced == WED
    assert len(lines) == 2


async def test_empty_feed_on_an_announcement_day_is_retried_later(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS[:6]), WED)
    arxiv_server.script(Fault.empty("/atom"), Fault.empty("/atom"))
    clock = iter([NOW, NOW + timedelta(minutes=30), NOW + timedelta(minutes=60)])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    report = await harvester.harvest_with_repolls(lambda: next(clock), needed=CV, sleep=sleep)
    assert report.status == "ok" and report.new + report.cross + report.replaced == 6
    assert waits == [1800.0, 1800.0]
    assert [r.status for r in await store.harvests.recent()] == ["ok", "empty", "empty"]


async def test_stale_feed_counts_as_not_there_yet(harvester: Harvester, arxiv_server: FakeArxiv) -> None:
    arxiv_server.announce(todays(PAPERS[:6]), WED - timedelta(days=1))
    report = await harvester.harvest(NOW, needed=CV)
    assert report.status == "empty" and "still shows 2025-10-14" in (report.error or "")


async def test_empty_feed_on_a_weekend_is_fine(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce([], date(2025, 10, 18))
    report = await harvester.harvest(SAT_NOW, needed=CV)
    assert report.status == "no_announcement" and report.error is None
    (run,) = await store.harvests.recent()
    assert run.status == "no_announcement"


async def test_dry_run_stores_nothing(harvester: Harvester, store: Store, arxiv_server: FakeArxiv) -> None:
    arxiv_server.announce(todays(PAPERS[:6]), WED)
    report = await harvester.harvest(NOW, needed=CV, dry_run=True)
    assert report.status == "ok" and report.new == 4
    assert await store.papers.count() == 0 and await store.harvests.recent() == []


async def test_catch_up_uses_the_api_for_older_days(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    run = await store.harvests.start(NOW - timedelta(days=2), WED - timedelta(days=2))
    await store.harvests.finish(run, NOW, status="ok", announced=WED - timedelta(days=2), requests=1)
    tuesday_paper = replace(PAPERS[5], published=datetime(2025, 10, 13, 12, 0, tzinfo=UTC))  # Fri-Mon window
    arxiv_server.add_papers([tuesday_paper])
    arxiv_server.announce(todays(PAPERS[:4]), WED)
    reports = await harvester.catch_up(NOW, needed=CV)
    assert [(r.announced, r.source, r.status) for r in reports] == [
        (WED - timedelta(days=1), "api", "ok"),
        (WED, "feed", "ok"),
    ]
    stored = await store.papers.get(tuesday_paper.arxiv_id)
    assert stored is not None and stored.announced == WED - timedelta(days=1)
    assert await store.harvests.last_ok() == WED


async def test_requests_do_not_grow_with_subscriptions(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS), WED)
    one = await harvester.harvest(NOW, needed=[None], dry_run=True)
    many = await harvester.harvest(NOW, needed=[None] * 5000 + [frozenset({"cs.CV"})] * 5000, dry_run=True)
    assert one.requests == many.requests == len(plan_feed_requests(ALL_ARXIV_ARCHIVES))


# -- lookups -------------------------------------------------------------------------------------


async def test_lookup_reads_the_store_first(
    client: ArxivClient, store: Store, arxiv_server: FakeArxiv
) -> None:
    service = ArxivService(client, store, clock=lambda: NOW)
    paper = await service.lookup(PAPERS[3].arxiv_id)
    assert paper is not None and paper.title == PAPERS[3].title and paper.doi == PAPERS[3].doi
    assert len(arxiv_server.requests) == 1
    again = await service.lookup_text(f"https://arxiv.org/abs/{PAPERS[3].arxiv_id}v1")
    assert again.arxiv_id == PAPERS[3].arxiv_id and len(arxiv_server.requests) == 1  # from the store


async def test_lookup_of_unknown_and_malformed_ids(
    client: ArxivClient, store: Store, arxiv_server: FakeArxiv
) -> None:
    service = ArxivService(client, store)
    assert await service.lookup("2401.99999") is None
    with pytest.raises(UserError, match=r"no paper 2401\.99999"):
        await service.lookup_text("2401.99999")
    with pytest.raises(UserError, match="not an arXiv id"):
        await service.lookup_text("2401.999")
    assert len(arxiv_server.requests) == 2  # the malformed id never reached arXiv


async def test_search_and_enrich(client: ArxivClient, store: Store, arxiv_server: FakeArxiv) -> None:
    service = ArxivService(client, store, clock=lambda: NOW)
    found = await service.search('abs:"video retrieval"', 5)
    assert len(found) == 5 and await store.papers.count() == 5
    bare = replace(PAPERS[10], comment=None, journal_ref=None, doi=None, announced=WED, announce_type="new")
    arxiv_server.add_papers([replace(PAPERS[10], comment="CVPR 2026", doi="10.1/x")])
    await store.papers.upsert_many([bare], NOW)
    assert await service.enrich([bare.arxiv_id]) == 1
    stored = await store.papers.get(bare.arxiv_id)
    assert stored is not None and stored.comment == "CVPR 2026" and stored.doi == "10.1/x"
    assert stored.announced == WED


def test_abstract_reply() -> None:
    reply = abstract_reply(replace(PAPERS[3], published=datetime(2025, 2, 1, tzinfo=UTC)))
    (card,) = reply.cards
    assert card.title == PAPERS[3].title and card.body == PAPERS[3].abstract
    assert [link.label for link in card.links] == ["abs", "pdf", "doi"]
    assert card.url == f"https://arxiv.org/abs/{PAPERS[3].arxiv_id}"


async def test_harvest_command(cfg: Config, store: Store, arxiv_server: FakeArxiv) -> None:
    await store.subscriptions.add(GENERAL, "video retrieval", "video retrieval", "alice", NOW)
    arxiv_server.announce(todays(PAPERS[:8]), datetime.now(ARXIV_TZ).date())
    out = io.StringIO()
    code = await run_harvest_command(
        replace(cfg, arxiv=replace(cfg.arxiv, categories=("cs",))), dry_run=True, out=out
    )
    text = out.getvalue()
    assert code == 0
    assert text.count("GET ") == len(plan_feed_requests(["cs"]))
    assert "(dry run: nothing stored)" in text and text.startswith("GET ")
