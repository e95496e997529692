"""Digests: one parent and a thread of cards per channel, ranked, capped, exactly once.

Time is a controlled clock; papers go into the store as a harvest would put them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pytest import MonkeyPatch

from bot import channel_matches, delivery, digest, metrics, planning
from bot.app import App
from bot.config import Config
from bot.jobs import slot_job_id
from bot.models import ChannelRef, Paper, Platform, Subscription
from tests.conftest import GENERAL, command
from tests.fakes.recording import RecordingAdapter

DAY = date(2026, 11, 20)
TRACKED_AT = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
HARVESTED_AT = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
DELIVER_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
VISION = ChannelRef(Platform.CONSOLE, "local", "vision", "vision")
NLP = ChannelRef(Platform.CONSOLE, "local", "nlp", "nlp")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def paper(n: int, title: str, abstract: str = "", **kw: object) -> Paper:
    fields: dict[str, object] = {
        "arxiv_id": f"2611.{n:05d}",
        "version": 1,
        "title": title,
        "abstract": abstract or "We study things. Results are good.",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "categories": ("cs.CV", "cs.IR"),
        "announced": DAY,
        "announce_type": "new",
    }
    fields.update(kw)
    return Paper(**fields)  # type: ignore[arg-type]


def console(**kw: object) -> RecordingAdapter:
    return RecordingAdapter(name="console", **kw)  # type: ignore[arg-type]


async def track(app: App, query: str, channel: ChannelRef = GENERAL) -> None:
    reply = await app.command(command("/track " + query, channel))
    assert reply.text.startswith("Now tracking"), reply.text


async def harvest(app: App, clock: Clock, papers: Sequence[Paper], at: datetime = HARVESTED_AT) -> None:
    await app.store.papers.upsert_many(papers, at)
    clock.now = at


def parents(adapter: RecordingAdapter, channel: ChannelRef = GENERAL) -> list[str]:
    return [m.message_id for m in adapter.messages if m.parent_id is None and m.channel == channel]


async def test_a_digest_is_one_parent_and_a_thread_of_ranked_cards(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await track(app, "au:lovelace")
        await harvest(
            app,
            clock,
            [
                paper(1, "Sparse Codes", "We apply video retrieval to sparse codes."),
                paper(2, "Video Retrieval at Scale"),
                paper(3, "Unrelated Topic", authors=("Someone Else",)),
                paper(4, "Efficient Video Retrieval", announced=DAY - timedelta(days=1)),
            ],
        )
        clock.now = DELIVER_AT
        [outcome] = await app.jobs.deliver_channels([GENERAL])
    assert outcome.status == "posted" and outcome.posted == 3
    [parent] = parents(adapter)
    # Thursday's paper reached the store only on Friday: a missed day, read later, and said so.
    assert (
        adapter.messages[0].text
        == "arXiv digest for Fri 20 Nov 2026: 3 new papers (includes Thu 19 Nov, caught up)"
    )
    # Title hits first (newest first among equals), abstract-only last; each paper once.
    assert adapter.thread(parent) == ["Video Retrieval at Scale", "Efficient Video Retrieval", "Sparse Codes"]


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


async def test_a_subscription_gets_only_papers_harvested_after_it(config: Config) -> None:
    clock, adapter = Clock(HARVESTED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await app.store.papers.upsert_many([paper(1, "Video Retrieval at Scale")], HARVESTED_AT)
        clock.now = HARVESTED_AT + timedelta(hours=1)
        await track(app, "video retrieval")
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status == "nothing"


async def test_cross_lists_are_new_for_a_channel_that_did_not_get_the_paper(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval", VISION)
        await track(app, "video retrieval", NLP)
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale", announce_type="cross")])
        outcomes = await app.jobs.deliver_channels([VISION, NLP])
    assert [o.posted for o in outcomes] == [1, 1]


async def test_the_cap_summarises_the_rest_and_never_posts_it_later(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await app.command(command("/settings max 2"))
        await harvest(app, clock, [paper(i, f"Video Retrieval Part {i}") for i in range(1, 6)])
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.posted == 2
        assert (await app.jobs.deliver_channels([GENERAL]))[0].status == "nothing"
    [parent] = parents(adapter)
    assert adapter.messages[0].text == "arXiv digest for Fri 20 Nov 2026: 5 new papers (top 2 below)"
    assert adapter.thread(parent)[-1] == "+3 more — /papers video retrieval"


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


def test_cards_keep_markdown_characters_as_text_and_shorten_author_lists() -> None:
    title = "*Bold* _claims_ about <script> and `code` in **Video Retrieval**"
    p = paper(1, title, authors=tuple(f"Author {i}" for i in range(300)), comment="Accepted at NeurIPS 2025")
    card = digest.card(
        p, [{"query": "video retrieval", "why": [{"field": "title", "terms": ["Video Retrieval"]}]}]
    )
    assert card.title == title  # plain text; each adapter escapes it for its own markup
    assert card.authors == "Author 0, Author 1, Author 2 et al. (300 authors)"
    assert card.meta == ("cs.CV (also cs.IR)", "Accepted at NeurIPS 2025")
    assert card.footer == "matched: video retrieval (title)"
    assert card.highlights == ("Video Retrieval",)
    assert card.links[1].url == "https://arxiv.org/pdf/2611.00001"
    assert card.body.startswith("TL;DR: ")


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


def sub(sub_id: int, query: str, channel: ChannelRef = GENERAL) -> Subscription:
    return Subscription(sub_id, channel, query, query, "ada", TRACKED_AT)


def test_the_kept_index_follows_added_changed_and_removed_subscriptions() -> None:
    papers = [(paper(1, "Video Retrieval at Scale"), HARVESTED_AT), (paper(2, "Sparse Codes"), HARVESTED_AT)]
    kept = channel_matches.SubscriptionIndex()

    def found(subs: list[Subscription]) -> dict[str, list[str]]:
        got = channel_matches.matches(subs, papers, {}, kept)
        fresh = channel_matches.matches(subs, papers, {})  # the same answer as an index built from scratch
        as_ids = {c.channel_id: [e.paper.arxiv_id for e in entries] for c, entries in got.items()}
        assert as_ids == {c.channel_id: [e.paper.arxiv_id for e in es] for c, es in fresh.items()}
        return as_ids

    assert found([sub(1, "video retrieval"), sub(2, "sparse codes", VISION)]) == {
        "general": ["2611.00001"],
        "vision": ["2611.00002"],
    }
    # #general's query was edited in the database, #vision untracked, #nlp added, one row is garbage.
    changed = [sub(1, "sparse codes"), sub(3, "video retrieval", NLP), sub(4, '"unbalanced')]
    assert found(changed) == {"general": ["2611.00002"], "nlp": ["2611.00001"]}
    assert len(kept.index) == 2
    assert found([]) == {} and len(kept.index) == 0


async def test_a_large_run_matches_through_the_kept_index(config: Config, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "PERSISTENT_INDEX_FROM", 1)
    monkeypatch.setattr(delivery, "FEW_CHANNELS", 0)  # every run reads all subscriptions, picks its own
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await track(app, "sparse codes", VISION)
        await harvest(app, clock, [paper(1, "Video Retrieval at Scale"), paper(2, "Sparse Codes")])
        clock.now = DELIVER_AT
        outcomes = await app.jobs.deliver_channels([GENERAL, VISION])
        await app.command(command("/untrack sparse codes", VISION))
        await track(app, "video retrieval", VISION)  # a new subscription only gets later papers
        await harvest(app, clock, [paper(3, "Video Retrieval Again")], at=HARVESTED_AT + timedelta(days=1))
        again = await app.jobs.deliver_channels([GENERAL, VISION])
    assert [o.posted for o in outcomes] == [1, 1] and [o.posted for o in again] == [1, 1]
    assert adapter.thread(parents(adapter, VISION)[1]) == ["Video Retrieval Again"]


def test_matching_only_some_channels_keeps_the_index_whole() -> None:
    papers = [(paper(1, "Video Retrieval at Scale"), HARVESTED_AT), (paper(2, "Sparse Codes"), HARVESTED_AT)]
    subs = [sub(1, "video retrieval"), sub(2, "sparse codes", VISION), sub(3, "sparse codes", NLP)]
    kept = channel_matches.SubscriptionIndex()
    got = channel_matches.matches(subs, papers, {}, kept, only={VISION})
    assert {c.channel_id: [e.paper.arxiv_id for e in es] for c, es in got.items()} == {
        "vision": ["2611.00002"]
    }
    assert len(kept.index) == 3  # nobody else's subscription was dropped from the kept index
    delivered = {NLP: {"2611.00002"}}
    got = channel_matches.matches(subs, papers, delivered, kept)
    assert sorted(c.channel_id for c in got) == ["general", "vision"]


def test_a_run_shares_cards_and_why_records_and_they_equal_the_plain_ones() -> None:
    p1 = paper(1, "Video Retrieval at Scale", "We retrieve videos. Video retrieval works.")
    p2 = paper(2, "Sparse Codes for Video Retrieval")
    papers = [(p1, HARVESTED_AT), (p2, HARVESTED_AT)]
    subs = [sub(1, "video retrieval"), sub(2, "video retrieval", VISION), sub(3, "sparse codes", VISION)]
    found = channel_matches.matches(subs, papers, {})
    run = planning.RunCache()
    ready = planning.ready(found, lambda channel: 1, run)
    for channel, entries in found.items():
        for e in entries:
            assert run.why_json(e) == json.dumps(e.why(), ensure_ascii=False)
            assert run.entry_card(e) == digest.card(e.paper, e.why())
            assert run.card(e.paper, run.why_json(e)) == run.entry_card(e)
        r = ready[channel]
        assert [row.arxiv_id for row in r.rows()] == [e.paper.arxiv_id for e in entries]
        assert [row.state for row in r.rows()] == ["pending"] + ["overflow"] * (len(entries) - 1)
        assert r.thread[0] == run.entry_card(entries[0]) and r.parent.header == r.plan.header
        assert r.thread[1:] == ((r.plan.footer,) if r.plan.footer else ())
    assert run.papers == 2  # one TL;DR per paper, however many channels show it
    # #vision's p2 matched two of its queries: one entry listing both.
    [both] = [e for e in found[VISION] if e.paper.arxiv_id == "2611.00002"]
    assert both.queries == ("sparse codes", "video retrieval")


async def test_a_digest_looks_back_at_most_lookback_days(config: Config) -> None:
    clock, adapter = Clock(TRACKED_AT - timedelta(days=30)), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await app.command(command("/settings pause"))
        # Harvested while the channel was paused: three weeks ago, and yesterday.
        await harvest(app, clock, [paper(1, "Old Video Retrieval")], at=HARVESTED_AT - timedelta(days=21))
        await harvest(app, clock, [paper(2, "New Video Retrieval")])
        clock.now = DELIVER_AT
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.status == "paused"
        await app.command(command("/settings resume"))
        [outcome] = await app.jobs.deliver_channels([GENERAL])
    assert config.digest.lookback_days == 14 and outcome.posted == 1
    assert adapter.thread(parents(adapter)[0]) == ["New Video Retrieval"]


def test_ranking_is_title_then_number_of_queries_then_newest() -> None:
    old, new = DAY - timedelta(days=1), DAY
    entries = [
        digest.Entry(paper(1, "a", announced=new), (), ("q1",)),
        digest.Entry(paper(2, "b", announced=old), (), ("q1", "q2")),
        digest.Entry(paper(3, "c", announced=old), (), ("q1",)),
    ]
    assert [e.paper.arxiv_id for e in channel_matches.rank(entries)] == [
        "2611.00002",
        "2611.00001",
        "2611.00003",
    ]


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
