"""Never miss an announcement day: the catch-up over several days against a faulty fake arXiv.

Days pass on a driven clock (the fake arXiv's `today`, the harvest's `now`, the throttle's clock);
arXiv goes down, answers with Retry-After, trickles bytes, keeps one feed group stale, takes a
holiday. Each story ends with what a channel sees, or what the record of days says.
"""

from __future__ import annotations

import io
import time as stopwatch
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.client import ArxivClient, Throttle
from bot.arxiv.harvest import Harvester
from bot.arxiv.harvest_cli import run_status_command
from bot.arxiv.harvest_report import HarvestReport
from bot.cli import main
from bot.config import ArxivConfig, Config
from bot.models import DayState, Paper, Source
from storage import Store
from tests.conftest import GENERAL, command
from tests.fakes.arxiv_server import FakeArxiv, Fault
from tests.fakes.clock import FakeTime
from tests.fakes.recording import RecordingAdapter

MON, TUE, WED, THU = (date(2026, 11, d) for d in (23, 24, 25, 26))
FRI = date(2026, 11, 27)  # no announcement: arXiv skips Thanksgiving evening (Thu 26 Nov)
NEXT_MON = date(2026, 11, 30)
OLD = datetime(2026, 1, 5, tzinfo=UTC)  # when cross-listed and replaced papers were first submitted


def et(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), ARXIV_TZ)


def day_papers(
    day: date, new: int = 50, cross: int = 20, replaced: int = 12, cats: tuple[str, ...] = ("cs.CV",)
) -> list[Paper]:
    """A day of 82 announcements; every fourth is about video retrieval."""
    out = []
    kinds = ["new"] * new + ["cross"] * cross + ["replace"] * replaced
    for i, kind in enumerate(kinds):
        topic = "Video Retrieval" if i % 4 == 0 else "Graph Learning"
        out.append(
            Paper(
                arxiv_id=f"2611.{day.day:02d}{i:03d}"
                if cats[0].startswith("cs")
                else f"2611.{day.day + 50:02d}{i:03d}",
                version=2 if kind == "replace" else 1,
                title=f"{topic} on {day:%a} #{i}",
                abstract=f"We study {topic.lower()} at scale. It works.",
                authors=("Ada Lovelace",),
                categories=cats,
                published=OLD,
                announce_type=kind,
            )
        )
    return out


async def no_sleep(_: float) -> None:
    return None


@asynccontextmanager
async def driven_client(cfg: Config, clock: FakeTime) -> AsyncIterator[ArxivClient]:
    """A client whose throttle (the 3-second spacing, Retry-After) runs on the test's clock."""
    client = ArxivClient(cfg.arxiv, throttle=Throttle(0.05, clock=clock.monotonic, sleep=clock.sleep))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def cfg(config: Config, arxiv_config: ArxivConfig) -> Config:
    return replace(config, arxiv=replace(arxiv_config, categories=("cs.CV",)))


# -- the story of issue 13: a day arXiv was down, read the day after --------------------------------


async def test_a_day_arxiv_was_down_is_read_later_and_reaches_the_next_digest(
    cfg: Config, arxiv_server: FakeArxiv
) -> None:
    clock = FakeTime(datetime(2026, 11, 23, 15, tzinfo=UTC))  # Monday afternoon
    adapter = RecordingAdapter(name="console")
    tue = arxiv_server.publish(TUE, day_papers(TUE))
    wed = arxiv_server.publish(WED, day_papers(WED))
    arxiv_server.publish(THU, day_papers(THU))
    async with App(cfg, [adapter], clock=clock.now, sleep=clock.sleep) as app:
        reply = await app.command(command("/track video retrieval"))
        assert reply.text.startswith("Now tracking")

        # Day 1: feeds and API down (refused). Tried twice per host, re-polled, then left missing.
        arxiv_server.down()
        clock.at(et(TUE, 0, 30))
        started = stopwatch.monotonic()
        day1 = await app.jobs.harvest_job()
        assert stopwatch.monotonic() - started < 5
        assert day1.failed and [(d.day, d.state) for d in day1.days] == [(TUE, DayState.MISSING)]
        clock.at(datetime(2026, 11, 24, 9, tzinfo=UTC))
        assert [o.status for o in await app.jobs.deliver_channels([GENERAL])] == ["nothing"]

        # Day 2: arXiv is back. Wednesday from the feeds, Tuesday from the API (caught up).
        arxiv_server.up()
        arxiv_server.today(WED)
        clock.at(et(WED, 0, 30))
        day2 = await app.jobs.harvest_job()
        assert [(d.day, d.state, d.read, d.caught_up) for d in day2.days] == [
            (WED, DayState.COMPLETE, ("feed",), False),
            (TUE, DayState.PARTIAL, ("api",), True),
        ]
        # Tuesday's new submissions are all there (its cross-lists and replacements only the feed had).
        assert day2.days[1].new == 50
        assert (await app.store.days.paper_counts([TUE]))[TUE] == 50
        clock.at(datetime(2026, 11, 25, 9, tzinfo=UTC))
        [outcome] = await app.jobs.deliver_channels([GENERAL])

        # Day 3: only Thursday is read; Tuesday has all the API can give and is not asked again.
        arxiv_server.today(THU)
        arxiv_server.reset_requests()
        clock.at(et(THU, 0, 30))
        day3 = await app.jobs.harvest_job()
        assert [(d.day, d.state) for d in day3.days] == [(THU, DayState.COMPLETE)]
        assert all(r.path.startswith("/atom/") or "id_list" in r.query for r in arxiv_server.requests)

        out = io.StringIO()
        await run_status_command(app.config, out=out, now=clock.now())

    # Wednesday's 18 matching papers (new and cross-listed) and Tuesday's 13 new ones, in one digest.
    matching = {p.title for p in tue + wed if "Video" in p.title and p.announce_type != "replace"}
    [parent] = [m for m in adapter.messages if m.parent_id is None]
    assert parent.text == (
        "arXiv digest for Wed 25 Nov 2026: 31 new papers (top 15 below; includes Tue 24 Nov, caught up)"
    )
    thread = adapter.thread(parent.message_id)
    assert (
        outcome.posted == 15
        and set(thread[:15]) <= matching
        and thread[15] == "+16 more — /papers video retrieval"
    )

    status = out.getvalue().splitlines()
    assert status[1].startswith("  Thu 26 Nov 2026  complete") and "from the feeds" in status[1]
    assert status[3] == "  Tue 24 Nov 2026  partial     50 papers  cs.CV read from the API: no replacements"
    assert status[4].startswith("  Mon 23 Nov 2026  -")  # before anything was tracked


async def test_the_daily_catch_up_reads_what_the_harvest_could_not_the_same_day(
    cfg: Config, arxiv_server: FakeArxiv
) -> None:
    fri = date(2026, 11, 20)
    clock = FakeTime(datetime(2026, 11, 19, 15, tzinfo=UTC))  # Thursday afternoon
    adapter = RecordingAdapter(name="console")
    arxiv_server.publish(fri, day_papers(fri))
    arxiv_server.today(fri)
    async with App(cfg, [adapter], clock=clock.now, sleep=clock.sleep) as app:
        await app.command(command("/track video retrieval"))
        arxiv_server.down()  # all night, through the harvest's re-polls
        clock.at(et(fri, 0, 30))
        assert (await app.jobs.harvest_job()).days[0].state is DayState.MISSING
        # Half a day later arXiv is back: Friday is read from its feed, not on Monday from the API.
        assert app.scheduler.next_fire("catch-up", et(fri, 0, 31)) == et(fri, 12, 30)
        arxiv_server.up()
        clock.at(et(fri, 12, 30))
        report = await app.jobs.catch_up_job()
        assert [(d.day, d.state, d.read) for d in report.days] == [(fri, DayState.COMPLETE, ("feed",))]
        # Nothing left: the next catch-up asks arXiv nothing.
        arxiv_server.reset_requests()
        clock.at(et(date(2026, 11, 21), 12, 30))
        assert (await app.jobs.catch_up_job()).status == "nothing" and arxiv_server.requests == []
        [outcome] = await app.jobs.deliver_channels([GENERAL])  # Saturday's digest
    assert outcome.posted == 15 and adapter.messages[0].text.startswith(
        "arXiv digest for Fri 20 Nov 2026: 18"
    )


async def test_a_partial_day_is_read_again_from_the_feed_when_it_answers(
    arxiv_client: ArxivClient, store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    harvester = Harvester(arxiv_client, store, cfg)
    arxiv_server.publish(WED, day_papers(WED))
    arxiv_server.today(WED)
    arxiv_server.script(*[Fault.http(503, path_prefix="/atom")] * 4)  # the feed fails, all tries
    first = await harvester.harvest(et(WED, 0, 30))
    assert [(d.state, d.read, d.new, d.cross) for d in first.days] == [(DayState.PARTIAL, ("api",), 50, 0)]
    assert "feed failed" in (first.days[0].error or "")
    # Later the same day the feed answers: the day is read properly, cross-lists and all.
    second = await harvester.harvest(et(WED, 10))
    [wed] = second.days
    assert (wed.state, wed.read, wed.cross, wed.replaced, wed.stored_new) == (
        DayState.COMPLETE,
        ("feed",),
        20,
        12,
        32,
    )
    record = (await store.days.get_many([WED]))[WED]
    assert record.state is DayState.COMPLETE and record.sources == (("cs.CV", Source.FEED),)


async def test_a_scheduled_harvest_looks_at_a_failed_feed_again_within_its_window(
    arxiv_client: ArxivClient, store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.publish(WED, day_papers(WED))
    arxiv_server.today(WED)
    arxiv_server.script(*[Fault.http(503, path_prefix="/atom")] * 4)
    clock = FakeTime(et(WED, 0, 30))
    report = await Harvester(arxiv_client, store, cfg).harvest_with_repolls(clock.now, sleep=clock.sleep)
    assert clock.sleeps == [1800.0]  # one re-poll found the feed back
    assert [(d.state, d.read) for d in report.days] == [(DayState.COMPLETE, ("api", "feed"))]


async def test_one_stale_feed_group_is_repolled_then_filled_from_the_api_alone(
    arxiv_client: ArxivClient, store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    harvester = Harvester(arxiv_client, store, cfg)
    cv, math = day_papers(WED, 10, 0, 0), day_papers(WED, 6, 0, 0, cats=("math.GT",))  # two groups
    arxiv_server.publish(TUE, day_papers(TUE, 5, 0, 0, cats=("math.GT",)))
    arxiv_server.publish(WED, cv + math)
    arxiv_server.today(WED)
    arxiv_server.stale("/atom/math", TUE)  # the math feed still shows Tuesday
    needed = [frozenset({"cs.CV"}), frozenset({"math"})]
    clock = FakeTime(et(WED, 0, 30))
    report = await harvester.harvest_with_repolls(clock.now, needed=needed, sleep=clock.sleep)
    paths = [r.path for r in arxiv_server.requests]
    assert paths.count("/atom/cs.CV") == 1  # read once: it was fine
    assert paths.count("/atom/math") == 4  # the first look and three re-polls
    [api] = [r for r in arxiv_server.requests if r.path == "/api/query"]
    assert api.query["search_query"].startswith("(cat:math.*) AND submittedDate:")  # that group only
    [wed] = report.days
    assert wed.state is DayState.PARTIAL and wed.new == 16
    assert "math read from the API" in (wed.error or "")
    assert len(await store.papers.announced_since(WED)) == 16
    # Read properly once the group's feed is updated (the same day): complete.
    arxiv_server.stale("/atom/math", None)
    again = await harvester.harvest(et(WED, 9), needed=needed)
    assert [(d.state, d.read) for d in again.days] == [(DayState.COMPLETE, ("feed",))]
    assert arxiv_server.requests[-1].path == "/atom/math"


async def test_an_arxiv_holiday_is_not_a_day_and_not_repolled(
    arxiv_client: ArxivClient, store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    harvester = Harvester(arxiv_client, store, cfg)
    since = et(WED, 19)  # tracked before Thursday's announcement (Wednesday 20:00)
    arxiv_server.publish(THU, day_papers(THU))
    arxiv_server.today(THU)
    await harvester.harvest(et(THU, 0, 30), since=since)
    arxiv_server.today(FRI)  # Thanksgiving evening had no announcement: the feeds are empty
    arxiv_server.reset_requests()
    clock = FakeTime(et(FRI, 0, 30))
    friday = await harvester.harvest_with_repolls(clock.now, since=since, sleep=clock.sleep)
    assert friday.status == "nothing" and arxiv_server.requests == [] and clock.sleeps == []
    # arXiv down on Monday; Tuesday reads Monday from the API, by Wednesday 14:00 to Friday 14:00.
    arxiv_server.publish(NEXT_MON, day_papers(NEXT_MON, 8, 0, 0))
    arxiv_server.publish(date(2026, 12, 1), day_papers(date(2026, 12, 1), 4, 0, 0))
    arxiv_server.today(date(2026, 12, 1))
    tuesday = await harvester.harvest(et(date(2026, 12, 1), 0, 30), since=since)
    assert [d.day for d in tuesday.days] == [date(2026, 12, 1), NEXT_MON]
    [api] = [r for r in arxiv_server.requests if r.path == "/api/query"]
    assert "submittedDate:[202611251900 TO 202611271900]" in api.query["search_query"]
    assert tuesday.days[1].new == 8


async def test_a_trickling_server_cannot_hold_the_harvest_past_its_deadline(
    store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    client = ArxivClient(replace(cfg.arxiv, timeout_s=0.3, max_retries=1), backoff_sleep=no_sleep)
    arxiv_server.publish(WED, day_papers(WED, 6, 0, 0))
    arxiv_server.today(WED)
    arxiv_server.script(Fault.trickle(20, "/atom"), Fault.trickle(20, "/atom"))
    try:
        report = await Harvester(client, store, cfg).harvest(et(WED, 0, 30))
    finally:
        client.close()
    assert report.seconds < 1.5  # two tries of 0.3 s and the API fallback; the trickle would take minutes
    [wed] = report.days
    assert wed.state is DayState.PARTIAL and wed.read == ("api",) and wed.new == 6
    assert "no complete answer within 0.3 s" in (wed.error or "")


async def test_a_retry_after_longer_than_the_window_leaves_the_day_for_later(
    store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.publish(WED, day_papers(WED, 6, 0, 0))
    arxiv_server.today(WED)
    arxiv_server.script(Fault.http(503, "7200", "/atom"))

    async def harvest_at(when: datetime) -> HarvestReport:
        # A new process each time: what holds arXiv back must come from the database.
        clock = FakeTime(when)
        async with driven_client(cfg, clock) as client:
            return await Harvester(client, store, cfg).harvest(when)

    first = await harvest_at(et(WED, 0, 30))
    assert len(arxiv_server.requests) == 1  # no API fallback three seconds later
    [wed] = first.days
    assert wed.state is DayState.MISSING and "wait 7200 s" in (wed.error or "")
    record = (await store.days.get_many([WED]))[WED]
    assert record.not_before is not None and record.not_before - et(WED, 0, 30) >= timedelta(seconds=7200)
    soon = await harvest_at(et(WED, 0, 40))
    assert len(arxiv_server.requests) == 1 and soon.deferred
    later = await harvest_at(et(WED, 2, 31))
    assert [d.state for d in later.days] == [DayState.COMPLETE]


async def test_a_retry_after_within_the_window_is_waited_out_then_the_feed_read(
    store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.publish(WED, day_papers(WED, 6, 0, 0))
    arxiv_server.today(WED)
    arxiv_server.script(Fault.http(503, "600", "/atom"))
    clock = FakeTime(et(WED, 0, 30))
    async with driven_client(cfg, clock) as client:
        report = await Harvester(client, store, cfg).harvest_with_repolls(clock.now, sleep=clock.sleep)
    assert [r.path for r in arxiv_server.requests] == ["/atom/cs.CV", "/atom/cs.CV"]
    assert sum(clock.sleeps) >= 599
    assert [d.state for d in report.days] == [DayState.COMPLETE]


def test_paperbot_harvest_without_network_exits_1_fast_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[bot]\ndatabase = "{tmp_path / "bot.db"}"\n'
        '[arxiv]\napi_url = "https://export.arxiv.invalid/api/query"\nfeed_url = "https://rss.arxiv.invalid"\n'
        "min_interval_s = 0.05\n",
        encoding="utf-8",
    )
    started = stopwatch.monotonic()
    code = main(["harvest", "--config", str(path)])
    elapsed = stopwatch.monotonic() - started
    out = capsys.readouterr().out.splitlines()
    assert code == 1 and elapsed < 5
    # Two tries per host, every feed group and day after that fails without a request.
    assert out[-1].startswith("harvest: 4 requests")
    assert out[-1].endswith(
        "cannot reach export.arxiv.invalid: name resolution failed; is this machine online?"
    )
    assert sum("cannot reach" in line for line in out) <= 4


async def test_a_weeks_catch_up_costs_a_handful_of_requests_per_day(
    arxiv_client: ArxivClient, store: Store, cfg: Config, arxiv_server: FakeArxiv
) -> None:
    week = [date(2026, 11, 16) + timedelta(days=i) for i in range(5)]  # Mon 16 to Fri 20 Nov
    for day in week:
        arxiv_server.publish(day, day_papers(day))
    arxiv_server.publish(MON, day_papers(MON))
    arxiv_server.today(MON)
    # Down all week; the first harvest after it, Monday 23rd, with 1,000 channels' queries.
    needed = [None] * 500 + [frozenset({"cs.CV"})] * 500
    since = et(date(2026, 11, 13), 9)  # tracked before Monday 16th's announcement
    report = await Harvester(arxiv_client, store, cfg).harvest(et(MON, 0, 30), needed=needed, since=since)
    per_day = ", ".join(f"{d.day:%a %d}: {d.requests}" for d in report.days)
    print(f"\na week's catch-up (5 missed days + today, 1,000 queries): {report.requests} arXiv requests")
    print(f"per day: {per_day}")
    assert [d.day for d in report.days] == [MON, *week]
    assert all(d.new == 50 for d in report.days)
    assert report.requests <= 2 * 6
