"""A day's harvest: the feeds, their per-group checks, the API fallback and the day's record.

Real store, real client and libraries, the fake arXiv; `now` is given, never the real clock.
The catch-up over several days and arXiv's faults are in test_catch_up.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.client import ArxivClient
from bot.arxiv.feed_plan import plan_feed_requests
from bot.arxiv.harvest import Harvester
from bot.config import ALL_ARXIV_ARCHIVES, ArxivConfig, Config
from bot.models import DayState, Paper, Source
from storage import Store
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_sample

PAPERS = load_sample()
TUE, WED = date(2025, 10, 14), date(2025, 10, 15)
NOW = datetime.combine(WED, time(0, 30), ARXIV_TZ)  # the scheduled harvest time
CV = [frozenset({"cs.CV", "cs.IR"})]  # one feed request


@pytest.fixture
def cfg(config: Config, arxiv_config: ArxivConfig) -> Config:
    return replace(config, arxiv=arxiv_config)


@pytest.fixture
def harvester(arxiv_client: ArxivClient, store: Store, cfg: Config) -> Harvester:
    return Harvester(arxiv_client, store, cfg)


def todays(papers: list[Paper]) -> list[Paper]:
    """A realistic day: mostly new, some cross-lists, some replacements (v2)."""
    out = []
    for i, p in enumerate(papers):
        kind = ("new", "new", "cross", "replace")[i % 4]
        out.append(replace(p, announce_type=kind, version=2 if kind == "replace" else 1))
    return out


async def test_harvest_stores_a_day_and_records_it_complete(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    day = todays(PAPERS[:20])
    arxiv_server.announce(day, WED)
    lines: list[str] = []
    report = await harvester.harvest(NOW, needed=CV, progress=lines.append)
    [wed] = report.days
    assert report.status == "ok" and (wed.day, wed.state, wed.read) == (WED, DayState.COMPLETE, ("feed",))
    assert (wed.new, wed.cross, wed.replaced, wed.stored_new, wed.requests) == (10, 5, 5, 20, 1)
    assert lines == [f"GET {arxiv_server.feed_url}/atom/cs.CV+cs.IR ... 20 items"]
    assert report.lines()[0] == "Wed 15 Oct 2025: 10 new, 5 cross-lists, 5 replaced from the feeds; complete"
    assert await store.papers.count() == 20
    new_paper = await store.papers.get(day[0].arxiv_id)
    assert new_paper is not None and new_paper.announced == WED and new_paper.authors == day[0].authors
    replaced = await store.papers.get(day[3].arxiv_id)
    assert replaced is not None and replaced.version == 2 and replaced.announced is None
    record = (await store.days.get_many([WED]))[WED]
    assert record.state is DayState.COMPLETE and record.requests == 1 and record.error is None
    assert record.sources == (("cs.CV", Source.FEED), ("cs.IR", Source.FEED))
    (run,) = await store.harvests.recent()
    assert (run.status, run.announced, run.requests, run.new, run.cross, run.replaced) == (
        "ok",
        WED,
        1,
        10,
        5,
        5,
    )


async def test_a_replacement_updates_the_stored_paper_and_is_not_new(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    await store.papers.upsert_many([replace(PAPERS[0], announced=TUE, announce_type="new")], NOW)
    arxiv_server.announce([replace(PAPERS[0], version=2, title="Better title", announce_type="replace")], WED)
    report = await harvester.harvest(NOW, needed=CV)
    assert report.days[0].replaced == 1 and report.stored_new == 0
    stored = await store.papers.get(PAPERS[0].arxiv_id)
    assert stored is not None and stored.version == 2 and stored.title == "Better title"
    assert stored.announced == TUE
    assert await store.papers.announced_since(WED) == []


async def test_a_complete_day_is_not_fetched_again_unless_forced(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS[:8]), WED)
    await harvester.harvest(NOW, needed=CV)
    again = await harvester.harvest(NOW + timedelta(hours=1), needed=CV)
    assert again.status == "nothing" and again.days == () and len(arxiv_server.requests) == 1
    assert again.lines()[-1].endswith("nothing to read, every announcement day of the window is read")
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
    assert report.status == "ok" and report.days[0].new == 2 and report.days[0].cross == 0
    assert await store.papers.count() == 2


async def test_a_day_nothing_could_be_read_of_is_missing_and_read_by_the_next_run(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS[:10]), WED)
    arxiv_server.script(*[Fault.http(503)] * 12)  # both feeds and the API fallback, all tries
    needed = [frozenset({"cs.CV"}), frozenset({"math"})]
    report = await harvester.harvest(NOW, needed=needed)
    assert report.status == "failed" and report.days[0].state is DayState.MISSING
    assert "503" in (report.days[0].error or "")
    assert await store.papers.count() == 0
    record = (await store.days.get_many([WED]))[WED]
    assert record.state is DayState.MISSING and record.sources == (
        ("cs.CV", Source.FAILED),
        ("math", Source.FAILED),
    )
    (run,) = await store.harvests.recent()
    assert run.status == "failed" and run.announced == WED and run.error
    retry = await harvester.harvest(NOW + timedelta(minutes=30), needed=needed)
    assert retry.status == "ok" and retry.days[0].state is DayState.COMPLETE
    assert await store.papers.count() == 10


async def test_a_failed_feed_falls_back_to_the_api_for_its_group_and_the_day_is_partial(
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
    [wed] = report.days
    assert report.status == "ok" and wed.read == ("api",) and wed.new == 3
    assert wed.state is DayState.PARTIAL and "feed failed" in (wed.error or "")
    assert "submittedDate:[202510131800 TO 202510141800]" in arxiv_server.requests[-1].query["search_query"]
    stored = await store.papers.get(in_window[0].arxiv_id)
    assert stored is not None and stored.announced == WED
    assert len(lines) == 2


async def test_an_empty_feed_on_an_announcement_day_is_looked_at_again(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS[:6]), WED)
    arxiv_server.script(Fault.empty("/atom"), Fault.empty("/atom"))
    clock = iter([NOW, NOW + timedelta(minutes=30), NOW + timedelta(minutes=60)])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    report = await harvester.harvest_with_repolls(lambda: next(clock), needed=CV, sleep=sleep)
    assert report.status == "ok" and report.days[-1].state is DayState.COMPLETE
    assert sum(d.new + d.cross + d.replaced for d in report.days) == 6
    assert waits == [1800.0, 1800.0] and report.requests == 3
    assert [r.status for r in await store.harvests.recent()] == ["ok", "empty", "empty"]


async def test_a_stale_feed_is_not_taken_for_the_day(harvester: Harvester, arxiv_server: FakeArxiv) -> None:
    arxiv_server.announce(todays(PAPERS[:6]), TUE)
    report = await harvester.harvest(NOW, needed=CV, final=False)
    assert report.status == "waiting" and report.days[0].waiting == ("cs.CV", "cs.IR")
    assert "does not show the day yet" in (report.days[0].error or "")
    assert report.stored_new == 0


async def test_nothing_to_read_on_a_weekend_once_friday_is_read(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    fri = date(2025, 10, 17)
    arxiv_server.publish(fri, todays(PAPERS[:4]))
    arxiv_server.today(fri)
    friday = await harvester.harvest(datetime.combine(fri, time(0, 30), ARXIV_TZ), needed=CV)
    assert friday.days[0].state is DayState.COMPLETE
    arxiv_server.today(date(2025, 10, 18))  # Saturday: the feeds are empty
    saturday = await harvester.harvest(datetime.combine(date(2025, 10, 18), time(0, 30), ARXIV_TZ), needed=CV)
    assert saturday.status == "nothing" and saturday.requests == 0


async def test_dry_run_stores_nothing(harvester: Harvester, store: Store, arxiv_server: FakeArxiv) -> None:
    arxiv_server.announce(todays(PAPERS[:6]), WED)
    report = await harvester.harvest(NOW, needed=CV, dry_run=True)
    assert report.status == "ok" and report.days[0].new == 4
    assert report.lines()[-1].endswith("(dry run: nothing stored)")
    assert await store.papers.count() == 0 and await store.harvests.recent() == []
    assert await store.days.get_many([WED]) == {}


async def test_requests_do_not_grow_with_subscriptions(
    harvester: Harvester, store: Store, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(todays(PAPERS), WED)
    one = await harvester.harvest(NOW, needed=[None], dry_run=True)
    many = await harvester.harvest(NOW, needed=[None] * 5000 + [frozenset({"cs.CV"})] * 5000, dry_run=True)
    assert one.requests == many.requests == len(plan_feed_requests(ALL_ARXIV_ARCHIVES))
    # Groups with nothing in them had a quiet day: the others show the feeds were rebuilt.
    assert one.days[0].state is DayState.COMPLETE
