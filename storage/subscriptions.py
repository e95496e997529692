"""The queries each channel tracks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import aiosqlite

from bot.models import ChannelRef, Subscription
from bot.runtime.memory import gc_paused
from storage.channels import C_IS_CHANNEL, ChannelRepository, channel_key, channel_ref
from storage.database import Database

_CHUNK = 10_000
_SELECT = (
    "SELECT s.id, s.query, s.raw_query, s.created_by, s.created_at,"
    " c.platform, c.workspace, c.channel_id, c.name"
    " FROM subscriptions s JOIN channels c ON c.id = s.channel"
)
_CHANNEL_AT = 5  # the column of _SELECT where the channel's four begin


def _row_to_subscription(row: aiosqlite.Row) -> Subscription:
    return Subscription(
        id=int(row["id"]),
        channel=channel_ref(row, _CHANNEL_AT),
        query=row["query"],
        raw_query=row["raw_query"],
        created_by=row["created_by"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


class ChannelFull(Exception):
    """The channel already tracks as many queries as it may."""

    def __init__(self, count: int) -> None:
        super().__init__(f"the channel tracks {count} queries")
        self.count = count


def _subscriptions(rows: Iterable[aiosqlite.Row], shared: dict[object, Any]) -> list[Subscription]:
    """Rows as subscriptions, sharing what repeats (channels, dates, queries) through `shared`."""
    out = []
    with gc_paused():  # a hundred thousand objects that form no cycle (see bot.runtime.memory)
        for r in rows:
            key = (r["platform"], r["workspace"], r["channel_id"], r["name"])
            channel = shared.get(key)
            if channel is None:
                channel = shared[key] = channel_ref(key)
            created = shared.get(r["created_at"])
            if created is None:
                created = shared[r["created_at"]] = datetime.fromisoformat(r["created_at"])
            query = shared.setdefault(r["query"], r["query"])
            raw = r["raw_query"]
            raw = query if raw == query else shared.setdefault(raw, raw)  # most are typed as stored
            by = shared.setdefault(r["created_by"], r["created_by"])
            out.append(Subscription(int(r["id"]), channel, query, raw, by, created))
    return out


class SubscriptionRepository:
    def __init__(self, db: Database, channels: ChannelRepository) -> None:
        self._db = db
        self._channels = channels
        # Every digest run reads every subscription, and between two runs a few change, if any:
        # `all()` keeps what it read until this repository writes (the only writer: one process
        # owns the database). A write bumps the generation, so a read racing it is not kept.
        self._generation = 0
        self._all: tuple[int, list[Subscription]] | None = None

    async def add(
        self,
        channel: ChannelRef,
        query: str,
        raw_query: str,
        created_by: str,
        now: datetime,
        *,
        limit: int | None = None,
    ) -> Subscription | None:
        """Track `query` (canonical form) in `channel`; None if the channel already tracks it.

        With `limit`, raises ChannelFull when the channel tracks that many already. The check and
        the insert are one transaction (BEGIN IMMEDIATE), so concurrent /track commands, in this
        process or another, cannot together pass the limit.
        """
        self._generation += 1
        async with self._db.transaction() as conn:
            channel_row = await self._channels.ensure(channel, now)
            if limit is not None:
                async with conn.execute(
                    "SELECT COUNT(*), COALESCE(SUM(query = ?), 0) FROM subscriptions WHERE channel = ?",
                    (query, channel_row),
                ) as cur:
                    row = await cur.fetchone()
                count, tracked = (int(row[0]), int(row[1])) if row else (0, 0)
                if tracked:
                    return None
                if count >= limit:
                    raise ChannelFull(count)
            cur = await conn.execute(
                "INSERT INTO subscriptions (channel, query, raw_query, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, query) DO NOTHING",
                (channel_row, query, raw_query, created_by, now.isoformat()),
            )
            if cur.rowcount == 0:
                return None
            new_id = cur.lastrowid
        assert new_id is not None
        return Subscription(new_id, channel, query, raw_query, created_by, now)

    async def remove(self, channel: ChannelRef, query: str) -> bool:
        """Stop tracking `query` in `channel`; False if it was not tracked."""
        channel_row = await self._channels.row_id(channel)
        if channel_row is None:
            return False
        self._generation += 1
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM subscriptions WHERE channel = ? AND query = ?", (channel_row, query)
            )
            return cur.rowcount > 0

    async def for_channel(self, channel: ChannelRef) -> list[Subscription]:
        async with self._db.read(
            f"{_SELECT} WHERE {C_IS_CHANNEL} ORDER BY s.id",
            channel_key(channel),
        ) as cur:
            return [_row_to_subscription(r) for r in await cur.fetchall()]

    async def count(self, channel: ChannelRef) -> int:
        async with self._db.read(
            f"SELECT COUNT(*) FROM subscriptions s JOIN channels c ON c.id = s.channel WHERE {C_IS_CHANNEL}",  # noqa: S608
            channel_key(channel),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def all(self) -> list[Subscription]:
        """Every subscription of every channel (for building the match index)."""
        generation = self._generation
        if self._all is not None and self._all[0] == generation:
            return list(self._all[1])
        out: list[Subscription] = []
        shared: dict[object, Any] = {}
        last = -1
        while True:
            # In chunks (100,000 rows at once were 45 MB), each its own turn at the database,
            # converted off the event loop.
            sql = _SELECT + " WHERE s.id > ? ORDER BY s.id LIMIT ?"
            async with self._db.read(sql, (last, _CHUNK)) as cur:
                rows = await cur.fetchall()
            if not rows:
                break
            out += await asyncio.to_thread(_subscriptions, rows, shared)
            last = out[-1].id
        if generation == self._generation:
            self._all = (generation, out)
        return list(out)
