"""A digest run over many channels: matched once, every digest planned in the ledger at once, then posted.

The run must record and post exactly what planning each channel on its own (/digest) does, and
leave to that path the channels it cannot plan with the others.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pytest import MonkeyPatch

from bot.app import App
from bot.config import Config
from bot.digest import compose as digest
from bot.digest import delivery, planning
from bot.digest import matches as channel_matches
from bot.models import ChannelRef, Paper, Platform, Subscription, ThreadItem
from storage import Store
from tests.conftest import GENERAL, command
from tests.fakes.recording import RecordingAdapter
from tests.fakes.stories import DAY, DELIVER_AT, HARVESTED_AT, TRACKED_AT, Clock, paper, parents, track

VISION = ChannelRef(Platform.CONSOLE, "local", "vision", "vision")
NLP = ChannelRef(Platform.CONSOLE, "local", "nlp", "nlp")
CHINESE = ChannelRef(Platform.CONSOLE, "local", "zh", "视频")


@dataclass
class CardRecorder(RecordingAdapter):
    """The recording adapter, keeping each thread item whole (cards, not just their titles)."""

    items: list[tuple[ChannelRef, ThreadItem]] = field(default_factory=list)

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        message_id = await super().post_reply(channel, parent, item, key)
        self.items.append((channel, item))
        return message_id


# Titles and abstracts whose matched words carry what JSON must escape: quotes, backslashes
# (LaTeX), non-Latin scripts, an emoji, a tab.
PAPERS = [
    paper(1, 'Video Retrieval with "Quoted" Words', "We study video retrieval. Results improve by 3%."),
    paper(2, "Sparse Codes for Video Retrieval", "Sparse codes and video retrieval, together."),
    paper(3, r"$\mathcal{O}(n)$ Video Retrieval \\ at Scale", "A back\\slash and video retrieval."),
    paper(4, "视频检索 Video Retrieval in Chinese 🎥", "视频检索 is video retrieval.\tTabbed."),
    paper(5, "Efficient Sparse Codes", "Sparse codes, efficiently.", announced=DAY - timedelta(days=1)),
    paper(6, "Language Models Read Papers", "We propose a language model.", authors=("Ada Lovelace",)),
    *(paper(10 + i, f"Video Retrieval Part {i}", "More video retrieval.") for i in range(8)),
]
TRACKED = {
    GENERAL: ["video retrieval", "au:lovelace"],
    VISION: ["video retrieval", "sparse codes", "ti:efficient"],
    NLP: ["language models", "with quoted words"],  # its matched words hold quotes
    CHINESE: ["视频检索", "video retrieval"],
}


async def ledger(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ledger's digests and entries, per channel, as stored (ids and keys aside)."""
    async with store.db.read(
        "SELECT c.channel_id, g.announced, g.header, g.lines, g.footer, g.overflow FROM digests g"
        " JOIN channels c ON c.id = g.channel ORDER BY c.channel_id, g.id"
    ) as cur:
        digests = [tuple(r) for r in await cur.fetchall()]
    async with store.db.read(
        "SELECT c.channel_id, d.arxiv_id, d.position, d.queries, d.why, d.state FROM deliveries d"
        " JOIN channels c ON c.id = d.channel ORDER BY c.channel_id, d.position"
    ) as cur:
        entries = [tuple(r) for r in await cur.fetchall()]
    return digests, entries


async def set_up(app: App, clock: Clock) -> None:
    for channel, queries in TRACKED.items():
        for query in queries:
            await track(app, query, channel)
    await app.command(command("/settings max 3", VISION))
    await app.store.papers.upsert_many(PAPERS, HARVESTED_AT)
    clock.now = DELIVER_AT


async def test_a_run_plans_and_posts_what_planning_each_channel_on_its_own_does(
    config: Config, tmp_path: Path
) -> None:
    run_clock, run_adapter = Clock(TRACKED_AT), CardRecorder(name="console")
    async with App(config, [run_adapter], clock=run_clock) as app:
        await set_up(app, run_clock)
        outcomes = await app.jobs.deliver_channels(list(TRACKED))
        assert [o.status for o in outcomes] == ["posted"] * len(TRACKED)
        assert app.reporter.count == 0
        batched = await ledger(app.store)

    alone = replace(config, bot=replace(config.bot, database=str(tmp_path / "alone.db")))
    clock, adapter = Clock(TRACKED_AT), CardRecorder(name="console")
    async with App(alone, [adapter], clock=clock) as app:
        await set_up(app, clock)
        for channel in TRACKED:  # /digest plans the channel on its own
            reply = await app.command(command("/digest", channel))
            assert reply.text.startswith("Posted a digest"), reply.text
        assert await ledger(app.store) == batched

    for channel in TRACKED:  # (a run posts its channels concurrently)
        assert [m.text for m in run_adapter.messages if m.channel == channel] == [
            m.text for m in adapter.messages if m.channel == channel
        ]
        # The same cards, field by field.
        assert [i for c, i in run_adapter.items if c == channel] == [
            i for c, i in adapter.items if c == channel
        ]
    # Some channel's digest was capped, and some paper matched two of a channel's queries.
    assert any(overflow != "[]" for *_, overflow in batched[0])
    assert any(", " in queries for _, _, _, queries, _, _ in batched[1])
    assert any('with \\"Quoted\\" Words' in why for *_, why, _ in batched[1])


async def test_a_channel_planned_by_digest_while_the_run_matched_is_matched_again_not_twice(
    config: Config, monkeypatch: MonkeyPatch
) -> None:
    clock, adapter = Clock(TRACKED_AT), RecordingAdapter(name="console")
    async with App(config, [adapter], clock=clock) as app:
        await set_up(app, clock)
        states = app.store.channels.run_states

        async def digest_first() -> Any:  # someone types /digest between the match and the plans
            assert (await app.command(command("/digest"))).text.startswith("Posted a digest")
            return await states()

        monkeypatch.setattr(app.store.channels, "run_states", digest_first)
        outcomes = await app.jobs.deliver_channels(list(TRACKED))
        assert app.reporter.count == 0
    assert [o.status for o in outcomes] == ["nothing", "posted", "posted", "posted"]
    [parent] = parents(adapter)  # #general's digest, once, each paper once (au:lovelace: all)
    assert sorted(adapter.thread(parent)) == sorted(p.title for p in PAPERS)


async def test_a_run_over_many_channels_never_offers_a_paper_twice(
    config: Config, monkeypatch: MonkeyPatch
) -> None:
    # Every run reads what each channel already got for all channels at once (by when it was offered).
    monkeypatch.setattr(delivery, "FEW_CHANNELS", 0)
    clock, adapter = Clock(TRACKED_AT), RecordingAdapter(name="console")
    async with App(config, [adapter], clock=clock) as app:
        await set_up(app, clock)
        first = await app.jobs.deliver_channels(list(TRACKED))
        assert (await app.jobs.deliver_channels(list(TRACKED))) == [
            delivery.Outcome(c, "nothing") for c in TRACKED
        ]
        # The next day: a new version of a shown paper, one of one over the cap, and a new paper.
        later = HARVESTED_AT + timedelta(days=1)
        replaced = [
            replace(PAPERS[0], version=2, announce_type="replace"),
            replace(PAPERS[-1], version=2, announce_type="replace"),
            paper(30, "Video Retrieval, the Next Day", announced=DAY + timedelta(days=1)),
        ]
        await app.store.papers.upsert_many(replaced, later)
        clock.now = later + timedelta(hours=3)
        again = await app.jobs.deliver_channels(list(TRACKED))
    assert [o.posted for o in first] == [14, 3, 2, 12]
    assert [o.posted for o in again] == [1, 1, 0, 1]
    new_parents = [m.message_id for m in adapter.messages if m.parent_id is None][4:]
    assert [adapter.thread(p) for p in new_parents] == [["Video Retrieval, the Next Day"]] * 3


def test_matching_ranks_as_rank_does() -> None:
    """Entries are filed newest first in rank groups: the order `rank` gives, without sorting."""
    rng = random.Random(7)
    words = ["video", "retrieval", "sparse", "codes", "graph", "neural", "speech", "robot"]
    channels = [ChannelRef(Platform.CONSOLE, "local", f"c{i}", f"c{i}") for i in range(12)]
    papers: list[tuple[Paper, Any]] = []
    for n in range(300):
        title = " ".join(rng.sample(words, 3))
        abstract = " ".join(rng.choices(words, k=12))
        day = date(2026, 11, 20) - timedelta(days=rng.randrange(4))
        papers.append((paper(n, title, abstract, announced=day), HARVESTED_AT + timedelta(minutes=n % 7)))
    subs = [
        Subscription(i, c, q, q, "ada", TRACKED_AT)
        for i, (c, q) in enumerate(
            (c, " ".join(rng.sample(words, rng.choice((1, 2))))) for c in channels for _ in range(4)
        )
    ]
    found = channel_matches.matches(subs, papers, {})
    assert sum(len(e) for e in found.values()) > 1000
    assert any(len(e.queries) > 1 for es in found.values() for e in es)
    for entries in found.values():
        assert entries == channel_matches.rank(entries)


def test_each_suggested_paper_gets_its_own_card_and_record() -> None:
    """Suggestions share their (empty) query and reasons tuples: nothing may be cached by those."""
    liked, other = paper(40, "Graph Neural Networks"), paper(41, "Speech Recognition")
    matched = channel_matches.matches(
        [Subscription(1, GENERAL, "video retrieval", "video retrieval", "ada", TRACKED_AT)],
        [(PAPERS[1], HARVESTED_AT)],
        {},
    )[GENERAL]
    found = {GENERAL: [*matched, *(digest.Entry(p, (), (), False, suggested=True) for p in (liked, other))]}
    [batch] = planning.batches(found, [(GENERAL, 15)], planning.RunCache(), DAY)
    [cards] = batch.cards
    assert [c.title for c in cards] == [PAPERS[1].title, liked.title, other.title]
    assert [c.paper_id for c in cards] == [PAPERS[1].arxiv_id, liked.arxiv_id, other.arxiv_id]
    assert "you may also like" in cards[2].footer


def _many_channels_found() -> tuple[dict[ChannelRef, list[digest.Entry]], list[tuple[ChannelRef, int]]]:
    """Twelve channels' ranked matches of 200 papers: each paper in several digests, some beyond the cap."""
    rng = random.Random(11)
    words = ["video", "retrieval", "sparse", "codes", "graph", "neural", "speech", "robot"]
    channels = [ChannelRef(Platform.CONSOLE, "local", f"c{i}", f"c{i}") for i in range(12)]
    papers = [
        (paper(n, " ".join(rng.sample(words, 3)), " ".join(rng.choices(words, k=12))), HARVESTED_AT)
        for n in range(200)
    ]
    subs = [
        Subscription(i, c, q, q, "ada", TRACKED_AT)
        for i, (c, q) in enumerate(
            (c, " ".join(rng.sample(words, rng.choice((1, 2))))) for c in channels for _ in range(3)
        )
    ]
    found = channel_matches.matches(subs, papers, {})
    return found, [(c, 5 + i) for i, c in enumerate(channels) if c in found]


def test_a_run_makes_each_papers_cards_at_once_and_lets_go_of_its_words() -> None:
    """Planned paper by paper (`RunCache.expect`), the rows and cards are those of the plain way."""
    found, targets = _many_channels_found()
    ranked = {c: list(es) for c, es in found.items()}
    run = planning.RunCache()
    made = planning.batches(found, targets, run, DAY, size=1)  # a digest a batch
    first = next(made)
    # Every shown entry of every paper the first digest shows is made: that paper's words are let go.
    assert not run._facts_of and not run._explained
    papers = {e.paper.arxiv_id for e in digest.split(ranked[targets[0][0]], targets[0][1])[0]}
    to_show = [e for c, cap in targets for e in digest.split(ranked[c], cap)[0]]
    assert {id(e) for e in to_show if e.paper.arxiv_id in papers} <= run._shown.keys()
    assert len(run._shown) < len({id(e) for e in to_show})  # the other papers' are made when needed
    for batch in [first, *made]:
        for d, rows, cards in zip(batch.digests, batch.rows, batch.cards, strict=True):
            cap = dict(targets)[d.channel]
            plan = digest.plan(ranked[d.channel], cap)
            assert plan.shown == digest.split(ranked[d.channel], cap)[0]
            assert json.loads(f"[{rows}]") == [
                [d.number, i, e.paper.arxiv_id, json.dumps(list(e.queries)), json.dumps(e.why()), "pending"]
                for i, e in enumerate(plan.shown)
            ]
            assert cards == tuple(digest.card(e.paper, e.why()) for e in plan.shown)
            assert json.loads(d.overflow) == [e.paper.arxiv_id for e in plan.rest]
    assert not found  # each channel's matches let go of as planned


def test_a_batch_ends_at_its_rows_or_its_time() -> None:
    """Batches end at `size` rows, or after `seconds` of making: the ledger's writes spread over a run."""
    found, targets = _many_channels_found()
    one_each = list(planning.batches(dict(found), targets, planning.RunCache(), DAY, seconds=0))
    assert [len(b.digests) for b in one_each] == [1] * len(targets)
    assert [b.digests[0].number for b in one_each] == [1] * len(targets)  # numbered within each batch
    assert [b.digests[0].channel for b in one_each] == [c for c, _ in targets]
    by_rows = list(planning.batches(dict(found), targets, planning.RunCache(), DAY, size=12, seconds=60))
    assert all(b.entries >= 12 for b in by_rows[:-1])
    # Each ended with the digest that reached 12 rows.
    assert all(b.entries - len(json.loads(f"[{b.rows[-1]}]")) < 12 for b in by_rows)
    assert [d.channel for b in by_rows for d in b.digests] == [c for c, _ in targets]
