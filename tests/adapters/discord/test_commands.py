"""Slash commands through the real discord.py against the fake Discord, answered by the real App."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from adapters.discord.config import DiscordConfig
from adapters.discord.render import LIST_FILE, escape
from bot.app import App
from bot.commands.dispatch import HELP_TEXT
from bot.config import ArxivConfig, Config, Secret
from bot.errors import ARXIV_DOWN_REPLY, INTERNAL_ERROR_REPLY
from bot.models import Card, ChannelRef, Command, DirectMessage, Platform, Reply, UserRef, Visibility
from bot.textcut import shorten
from tests.fakes.arxiv_server import load_sample
from tests.fakes.discord_server import (
    ALICE,
    APP_ID,
    GUILD_ID,
    MANAGE_CHANNELS,
    MEMBER,
    PAPERS_ID,
    TOKEN,
    FakeDiscord,
    running,
)

CHANGING = ("track", "untrack", "settings", "digest")
ALL_COMMANDS = {
    "track",
    "untrack",
    "tracked",
    "papers",
    "abstract",
    "bibtex",
    "trending",
    "digest",
    "settings",
    "like",
    "dislike",
    "help",
}
GLOBAL_SYNC = f"/applications/{APP_ID}/commands"
# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
GUILDS, GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGES = 1 << 0, 1 << 10, 1 << 12
PRIVILEGED = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content


def adapter_for(fake: FakeDiscord, **settings: object) -> DiscordAdapter:
    config = DiscordConfig(api_url=fake.api_url, gateway_url=fake.gateway_url, **settings)  # type: ignore[arg-type]
    return DiscordAdapter(Secret(TOKEN), config, guild_ready_timeout=0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running() as server:
        yield server


@pytest.fixture
async def app(config: Config, fake: FakeDiscord) -> AsyncIterator[App]:
    async with App(config, [adapter_for(fake)]) as running_app:
        yield running_app


def papers_channel() -> ChannelRef:
    return ChannelRef(Platform.DISCORD, str(GUILD_ID), str(PAPERS_ID), "papers")


async def test_commands_sync_globally_with_options_and_default_permissions(
    app: App, fake: FakeDiscord
) -> None:
    commands = {c["name"]: c for c in fake.synced[GLOBAL_SYNC]}
    assert set(commands) == ALL_COMMANDS
    for name, command in commands.items():
        expected = str(MANAGE_CHANNELS) if name in CHANGING else "None"
        assert str(command["default_member_permissions"]) == expected, name
        assert len(command["description"]) <= 100
    assert [(o["name"], o["type"], o.get("required")) for o in commands["track"]["options"]] == [
        ("query", 3, True)
    ]
    assert commands["untrack"]["options"][0]["autocomplete"] is True
    query, n = commands["papers"]["options"]
    assert (query["name"], n["name"], n["type"], n["min_value"], n["max_value"]) == ("query", "n", 4, 1, 100)
    assert not n.get("required")
    assert commands["abstract"]["options"][0]["name"] == "id"
    assert commands["bibtex"]["options"][0]["name"] == "id"
    [n_trending] = commands["trending"]["options"]
    assert (n_trending["name"], n_trending["min_value"], n_trending["max_value"]) == ("n", 1, 50)
    assert commands["settings"]["options"][0]["required"] is False
    # Channel commands only make sense in a server; lookups and help also work in a DM with the bot.
    assert {n for n, c in commands.items() if c["dm_permission"] is False} == {
        "track",
        "untrack",
        "tracked",
        "digest",
        "settings",
        "like",
        "dislike",
    }
    assert fake.identify is not None
    intents = fake.identify["intents"]
    assert intents == GUILDS | GUILD_MESSAGE_REACTIONS | DIRECT_MESSAGES and not intents & PRIVILEGED


async def test_a_dev_guild_gets_the_commands_at_once(config: Config, fake: FakeDiscord) -> None:
    async with App(config, [adapter_for(fake, dev_guild_id=GUILD_ID)]):
        assert list(fake.synced) == [f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"]
        assert {c["name"] for c in fake.synced[f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"]} == (
            ALL_COMMANDS
        )
        reply = await fake.command("help")
    assert "/track <query>" in reply.text


async def test_track_tracked_autocomplete_and_untrack(app: App, fake: FakeDiscord) -> None:
    tracked = await fake.command("track", query="Video  Retrieval")
    [message] = tracked.messages
    assert message.content.startswith('Now tracking "video retrieval" in this channel')
    assert not message.ephemeral  # the channel sees what it now follows
    await fake.command("track", query='"diffusion model" AND cat:cs.CV')

    listing = await fake.command("tracked", permissions=MEMBER)  # read-only: open to everyone
    assert "• video retrieval" in listing.text and listing.messages[0].ephemeral

    assert await fake.autocomplete("untrack", "query", "VID") == ["video retrieval"]
    assert len(await fake.autocomplete("untrack", "query", "")) == 2

    untracked = await fake.command("untrack", query="video retrieval")
    assert untracked.text == escape('Stopped tracking "video retrieval" in this channel.')
    remaining = await app.tracked_queries(papers_channel())
    assert len(remaining) == 1 and "video retrieval" not in remaining


async def test_lookups_and_help_work_in_a_dm_with_the_bot(app: App, fake: FakeDiscord) -> None:
    dm = await fake.dm(ALICE, "hi")  # opens the DM channel (and gets the DM help)
    helped = await fake.command("help", channel_id=dm.id)
    assert helped.text == escape(HELP_TEXT)
    looked_up = await fake.command("abstract", id="2401.01234", channel_id=dm.id)
    assert looked_up.text == escape(ARXIV_DOWN_REPLY)  # the test config's arXiv is a closed port


@pytest.mark.parametrize("name", CHANGING)
async def test_changing_commands_are_refused_without_manage_channels(
    app: App, fake: FakeDiscord, name: str
) -> None:
    options: dict[str, Any] = {"query": "video retrieval"} if name in ("track", "untrack") else {}
    refused = await fake.command(name, permissions=MEMBER, **options)
    [message] = refused.messages
    assert message.ephemeral
    assert message.content.startswith(
        f"You need the Manage Channels permission in this channel to use /{name}"
    )
    assert await app.tracked_queries(papers_channel()) == []


async def test_the_needed_permission_is_configurable(config: Config, fake: FakeDiscord) -> None:
    manage_server = 1 << 5
    async with App(config, [adapter_for(fake, manage_permission="manage_guild")]) as app:
        track = next(c for c in fake.synced[GLOBAL_SYNC] if c["name"] == "track")
        assert str(track["default_member_permissions"]) == str(manage_server)
        refused = await fake.command("track", query="x", permissions=MEMBER | MANAGE_CHANNELS)
        assert "Manage Guild permission" in refused.text
        allowed = await fake.command("track", query="x", permissions=MEMBER | manage_server)
        assert allowed.text.startswith("Now tracking")
        assert await app.tracked_queries(papers_channel()) == ["x"]


@pytest.mark.parametrize(
    "text",
    [
        "   ",
        "video retrieval " * 625,  # 10,000 characters
        "视频检索 🎥 Ünïcode",
        "@everyone <@&1320000000000000002> `x`; DROP TABLE subscriptions; --",
        "**bold** __under__ ||spoiler|| > quote",
        "ti:(",
    ],
)
async def test_bad_input_through_discord_gets_the_cores_answer(
    app: App, fake: FakeDiscord, text: str
) -> None:
    elsewhere = ChannelRef(Platform.DISCORD, str(GUILD_ID), "1", "elsewhere")
    expected = await app.command(Command("track", text, elsewhere, UserRef(Platform.DISCORD, ALICE["id"])))
    answered = await fake.command("track", query=text)
    [message] = answered.messages
    assert message.content == escape(expected.text)
    assert message.ephemeral == (expected.visibility is Visibility.EPHEMERAL)
    assert message.data["allowed_mentions"] == {"parse": []}  # "@everyone" in a query pings nobody
    if expected.visibility is Visibility.EPHEMERAL:
        assert "\n" not in message.content  # a refusal is one line


async def test_settings_help_and_digest(app: App, fake: FakeDiscord) -> None:
    await fake.command("track", query="video retrieval")
    shown = await fake.command("settings")
    assert "Usage: /settings" in shown.text
    saved = await fake.command("settings", args="time 08:30 tz Europe/Berlin max 5")
    assert saved.text.startswith("Settings saved.") and not saved.messages[0].ephemeral
    helped = await fake.command("help", permissions=MEMBER)
    assert helped.text == escape(HELP_TEXT) and helped.messages[0].ephemeral
    digest = await fake.command("digest")
    assert digest.text == "Nothing new since the last digest." and digest.messages[0].ephemeral


async def test_abstract_and_papers_answer_with_embeds(
    config: Config, fake: FakeDiscord, arxiv_config: ArxivConfig
) -> None:
    paper = load_sample()[0]
    async with App(replace(config, arxiv=arxiv_config), [adapter_for(fake)]):
        abstract = await fake.command("abstract", id=paper.arxiv_id, permissions=MEMBER)
        [embed] = [e for m in abstract.messages for e in m.embeds]
        assert embed["url"] == paper.abs_url
        assert embed["title"] == shorten(escape(paper.title), 256)
        papers = await fake.command("papers", query="video retrieval", n=2, permissions=MEMBER)
        assert len([e for m in papers.messages for e in m.embeds]) <= 2
        assert papers.text


class SlowInbox:
    """An Inbox that takes its time, to make the adapter defer."""

    def __init__(self, reply: Reply, delay: float = 0.3) -> None:
        self.reply = reply
        self.delay = delay

    async def command(self, cmd: Command) -> Reply:
        await asyncio.sleep(self.delay)
        return self.reply

    async def direct_message(self, dm: DirectMessage) -> Reply:
        return self.reply

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return []

    def request_stop(self) -> None:
        pass


class FailingInbox(SlowInbox):
    async def command(self, cmd: Command) -> Reply:
        raise RuntimeError("core exploded")


async def started(fake: FakeDiscord, inbox: SlowInbox) -> DiscordAdapter:
    adapter = DiscordAdapter(
        Secret(TOKEN),
        DiscordConfig(api_url=fake.api_url, gateway_url=fake.gateway_url),
        guild_ready_timeout=0.05,
        defer_after=0.05,
    )
    await adapter.start(inbox)
    return adapter


@pytest.mark.parametrize(
    ("name", "visibility", "deleted"),
    [
        ("papers", Visibility.EPHEMERAL, False),  # guessed right: the follow-up replaces "thinking…"
        ("track", Visibility.CHANNEL, False),
        ("track", Visibility.EPHEMERAL, True),  # guessed public, got a refusal: replace it privately
        ("papers", Visibility.CHANNEL, True),
    ],
)
async def test_a_slow_core_is_deferred_then_followed_up(
    fake: FakeDiscord, name: str, visibility: Visibility, deleted: bool
) -> None:
    adapter = await started(fake, SlowInbox(Reply("done slowly", visibility)))
    try:
        answered = await fake.command(name, query="q")
    finally:
        await adapter.stop()
    assert answered.deferred
    assert answered.answers[0].ephemeral == (name != "track")
    assert any(a.kind == "delete" for a in answered.answers) == deleted
    [message] = answered.messages
    assert message.content == "done slowly"
    assert message.ephemeral == (visibility is Visibility.EPHEMERAL)


async def test_a_long_list_is_one_message_with_the_whole_list_attached(fake: FakeDiscord) -> None:
    cards = tuple(
        Card(f"Paper {i} | *x*", f"https://arxiv.org/abs/2501.{i:05d}", body="x" * 1500) for i in range(100)
    )
    adapter = await started(fake, SlowInbox(Reply("The latest 100 papers:", cards=cards), delay=0))
    try:
        answered = await fake.command("papers", query="q", n=100)
    finally:
        await adapter.stop()
    [message] = answered.messages  # one answer, not ten
    assert 1 <= len(message.embeds) <= 10
    assert sum(len(e["title"]) + len(e["description"]) for e in message.embeds) <= 6000
    assert [e["title"] for e in message.embeds] == [escape(c.title) for c in cards[: len(message.embeds)]]
    assert f"all 100 are in {LIST_FILE}" in message.content
    listed = message.files[LIST_FILE].decode()
    assert listed.startswith("# The latest 100 papers:")
    assert all(
        f"**[Paper {i} \\| \\*x\\*](<https://arxiv.org/abs/2501.{i:05d}>)**" in listed for i in range(100)
    )


async def test_a_short_list_has_no_attachment(fake: FakeDiscord) -> None:
    cards = tuple(Card(f"Paper {i}", f"https://arxiv.org/abs/2501.{i:05d}") for i in range(10))
    adapter = await started(fake, SlowInbox(Reply("The latest 10 papers:", cards=cards), delay=0))
    try:
        answered = await fake.command("papers", query="q")
    finally:
        await adapter.stop()
    [message] = answered.messages
    assert len(message.embeds) == 10 and message.files == {}


async def test_an_exception_in_the_core_gets_a_short_private_answer(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = await started(fake, FailingInbox(Reply("")))
    try:
        answered = await fake.command("tracked")
    finally:
        await adapter.stop()
    assert answered.text == INTERNAL_ERROR_REPLY and answered.messages[0].ephemeral
    assert "core exploded" in caplog.text
