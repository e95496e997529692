"""Digests and DMs through the real discord.py against the fake Discord."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import discord
import pytest

from adapters.discord import DiscordAdapter
from adapters.discord.config import DiscordConfig
from adapters.discord.posting import forum_tags
from adapters.discord.render import card_embed, escape, parent_text
from bot.app import App
from bot.config import ArxivConfig, Config, Secret
from bot.errors import ChannelUnreachable
from bot.models import Card, ChannelRef, Command, DirectMessage, Link, Platform, Post, Reply, UserRef
from tests.fakes.arxiv_server import load_sample
from tests.fakes.digests import post_digest
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


HEAD = Post("arXiv digest for Wed 15 Oct 2025: 3 new papers", ("• video retrieval: 3",))


def cards(n: int) -> list[Card]:
    return [card(i) for i in range(n)]


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


async def test_a_digest_is_a_parent_a_thread_and_one_embed_per_paper(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    footer_line = "+12 more — /papers video retrieval"
    parent_id, ids = await post_digest(adapter, channel(PAPERS_ID), HEAD, cards(3), footer_line)

    [parent] = fake.messages(PAPERS_ID)
    assert parent["content"] == "arXiv digest for Wed 15 Oct 2025: 3 new papers\n• video retrieval: 3"
    [thread] = fake.threads(PAPERS_ID)
    assert thread.id == int(parent["id"]) == int(parent_id)  # a thread made from a message has its id
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
    assert footer["content"] == footer_line and not footer["embeds"]
    assert ids == [m["id"] for m in thread.messages]
    # Each message went out with its delivery key as nonce, enforced.
    sent = [r.body for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert [(b["nonce"], b["enforce_nonce"]) for b in sent] == [
        (k, True) for k in ("k1.p", "k1.0", "k1.1", "k1.2", "k1.f")
    ]


async def test_a_resend_with_the_same_key_returns_the_message_that_went_out(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    parent, [first] = await post_digest(adapter, channel(PAPERS_ID), HEAD, cards(1))
    again = await adapter.post_reply(channel(PAPERS_ID), parent, card(0), "k1.0")
    assert again == first
    assert len(fake.threads(PAPERS_ID)[0].messages) == 1


async def test_what_went_out_is_found_in_the_channel_and_the_thread_by_what_it_shows(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    since = datetime.now(UTC)
    parent, ids = await post_digest(adapter, channel(PAPERS_ID), HEAD, cards(2), "+1 more")
    found = await adapter.find_posted(channel(PAPERS_ID), None, {"k1.p": HEAD}, since)
    assert found == {"k1.p": parent}
    other = Post("arXiv digest for Thu 16 Oct 2025: 1 new paper")
    assert await adapter.find_posted(channel(PAPERS_ID), None, {"k2.p": other}, since) == {}
    adapter.poster._places.clear()  # as after a restart: the thread is found again
    wanted = {"k1.0": card(0), "k1.1": card(1), "k1.2": card(2), "k1.f": "+1 more"}
    assert await adapter.find_posted(channel(PAPERS_ID), parent, wanted, since) == {
        "k1.0": ids[0],
        "k1.1": ids[1],
        "k1.f": ids[2],
    }


async def test_a_parent_left_without_its_thread_by_a_crash_gets_it_on_resume(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    # The parent went out, then paperbot died before it created the thread.
    parent = fake._message(fake.channels[PAPERS_ID], {"content": parent_text(HEAD)})
    await adapter.post_reply(channel(PAPERS_ID), parent["id"], card(0), "k1.0")
    [thread] = fake.threads(PAPERS_ID)
    assert thread.id == int(parent["id"]) and thread.name == HEAD.header and len(thread.messages) == 1


async def test_a_forum_gets_one_post_per_digest(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    since = datetime.now(UTC)
    parent, _ = await post_digest(adapter, channel(FORUM_ID, "paper-forum"), HEAD, cards(2))
    [post] = fake.threads(FORUM_ID)
    starter, *items = post.messages
    assert starter["id"] == str(post.id) == parent
    assert starter["content"].startswith("arXiv digest for Wed 15 Oct 2025")
    assert [m["embeds"][0]["title"] for m in items] == [escape(card(i).title) for i in range(2)]
    # Resuming a forum digest continues in the same post; the post itself is found by its title.
    adapter.poster._places.clear()
    await adapter.post_reply(channel(FORUM_ID, "paper-forum"), parent, card(2), "k1.2")
    assert len(fake.threads(FORUM_ID)) == 1 and len(post.messages) == 4
    found = await adapter.find_posted(channel(FORUM_ID, "paper-forum"), None, {"k1.p": HEAD}, since)
    assert found == {"k1.p": parent}


async def test_a_forum_that_requires_tags_gets_its_papers_tag(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    await post_digest(adapter, channel(TAGGED_FORUM_ID, "reading-forum"), HEAD, cards(1))
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
    await post_digest(adapter, channel(PAPERS_ID), HEAD, cards(1))
    first, second = fake.requests_to("POST", f"/channels/{PAPERS_ID}/messages")
    assert second.at - first.at >= 0.2
    assert len(fake.messages(PAPERS_ID)) == 1 and len(fake.threads(PAPERS_ID)[0].messages) == 1


async def test_without_create_public_threads_papers_are_replies_and_the_log_says_so_once(
    adapter: DiscordAdapter, fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    since = datetime.now(UTC)
    no_threads = channel(NO_THREADS_ID, "no-threads")
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await post_digest(adapter, no_threads, HEAD, cards(2))
        parent_id, _ = await post_digest(adapter, no_threads, HEAD, cards(1), key="k2")
    assert not fake.threads(NO_THREADS_ID)
    assert not [r for r in fake.requests if r.path.endswith("/threads")]  # known from permissions: not tried
    parent, *replies = fake.messages(NO_THREADS_ID)[3:]
    assert parent["id"] == parent_id
    assert [str(r["message_reference"]["message_id"]) for r in replies] == [parent_id]
    warnings = [r.getMessage() for r in caplog.records if "Create Public Threads" in r.getMessage()]
    assert len(warnings) == 1 and "#no-threads" in warnings[0] and "Fix:" in warnings[0]

    # A resumed digest without a thread carries on as replies to its parent, and what it holds
    # is told apart from the first digest's replies in the same channel.
    adapter.poster._places.clear()
    await adapter.post_reply(no_threads, parent_id, card(9), "k2.1")
    assert str(fake.messages(NO_THREADS_ID)[-1]["message_reference"]["message_id"]) == parent_id
    found = await adapter.find_posted(no_threads, parent_id, {"k2.0": card(0), "k2.5": card(1)}, since)
    assert found == {"k2.0": replies[0]["id"]}


async def test_a_refused_thread_falls_back_to_replies(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    fake.fail_next("POST", f"/channels/{PAPERS_ID}/messages/", 403, 50013, "Missing Permissions")
    parent_id, _ = await post_digest(adapter, channel(PAPERS_ID), HEAD, cards(1))
    assert not fake.threads(PAPERS_ID)
    assert str(fake.messages(PAPERS_ID)[1]["message_reference"]["message_id"]) == parent_id


async def test_a_voice_channels_chat_gets_replies(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    parent_id, _ = await post_digest(adapter, channel(VOICE_ID, "lounge"), HEAD, cards(1))
    parent, reply = fake.messages(VOICE_ID)
    assert str(reply["message_reference"]["message_id"]) == parent["id"] == parent_id


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
        await post_digest(adapter, channel(PAPERS_ID), HEAD, cards(1))
    assert reason in raised.value.reason and "#papers" in raised.value.reason
    assert fix in raised.value.fix
    with pytest.raises(ChannelUnreachable):  # nor can it be read back
        await adapter.find_posted(channel(PAPERS_ID), None, {"k1.p": HEAD}, datetime.now(UTC))


async def test_an_unknown_channel_is_unreachable(adapter: DiscordAdapter) -> None:
    with pytest.raises(ChannelUnreachable, match="not found"):
        await post_digest(adapter, channel(1339999999999999999, ""), HEAD, cards(1))


async def test_losing_thread_permissions_mid_digest_is_unreachable(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    parent_id, _ = await post_digest(adapter, channel(PAPERS_ID), HEAD, cards(1))
    fake.fail_next("POST", f"/channels/{parent_id}/messages", 403, 50001, "Missing Access")
    with pytest.raises(ChannelUnreachable, match="Missing Access"):
        await adapter.post_reply(channel(PAPERS_ID), parent_id, card(1), "k1.1")


async def test_oversized_text_is_cut_to_discords_limits(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    long_card = card(0, title="T" * 400, body="word " * 2000, authors="Author, " * 300)
    post = Post("H" * 150, tuple(f"• query {i}: 1" for i in range(300)))
    await post_digest(adapter, channel(PAPERS_ID), post, [long_card], "F" * 2500)  # the fake refuses >limits
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
