"""Reactions: who liked or disliked which paper in which channel, and when.

A row per (channel, paper, person, 👍 or 👎): a person can put both on a card, and taking one
off removes just that one. The channel's learned ranking reads them per paper, netted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models import ChannelRef, Platform
from storage.channels import C_IS_CHANNEL, ChannelRepository, channel_key, channel_ref
from storage.database import Database


@dataclass(frozen=True, slots=True)
class Opinion:
    """A channel's net opinion of one paper: the sum of its likes (+1) and dislikes (-1)."""

    arxiv_id: str
    net: int
    reactions: int


class ReactionRepository:
    def __init__(self, db: Database, channels: ChannelRepository) -> None:
        self._db = db
        self._channels = channels

    async def card_of(self, channel: ChannelRef, message_id: str) -> tuple[ChannelRef, str] | None:
        """The (digest channel, paper) of the card posted as `message_id`, or None if it is not one.

        `channel` is where the message is: a Slack ts is unique only within its channel, so there
        it must match; a Discord card sits in the digest's thread, and its id is unique anyway.
        """
        async with self._db.read(
            "SELECT c.platform, c.workspace, c.channel_id, c.name, d.arxiv_id FROM deliveries d"
            " JOIN channels c ON c.id = d.channel"
            " WHERE d.message_id = ? AND c.platform = ? AND c.workspace = ?",
            (message_id, channel.platform.value, channel.workspace),
        ) as cur:
            rows = await cur.fetchall()
        found = [(channel_ref(r), str(r[4])) for r in rows]
        if channel.platform is Platform.SLACK:
            found = [f for f in found if f[0].channel_id == channel.channel_id]
        return found[0] if len(found) == 1 else None

    async def add(
        self,
        channel: ChannelRef,
        arxiv_id: str,
        user_id: str,
        value: int,
        now: datetime,
        *,
        source: str = "reaction",
        exclusive: bool = False,
    ) -> None:
        """Record a like (1) or dislike (-1); `exclusive` (a command) withdraws the person's opposite one."""
        async with self._db.transaction() as conn:
            row = await self._channels.ensure(channel, now)
            if exclusive:
                await conn.execute(
                    "DELETE FROM reactions WHERE channel = ? AND arxiv_id = ? AND user_id = ? AND value = ?",
                    (row, arxiv_id, user_id, -value),
                )
            await conn.execute(
                "INSERT INTO reactions (channel, arxiv_id, user_id, value, source, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (row, arxiv_id, user_id, value, source, now.isoformat()),
            )

    async def remove(self, channel: ChannelRef, arxiv_id: str, user_id: str, value: int) -> bool:
        """Withdraw one like or dislike; False if there was none."""
        row = await self._channels.row_id(channel)
        if row is None:
            return False
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM reactions WHERE channel = ? AND arxiv_id = ? AND user_id = ? AND value = ?",
                (row, arxiv_id, user_id, value),
            )
            return cur.rowcount > 0

    async def opinions(self, channel: ChannelRef) -> list[Opinion]:
        """Per paper the channel reacted to: net opinion and how many reactions, oldest paper first."""
        async with self._db.read(
            "SELECT r.arxiv_id, SUM(r.value), COUNT(*) FROM reactions r"  # noqa: S608 - constants only
            f" JOIN channels c ON c.id = r.channel WHERE {C_IS_CHANNEL}"
            " GROUP BY r.arxiv_id ORDER BY MIN(r.created_at), r.arxiv_id",
            channel_key(channel),
        ) as cur:
            return [Opinion(str(r[0]), int(r[1]), int(r[2])) for r in await cur.fetchall()]

    async def counts(self, channel: ChannelRef) -> tuple[int, int]:
        """(likes, dislikes) in the channel, every person's counted."""
        async with self._db.read(
            "SELECT COALESCE(SUM(r.value > 0), 0), COALESCE(SUM(r.value < 0), 0)"  # noqa: S608 - constants only
            f" FROM reactions r JOIN channels c ON c.id = r.channel WHERE {C_IS_CHANNEL}",
            channel_key(channel),
        ) as cur:
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def learning_channels(self, min_liked: int) -> list[ChannelRef]:
        """Channels learning from reactions (`/settings learn on`) with `min_liked` papers liked or more."""
        async with self._db.read(
            "SELECT c.platform, c.workspace, c.channel_id, c.name FROM channels c"
            " JOIN (SELECT channel, arxiv_id FROM reactions GROUP BY channel, arxiv_id HAVING SUM(value) > 0)"
            " liked ON liked.channel = c.id WHERE c.learn = 1 GROUP BY c.id HAVING COUNT(*) >= ?",
            (min_liked,),
        ) as cur:
            return [channel_ref(r) for r in await cur.fetchall()]
