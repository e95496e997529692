"""Trending papers from Hugging Face: the client against a local fake of the endpoint, /trending,
/settings trending, and the digest's "Trending on Hugging Face" section (in the ledger, once)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.app import App
from bot.config import ArxivConfig, Config, HuggingfaceConfig
from bot.models import Card, ChannelRef, Platform, Post, ThreadItem
from bot.trending.huggingface import HuggingFaceClient, HuggingFaceUnavailable, ranked
from tests.conftest import command
from tests.fakes.arxiv_server import FakeArxiv
from tests.fakes.clock import Clock
from tests.fakes.clusters import video_retrieval
from tests.fakes.huggingface import FakeHuggingFace, Fault, running
from tests.fakes.polling import eventually
from tests.fakes.recording import RecordingAdapter

WEDNESDAY = datetime(2025, 10, 15, 6, 0, tzinfo=UTC)  # yesterday's list: Tue 14 Oct, 24 papers
MONDAY = datetime(2025, 10, 13, 6, 0, tzinfo=UTC)  # Sun and Sat: none; Fri 10 Oct: 10 papers
CHANNEL = ChannelRef(Platform.CONSOLE, "local", "papers", "papers")
QUIET = ChannelRef(Platform.CONSOLE, "local", "quiet", "quiet")


@dataclass
class CardRecorder(RecordingAdapter):
    """The recording adapter, keeping what each thread item was (the cards' upvotes are asserted)."""

    items: list[ThreadItem] = field(default_factory=list)
    parents: list[Post] = field(default_factory=list)

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        self.parents.append(post)
        return await super().post_parent(channel, post, key)

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        self.items.append(item)
        return await super().post_reply(channel, parent, item, key)


@pytest.fixture
async def hf() -> AsyncIterator[FakeHuggingFace]:
    async with running() as fake:
        yield fake


def settings_for(hf: FakeHuggingFace, **more: Any) -> HuggingfaceConfig:
    return HuggingfaceConfig(**{"api_url": hf.api_url, "timeout_s": 2.0, "max_retries": 0, **more})


@pytest.fixture
def clock() -> Clock:
    return Clock(WEDNESDAY)


@pytest.fixture
async def app(
    config: Config, arxiv_config: ArxivConfig, hf: FakeHuggingFace, clock: Clock
) -> AsyncIterator[App]:
    cfg = replace(config, arxiv=arxiv_config, huggingface=settings_for(hf))
    async with App(cfg, [CardRecorder(name="console")], clock=clock) as running_app:
        yield running_app


def recorder(app: App) -> CardRecorder:
    adapter = app.adapters[0]
    assert isinstance(adapter, CardRecorder)
    return adapter


# -- the client ---------------------------------------------------------------------------------


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_a_days_list_comes_most_upvoted_first(hf: FakeHuggingFace) -> None:
    client = HuggingFaceClient(settings_for(hf), contact="ops@example.org")
    try:
        papers = await client.daily(date(2025, 10, 14))
    finally:
        await client.close()
    assert len(papers) == 24
    assert [p.upvotes for p in papers] == sorted((p.upvotes for p in papers), reverse=True)
    top = papers[0]
    assert (top.arxiv_id, top.upvotes, top.comments) == ("2510.07720", 150, 2)
    assert top.title.startswith("Queries Are Not Alone") and top.authors == ("Lena Ivanova",)
    assert top.published == datetime(2025, 10, 9, 17, 59, 4, tzinfo=UTC)
    [request] = hf.requests
    assert (request["date"], request["limit"]) == ("2025-10-14", "100")
    assert request["user-agent"].startswith("paperbot/") and "ops@example.org" in request["user-agent"]


async def test_busy_answers_are_retried_with_backoff_and_retry_after_is_obeyed(hf: FakeHuggingFace) -> None:
    sleeps = Sleeps()
    client = HuggingFaceClient(settings_for(hf, max_retries=2), sleep=sleeps)
    hf.script(Fault(status=503), Fault(status=429, retry_after="7"))
    try:
        papers = await client.daily(date(2025, 10, 14))
    finally:
        await client.close()
    assert len(papers) == 24 and len(hf.requests) == 3
    first, second = sleeps
    assert 1.0 <= first <= 3.0  # 2 s, with jitter
    assert second == pytest.approx(7.0, abs=0.01) or second > 7.0  # at least what Hugging Face asked


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(body="<html>Bad gateway</html>"), "not JSON"),
        (Fault(body='{"error": "rate limited"}'), "other than a list"),
        (Fault(status=404), "refused the request (HTTP 404)"),
        (Fault(status=503), "did not answer: HTTP 503"),
        (Fault(status=429, retry_after="3600"), "asked to wait 3600 s"),
        (Fault(delay=5.0), "no answer within 0.5 s"),
    ],
)
async def test_what_cannot_be_read_is_one_clear_error_within_the_deadline(
    hf: FakeHuggingFace, fault: Fault, expected: str
) -> None:
    client = HuggingFaceClient(settings_for(hf, timeout_s=0.5, max_retries=1), sleep=Sleeps())
    hf.script(fault, fault)
    started = time.monotonic()
    try:
        with pytest.raises(HuggingFaceUnavailable, match=re.escape(expected)):
            await client.daily(date(2025, 10, 14))
    finally:
        await client.close()
    assert time.monotonic() - started < 3.0


async def test_nothing_listening_is_one_clear_error() -> None:
    client = HuggingFaceClient(
        HuggingfaceConfig(api_url="http://127.0.0.1:9/api/daily_papers", max_retries=0)
    )
    try:
        with pytest.raises(HuggingFaceUnavailable, match="did not answer"):
            await client.daily(date(2025, 10, 14))
    finally:
        await client.close()


def test_entries_that_are_not_arxiv_papers_are_left_out() -> None:
    good = {"paper": {"id": "2510.07720", "title": "Queries\x00 Are\n Not Alone", "upvotes": 3}}
    papers = ranked(
        [
            good,
            {"paper": {"id": "2510.07720", "title": "The same paper again", "upvotes": 99}},
            {"paper": {"id": "not-an-id", "title": "A model card", "upvotes": 50}},
            {"paper": {"id": "2510.12283", "upvotes": 50}},  # no title
            {"paper": "2510.10180"},
            "a string",
            None,
            {
                "id": "hep-th/9901001v2",
                "title": "Old style",
                "paper": {
                    "upvotes": True,
                    "authors": [{"name": "Shown"}, {"name": "Gone", "hidden": True}, 7],
                },
            },
        ]
    )
    assert [(p.arxiv_id, p.title, p.upvotes) for p in papers] == [
        ("2510.07720", "Queries Are Not Alone", 3),
        ("hep-th/9901001", "Old style", 0),
    ]
    assert papers[1].authors == ("Shown",)


# -- /trending -----------------------------------------------------------------------------------


async def test_trending_lists_the_days_most_upvoted_papers_with_their_upvotes(
    app: App, hf: FakeHuggingFace, arxiv_server: FakeArxiv
) -> None:
    reply = await app.command(command("/trending 5"))
    assert reply.text == "Trending on Hugging Face, Tue 14 Oct 2025: the 5 most upvoted papers:"
    assert [c.footer for c in reply.cards[:2]] == [
        "Trending on Hugging Face: ▲ 150 upvotes",
        "Trending on Hugging Face: ▲ 96 upvotes",
    ]
    first = reply.cards[0]
    assert first.links[-1].url == "https://huggingface.co/papers/2510.07720"
    # arXiv's own record for the papers it has (one id_list request), Hugging Face's for the rest.
    assert first.meta[0] == "cs.CV (also cs.IR)"
    assert len(arxiv_server.requests) == 1 and len(hf.requests) == 1
    again = await app.command(command("/trending"))
    assert len(again.cards) == 10 and len(hf.requests) == 1  # the day is read once


@pytest.mark.parametrize("args", ["0", "51", "ten", "-3", "9" * 50])
async def test_trending_refuses_a_bad_n(app: App, hf: FakeHuggingFace, args: str) -> None:
    reply = await app.command(command(f"/trending {args}"))
    assert reply.text.startswith("Usage: /trending [n], n from 1 to 50") and not reply.cards
    assert hf.requests == []


async def test_a_weekend_without_papers_is_looked_past(app: App, hf: FakeHuggingFace, clock: Clock) -> None:
    clock.now = MONDAY
    reply = await app.command(command("/trending 3"))
    assert reply.text.startswith("Trending on Hugging Face, Fri 10 Oct 2025: the 3 most upvoted")
    assert [r["date"] for r in hf.requests] == ["2025-10-12", "2025-10-11", "2025-10-10"]
    await app.command(command("/trending 3"))
    assert len(hf.requests) == 3


async def test_when_hugging_face_is_down_trending_says_so_and_does_not_ask_at_every_command(
    app: App, hf: FakeHuggingFace
) -> None:
    hf.script(Fault(status=503), Fault(status=503))
    reply = await app.command(command("/trending"))
    assert reply.text.startswith("No trending papers from Hugging Face right now") and not reply.cards
    assert (await app.command(command("/trending"))).text == reply.text
    assert len(hf.requests) == 1


async def test_settings_trending_is_saved_and_bad_values_change_nothing(app: App) -> None:
    reply = await app.command(command("/settings trending 3", CHANNEL))
    assert reply.text.startswith("Settings saved.") and "Plus up to 3 trending on Hugging Face." in reply.text
    for bad, expected in [
        ("trending 11", "not a number from 0 to 10"),
        ("trending x", "not a number from 0 to 10"),
        ("trending -1 max 5", "not a number from 0 to 10"),
        ("trending", '"trending" needs a value'),
    ]:
        assert expected in (await app.command(command(f"/settings {bad}", CHANNEL))).text
    settings = await app.store.channels.settings(CHANNEL)
    assert settings.trending == 3 and settings.max_papers is None


# -- the digest's section ------------------------------------------------------------------------


async def tracking(app: App, channel: ChannelRef, query: str | None, trending: int) -> None:
    if query:
        assert (await app.command(command(f"/track {query}", channel))).text.startswith("Now tracking")
    assert (await app.command(command(f"/settings trending {trending}", channel))).text.startswith("Settings")


async def test_the_digest_adds_the_trending_papers_that_match_and_each_paper_goes_once(
    app: App, clock: Clock
) -> None:
    clock.now = WEDNESDAY - timedelta(days=2)
    await tracking(app, CHANNEL, "video retrieval", 3)
    clock.now = WEDNESDAY
    # Tuesday's announcement: three video retrieval papers, 2510.12283 among them.
    await app.store.papers.upsert_many(video_retrieval(date(2025, 10, 14))[:3], WEDNESDAY)
    await app.context.trending.refresh()  # type: ignore[union-attr]
    [outcome] = await app.jobs.deliver_channels([CHANNEL])
    rec = recorder(app)
    [parent] = rec.parents
    assert parent.header.startswith("arXiv digest for Tue 14 Oct 2025: 3 new papers")
    assert parent.lines[-1] == "• Trending on Hugging Face: 2"
    cards = [i for i in rec.items if isinstance(i, Card)]
    # Of Tuesday's list, three match "video retrieval" first: 2510.07720 (150 upvotes), a survey
    # that mentions it (59), and 2510.12283 (41), which the digest shows already: two more cards.
    assert [c.paper_id for c in cards] == [
        "2510.12283",
        "2510.10180",
        "2510.00566",
        "2510.07720",
        "2510.13084",
    ]
    assert [c.footer for c in cards[3:]] == [
        "Trending on Hugging Face: ▲ 150 upvotes",
        "Trending on Hugging Face: ▲ 59 upvotes",
    ]
    assert outcome.posted == 5
    assert (await app.jobs.deliver_channels([CHANNEL]))[0].status == "nothing"  # nothing twice
    assert {"2510.07720", "2510.13084", "2510.12283"} <= await app.store.deliveries.delivered_ids(CHANNEL)


async def test_a_channel_without_queries_gets_the_days_top_papers(app: App) -> None:
    await tracking(app, QUIET, None, 3)
    await app.context.trending.refresh()  # type: ignore[union-attr]
    assert QUIET in await app.store.channels.at_slot("09:00", "UTC", "09:00", "UTC")  # it has a digest
    tracked = (await app.command(command("/tracked", QUIET))).text
    assert "its digest holds only the trending papers" in tracked and "Plus up to 3 trending" in tracked
    [outcome] = await app.jobs.deliver_channels([QUIET])
    assert outcome.posted == 3
    rec = recorder(app)
    assert rec.parents[0].header == "Trending on Hugging Face, Tue 14 Oct 2025: 3 papers"
    assert [c.paper_id for c in rec.items if isinstance(c, Card)] == [
        "2510.07720",
        "2510.13091",
        "2510.13035",
    ]


async def test_a_hugging_face_failure_never_delays_or_breaks_the_arxiv_digest(
    app: App, hf: FakeHuggingFace, clock: Clock
) -> None:
    clock.now = WEDNESDAY - timedelta(days=2)
    await tracking(app, CHANNEL, "video retrieval", 3)
    clock.now = WEDNESDAY
    await app.store.papers.upsert_many(video_retrieval(date(2025, 10, 14))[:3], WEDNESDAY)
    hf.script(Fault(delay=30.0))  # Hugging Face hangs
    started = time.monotonic()
    app.jobs.read_trending_later()  # as after the harvest
    [outcome] = await app.jobs.deliver_channels([CHANNEL])
    assert outcome.posted == 3 and time.monotonic() - started < 1.5
    assert recorder(app).parents[0].lines == ("• video retrieval: 3",)


async def test_the_list_is_read_after_the_harvest_when_a_channel_wants_it(
    app: App, hf: FakeHuggingFace
) -> None:
    await app.jobs.harvest_job()  # nothing tracked, no channel wants trending papers: nobody is asked
    await asyncio.sleep(0.1)
    assert hf.requests == []
    await tracking(app, QUIET, None, 2)
    await app.jobs.harvest_job()
    await eventually(lambda: _read(hf))
    await eventually(lambda: _stored(app))  # stored a moment after the request is answered
    assert await app.store.trending.latest(date(2025, 10, 14)) is not None


async def _read(hf: FakeHuggingFace) -> bool:
    return len(hf.requests) == 1


async def _stored(app: App) -> bool:
    return await app.store.trending.latest(date(2025, 10, 14)) is not None


async def test_a_section_interrupted_by_a_crash_is_finished_without_repeats(app: App) -> None:
    await tracking(app, QUIET, None, 3)
    await app.context.trending.refresh()  # type: ignore[union-attr]
    rec = recorder(app)
    rec.lose_id_of = 3  # the second card reaches the platform, its id does not come back
    [crashed] = await app.jobs.deliver_channels([QUIET])
    assert crashed.status == "failed" and len(rec.messages) == 3
    rec.lose_id_of = None
    [resumed] = await app.jobs.deliver_channels([QUIET])
    cards = [m for m in rec.messages if m.parent_id is not None]
    assert resumed.status == "posted" and len(cards) == 3 == len({m.key for m in cards})
    assert len([m for m in rec.messages if m.parent_id is None]) == 1  # one header
