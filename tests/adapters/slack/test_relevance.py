"""On Slack: 👍 / 👎 reactions on digest cards teach the channel's digest; a card's buttons.

The real slack-bolt in Socket Mode against the fake Slack, which pushes `reaction_added` and
`reaction_removed` events and button clicks as Slack does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from adapters.slack import SlackAdapter
from adapters.slack.commands import reaction_value
from adapters.slack.config import SlackConfig
from adapters.slack.render import ABSTRACT_ACTION, BIBTEX_ACTION, MORE_LIKE_ACTION
from bot.app import App
from bot.config import Config, Secret
from bot.models import ChannelRef, Platform
from tests.conftest import NOW
from tests.fakes.clock import Clock
from tests.fakes.clusters import multimodal, video_retrieval
from tests.fakes.polling import eventually
from tests.fakes.slack_server import APP_TOKEN, BOB, BOT_TOKEN, PAPERS, TEAM_ID, FakeSlack, running

MANIFEST = Path(__file__).resolve().parents[3] / "adapters" / "slack" / "manifest.yaml"
START = NOW - timedelta(days=1)  # when the test begins: the channel tracks its topics
CHANNEL = ChannelRef(Platform.SLACK, TEAM_ID, PAPERS)
VIDEO = video_retrieval(NOW.date() - timedelta(days=1))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with running() as server:
        yield server


@contextlib.asynccontextmanager
async def delivered(config: Config, fake: FakeSlack) -> AsyncIterator[App]:
    """A running App whose #papers got a digest of video retrieval papers."""
    clock = Clock(START)
    adapter = SlackAdapter(
        Secret(BOT_TOKEN), Secret(APP_TOKEN), None, SlackConfig(api_url=fake.api_url), posts_per_second=0
    )
    async with App(config, [adapter], clock=clock) as app:
        _, rid = await fake.slash("/track", "video retrieval")
        await fake.answer(rid)
        # Older papers in the store, not in the digest: what "More like this" finds.
        await app.store.papers.upsert_many(VIDEO[3:40], NOW - timedelta(days=3))
        await app.store.papers.upsert_many(VIDEO[:3] + multimodal(NOW.date())[:20], NOW - timedelta(hours=2))
        clock.now = NOW
        [outcome] = await app.jobs.deliver_channels([CHANNEL])
        assert outcome.posted >= 3, outcome
        yield app


def test_the_manifest_asks_for_reactions() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert "reactions:read" in manifest["oauth_config"]["scopes"]["bot"]
    assert {"reaction_added", "reaction_removed"} <= set(
        manifest["settings"]["event_subscriptions"]["bot_events"]
    )


def test_thumbs_with_any_skin_tone_count_and_nothing_else_does() -> None:
    assert [
        reaction_value(r) for r in ("+1", "thumbsup", "+1::skin-tone-4", "-1", "thumbsdown::skin-tone-2")
    ] == [
        1,
        1,
        1,
        -1,
        -1,
    ]
    assert reaction_value("heart") is None and reaction_value("") is None


async def test_reactions_on_cards_are_kept_per_person_and_taken_back(config: Config, fake: FakeSlack) -> None:
    async with delivered(config, fake) as app:
        [parent] = fake.top_level(PAPERS)
        first, second, *_ = fake.thread(PAPERS, parent.ts)
        await fake.react(first, "+1::skin-tone-3")
        await fake.react(first, "+1", BOB)
        await fake.react(second, "-1")
        await fake.react(second, "tada")  # not a 👍 or 👎
        await fake.react(parent, "+1")  # the header is not a paper
        await eventually(lambda: _counts_are(app, (2, 1)))
        await fake.react(first, "+1", BOB, removed=True)
        await eventually(lambda: _counts_are(app, (1, 1)))
        opinions = await app.store.reactions.opinions(CHANNEL)
        assert sorted(o.net for o in opinions) == [-1, 1]


async def _counts_are(app: App, expected: tuple[int, int]) -> bool:
    return await app.store.reactions.counts(CHANNEL) == expected


async def test_more_like_this_lists_similar_papers_to_the_person_who_clicked(
    config: Config, fake: FakeSlack
) -> None:
    async with delivered(config, fake):
        [parent] = fake.top_level(PAPERS)
        card = fake.thread(PAPERS, parent.ts)[0]
        buttons = card.blocks[-1]["elements"]
        assert [b["action_id"] for b in buttons] == [ABSTRACT_ACTION, MORE_LIKE_ACTION, BIBTEX_ACTION]
        paper_id = buttons[1]["value"]
        ack, rid = await fake.click(card, MORE_LIKE_ACTION, paper_id)
        assert ack.seconds < 3
        answer = await fake.answer(rid)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("The ") and f"most similar to like:{paper_id}:" in answer["text"]


async def test_the_bibtex_button_answers_with_the_entry_to_the_person_who_clicked(
    config: Config, fake: FakeSlack
) -> None:
    async with delivered(config, fake):
        [parent] = fake.top_level(PAPERS)
        card = fake.thread(PAPERS, parent.ts)[0]
        paper_id = card.blocks[-1]["elements"][2]["value"]
        ack, rid = await fake.click(card, BIBTEX_ACTION, paper_id)
        assert ack.seconds < 3
        answer = await fake.answer(rid)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("BibTeX for ") and f"({paper_id})" in answer["text"]
    code = answer["blocks"][-1]["text"]["text"]
    assert code.startswith("```@misc{") and code.endswith("}```")
    assert f"      eprint={{{paper_id}}},\n      archivePrefix={{arXiv}},\n" in code
