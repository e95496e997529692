"""Digests, DMs, limits, rate limits, lost channels and HTTP mode: real slack-sdk/bolt, fake Slack."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from adapters.slack import SlackAdapter
from adapters.slack.config import SlackConfig
from adapters.slack.posting import Pacer
from adapters.slack.render import ABSTRACT_ACTION, MAX_HEADER, escape, reply_messages
from bot.app import App
from bot.config import Config, Secret
from bot.errors import ChannelUnreachable, PaperbotError
from bot.models import Card, ChannelRef, Link, Platform, Post, Reply
from tests.fakes.arxiv_server import FakeArxiv, load_sample
from tests.fakes.digests import post_digest
from tests.fakes.slack_server import (
    APP_TOKEN,
    ARCHIVED,
    BOT_TOKEN,
    OUTSIDE,
    PAPERS,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    blocks_error,
    form_body,
    running,
)

SAMPLE = load_sample()


class Inbox:
    """The core's side for adapter-only tests: every command and DM gets a fixed reply."""

    def __init__(self) -> None:
        self.commands: list[Any] = []

    async def command(self, cmd: Any) -> Reply:
        self.commands.append(cmd)
        return Reply(f"ran /{cmd.name} {cmd.args}".strip())

    async def direct_message(self, dm: Any) -> Reply:
        return Reply("help")

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return []

    def request_stop(self) -> None:
        pass


def channel(channel_id: str = PAPERS, name: str = "papers") -> ChannelRef:
    return ChannelRef(Platform.SLACK, TEAM_ID, channel_id, name)


def card(n: int, **kw: Any) -> Card:
    fields: dict[str, Any] = {
        "title": f"Video Retrieval Paper {n}",
        "url": f"https://arxiv.org/abs/2510.0000{n}",
        "authors": "Ada Lovelace, Alan Turing",
        "meta": ("cs.CV (also cs.IR)", "Accepted at NeurIPS 2025"),
        "body": "TL;DR: We make video retrieval fast.",
        "links": (
            Link("abs", f"https://arxiv.org/abs/2510.0000{n}"),
            Link("pdf", f"https://arxiv.org/pdf/2510.0000{n}"),
        ),
        "footer": "matched: video retrieval (title)",
        "highlights": ("video retrieval",),
        "paper_id": f"2510.0000{n}",
    }
    fields.update(kw)
    return Card(**fields)


HEAD = Post("arXiv digest for Wed 15 Oct 2025: 3 new papers", ("• video retrieval: 3",))


def cards(n: int) -> list[Card]:
    return [card(i) for i in range(n)]


def slack_adapter(fake: FakeSlack, **settings: Any) -> SlackAdapter:
    config = SlackConfig(api_url=fake.api_url, **settings)
    secret = Secret(SIGNING_SECRET) if config.mode == "http" else None
    return SlackAdapter(Secret(BOT_TOKEN), Secret(APP_TOKEN), secret, config, posts_per_second=0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with running() as server:
        yield server


@pytest.fixture
async def adapter(fake: FakeSlack) -> AsyncIterator[SlackAdapter]:
    a = slack_adapter(fake)
    await a.start(Inbox())
    try:
        yield a
    finally:
        await a.stop()


async def test_a_digest_is_a_parent_and_one_threaded_reply_per_paper_in_order(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    parent_ts, ids = await post_digest(
        adapter, channel(), HEAD, cards(3), "+12 more — /papers video retrieval"
    )
    [parent] = fake.top_level(PAPERS)
    assert parent.text.startswith("arXiv digest for Wed 15 Oct 2025") and parent_ts == parent.ts
    assert parent.blocks[0]["type"] == "header"
    replies = fake.thread(PAPERS, parent.ts)
    assert [r.text for r in replies[:3]] == [
        f"Video Retrieval Paper {i} https://arxiv.org/abs/2510.0000{i}" for i in range(3)
    ]
    assert replies[3].text == "+12 more — /papers video retrieval"
    assert ids == [r.ts for r in replies]
    first = replies[0].blocks
    assert first[0]["text"]["text"].startswith("*<https://arxiv.org/abs/2510.00000|Video Retrieval Paper 0>*")
    assert "We make *video retrieval* fast." in first[1]["text"]["text"]  # matched words in bold
    assert first[-1]["elements"][0]["action_id"] == ABSTRACT_ACTION
    assert first[-1]["elements"][0]["value"] == "2510.00000"
    assert all(m.params.get("unfurl_links") is False for m in fake.messages)
    # Every message carries its delivery key (and the card its paper) in Slack's metadata.
    payloads = [m.metadata["event_payload"] for m in [parent, *replies] if m.metadata]
    assert [p["key"] for p in payloads] == ["k1.p", "k1.0", "k1.1", "k1.2", "k1.f"]
    assert payloads[1] == {"key": "k1.0", "digest": "k1", "arxiv_id": "2510.00000"}


async def test_what_went_out_is_found_by_its_key_in_the_channel_and_the_thread(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    since = datetime.now(UTC)
    parent, ids = await post_digest(adapter, channel(), HEAD, cards(2), "+1 more")
    await post_digest(adapter, channel(), HEAD, cards(1), key="other")  # another digest, same day
    found = await adapter.find_posted(channel(), None, {"k1.p": HEAD, "k9.p": HEAD}, since)
    assert found == {"k1.p": parent}
    wanted = {"k1.0": card(0), "k1.1": card(1), "k1.2": card(2), "k1.f": "+1 more", "other.0": card(0)}
    assert await adapter.find_posted(channel(), parent, wanted, since) == {
        "k1.0": ids[0],
        "k1.1": ids[1],
        "k1.f": ids[2],
    }
    reads = fake.calls_of("conversations.history") + fake.calls_of("conversations.replies")
    assert all(str(c.params["include_all_metadata"]).lower() in ("1", "true") for c in reads)


async def test_a_channel_that_cannot_be_read_back_is_said_once_and_treated_as_holding_nothing(
    adapter: SlackAdapter, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    since = datetime.now(UTC)
    parent, _ = await post_digest(adapter, channel(), HEAD, cards(1))
    fake.scopes.discard("channels:history")
    assert await adapter.find_posted(channel(), parent, {"k1.0": card(0)}, since) == {}
    assert await adapter.find_posted(channel(), None, {"k1.p": HEAD}, since) == {}
    [warning] = [r for r in caplog.records if "cannot read" in r.getMessage()]
    assert "channels:history" in warning.getMessage() and "reinstall" in warning.getMessage()


async def test_oversized_and_hostile_text_stays_within_limits_and_inert(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    hostile = "<!channel> *bold* & <https://evil.example|click> `code` _it_"
    long_card = card(0, title=hostile + " T" * 300, body="word " * 2000, authors="Author, " * 600)
    post = Post("H" * 400, tuple(f"• query {i}: 1" for i in range(2000)))
    await post_digest(adapter, channel(), post, [long_card], "F" * 5000)  # the fake refuses what is over
    [parent] = fake.top_level(PAPERS)
    assert len(parent.blocks[0]["text"]["text"]) <= MAX_HEADER and len(parent.blocks) <= 50
    [item, footer] = fake.thread(PAPERS, parent.ts)
    assert blocks_error(item.blocks) is None and blocks_error(footer.blocks) is None
    title = item.blocks[0]["text"]["text"]
    assert "<!channel>" not in title and "&lt;!channel&gt;" in title
    assert "<https://evil.example" not in title
    assert "<!channel>" not in item.text and "&lt;!channel&gt;" in item.text  # the fallback too
    assert "<https://arxiv.org/pdf/2510.00000|pdf>" in str(item.blocks)  # links survive the cuts


async def test_a_429_is_waited_out_and_the_post_goes_through_once(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    fake.rate_limit_once("chat.postMessage", retry_after=0)
    await post_digest(adapter, channel(), HEAD, cards(1))
    posts = fake.calls_of("chat.postMessage")
    assert [c.response.get("error") for c in posts] == ["ratelimited", None, None]
    assert len(fake.messages) == 2


@pytest.mark.parametrize(
    ("channel_id", "reason", "fix"),
    [
        (OUTSIDE, "not a member", "/invite @paperbot"),
        (ARCHIVED, "archived", "Unarchive"),
        ("C0DELETED", "does not exist", "/invite @paperbot"),
    ],
)
async def test_a_channel_paperbot_cannot_post_in_is_unreachable(
    adapter: SlackAdapter, fake: FakeSlack, channel_id: str, reason: str, fix: str
) -> None:
    with pytest.raises(ChannelUnreachable, match=reason) as caught:
        await adapter.post_parent(channel(channel_id, "random"), HEAD, "k1.p")
    assert fix in caught.value.fix
    assert fake.messages == []


async def test_a_kicked_channel_fails_mid_digest(adapter: SlackAdapter, fake: FakeSlack) -> None:
    parent = await adapter.post_parent(channel(), HEAD, "k1.p")
    await adapter.post_reply(channel(), parent, card(0), "k1.0")
    fake.kick(PAPERS)
    with pytest.raises(ChannelUnreachable, match="not a member"):
        await adapter.post_reply(channel(), parent, card(1), "k1.1")
    assert len(fake.messages) == 2
    with pytest.raises(ChannelUnreachable, match="not a member"):  # nor can it be read back
        await adapter.find_posted(channel(), parent, {"k1.1": card(1)}, datetime.now(UTC))


async def test_each_channel_is_paced_on_its_own(fake: FakeSlack) -> None:
    a = SlackAdapter(
        Secret(BOT_TOKEN), Secret(APP_TOKEN), None, SlackConfig(api_url=fake.api_url), posts_per_second=20
    )
    a._pacer.burst = 1
    await a.start(Inbox())
    try:
        busy = asyncio.create_task(post_digest(a, channel(), HEAD, cards(5)))
        await fake.wait_for(lambda: len(fake.messages) >= 1)
        fake.channels["C0QUIET"] = replace(fake.channels[PAPERS], id="C0QUIET", name="quiet")
        await post_digest(a, channel("C0QUIET", "quiet"), HEAD)
        quiet_done = time.monotonic()
        await busy
    finally:
        await a.stop()
    busy_times = [c.at for c in fake.calls_of("chat.postMessage") if c.params["channel"] == PAPERS]
    gaps = [b - a for a, b in itertools.pairwise(busy_times)]
    assert min(gaps) >= 0.045  # 20 a second, after a burst of one
    assert quiet_done < busy_times[-1]  # the quiet channel did not queue behind the busy one


async def test_the_pacer_allows_a_short_burst_then_the_rate() -> None:
    now = [0.0]
    pacer = Pacer(rate=1.0, burst=3, clock=lambda: now[0])
    for _ in range(3):
        await pacer.wait("C1")  # the burst: no wait
    started = time.monotonic()
    pacer.rate = 100.0  # the 4th message must wait for a token: 1/100 s here
    await pacer.wait("C1")
    assert time.monotonic() - started >= 0.005
    await Pacer(rate=0).wait("C1")  # rate 0: no pacing at all (tests)


async def test_the_abstract_button_on_a_digest_card(
    config: Config, fake: FakeSlack, arxiv_server: FakeArxiv
) -> None:
    paper = SAMPLE[2]
    arxiv_server.add_papers([paper])
    config = replace(config, arxiv=replace(config.arxiv, api_url=arxiv_server.api_url, min_interval_s=0.01))
    async with App(config, [slack_adapter(fake)]) as app:
        await app.store.papers.upsert_many([paper], datetime.now(UTC))
        adapter = next(iter(app.deliverer.adapters.values()))
        await post_digest(adapter, channel(), Post("digest"), [card(0, paper_id=paper.arxiv_id)])
        [parent] = fake.top_level(PAPERS)
        [item] = fake.thread(PAPERS, parent.ts)
        ack, rid = await fake.click(item, ABSTRACT_ACTION, paper.arxiv_id)
        answer = await fake.answer(rid)
    assert ack.seconds < 3 and answer["response_type"] == "ephemeral"
    shown = " ".join(str(b) for b in answer["blocks"])
    assert escape(paper.title)[:40] in shown


async def http_post(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        return response.status, await response.text()


async def test_http_mode_verifies_signatures_and_refuses_replays(fake: FakeSlack) -> None:
    inbox = Inbox()
    adapter = slack_adapter(fake, mode="http", http_host="127.0.0.1", http_port=0, http_path="/slack/events")
    await adapter.start(inbox)
    try:
        url = f"http://127.0.0.1:{adapter.http_port}/slack/events"
        payload = fake.slash_payload("/track", "video retrieval")
        body = form_body(payload)
        status, _ = await http_post(url, body, fake.signed_headers(body))
        assert status == 200
        await fake.wait_for(lambda: bool(fake.responses[payload["response_url"].rsplit("/", 1)[1]]))
        assert [(c.name, c.args) for c in inbox.commands] == [("track", "video retrieval")]
        forged = fake.signed_headers(body, secret="not-the-secret")
        assert (await http_post(url, body, forged))[0] == 401
        replayed = fake.signed_headers(body, timestamp=int(time.time()) - 10 * 60)
        assert (await http_post(url, body, replayed))[0] == 401
        for bad in ("yesterday", "", "1e9", "١٧٦٠٠٠٠٠٠٠", "9" * 40):
            headers = {**fake.signed_headers(body), "X-Slack-Request-Timestamp": bad}
            assert (await http_post(url, body, headers))[0] == 401, bad
        assert len(inbox.commands) == 1
        assert fake.socket_connections == 0  # HTTP mode opens no WebSocket
    finally:
        await adapter.stop()


def test_long_replies_fit_slacks_limits_in_at_most_five_messages() -> None:
    many = Reply("Latest 50 papers:\n" + "\n".join(f"line {i} " + "w " * 100 for i in range(60)),
                 cards=tuple(card(i % 10, title="T" * 400) for i in range(50)))  # fmt: skip
    messages = reply_messages(many)
    assert 1 < len(messages) <= 5
    assert all(blocks_error(m.blocks) is None and m.text for m in messages)
    shown = sum(
        1 for m in messages for b in m.blocks if b["type"] == "section" and b["text"]["text"].startswith("*<")
    )
    assert shown == 50  # every paper made it
    assert reply_messages(Reply(""))[0].text == "Done."


async def test_slack_unreachable_at_start_is_a_clear_error() -> None:
    unreachable_slack = SlackConfig(api_url="http://127.0.0.1:9/api/")  # the discard port: refused
    adapter = SlackAdapter(Secret(BOT_TOKEN), Secret(APP_TOKEN), None, unreachable_slack)
    with pytest.raises(PaperbotError, match=r"cannot reach Slack at http://127\.0\.0\.1:9/api/"):
        await adapter.start(Inbox())
    await adapter.stop()


async def test_bolts_token_unused_warning_is_quiet_only_while_the_adapter_runs(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bolt = logging.getLogger("slack_bolt.AsyncApp")
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)  # bolt reads it and warns that our client wins
    before = list(bolt.filters)
    adapter = slack_adapter(fake)
    assert bolt.filters == before  # importing and building the adapter install nothing
    with caplog.at_level(logging.WARNING, logger="slack_bolt"):
        await adapter.start(Inbox())
        try:
            assert len(bolt.filters) == len(before) + 1
            assert "will be unused" not in caplog.text
        finally:
            await adapter.stop()
    assert bolt.filters == before
    bolt.warning("`token` will be unused")  # once stopped, bolt's logger is its own again
    assert "will be unused" in caplog.text
