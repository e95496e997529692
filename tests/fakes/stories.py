"""The pieces of a digest story: a settable clock, papers, the console recorder, /track, a harvest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from bot.app import App
from bot.models import ChannelRef, Paper, Platform
from tests.conftest import GENERAL, command
from tests.fakes.recording import RecordingAdapter

DAY = date(2026, 11, 20)

TRACKED_AT = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)

HARVESTED_AT = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)

DELIVER_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

VISION = ChannelRef(Platform.CONSOLE, "local", "vision", "vision")

NLP = ChannelRef(Platform.CONSOLE, "local", "nlp", "nlp")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def paper(n: int, title: str, abstract: str = "", **kw: object) -> Paper:
    fields: dict[str, object] = {
        "arxiv_id": f"2611.{n:05d}",
        "version": 1,
        "title": title,
        "abstract": abstract or "We study things. Results are good.",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "categories": ("cs.CV", "cs.IR"),
        "announced": DAY,
        "announce_type": "new",
    }
    fields.update(kw)
    return Paper(**fields)  # type: ignore[arg-type]


def console(**kw: object) -> RecordingAdapter:
    return RecordingAdapter(name="console", **kw)  # type: ignore[arg-type]


async def track(app: App, query: str, channel: ChannelRef = GENERAL) -> None:
    reply = await app.command(command("/track " + query, channel))
    assert reply.text.startswith("Now tracking"), reply.text


async def harvest(app: App, clock: Clock, papers: Sequence[Paper], at: datetime = HARVESTED_AT) -> None:
    await app.store.papers.upsert_many(papers, at)
    clock.now = at


def parents(adapter: RecordingAdapter, channel: ChannelRef = GENERAL) -> list[str]:
    return [m.message_id for m in adapter.messages if m.parent_id is None and m.channel == channel]
