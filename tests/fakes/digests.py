"""Sending a digest through an adapter's port as the deliverer does, for adapter-level tests."""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Card, ChannelRef, Post
from bot.ports import Adapter


async def post_digest(
    adapter: Adapter,
    channel: ChannelRef,
    post: Post,
    cards: Sequence[Card] = (),
    footer: str = "",
    key: str = "k1",
) -> tuple[str, list[str]]:
    """The parent, each card, then the footer, with the deliverer's key scheme; (parent id, item ids)."""
    parent = await adapter.post_parent(channel, post, f"{key}.p")
    ids = [await adapter.post_reply(channel, parent, card, f"{key}.{i}") for i, card in enumerate(cards)]
    if footer:
        ids.append(await adapter.post_reply(channel, parent, footer, f"{key}.f"))
    return parent, ids
