"""Slash commands, the Abstract button and DMs through the real slack-bolt against the fake Slack.

The bot side is the real App (core, SQLite store) with the Slack adapter in Socket Mode; the
fake Slack pushes envelopes as Slack does and records the acks and every respond().
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.slack import SlackAdapter
from adapters.slack.commands import SLASH_COMMANDS, UMBRELLA, to_command
from adapters.slack.config import SlackConfig
from adapters.slack.render import ABSTRACT_ACTION
from bot.app import App
from bot.config import Config, Secret
from bot.errors import PlatformAuthError
from bot.models import ChannelRef, Platform
from tests.fakes.arxiv_server import FakeArxiv, load_sample
from tests.fakes.slack_server import (
    ALICE,
    APP_TOKEN,
    BOT_TOKEN,
    OUTSIDE,
    PAPERS,
    PRIVATE,
    TEAM_ID,
    FakeSlack,
    Message,
    running,
)

MANIFEST = Path(__file__).resolve().parents[3] / "adapters" / "slack" / "manifest.yaml"
PAPERS_SAMPLE = load_sample()


def adapter_for(fake: FakeSlack, *, bot: str = BOT_TOKEN, app_token: str = APP_TOKEN) -> SlackAdapter:
    return SlackAdapter(
        Secret(bot), Secret(app_token), None, SlackConfig(api_url=fake.api_url), posts_per_second=0
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with running() as server:
        yield server


@pytest.fixture
async def app(config: Config, fake: FakeSlack) -> AsyncIterator[App]:
    async with App(config, [adapter_for(fake)]) as running_app:
        yield running_app


def texts(response: dict[str, Any]) -> str:
    """What a person reads in a response: every section's text."""
    return "\n".join(
        b["text"]["text"] for b in response.get("blocks") or [] if b["type"] == "section" and "text" in b
    )


async def test_track_is_acked_at_once_and_answered_in_the_channel(app: App, fake: FakeSlack) -> None:
    ack, rid = await fake.slash("/track", "video retrieval")
    assert ack.seconds < 3 and ack.payload is None
    answer = await fake.answer(rid)
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith('Now tracking "video retrieval" in this channel')
    assert 'title or abstract contains the phrase "video retrieval"' in texts(answer)
    channel = ChannelRef(Platform.SLACK, TEAM_ID, PAPERS)
    assert [s.query for s in await app.store.subscriptions.for_channel(channel)] == ["video retrieval"]


async def test_every_command_of_the_manifest_is_handled(app: App, fake: FakeSlack) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    listed = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert listed == {*SLASH_COMMANDS, UMBRELLA}
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "message.im" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"commands", "chat:write", "im:history"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    for command in sorted(listed):
        ack, rid = await fake.slash(command, "")
        assert ack.seconds < 3, command
        answer = await fake.answer(rid)
        assert answer["text"], command


async def test_tracked_and_settings_under_paperbot(app: App, fake: FakeSlack) -> None:
    await fake.answer((await fake.slash("/track", "video retrieval"))[1])
    _, rid = await fake.slash("/paperbot", "settings time 08:30 tz Europe/Berlin max 5")
    assert "08:30" in (await fake.answer(rid))["text"]
    _, rid = await fake.slash("/tracked")
    tracked = await fake.answer(rid)
    assert tracked["response_type"] == "ephemeral"
    assert "video retrieval" in tracked["text"] and "08:30 Europe/Berlin" in tracked["text"]
    _, rid = await fake.slash("/paperbot", "")
    help_text = (await fake.answer(rid))["text"]
    # The core's help names /settings and /help; on Slack they are under /paperbot.
    assert "/paperbot settings" in help_text and "/track" in help_text
    _, rid = await fake.slash("/untrack", "video retrieval")
    assert (await fake.answer(rid))["response_type"] == "in_channel"


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/track", "", "Usage: /track"),
        ("/track", "   ", "Usage: /track"),
        ("/track", '"unbalanced', "unbalanced quote"),
        ("/track", "x" * 4000, "the limit is 500"),
        (
            "/track",
            "((((((((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))))))))",
            "nest",
        ),
        ("/untrack", "never tracked", "does not track"),
        ("/papers", "", "Usage: /papers"),
        ("/abstract", "not an id", "arXiv id"),
        ("/paperbot", "settings time 25:00", "is not a time"),
        ("/paperbot", "frobnicate", "/track"),
    ],
)
async def test_bad_input_gets_a_clear_private_answer(
    app: App, fake: FakeSlack, command: str, text: str, expected: str
) -> None:
    ack, rid = await fake.slash(command, text)
    assert ack.seconds < 3
    answer = await fake.answer(rid)
    assert answer["response_type"] == "ephemeral"
    assert expected.lower() in answer["text"].lower()


async def test_mentions_and_links_in_input_are_escaped(app: App, fake: FakeSlack) -> None:
    _, rid = await fake.slash("/track", "<!channel> & <https://evil.example|click>")
    answer = await fake.answer(rid)
    for shown in (texts(answer), answer["text"]):  # the blocks, and the fallback notifications show
        assert "<!channel>" not in shown and "<https://evil.example" not in shown
        assert "&lt;!channel&gt;" in shown


async def test_unicode_queries_work(app: App, fake: FakeSlack) -> None:
    _, rid = await fake.slash("/track", "au:Müller 视频检索")
    answer = await fake.answer(rid)
    assert answer["text"].startswith("Now tracking"), answer["text"]


async def test_track_where_paperbot_is_not_a_member_says_to_invite_it(app: App, fake: FakeSlack) -> None:
    for channel in (OUTSIDE, PRIVATE):
        _, rid = await fake.slash("/track", "video retrieval", channel_id=channel)
        answer = await fake.answer(rid)
        assert "/invite @paperbot" in answer["text"], channel
    _, rid = await fake.slash("/track", "video retrieval")
    assert "/invite" not in (await fake.answer(rid))["text"]


async def test_a_dm_of_an_arxiv_id_gets_the_abstract_and_bots_are_ignored(
    config: Config, fake: FakeSlack, arxiv_server: FakeArxiv
) -> None:
    paper = PAPERS_SAMPLE[0]
    arxiv_server.add_papers([paper])
    config = replace(config, arxiv=replace(config.arxiv, api_url=arxiv_server.api_url, min_interval_s=0.01))
    async with App(config, [adapter_for(fake)]):
        ack = await fake.dm(f"https://arxiv.org/abs/{paper.arxiv_id}v1")
        assert ack.seconds < 3
        await fake.wait_for(lambda: bool(fake.calls_of("chat.postMessage")))
        [answer] = fake.messages
        assert answer.channel.startswith("D") and answer.text == f"{paper.title} ({paper.arxiv_id})"
        shown = "\n".join(b["text"]["text"] for b in answer.blocks if b["type"] == "section")
        assert " ".join(paper.abstract.split()[:5]) in " ".join(shown.split())
        await fake.dm("hello there")
        await fake.wait_for(lambda: len(fake.messages) == 2)
        assert "arXiv id" in fake.messages[1].text
        # Another bot's message and an edit are not answered.
        await fake.dm("2401.00001", bot_id="B0OTHER")
        await fake.dm("2401.00001", subtype="message_changed")
        await fake.dm("hello again")
        await fake.wait_for(lambda: len(fake.messages) == 3)
        assert len(fake.messages) == 3


async def test_the_abstract_button_answers_only_the_person_who_clicked(
    config: Config, fake: FakeSlack, arxiv_server: FakeArxiv
) -> None:
    paper = PAPERS_SAMPLE[1]
    arxiv_server.add_papers([paper])
    config = replace(config, arxiv=replace(config.arxiv, api_url=arxiv_server.api_url, min_interval_s=0.01))
    async with App(config, [adapter_for(fake)]):
        await fake.dm(paper.arxiv_id)
        await fake.wait_for(lambda: bool(fake.messages))
        card = fake.messages[0]
        ack, rid = await fake.click(card, ABSTRACT_ACTION, paper.arxiv_id)
        assert ack.seconds < 3
        answer = await fake.answer(rid)
    assert answer["response_type"] == "ephemeral" and not answer.get("replace_original")
    assert paper.abstract.split()[0] in texts(answer)


def page_buttons(response: dict[str, Any]) -> dict[str, str]:
    """The ‹ Previous / Next › buttons of a response: label -> value."""
    return {
        e["text"]["text"]: e["value"]
        for b in response["blocks"]
        if b["type"] == "actions" and b.get("block_id") == "pages"
        for e in b["elements"]
    }


def titles(response: dict[str, Any]) -> list[str]:
    return [
        b["text"]["text"] for b in response["blocks"] if b["type"] == "section" and "*<" in b["text"]["text"]
    ]


async def test_a_hundred_papers_are_shown_a_page_at_a_time(app: App, fake: FakeSlack) -> None:
    day = datetime(2025, 10, 15, 4, tzinfo=UTC)
    many = [
        replace(PAPERS_SAMPLE[i % 30], arxiv_id=f"2510.{i:05d}", title=f"Video Retrieval {i}", published=day)
        for i in range(100)
    ]
    await app.store.papers.upsert_many(many, day)
    _, rid = await fake.slash("/papers", "video retrieval 100")
    first = await fake.answer(rid)
    assert first["response_type"] == "ephemeral" and len(fake.responses[rid]) == 1  # one message, not five
    assert len(titles(first)) == 20 and "Video Retrieval 99" in titles(first)[0]
    assert "Papers 1–20 of 100" in str(first["blocks"])
    assert set(page_buttons(first)) == {"Next ›"}
    # Next: the same message (replace_original) shows papers 21-40, with both buttons.
    shown = Message(PAPERS, "1760500000.000100", first["text"], first["blocks"], None, {})
    _, rid2 = await fake.click(shown, "paperbot_page_next", page_buttons(first)["Next ›"])
    second = await fake.answer(rid2)
    assert second["replace_original"] is True
    assert "Video Retrieval 79" in titles(second)[0] and set(page_buttons(second)) == {"‹ Previous", "Next ›"}
    last = json.dumps({"list": json.loads(page_buttons(first)["Next ›"])["list"], "page": 4})
    _, rid3 = await fake.click(shown, "paperbot_page_next", last)
    fifth = await fake.answer(rid3)
    assert "Papers 81–100 of 100" in str(fifth["blocks"]) and set(page_buttons(fifth)) == {"‹ Previous"}
    # An unknown list (the bot restarted) gets a clear line; a forged value is ignored.
    _, rid4 = await fake.click(shown, "paperbot_page_next", json.dumps({"list": "gone", "page": 1}))
    assert "run the command again" in (await fake.answer(rid4))["text"]
    ack, _ = await fake.click(shown, "paperbot_page_next", "not json")
    assert ack.seconds < 3


async def test_a_wrong_bot_token_stops_with_a_clear_message(config: Config, fake: FakeSlack) -> None:
    with pytest.raises(PlatformAuthError, match=r"SLACK_BOT_TOKEN \(invalid_auth\)"):
        async with App(config, [adapter_for(fake, bot="xoxb-wrong")]):
            pass
    assert fake.socket_connections == 0


async def test_a_wrong_app_token_stops_with_a_clear_message(config: Config, fake: FakeSlack) -> None:
    with pytest.raises(PlatformAuthError, match=r"SLACK_APP_TOKEN \(invalid_auth\)"):
        async with App(config, [adapter_for(fake, app_token="xapp-wrong")]):
            pass
    assert fake.socket_connections == 0


def test_paperbot_maps_its_subcommands() -> None:
    base = {"team_id": TEAM_ID, "channel_id": PAPERS, "user_id": ALICE["id"], "command": "/paperbot"}
    cases = {
        "": ("help", ""),
        "help": ("help", ""),
        "settings time 08:30": ("settings", "time 08:30"),
        "SETTINGS": ("settings", ""),
        "track video retrieval": ("track", "video retrieval"),
        "what is this": ("help", ""),
    }
    for text, expected in cases.items():
        cmd = to_command({**base, "text": text})
        assert (cmd.name, cmd.args) == expected, text
    assert to_command({**base, "command": "/papers", "text": "x" * 10_000}).args == "x" * 4000
