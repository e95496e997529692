"""The jobs: one delivery job per digest time and timezone, following the channels; the catch-up on start."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.app import App
from bot.config import Config
from bot.scheduling.jobs import slot_job_id
from tests.conftest import GENERAL, command
from tests.fakes.stories import (
    DELIVER_AT,
    TRACKED_AT,
    VISION,
    Clock,
    console,
    harvest,
    paper,
    parents,
    track,
)


async def test_delivery_jobs_follow_the_channel_timezone_across_dst(config: Config) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    async with App(config, [console()]) as app:
        await track(app, "video retrieval")
        await app.command(command("/settings time 09:00 tz Europe/Berlin"))
        job = await app.jobs.delivery_job(GENERAL)
        assert job == slot_job_id("09:00", "Europe/Berlin")
        # Summer time ends on Sunday 25 October 2026: 09:00 stays 09:00 local, the UTC hour moves.
        before = app.scheduler.next_fire(job, datetime(2026, 10, 23, 12, 0, tzinfo=UTC))
        after = app.scheduler.next_fire(job, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
        assert before is not None and after is not None
        assert before.astimezone(berlin).hour == after.astimezone(berlin).hour == 9
        assert (before.astimezone(UTC).hour, after.astimezone(UTC).hour) == (7, 8)
        assert after.astimezone(UTC).date() == date(2026, 10, 25)
        # New York too (its DST ends a week later).
        await app.command(command("/settings tz America/New_York time 07:30"))
        job = await app.jobs.delivery_job(GENERAL)
        assert job is not None
        nov = app.scheduler.next_fire(job, datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
        assert nov is not None and nov.astimezone(UTC).hour == 12  # 07:30 EST on 1 November


def delivery_jobs(app: App) -> list[str]:
    return [j for j in app.scheduler.job_ids() if j.startswith("deliver:")]


async def test_one_delivery_job_per_time_and_timezone_following_the_channels(config: Config) -> None:
    async with App(config, [console()]) as app:
        await track(app, "video retrieval")
        await track(app, "sparse codes", VISION)
        default = slot_job_id(config.schedule.post_time, config.schedule.timezone)
        assert delivery_jobs(app) == [default]  # two channels, one slot
        await app.command(command("/settings time 07:15"))
        fire = app.scheduler.next_fire(slot_job_id("07:15", "UTC"), datetime(2026, 11, 20, 0, 0, tzinfo=UTC))
        assert fire is not None and (fire.hour, fire.minute) == (7, 15)
        assert sorted(delivery_jobs(app)) == sorted([default, slot_job_id("07:15", "UTC")])
        await app.command(command("/settings time asap"))  # delivered by the harvest job instead
        assert delivery_jobs(app) == [default] and await app.jobs.delivery_job(GENERAL) is None
        await app.command(command("/settings time 08:00"))
        await app.command(command("/untrack video retrieval"))
        assert delivery_jobs(app) == [default]  # #vision's; nothing at 08:00 is left
        assert await app.jobs.delivery_job(GENERAL) is None


async def test_schedules_are_registered_again_from_the_database_at_start(config: Config) -> None:
    async with App(config, [console()]) as app:
        await track(app, "video retrieval", VISION)
    async with App(config, [console()]) as app:
        assert await app.jobs.delivery_job(VISION) in app.scheduler.job_ids()
        assert "harvest" in app.scheduler.job_ids()


async def test_a_slot_job_delivers_the_channels_set_to_it_when_it_fires(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await track(app, "video retrieval", VISION)
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale")])
        await app.command(command("/settings time 10:00"))
        await app.scheduler.run_now(slot_job_id("10:00", "UTC"))  # #general only
        assert {m.channel for m in adapter.messages} == {GENERAL}
        await app.command(command("/settings time 11:00 tz Asia/Tokyo"))
        await app.scheduler.run_now(slot_job_id(config.schedule.post_time, config.schedule.timezone))
        assert {m.channel for m in adapter.messages} == {GENERAL, VISION}
        await app.scheduler.run_now(slot_job_id("11:00", "Asia/Tokyo"))  # nothing new for #general
    assert len(parents(adapter)) == len(parents(adapter, VISION)) == 1 and len(adapter.messages) == 4


async def test_a_digest_missed_while_the_bot_was_down_is_posted_once_on_start(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale")])
    # The bot was down at 09:00 and comes back at 10:00 (arXiv itself is unreachable here).
    clock.now = DELIVER_AT + timedelta(hours=1)
    async with App(config, [adapter], clock=clock) as app:
        await app.jobs.catch_up()
        await app.jobs.catch_up()  # a second start the same day posts nothing new
    assert len(parents(adapter)) == 1 and len(adapter.messages) == 2


async def test_a_digest_time_still_ahead_is_left_to_its_job(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale")])
        clock.now = DELIVER_AT - timedelta(hours=1)
        await app.jobs.catch_up()
    assert adapter.messages == []
