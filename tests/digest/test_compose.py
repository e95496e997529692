"""Digests: one parent and a thread of cards per channel, ranked, capped, exactly once.

Time is a controlled clock; papers go into the store as a harvest would put them.
"""

from __future__ import annotations

import json
from datetime import timedelta

from pytest import MonkeyPatch

from bot.app import App
from bot.config import Config
from bot.digest import compose as digest
from bot.digest import delivery, planning
from bot.digest import matches as channel_matches
from bot.models import ChannelRef, Subscription
from tests.conftest import GENERAL, command
from tests.fakes.stories import (
    DAY,
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


def test_building_the_index_in_collector_batches_indexes_every_subscription(monkeypatch: MonkeyPatch) -> None:
    # A build from scratch passes the collector over its objects every SYNC_BATCH subscriptions:
    # every one of them is still indexed, the garbage of parsing is collected, nothing is lost.
    monkeypatch.setattr(channel_matches, "SYNC_BATCH", 3)
    papers = [(paper(1, "Video Retrieval at Scale"), HARVESTED_AT), (paper(2, "Sparse Codes"), HARVESTED_AT)]
    texts = ["video retrieval", "sparse codes", "retrieval", "codes", "video", "scale", "sparse"]
    channels = [ChannelRef(GENERAL.platform, "local", f"c{i}", f"c{i}") for i in range(len(texts))]
    subs = [sub(i + 1, t, c) for i, (t, c) in enumerate(zip(texts, channels, strict=True))]
    kept = channel_matches.SubscriptionIndex()
    got = channel_matches.matches(subs, papers, {}, kept)
    assert len(kept.index) == len(texts)
    assert {c.channel_id: [e.paper.arxiv_id for e in es] for c, es in got.items()} == {
        "c0": ["2611.00001"],
        "c1": ["2611.00002"],
        "c2": ["2611.00001"],
        "c3": ["2611.00002"],
        "c4": ["2611.00001"],
        "c5": ["2611.00001"],
        "c6": ["2611.00002"],
    }


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
    for entries in found.values():
        for e in entries:
            assert run.why_json(e) == json.dumps(e.why(), ensure_ascii=False)
            assert run.entry_card(e) == digest.card(e.paper, e.why())
            assert run.card(e.paper, run.why_json(e)) == run.entry_card(e)
    ranked = {c: list(es) for c, es in found.items()}
    [batch] = planning.batches(dict(ranked), [(c, 1) for c in ranked], run, HARVESTED_AT.date())
    for d, rows, cards in zip(batch.digests, batch.rows, batch.cards, strict=True):
        entries = ranked[d.channel]
        # One row per shown paper, as the plain JSON would write it; the rest's ids as the overflow.
        assert json.loads(f"[{rows}]") == [
            [
                d.number,
                0,
                entries[0].paper.arxiv_id,
                json.dumps(list(entries[0].queries)),
                json.dumps(entries[0].why(), ensure_ascii=False),
                "pending",
            ]
        ]
        assert json.loads(d.overflow) == [e.paper.arxiv_id for e in entries[1:]]
        assert cards == (run.entry_card(entries[0]),)
        expected = digest.plan(entries, 1)
        assert (d.header, d.lines, d.footer) == (expected.header, expected.lines, expected.footer)
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
