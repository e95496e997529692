"""Digests and DMs through the real discord.py against the fake Discord."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import discord
import pytest

from adapters.discord import DiscordAdapter
from adapters.discord.posting import forum_tags
from adapters.discord.render import card_embed, escape
from bot.app import App
from bot.config import ArxivConfig, Config, DiscordConfig, Secret
from bot.errors import ChannelUnreachable
from bot.models import Card, ChannelRef, Command, DirectMessage, Link, Platform, Post, Reply, UserRef
from tests.fakes.arxiv_server import load_sample
from tests.fakes.discord_server import (
    ALICE,
    BOT_USER,
    FORUM_ID,
    GUILD_ID,
    NO_THREADS_ID,
    OTHER_BOT,
    PAPERS_ID,
    TAGGED_FORUM_ID,
    TOKEN,
    VOICE_ID,
    FakeDiscord,
    running,
)


class Inbox:
    """The core's side, reduced to recording DMs and answering with a fixed reply."""

    def __init__(self) -> None:
        self.dms: list[DirectMessage] = []

    async def command(self, cmd: Command) -> Reply:
        return Reply("ok")

    async def direct_message(self, dm: DirectMessage) -> Reply:
        self.dms.append(dm)
        return Reply("Send me an arXiv id", cards=(card(0),))

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return []

    def request_stop(self) -> None:
        pass


def card(i: int, **changes: object) -> Card:
    base = Card(
        title=f"Paper {i}: Dual Learning for Video Retrieval",
        url=f"https://arxiv.org/abs/2510.{i:05d}",
        authors="A. One, B. Two, C. Three et al.",
        meta=("cs.CV · cs.IR", "Accepted at CVPR 2026"),
        body="TL;DR: distils a teacher into a compact student.",
        links=(
            Link("abs", f"https://arxiv.org/abs/2510.{i:05d}"),
            Link("pdf", f"https://arxiv.org/pdf/2510.{i:05d}"),
        ),
        footer="matched: video retrieval (title)",
        paper_id=f"2510.{i:05d}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def digest(n: int, footer: str = "") -> Post:
    return Post(
        "arXiv digest for Wed 15 Oct 2025: 3 new papers",
        ("• video retrieval: 3",),
        tuple(card(i) for i in range(n)),
        footer,
    )


def channel(channel_id: int, name: str = "papers") -> ChannelRef:
    return ChannelRef(Platform.DISCORD, str(GUILD_ID), str(channel_id), name)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running() as server:
        yield server


@pytest.fixture
async def adapter(fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    bot = DiscordAdapter(
        Secret(TOKEN),
        DiscordConfig(api_url=fake.api_url, gateway_url=fake.gateway_url),
        guild_ready_timeout=0.05,
    )
    await bot.start(Inbox())
    try:
        yield bot
    finally:
        await bot.stop()


class Progress:
    """Records on_posted calls, as the delivery ledger would."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    async def __call__(self, index: int, message_id: str) -> None:
        self.calls.append((index, message_id))


async def test_a_digest_is_a_parent_a_thread_and_one_embed_per_paper(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    progress = Progress()
    ref = await adapter.post(
        channel(PAPERS_ID), digest(3, footer="+12 more — /papers video retrieval"), on_posted=progress
    )

    [parent] = fake.messages(PAPERS_ID)
    assert parent["content"] == "arXiv digest for Wed 15 Oct 2025: 3 new papers\n• video retrieval: 3"
    [thread] = fake.threads(PAPERS_ID)
    assert thread.id == int(parent["id"]) == int(ref.parent_id)  # a thread made from a message has its id
    assert thread.name == "arXiv digest for Wed 15 Oct 2025: 3 new papers"
    *items, footer = thread.messages
    assert [m["embeds"][0]["title"] for m in items] == [escape(card(i).title) for i in range(3)]
    assert all(len(m["embeds"]) == 1 for m in items)
    embed = items[0]["embeds"][0]
    assert embed["url"] == "https://arxiv.org/abs/2510.00000"
    for part in (
        "A. One",
        "cs.CV · cs.IR",
        "TL;DR",
        "[pdf](https://arxiv.org/pdf/2510.00000)",
        "matched: video",
    ):
        assert part in embed["description"]
    assert footer["content"] == "+12 more — /papers video retrieval" and not footer["embeds"]
    assert progress.calls == [(-1, parent["id"])] + [(i, m["id"]) for i, m in enumerate(items)]
    assert ref.item_ids == tuple(m["id"] for m in items)


async def test_resume_appends_only_the_rest_to_the_same_thread(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    first = await adapter.post(channel(PAPERS_ID), digest(2))
    progress = Progress()
    rest = Post("", items=(card(2), card(3)))
    resumed = await adapter.post(channel(PAPERS_ID), rest, resume=first, on_posted=progress)

    assert len(fake.messages(PAPERS_ID)) == 1  # no second parent
    [thread] = fake.threads(PAPERS_ID)
    assert [m["embeds"][0]["title"] for m in thread.messages] == [escape(card(i).title) for i in range(4)]
    assert resumed.parent_id == first.parent_id
    assert resumed.item_ids[:2] == first.item_ids and len(resumed.item_ids) == 4
    assert [i for i, _ in progress.calls] == [0, 1]


async def test_a_forum_gets_one_post_per_digest(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    progress = Progress()
    ref = await adapter.post(channel(FORUM_ID, "paper-forum"), digest(2), on_posted=progress)
    [post] = fake.threads(FORUM_ID)
    starter, *items = post.messages
    assert starter["id"] == str(post.id) == ref.parent_id
    assert starter["content"].startswith("arXiv digest for Wed 15 Oct 2025")
    assert [m["embeds"][0]["title"] for m in items] == [escape(card(i).title) for i in range(2)]
    assert progress.calls[0] == (-1, str(post.id))
    # Resuming a forum digest continues in the same post.
    await adapter.post(channel(FORUM_ID, "paper-forum"), Post("", items=(card(2),)), resume=ref)
    assert len(fake.threads(FORUM_ID)) == 1 and len(post.messages) == 4


async def test_a_forum_that_requires_tags_gets_its_papers_tag(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    await adapter.post(channel(TAGGED_FORUM_ID, "reading-forum"), digest(1))
    [post] = fake.threads(TAGGED_FORUM_ID)
    assert post.applied_tags == ["1340000000000000003"]  # "arXiv", not the moderators' tag
    # Without a papers tag, any tag a member may apply; without one, a clear fix.
    forum = fake.channels[TAGGED_FORUM_ID]
    forum.tags = forum.tags[:2]
    other = await adapter.client.fetch_channel(TAGGED_FORUM_ID)
    assert isinstance(other, discord.ForumChannel)
    assert [t.name for t in forum_tags(other, "#reading-forum")] == ["Q&A"]
    forum.tags = forum.tags[:1]
    only_moderated = await adapter.client.fetch_channel(TAGGED_FORUM_ID)
    assert isinstance(only_moderated, discord.ForumChannel)
    with pytest.raises(ChannelUnreachable, match="requires a tag") as caught:
        forum_tags(only_moderated, "#reading-forum")
    assert "Add a tag named 'arXiv'" in caught.value.fix


async def test_a_429_is_waited_out_by_discord_py_and_the_post_goes_through(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    fake.rate_limit_next("POST", f"/channels/{PAPERS_ID}/messages", retry_after=0.2)
    await adapter.post(channel(PAPERS_ID), digest(1))
    first, second = fake.requests_to("POST", f"/channels/{PAPERS_ID}/messages")
    assert second.at - first.at >= 0.2
    assert len(fake.messages(PAPERS_ID)) == 1 and len(fake.threads(PAPERS_ID)[0].messages) == 1


async def test_without_create_public_threads_papers_are_replies_and_the_log_says_so_once(
    adapter: DiscordAdapter, fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await adapter.post(channel(NO_THREADS_ID, "no-threads"), digest(2))
        ref = await adapter.post(channel(NO_THREADS_ID, "no-threads"), digest(1))
    assert not fake.threads(NO_THREADS_ID)
    assert not [r for r in fake.requests if r.path.endswith("/threads")]  # known from permissions: not tried
    parent, *replies = fake.messages(NO_THREADS_ID)[3:]
    assert parent["id"] == ref.parent_id
    assert [str(r["message_reference"]["message_id"]) for r in replies] == [ref.parent_id]
    warnings = [r.getMessage() for r in caplog.records if "Create Public Threads" in r.getMessage()]
    assert len(warnings) == 1 and "#no-threads" in warnings[0] and "Fix:" in warnings[0]

    # A resumed digest without a thread carries on as replies to its parent.
    await adapter.post(channel(NO_THREADS_ID, "no-threads"), Post("", items=(card(9),)), resume=ref)
    assert str(fake.messages(NO_THREADS_ID)[-1]["message_reference"]["message_id"]) == ref.parent_id


async def test_a_refused_thread_falls_back_to_replies(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    fake.fail_next("POST", f"/channels/{PAPERS_ID}/messages/", 403, 50013, "Missing Permissions")
    ref = await adapter.post(channel(PAPERS_ID), digest(1))
    assert not fake.threads(PAPERS_ID)
    assert str(fake.messages(PAPERS_ID)[1]["message_reference"]["message_id"]) == ref.parent_id


async def test_a_voice_channels_chat_gets_replies(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    ref = await adapter.post(channel(VOICE_ID, "lounge"), digest(1))
    parent, reply = fake.messages(VOICE_ID)
    assert str(reply["message_reference"]["message_id"]) == parent["id"] == ref.parent_id


@pytest.mark.parametrize(
    ("lose_it", "reason", "fix"),
    [
        (lambda f: f.revoke(PAPERS_ID), "Missing Access", "View Channel"),
        (lambda f: f.delete_channel(PAPERS_ID), "not found", "invite-url"),
    ],
)
async def test_a_channel_the_bot_lost_is_unreachable(
    adapter: DiscordAdapter, fake: FakeDiscord, lose_it: object, reason: str, fix: str
) -> None:
    lose_it(fake)  # type: ignore[operator]
    with pytest.raises(ChannelUnreachable) as raised:
        await adapter.post(channel(PAPERS_ID), digest(1))
    assert reason in raised.value.reason and "#papers" in raised.value.reason
    assert fix in raised.value.fix


async def test_an_unknown_channel_is_unreachable(adapter: DiscordAdapter) -> None:
    with pytest.raises(ChannelUnreachable, match="not found"):
        await adapter.post(channel(1339999999999999999, ""), digest(1))


async def test_losing_thread_permissions_mid_digest_is_unreachable(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    ref = await adapter.post(channel(PAPERS_ID), digest(1))
    fake.fail_next("POST", f"/channels/{ref.parent_id}/messages", 403, 50001, "Missing Access")
    with pytest.raises(ChannelUnreachable, match="Missing Access"):
        await adapter.post(channel(PAPERS_ID), Post("", items=(card(1),)), resume=ref)


async def test_oversized_text_is_cut_to_discords_limits(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    long_card = card(0, title="T" * 400, body="word " * 2000, authors="Author, " * 300)
    post = Post("H" * 150, tuple(f"• query {i}: 1" for i in range(300)), (long_card,), footer="F" * 2500)
    await adapter.post(channel(PAPERS_ID), post)  # the fake answers 400 to anything over a limit
    [parent] = fake.messages(PAPERS_ID)
    assert len(parent["content"]) <= 2000 and parent["content"].endswith("more")
    [thread] = fake.threads(PAPERS_ID)
    assert len(thread.name) <= 100
    embed = thread.messages[0]["embeds"][0]
    assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert "[pdf](https://arxiv.org/pdf/2510.00000)" in embed["description"]  # links survive the cut
    assert len(thread.messages[1]["content"]) <= 2000


async def test_a_dm_is_answered_and_bots_are_ignored(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    inbox = adapter._inbox
    assert isinstance(inbox, Inbox)
    await fake.dm(BOT_USER, "my own message")
    await fake.dm(OTHER_BOT, "2401.01234")
    dm_channel = await fake.dm(ALICE, "2401.01234")
    await fake.wait_until(lambda: len(dm_channel.messages) == 2)
    assert [dm.text for dm in inbox.dms] == ["2401.01234"]  # the bots' messages never reached the core
    assert inbox.dms[0].user == UserRef(Platform.DISCORD, ALICE["id"])
    answer = dm_channel.messages[1]
    assert answer["content"] == "Send me an arXiv id" and answer["embeds"][0]["title"] == escape(
        card(0).title
    )
    assert fake.requests_to("POST", f"/channels/{dm_channel.id}/typing")


async def test_send_dm_opens_the_dm_channel(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    await adapter.send_dm(UserRef(Platform.DISCORD, ALICE["id"], "alice"), Reply("hello"))
    [opened] = fake.requests_to("POST", "/users/@me/channels")
    assert str(opened.body["recipient_id"]) == ALICE["id"]
    [dm] = [c for c in fake.channels.values() if c.recipient == ALICE]
    assert dm.messages[0]["content"] == "hello"


async def test_a_digest_through_the_app_with_the_fake_arxiv(
    config: Config, fake: FakeDiscord, arxiv_config: ArxivConfig
) -> None:
    """/track, papers arrive, /digest: the App's deliverer posts through the adapter and records it."""
    adapter = DiscordAdapter(
        Secret(TOKEN),
        DiscordConfig(api_url=fake.api_url, gateway_url=fake.gateway_url),
        guild_ready_timeout=0.05,
    )
    today = datetime.now(UTC).date()  # all three are about video retrieval
    papers = [replace(p, announced=today, announce_type="new") for p in load_sample()[:3]]
    async with App(replace(config, arxiv=arxiv_config), [adapter]) as app:
        await fake.command("track", query="video retrieval")
        await app.store.papers.upsert_many(papers, app.clock())  # as a harvest would
        answered = await fake.command("digest")
        assert answered.text.startswith("Posted a digest with")
    [parent] = fake.messages(PAPERS_ID)
    [thread] = fake.threads(PAPERS_ID)
    assert thread.id == int(parent["id"])
    embeds = [m["embeds"][0] for m in thread.messages if m["embeds"]]
    assert len(papers) == 3 and sorted(e["url"] for e in embeds) == sorted(p.abs_url for p in papers)


def test_matched_words_are_bold_in_the_tldr_and_paper_text_stays_escaped() -> None:
    paper_card = Card(
        "Video Retrieval at Scale",
        "https://arxiv.org/abs/2510.00001",
        body="TL;DR: We make *video retrieval* fast; video retrievers too.",
        highlights=("video retrieval",),
    )
    description = card_embed(paper_card).description or ""
    assert "We make \\***video retrieval**\\* fast; video retrievers too." in description
