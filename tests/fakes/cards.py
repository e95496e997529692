"""A recording adapter that keeps the cards it was given, for tests that read a card's text."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.models import Card, ChannelRef, ThreadItem
from tests.fakes.recording import RecordingAdapter


@dataclass
class CardsAdapter(RecordingAdapter):
    """The recording adapter (as the console), plus every card posted, in order."""

    name: str = "console"
    cards: list[Card] = field(default_factory=list)

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        if isinstance(item, Card):
            self.cards.append(item)
        return await super().post_reply(channel, parent, item, key)
