"""Reactions that teach the digest: 👍 / 👎 (or /like, /dislike) per channel, a model from 5 likes on.

The channel's papers come from two real clusters (video retrieval; multimodal / semi-supervised
learning); a channel that likes one cluster gets that cluster first in its next digest.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from bot.app import App
from bot.config import Config
from bot.models import ChannelRef, Paper, Platform, Reaction, UserRef
from bot.relevance import feedback
from tests.conftest import ALICE, GENERAL, NOW, command
from tests.fakes.clock import Clock
from tests.fakes.clusters import multimodal, unrelated, video_retrieval
from tests.fakes.recording import RecordingAdapter

START = NOW - timedelta(days=3)  # when the test begins: the channel tracks its topics
YESTERDAY = NOW.date() - timedelta(days=1)
VIDEO = video_retrieval(YESTERDAY)
MULTIMODAL = multimodal(NOW.date())  # newer: without learning, a digest would show them first
BOB = UserRef(Platform.CONSOLE, "bob", "bob")
VIDEO_TITLES = {p.title for p in VIDEO}


async def ask(app: App, text: str, user: UserRef = ALICE) -> str:
    return (await app.command(command(text, user=user))).text


async def like_video_papers(app: App, n: int) -> list[Paper]:
    liked = [p for p in VIDEO if "video retrieval" in p.title.lower()][:n]
    # Harvested before the channel tracked anything: liked, but never in its digests.
    earlier = app.clock() - timedelta(hours=1)
    await app.store.papers.upsert_many(liked + unrelated(300, YESTERDAY - timedelta(days=3)), earlier)
    for p in liked:
        assert (await ask(app, f"/like {p.arxiv_id}")).startswith("Noted: 👍")
    return liked


async def test_like_and_dislike_are_noted_and_tracked_counts_them(config: Config) -> None:
    clock = Clock(START)
    async with App(config, [RecordingAdapter(name="console")], clock=clock) as app:  # type: ignore[arg-type]
        await app.store.papers.upsert_many(VIDEO[:8], clock.now)
        await ask(app, "/track video retrieval")
        first = await ask(app, f"/like {VIDEO[0].arxiv_id}")
        assert first.startswith('Noted: 👍 "Dual Learning with Dynamic Knowledge') and first.endswith(
            f"({VIDEO[0].arxiv_id}). Learning from reactions: 1 of the 5 liked papers it needs"
            " (react 👍 or 👎 to a card)."
        )
        # A second opinion from the same person replaces the first; another person's adds to it.
        assert (await ask(app, f"/dislike {VIDEO[0].arxiv_id}")).startswith("Noted: 👎")
        assert await app.store.reactions.counts(GENERAL) == (0, 1)
        for p in VIDEO[1:6]:
            await ask(app, f"/like https://arxiv.org/abs/{p.arxiv_id}v2")
        await ask(app, f"/like {VIDEO[0].arxiv_id}", user=BOB)
        tracked = await ask(app, "/tracked")
        assert "The digest is ranked by a model learned from 7 reactions (6 👍, 1 👎 on 6 papers)." in tracked
        assert (await ask(app, "/settings learn off")).endswith("Learning from reactions is off.")
        assert "Learning from reactions is off (/settings learn on)." in await ask(app, "/tracked")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/like", "Usage: /like <arXiv id>, e.g. /like 2401.01234"),
        ("/dislike not-an-id", "Usage: /dislike <arXiv id>"),
        ("/like 2401.01234'); DROP TABLE reactions;--", "Usage: /like <arXiv id>"),
        ("/like 2511.99999", "arXiv is not answering"),  # not stored, and arXiv is out of reach here
        ("/settings learn maybe", 'learn: "maybe" is not on or off'),
    ],
)
async def test_bad_likes_get_a_clear_answer_and_store_nothing(config: Config, text: str, answer: str) -> None:
    async with App(config, [RecordingAdapter(name="console")]) as app:  # type: ignore[arg-type]
        assert answer in await ask(app, text)
        assert await app.store.reactions.counts(GENERAL) == (0, 0)


async def test_reactions_on_a_card_are_kept_with_who_and_taken_back(config: Config) -> None:
    clock, adapter = Clock(START), RecordingAdapter(name="console")
    async with App(config, [adapter], clock=clock) as app:  # type: ignore[arg-type]
        await ask(app, "/track video retrieval")
        await app.store.papers.upsert_many(VIDEO[:2], NOW - timedelta(hours=2))
        clock.now = NOW
        await app.jobs.deliver_channels([GENERAL])
        parent, card, _ = adapter.messages
        assert card.parent_id == parent.message_id
        await app.reaction(Reaction(GENERAL, card.message_id, ALICE, 1))
        await app.reaction(Reaction(GENERAL, card.message_id, BOB, -1))
        await app.reaction(Reaction(GENERAL, parent.message_id, BOB, 1))  # the header is not a paper
        elsewhere = ChannelRef(Platform.CONSOLE, "other-workspace", "general")
        await app.reaction(Reaction(elsewhere, card.message_id, BOB, 1))  # not our card there
        opinions = await app.store.reactions.opinions(GENERAL)
        assert [(o.net, o.reactions) for o in opinions] == [(0, 2)]
        await app.reaction(Reaction(GENERAL, card.message_id, BOB, -1, added=False))
        assert [(o.net, o.reactions) for o in await app.store.reactions.opinions(GENERAL)] == [(1, 1)]


async def two_cluster_digest(config: Config, *, learn: bool) -> list[str]:
    """A channel tracking both clusters likes 5 video retrieval papers; the next digest's card titles.

    Its papers are 10 of each cluster, the multimodal ones announced a day later: without
    learning, the newer cluster comes first among equal matches.
    """
    clock, adapter = Clock(START), RecordingAdapter(name="console")
    async with App(config, [adapter], clock=clock) as app:  # type: ignore[arg-type]
        await ask(app, "/track video")
        await ask(app, "/track multimodal OR semi-supervised")
        liked = await like_video_papers(app, feedback.MIN_LIKES)
        if not learn:
            await ask(app, "/settings learn off")
        today = [p for p in VIDEO if p not in liked and "video" in p.title.lower()][:10] + MULTIMODAL[:10]
        await app.store.papers.upsert_many(today, NOW - timedelta(hours=2))
        clock.now = NOW
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.posted == 15
    return [m.text for m in adapter.messages if m.parent_id is not None]


async def test_a_channel_that_likes_one_cluster_gets_it_first(config: Config) -> None:
    cards = await two_cluster_digest(config, learn=True)
    # The ten video retrieval papers lead; at most one of the other cluster (a video paper of its
    # own: action recognition in videos) slips in among them.
    assert sum(t in VIDEO_TITLES for t in cards[:10]) >= 9, cards[:10]
    assert sum(t in VIDEO_TITLES for t in cards[:11]) == 10, cards[:11]


async def test_without_learning_the_same_digest_shows_the_newer_cluster_first(config: Config) -> None:
    cards = await two_cluster_digest(config, learn=False)
    assert sum(t in VIDEO_TITLES for t in cards[:10]) <= 5, cards[:10]


async def test_four_likes_are_not_a_taste_yet(config: Config) -> None:
    clock = Clock(START)
    async with App(config, [RecordingAdapter(name="console")], clock=clock) as app:  # type: ignore[arg-type]
        await ask(app, "/track video")
        await like_video_papers(app, feedback.MIN_LIKES - 1)
        assert await app.store.reactions.learning_channels(feedback.MIN_LIKES) == []
        relevance = app.context.relevance
        assert relevance is not None
        await app.jobs.deliver_channels([GENERAL])
        assert relevance.corpus._model is None  # nobody learns, no like: topic: no text model at all


async def test_you_may_also_like_adds_papers_no_query_matched_beyond_the_cap(config: Config) -> None:
    clock, adapter = Clock(START), RecordingAdapter(name="console")
    async with App(config, [adapter], clock=clock) as app:  # type: ignore[arg-type]
        await ask(app, "/track multimodal OR semi-supervised")
        await ask(app, "/settings max 5")
        liked = await like_video_papers(app, 6)
        today = [p for p in VIDEO if p not in liked][:20] + MULTIMODAL[:20]
        await app.store.papers.upsert_many(today, NOW - timedelta(hours=2))
        clock.now = NOW
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        header = adapter.messages[0].text
        ledger = await app.store.deliveries.get(1)
        assert ledger is not None
    cards = [m.text for m in adapter.messages if m.parent_id is not None and not m.text.startswith("+")]
    assert outcome.posted == 5 + feedback.MAX_SUGGESTIONS
    assert all(t in VIDEO_TITLES for t in cards[5:])  # what the channel liked: video retrieval
    assert [json.loads(e.why)[0]["why"][0]["field"] for e in ledger.entries[5:8]] == ["learned"] * 3
    assert [e.queries for e in ledger.entries[5:8]] == [(), (), ()]
    assert all(e.queries for e in ledger.entries[:5])
    assert re.match(r"arXiv digest for \w+ \d+ \w+ \d+: \d+ new papers \(top 8 below", header), header


async def test_a_suggested_card_says_so(config: Config) -> None:
    from bot.digest import compose as digest

    entry = digest.Entry(MULTIMODAL[0], (), (), suggested=True)
    card = digest.card(entry.paper, entry.why())
    assert card.footer.startswith("you may also like: no query matched it")
    plan = digest.plan([entry], 5)
    assert plan.lines == ("• you may also like: 1",)


async def test_the_model_retrains_only_when_reactions_change(config: Config) -> None:
    clock = Clock(START)
    async with App(config, [RecordingAdapter(name="console")], clock=clock) as app:  # type: ignore[arg-type]
        await ask(app, "/track video")
        await like_video_papers(app, feedback.MIN_LIKES)
        relevance = app.context.relevance
        assert relevance is not None
        model = await relevance.corpus.model(app.store)
        first = await relevance.ranker(GENERAL, model)
        assert first is not None and first.likes == feedback.MIN_LIKES
        assert await relevance.ranker(GENERAL, model) is first
        await app.store.papers.upsert_many(MULTIMODAL[:1], clock.now)
        assert (await ask(app, f"/dislike {MULTIMODAL[0].arxiv_id}")).startswith("Noted: 👎")
        second = await relevance.ranker(GENERAL, model)
        assert second is not first and second is not None and second.dislikes == 1
