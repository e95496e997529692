"""On Discord: 👍 / 👎 reactions on digest cards teach the channel's digest; each card's buttons.

The real discord.py against the fake Discord, which dispatches MESSAGE_REACTION_ADD / _REMOVE
(the unprivileged guild_reactions intent) and button clicks (MESSAGE_COMPONENT interactions).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from adapters.discord.buttons import reaction_value
from adapters.discord.config import DiscordConfig
from bot.app import App
from bot.config import Config, Secret
from bot.models import ChannelRef, Platform
from tests.conftest import NOW
from tests.fakes.clock import Clock
from tests.fakes.clusters import unrelated, video_retrieval
from tests.fakes.discord_server import (
    BOB,
    BOT_USER,
    GUILD_ID,
    OTHER_BOT,
    PAPERS_ID,
    TOKEN,
    FakeDiscord,
    running,
)
from tests.fakes.polling import eventually

START = NOW - timedelta(days=1)  # when the test begins: the channel tracks its topics
CHANNEL = ChannelRef(Platform.DISCORD, str(GUILD_ID), str(PAPERS_ID))
VIDEO = video_retrieval(NOW.date() - timedelta(days=1))


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running() as server:
        yield server


def adapter_for(fake: FakeDiscord) -> DiscordAdapter:
    settings = DiscordConfig(api_url=fake.api_url, gateway_url=fake.gateway_url)
    return DiscordAdapter(Secret(TOKEN), settings, guild_ready_timeout=0.05)


@contextlib.asynccontextmanager
async def delivered(config: Config, fake: FakeDiscord) -> AsyncIterator[tuple[App, list[dict[str, Any]]]]:
    """A running App whose #papers got a digest of three video retrieval papers; the card messages."""
    clock = Clock(START)
    async with App(config, [adapter_for(fake)], clock=clock) as app:
        assert (await fake.command("track", query="video retrieval")).text.startswith("Now tracking")
        # Older papers in the store: what "More like this" finds.
        await app.store.papers.upsert_many(VIDEO[3:40] + unrelated(100), NOW - timedelta(days=3))
        await app.store.papers.upsert_many(VIDEO[:3], NOW - timedelta(hours=2))
        clock.now = NOW
        [outcome] = await app.jobs.deliver_channels([CHANNEL])
        assert outcome.posted == 3, outcome
        [thread] = fake.threads(PAPERS_ID)
        yield app, thread.messages


def test_thumbs_with_any_skin_tone_count_and_nothing_else_does() -> None:
    assert [reaction_value(e) for e in ("👍", "👍🏽", "👍\ufe0f", "👎", "👎🏿")] == [1, 1, 1, -1, -1]
    assert reaction_value("❤️") is None and reaction_value("") is None and reaction_value("thumbsup") is None


async def test_cards_carry_abstract_more_like_this_and_bibtex_buttons(
    config: Config, fake: FakeDiscord
) -> None:
    async with delivered(config, fake) as (_, cards):
        for card in cards:
            paper_id = card["embeds"][0]["url"].rsplit("/", 1)[1]
            [row] = card["components"]
            assert [(b["label"], b["custom_id"]) for b in row["components"]] == [
                ("Abstract", f"paperbot:abstract:{paper_id}"),
                ("More like this", f"paperbot:more:{paper_id}"),
                ("BibTeX", f"paperbot:bibtex:{paper_id}"),
            ]


async def test_reactions_on_cards_are_kept_per_person_and_taken_back(
    config: Config, fake: FakeDiscord
) -> None:
    async with delivered(config, fake) as (app, cards):

        async def counts_are(expected: tuple[int, int]) -> bool:
            return await app.store.reactions.counts(CHANNEL) == expected

        await fake.react(cards[0], "👍🏽")
        await fake.react(cards[0], "👍", by=BOB)
        await fake.react(cards[1], "👎")
        await fake.react(cards[1], "❤️")  # not a 👍 or 👎
        await fake.react(cards[2], "👍", by=BOT_USER)  # paperbot's own
        await fake.react(cards[2], "👍", by=OTHER_BOT)  # another bot's
        await eventually(lambda: counts_are((2, 1)))
        await fake.react(cards[0], "👍", by=BOB, removed=True)
        await eventually(lambda: counts_are((1, 1)))
        assert sorted(o.net for o in await app.store.reactions.opinions(CHANNEL)) == [-1, 1]


async def test_more_like_this_answers_only_the_person_who_clicked(config: Config, fake: FakeDiscord) -> None:
    async with delivered(config, fake) as (_, cards):
        paper_id = cards[0]["embeds"][0]["url"].rsplit("/", 1)[1]
        clicked = await fake.click(cards[0], f"paperbot:more:{paper_id}", by=BOB)
        abstract = await fake.click(cards[0], f"paperbot:abstract:{paper_id}")
    [answer, *_] = clicked.messages
    assert (
        answer.ephemeral
        and clicked.text.startswith("The ")
        and f"most similar to like:{paper_id}:" in clicked.text
    )
    assert all(e["url"] != f"https://arxiv.org/abs/{paper_id}" for m in clicked.messages for e in m.embeds)
    assert abstract.messages[0].ephemeral and abstract.messages[0].embeds[0]["url"].endswith(paper_id)


async def test_the_bibtex_button_answers_with_the_entry_in_a_code_block(
    config: Config, fake: FakeDiscord
) -> None:
    async with delivered(config, fake) as (_, cards):
        paper_id = cards[0]["embeds"][0]["url"].rsplit("/", 1)[1]
        clicked = await fake.click(cards[0], f"paperbot:bibtex:{paper_id}", by=BOB)
    intro, code = clicked.messages
    assert intro.ephemeral and code.ephemeral
    assert intro.content.startswith("BibTeX for ") and f"({paper_id})" in intro.content
    assert code.content.startswith("```\n@misc{") and code.content.endswith("}\n```")
    assert f"      eprint={{{paper_id}}},\n" in code.content


async def test_buttons_of_a_card_posted_before_a_restart_still_work(
    config: Config, fake: FakeDiscord
) -> None:
    async with delivered(config, fake) as (_, cards):
        pass
    async with App(config, [adapter_for(fake)]):
        paper_id = cards[1]["embeds"][0]["url"].rsplit("/", 1)[1]
        clicked = await fake.click(cards[1], f"paperbot:abstract:{paper_id}")
    assert clicked.messages[0].embeds[0]["url"] == f"https://arxiv.org/abs/{paper_id}"


async def test_like_typed_in_a_digest_thread_teaches_the_channel(config: Config, fake: FakeDiscord) -> None:
    async with delivered(config, fake) as (app, cards):
        paper_id = cards[0]["embeds"][0]["url"].rsplit("/", 1)[1]
        thread_id = int(cards[0]["channel_id"])
        answer = await fake.command("like", channel_id=thread_id, id=paper_id)
        assert answer.text.startswith("Noted: 👍") and answer.messages[0].ephemeral
        assert await app.store.reactions.counts(CHANNEL) == (1, 0)
