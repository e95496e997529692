"""`like:` topics: papers similar to examples, wherever a query works (track, tracked, papers, digests).

The store holds two real clusters (video retrieval; multimodal / semi-supervised learning) and
papers of unrelated fields, as a harvest would have stored them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from bot.app import App
from bot.arxiv.feed_plan import subscription_categories
from bot.arxiv.lookups import ArxivService
from bot.commands.dispatch import Context, dispatch
from bot.config import ArxivConfig, Config
from bot.errors import UserError
from bot.models import Paper
from bot.relevance import similar
from bot.relevance.ranking import Relevance
from bot.relevance.textmodel import TextModel
from storage import Store
from tests.conftest import GENERAL, NOW, command
from tests.fakes.arxiv_server import FakeArxiv
from tests.fakes.cards import CardsAdapter
from tests.fakes.clusters import multimodal, on_day, unrelated, video_retrieval
from tests.fakes.recording import RecordingAdapter

YESTERDAY = NOW.date() - timedelta(days=1)
VIDEO = video_retrieval(YESTERDAY)
MULTIMODAL = multimodal(YESTERDAY)
# Three papers squarely about video retrieval (PRVR, drone text-video retrieval, PRVR again).
EXAMPLES = ("2510.12283", "2510.10180", "2208.12510")
LIKE = "like:" + ",".join(sorted(EXAMPLES))
VIDEO_IDS = {p.arxiv_id for p in VIDEO}


@pytest.fixture
def relevant(ctx: Context, store: Store) -> Context:
    return replace(ctx, relevance=Relevance(store))


async def stored(store: Store, papers: list[Paper], at: datetime = NOW) -> None:
    await store.papers.upsert_many(papers, at)


def test_like_queries_read_canonically() -> None:
    assert similar.parse_like("like:2510.12283v2, https://arxiv.org/abs/2509.01234").canonical == (
        "like:2509.01234,2510.12283"
    )
    assert similar.parse_like("LIKE: 2510.12283  2510.12283").canonical == "like:2510.12283"
    assert similar.is_like("  Like:2510.12283") and not similar.is_like("video like:2510.12283")
    assert subscription_categories(LIKE) is None  # papers like examples come from any category


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("like:", "like: needs the arXiv ids of one or more example papers"),
        ("like:foo", '"foo" is not an arXiv id'),
        ("like:2510.12283;DROP TABLE papers", '"DROP" is not an arXiv id'),
        ("like:" + ",".join(f"2510.{i:05d}" for i in range(11)), "at most 10 example papers"),
        ("like:2513.00001", '"2513.00001" is not an arXiv id'),  # no 13th month
        ("like:" + "9" * 5000, "the limit is 500"),
    ],
)
async def test_bad_like_queries_get_a_clear_answer_and_change_nothing(
    relevant: Context, store: Store, text: str, answer: str
) -> None:
    with pytest.raises(UserError, match=re.escape(answer)):
        await dispatch(relevant, command("/track " + text))
    assert await store.subscriptions.for_channel(GENERAL) == []


async def test_track_like_names_the_examples_previews_the_week_and_untracks(
    relevant: Context, store: Store
) -> None:
    await stored(store, VIDEO + MULTIMODAL + unrelated(300, YESTERDAY))
    # Full-width digits and any order: one canonical query.
    reply = await dispatch(relevant, command("/track like:２２０８.１２５１０, 2510.12283v1 2510.10180"))
    assert reply.text.startswith(f'Now tracking "{LIKE}" in this channel: papers similar to "')
    assert "(2510.12283)" in reply.text and "Partially Relevant Video Retrieval" in reply.text
    found = re.search(r"In the last 7 days it would have matched (\d+) of ([\d,]+) papers:", reply.text)
    assert found is not None, reply.text
    # One day of papers in the store: the threshold lets through about a day's worth, not hundreds.
    assert 1 <= int(found[1]) <= 2 * similar.TARGET_PER_DAY
    previewed = re.findall(r"\((\d{4}\.\d{4,5})\)$", reply.text, re.MULTILINE)
    assert previewed and set(previewed) <= VIDEO_IDS - set(EXAMPLES)

    tracked = await dispatch(relevant, command("/tracked"))
    assert f"• {LIKE} — papers similar to " in tracked.text
    assert "Dual Learning with Dynamic Knowledge Distillation" in tracked.text
    untracked = await dispatch(relevant, command("/untrack like:2510.10180,2208.12510,2510.12283v3"))
    assert untracked.text == f'Stopped tracking "{LIKE}" in this channel.'


async def test_the_floor_keeps_unrelated_papers_out_however_quiet_the_day(
    relevant: Context, store: Store
) -> None:
    examples = [p for p in VIDEO if p.arxiv_id in EXAMPLES]
    await stored(store, examples + unrelated(400, YESTERDAY))
    reply = await dispatch(relevant, command(f"/track {LIKE}"))
    assert "it would have matched none of 403 papers" in reply.text
    papers = await dispatch(relevant, command(f"/papers {LIKE} 20"))
    assert papers.text == f"No stored paper reads like {LIKE} yet."


async def test_the_threshold_follows_the_store_about_four_a_day() -> None:
    days = [date(2026, 11, 2) + timedelta(days=d) for d in range(10)]
    papers = [p for d, day in enumerate(days) for p in on_day(VIDEO[d::10] + MULTIMODAL[d::10], day)]
    model = TextModel(papers + unrelated(500, days[-1]))
    topics = similar.Topics(model)
    assert topics.reference_days == 10
    examples = [p for p in VIDEO if p.arxiv_id in EXAMPLES]
    topic = topics.topics({LIKE: examples})[LIKE]
    hits = similar.ranked(topic, model, model.papers, at_least=topic.threshold)
    # About TARGET_PER_DAY a day over the ten days, all of them video retrieval papers.
    assert len(hits) == similar.TARGET_PER_DAY * 10
    assert topic.threshold > similar.FLOOR
    assert sum(h.paper.arxiv_id in VIDEO_IDS for h in hits) >= 0.9 * len(hits)


async def test_papers_like_lists_the_most_similar_stored_papers(relevant: Context, store: Store) -> None:
    await stored(store, VIDEO + MULTIMODAL + unrelated(300, YESTERDAY))
    reply = await dispatch(relevant, command(f"/papers {LIKE} 20"))
    assert reply.text == f"The 20 stored papers most similar to {LIKE}:"
    ids = [c.paper_id for c in reply.cards]
    assert len(ids) == 20 and not set(ids) & set(EXAMPLES)
    assert sum(i in VIDEO_IDS for i in ids) >= 16  # precision@20 of at least 0.8
    assert all(c.footer.startswith("similar to: ") for c in reply.cards)


async def test_an_unknown_example_is_looked_up_on_arxiv_and_a_missing_one_is_refused(
    relevant: Context, store: Store, arxiv_server: FakeArxiv, arxiv_config: ArxivConfig
) -> None:
    from bot.arxiv.client import ArxivClient

    paper = VIDEO[0]
    arxiv_server.add_papers([paper])
    client = ArxivClient(arxiv_config)
    try:
        ctx = replace(relevant, arxiv=ArxivService(client, store, clock=lambda: NOW))
        reply = await dispatch(ctx, command(f"/track like:{paper.arxiv_id}"))
        assert reply.text.startswith(f'Now tracking "like:{paper.arxiv_id}"')
        assert await store.papers.get(paper.arxiv_id) is not None  # looked up once, kept
        with pytest.raises(UserError, match=r"arXiv has no paper 2511\.99999"):
            await dispatch(ctx, command(f"/track like:{paper.arxiv_id},2511.99999"))
    finally:
        client.close()
    assert [s.query for s in await store.subscriptions.for_channel(GENERAL)] == [f"like:{paper.arxiv_id}"]


async def test_a_digest_brings_like_topic_papers_and_says_what_they_are_similar_to(config: Config) -> None:
    tracked_at, harvested_at = NOW - timedelta(days=2), NOW - timedelta(hours=3)
    clock = [tracked_at]
    adapter = CardsAdapter(name="console")
    examples = [p for p in VIDEO if p.arxiv_id in EXAMPLES]
    async with App(config, [adapter], clock=lambda: clock[0]) as app:
        await app.store.papers.upsert_many(examples, tracked_at - timedelta(days=1))
        assert (await app.command(command(f"/track {LIKE}"))).text.startswith("Now tracking")
        assert (await app.command(command("/track semi-supervised"))).text.startswith("Now tracking")
        today = [p for p in VIDEO + MULTIMODAL if p.arxiv_id not in EXAMPLES] + unrelated(200, YESTERDAY)
        await app.store.papers.upsert_many(today, harvested_at)
        clock[0] = NOW
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.status == "posted"
        header = adapter.messages[0].text
    similar_cards = [c for c in adapter.cards if "similar to: " in c.footer]
    assert 1 <= len(similar_cards) <= 2 * similar.TARGET_PER_DAY
    assert {c.paper_id for c in similar_cards} <= VIDEO_IDS
    titles = {similar.example_title(p) for p in examples}
    assert all(any(f"similar to: {t}" in c.footer for t in titles) for c in similar_cards)
    keyword_cards = [c for c in adapter.cards if c.footer.startswith("matched: semi-supervised")]
    assert keyword_cards and header.startswith("arXiv digest for")


async def test_the_keyword_path_fits_no_model_when_nobody_needs_one(config: Config) -> None:
    clock = [NOW - timedelta(days=1)]
    async with App(config, [RecordingAdapter(name="console")], clock=lambda: clock[0]) as app:
        await app.command(command("/track video retrieval"))
        await app.store.papers.upsert_many(VIDEO[:5], NOW - timedelta(hours=1))
        clock[0] = NOW
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        assert outcome.posted == 5
        assert app.context.relevance is not None and app.context.relevance.corpus._model is None
