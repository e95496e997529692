"""Delivering digests: the ledger, crashes and resumes, unreachable and paused channels, metrics."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from bot.app import App
from bot.config import Config
from bot.models import ChannelRef, Platform
from bot.ops import metrics
from tests.conftest import GENERAL, command
from tests.fakes.recording import RecordingAdapter
from tests.fakes.stories import (
    DELIVER_AT,
    HARVESTED_AT,
    NLP,
    TRACKED_AT,
    VISION,
    Clock,
    console,
    harvest,
    paper,
    parents,
    track,
)


async def test_a_second_delivery_and_a_replacement_post_nothing(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale")])
        assert (await app.jobs.deliver_channels([GENERAL]))[0].posted == 1
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status == "nothing"
        # The next day brings v2 of the same paper as a replacement: not a new paper.
        await harvest(
            app,
            clock,
            [paper(1, "Video Retrieval at Scale (v2)", version=2, announce_type="replace")],
            at=HARVESTED_AT + timedelta(days=1),
        )
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status == "nothing"
    assert len(adapter.messages) == 2


async def test_a_crash_after_the_parent_and_three_of_eight_items_resumes_in_the_same_thread(
    config: Config,
) -> None:
    clock = Clock(TRACKED_AT)
    crashing = console(fail_after=4)  # the parent and three cards get out, then the process dies
    async with App(config, [crashing], clock=clock) as app:
        await track(app, "video retrieval")
        await harvest(app, clock, [paper(i, f"Video Retrieval Part {i}") for i in range(1, 9)])
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.status == "failed"
    [parent] = parents(crashing)
    first = crashing.thread(parent)
    assert len(first) == 3

    restarted = console(_ids=itertools.count(100))  # message ids unlike the first run's
    async with App(config, [restarted], clock=clock) as app:
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.posted == 5
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status == "nothing"
    assert parents(restarted) == []  # no second parent
    rest = restarted.thread(parent)  # appended to the first run's thread
    assert len(rest) == 5
    assert sorted(first + rest) == sorted(f"Video Retrieval Part {i}" for i in range(1, 9))


async def crash_then_restart(
    config: Config, crashing: RecordingAdapter, *, papers: int = 5, cap: int = 2
) -> App:
    """Track, harvest `papers` papers and deliver (capped at `cap`) through `crashing`, which dies."""
    clock = Clock(TRACKED_AT)
    async with App(config, [crashing], clock=clock) as app:
        await track(app, "video retrieval")
        await app.command(command(f"/settings max {cap}"))
        await harvest(app, clock, [paper(i, f"Video Retrieval Part {i}") for i in range(1, papers + 1)])
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.status == "failed"
    return app


async def resume_on(config: Config, platform: RecordingAdapter) -> None:
    """Restart with the platform's messages as they are, and deliver until nothing is left."""
    platform.fail_after = platform.lose_id_of = None
    async with App(config, [platform], clock=Clock(DELIVER_AT)) as app:
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status in ("posted", "nothing")
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status == "nothing"
        assert app.reporter.count == 0


def digest_on(platform: RecordingAdapter) -> list[str]:
    """The one parent's thread, asserting there is exactly one parent."""
    [parent] = parents(platform)
    return platform.thread(parent)


CAPPED = [*(f"Video Retrieval Part {i}" for i in (5, 4)), "+3 more — /papers video retrieval"]


async def test_a_crash_after_the_footer_landed_but_before_its_id_was_recorded_posts_no_second_footer(
    config: Config,
) -> None:
    platform = console(lose_id_of=4)  # parent, two cards, footer: the footer lands, its id is lost
    await crash_then_restart(config, platform)
    await resume_on(config, platform)
    assert digest_on(platform) == CAPPED
    assert platform.lookups[-1][2][-1].endswith(".f")  # the footer was looked up, not resent


async def test_a_crash_before_the_footer_was_sent_posts_it_on_resume(config: Config) -> None:
    platform = console(fail_after=3)  # parent and two cards land; the footer never left
    await crash_then_restart(config, platform)
    await resume_on(config, platform)
    assert digest_on(platform) == CAPPED


async def test_a_card_that_landed_before_a_crash_is_found_not_posted_again(config: Config) -> None:
    platform = console(lose_id_of=2)  # parent and the first card land; the card's id is lost
    await crash_then_restart(config, platform)
    await resume_on(config, platform)
    assert digest_on(platform) == CAPPED


async def test_a_parent_that_landed_before_a_crash_is_found_not_posted_again(config: Config) -> None:
    platform = console(lose_id_of=1)  # the parent lands, its id is lost
    await crash_then_restart(config, platform)
    await resume_on(config, platform)
    assert digest_on(platform) == CAPPED  # one header, its thread complete


def counted(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"platform": "console", **labels}) or 0.0


async def test_metrics_count_each_card_once_across_a_crash_and_a_digest_once_it_is_complete(
    config: Config,
) -> None:
    cards, digests = "paperbot_cards_posted_total", "paperbot_digests_posted_total"
    failures = "paperbot_delivery_failures_total"
    before = counted(cards), counted(digests), counted(failures, reason="error")
    platform = console(lose_id_of=2)  # parent and the first card land; the card's id is lost
    await crash_then_restart(config, platform)
    assert (counted(cards), counted(digests), counted(failures, reason="error")) == (
        before[0],
        before[1],
        before[2] + 1,
    )
    await resume_on(config, platform)  # the first card is found, the second sent, then the footer
    assert digest_on(platform) == CAPPED
    assert (counted(cards), counted(digests)) == (before[0] + 2, before[1] + 1)


async def test_catch_up_and_digest_on_request_at_once_post_one_digest_without_errors(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await harvest(app, clock, [paper(i, f"Video Retrieval Part {i}") for i in range(1, 4)])
        # The catch-up matches every channel at once, then delivers; /digest runs in between.
        outcomes, reply = await asyncio.gather(
            app.jobs.deliver_channels([GENERAL]), app.command(command("/digest"))
        )
        assert app.reporter.count == 0
    assert sorted(digest_on(adapter)) == [f"Video Retrieval Part {i}" for i in range(1, 4)]
    assert {outcomes[0].status, reply.text} <= {
        "posted",
        "nothing",
        "Posted a digest with 3 papers.",
        "Nothing new since the last digest.",
    }


async def test_an_unreachable_channel_is_skipped_with_backoff_and_others_still_get_theirs(
    config: Config,
) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    gone = ChannelRef(Platform.CONSOLE, "local", "gone", "gone")
    async with App(config, [adapter], clock=clock) as app:
        for channel in (VISION, gone, NLP):
            await track(app, "video retrieval", channel)
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale")])
        adapter.unreachable.add(gone)
        outcomes = await app.jobs.deliver_channels([VISION, gone, NLP])
        assert [o.status for o in outcomes] == ["posted", "unreachable", "posted"]
        assert "invite the bot again" in outcomes[1].detail
        retry_at = await app.store.channels.retry_at(gone)
        assert retry_at == HARVESTED_AT + timedelta(hours=1)
        # Before the backoff is over the channel is not even tried.
        assert (await app.jobs.deliver_channels([gone]))[0].status == "waiting"
        # Invited again: after the backoff the same digest goes out, and the mark is cleared.
        adapter.unreachable.clear()
        clock.now = retry_at
        assert (await app.jobs.deliver_channels([gone]))[0].posted == 1
        assert await app.store.channels.retry_at(gone) is None


async def test_paused_channels_wait_but_digest_on_request_posts(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await app.command(command("/settings pause"))
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale")])
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status == "paused"
        reply = await app.command(command("/digest"))
    assert reply.text == "Posted a digest with 1 paper."


async def test_a_run_matches_only_the_papers_harvested_since_the_channels_last_run(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        for channel in (VISION, NLP):
            await track(app, "video retrieval", channel)
        first = [paper(1, "Video Retrieval at Scale"), paper(2, "Graph Theory"), paper(3, "Protein Folding")]
        await harvest(app, clock, first)
        clock.now = DELIVER_AT
        assert [o.posted for o in await app.jobs.deliver_channels([VISION, NLP])] == [1, 1]
        assert app.deliverer.papers_matched == 3
        # The next day: only that day's papers are read and matched, not the fortnight's.
        await harvest(
            app,
            clock,
            [paper(4, "Video Retrieval with Words"), paper(5, "Sorting")],
            at=HARVESTED_AT + timedelta(days=1),
        )
        clock.now = DELIVER_AT + timedelta(days=1)
        assert [o.posted for o in await app.jobs.deliver_channels([VISION, NLP])] == [1, 1]
        assert app.deliverer.papers_matched == 2
    assert sorted(m.text for m in adapter.messages if m.parent_id is not None) == sorted(
        ["Video Retrieval at Scale", "Video Retrieval with Words"] * 2
    )


async def test_a_channel_paused_for_days_gets_their_papers_when_it_resumes(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        for channel in (VISION, NLP):
            await track(app, "video retrieval", channel)

        async def day(n: int, title: str) -> list[int]:
            await harvest(app, clock, [paper(n, title)], at=HARVESTED_AT + timedelta(days=n))
            clock.now = DELIVER_AT + timedelta(days=n)
            return [o.posted for o in await app.jobs.deliver_channels([VISION, NLP])]

        assert await day(1, "Video Retrieval One") == [1, 1]
        await app.command(command("/settings pause", NLP))
        assert await day(2, "Video Retrieval Two") == [1, 0]
        assert await day(3, "Video Retrieval Three") == [1, 0]
        await app.command(command("/settings resume", NLP))
        # NLP was last matched two days ago: it is matched on its own, over the whole window.
        assert await day(4, "Video Retrieval Four") == [1, 3]
        assert await day(5, "Video Retrieval Five") == [1, 1]  # and then with the others again
        assert app.deliverer.papers_matched == 1
    nlp = [m.text for m in adapter.messages if m.channel == NLP and m.parent_id is not None]
    assert sorted(nlp) == sorted(f"Video Retrieval {n}" for n in ("One", "Two", "Three", "Four", "Five"))
