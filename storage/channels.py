"""Channels and their per-channel settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiosqlite

from bot.models import ChannelRef, ChannelSettings, Platform
from storage.database import Database

# The one channel-scope clause (`c.`: where `channels c` is joined), `channel_key(channel)` its parameters.
IS_CHANNEL = "platform = ? AND workspace = ? AND channel_id = ?"
C_IS_CHANNEL = "c.platform = ? AND c.workspace = ? AND c.channel_id = ?"


def channel_key(channel: ChannelRef) -> tuple[str, str, str]:
    """The parameters of IS_CHANNEL."""
    return (channel.platform.value, channel.workspace, channel.channel_id)


_PLATFORMS = {p.value: p for p in Platform}  # a dict lookup: Platform(value) costs ten times as much


def channel_ref(row: Sequence[Any], start: int = 0) -> ChannelRef:
    """The channel of a row holding platform, workspace, channel_id and name from column `start` on."""
    value = row[start]
    return ChannelRef(
        _PLATFORMS.get(value) or Platform(value), row[start + 1], row[start + 2], row[start + 3]
    )


T = TypeVar("T")
# From this many rows on, they are converted in a worker thread: a digest run reads every channel
# at once, and 10,000 rows made into objects held the event loop for tens of milliseconds.
MANY_ROWS = 1_000


async def _each_row(rows: Iterable[aiosqlite.Row], convert: Callable[[aiosqlite.Row], T]) -> list[T]:
    rows = list(rows)  # fetchall's list
    if len(rows) < MANY_ROWS:
        return [convert(r) for r in rows]
    return await asyncio.to_thread(lambda: [convert(r) for r in rows])


_SETTING_COLUMNS = frozenset({"timezone", "post_time", "max_papers", "paused", "learn", "trending"})
# A channel gets digests when it tracks a query or wants Hugging Face's trending papers.
_DIGESTED = "(trending > 0 OR EXISTS (SELECT 1 FROM subscriptions s WHERE s.channel = channels.id))"
_STATES = (
    "SELECT platform, workspace, channel_id, name, timezone, post_time, max_papers, paused, learn,"
    " trending, unreachable_retry_at FROM channels WHERE "
)
_RUN_STATES = _STATES + _DIGESTED
UNREACHABLE_BACKOFF = timedelta(hours=1)
UNREACHABLE_MAX_BACKOFF = timedelta(days=1)


class ChannelRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, channel: ChannelRef, now: datetime) -> int:
        """Return the row id of `channel`, creating it on first sight (and refreshing its name)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO channels (platform, workspace, channel_id, name, created_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (platform, workspace, channel_id) DO UPDATE SET"
                "   name = CASE WHEN excluded.name != '' THEN excluded.name ELSE channels.name END",
                (
                    channel.platform.value,
                    channel.workspace,
                    channel.channel_id,
                    channel.name,
                    now.isoformat(),
                ),
            )
            row_id = await self.row_id(channel)
        assert row_id is not None
        return row_id

    async def _row(self, channel: ChannelRef, columns: str) -> aiosqlite.Row | None:
        """`columns` (this module's constants, never a caller's text) of the channel's row; None if unseen."""
        sql = f"SELECT {columns} FROM channels WHERE {IS_CHANNEL}"  # noqa: S608 - constants only
        async with self._db.read(sql, channel_key(channel)) as cur:
            return await cur.fetchone()

    async def _set(self, channel: ChannelRef, assignments: str, values: Iterable[object] = ()) -> None:
        """`UPDATE channels SET <assignments>` (this module's constants) on the channel's row."""
        sql = f"UPDATE channels SET {assignments} WHERE {IS_CHANNEL}"  # noqa: S608 - constants only
        async with self._db.transaction() as conn:
            await conn.execute(sql, (*values, *channel_key(channel)))

    async def row_id(self, channel: ChannelRef) -> int | None:
        row = await self._row(channel, "id")
        return int(row["id"]) if row else None

    async def settings(self, channel: ChannelRef) -> ChannelSettings:
        """The channel's own settings (None fields mean: use the configured default)."""
        row = await self._row(channel, "timezone, post_time, max_papers, paused, learn, trending")
        if row is None:
            return ChannelSettings()
        return ChannelSettings(
            timezone=row["timezone"],
            post_time=row["post_time"],
            max_papers=row["max_papers"],
            paused=bool(row["paused"]),
            learn=bool(row["learn"]),
            trending=int(row["trending"]),
        )

    async def update_settings(
        self, channel: ChannelRef, changes: Mapping[str, object], now: datetime
    ) -> ChannelSettings:
        """Write only the settings in `changes` (ChannelSettings field -> value); returns them all.

        Two /settings at once ("time 08:30" and "max 5") then both hold: neither writes back
        a stale copy of the field the other one changed.
        """
        unknown = changes.keys() - _SETTING_COLUMNS
        if unknown:
            raise ValueError(f"not channel settings: {', '.join(sorted(unknown))}")
        async with self._db.transaction():
            await self.ensure(channel, now)
            if changes:
                # Column names come from _SETTING_COLUMNS, never from the caller's text.
                assignments = ", ".join(f"{name} = ?" for name in changes)
                await self._set(
                    channel, assignments, (int(v) if isinstance(v, bool) else v for v in changes.values())
                )
            return await self.settings(channel)

    async def mark_unreachable(
        self, channel: ChannelRef, error: str, now: datetime, *, base: timedelta = UNREACHABLE_BACKOFF
    ) -> datetime:
        """Record that posting to `channel` failed, keeping the first failure time; returns the retry time.

        Each further failure doubles the wait (1 h, 2 h, ... at most a day): a channel the
        bot was removed from costs one failed call a day, and comes back on its own once
        the bot is invited again.
        """
        async with self._db.transaction():
            await self.ensure(channel, now)
            row = await self._row(channel, "unreachable_attempts")
            attempts = (int(row[0]) if row else 0) + 1
            retry_at: datetime = now + min(base * 2 ** (attempts - 1), UNREACHABLE_MAX_BACKOFF)
            await self._set(
                channel,
                "unreachable_since = COALESCE(unreachable_since, ?), unreachable_error = ?,"
                " unreachable_attempts = ?, unreachable_retry_at = ?",
                (now.isoformat(), error, attempts, retry_at.isoformat()),
            )
        return retry_at

    async def retry_at(self, channel: ChannelRef) -> datetime | None:
        """When an unreachable channel may be tried again; None when it is reachable."""
        row = await self._row(channel, "unreachable_retry_at")
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    async def clear_unreachable(self, channel: ChannelRef) -> None:
        await self._set(
            channel,
            "unreachable_since = NULL, unreachable_error = NULL, unreachable_attempts = 0,"
            " unreachable_retry_at = NULL",
        )

    async def unreachable(self, channel: ChannelRef) -> tuple[datetime, str] | None:
        """When and why the channel was marked unreachable, or None if it is fine."""
        row = await self._row(channel, "unreachable_since, unreachable_error")
        if row is None or row["unreachable_since"] is None:
            return None
        return datetime.fromisoformat(row["unreachable_since"]), str(row["unreachable_error"] or "")

    async def with_subscriptions(self) -> list[tuple[ChannelRef, ChannelSettings]]:
        """Every channel that tracks at least one query, with its settings."""
        async with self._db.read(
            "SELECT platform, workspace, channel_id, name, timezone, post_time, max_papers, paused, learn"
            " FROM channels WHERE EXISTS (SELECT 1 FROM subscriptions s WHERE s.channel = channels.id)"
            " ORDER BY id"
        ) as cur:
            rows = await cur.fetchall()
        return await _each_row(
            rows,
            lambda r: (
                channel_ref(r),
                ChannelSettings(
                    r["timezone"], r["post_time"], r["max_papers"], bool(r["paused"]), bool(r["learn"])
                ),
            ),
        )

    async def wants_trending(self) -> bool:
        """Whether any channel's digest has a "Trending on Hugging Face" section."""
        async with self._db.read("SELECT 1 FROM channels WHERE trending > 0 LIMIT 1") as cur:
            return await cur.fetchone() is not None

    async def run_states(self) -> dict[ChannelRef, tuple[ChannelSettings, datetime | None]]:
        """Every channel that gets digests: its settings, and when it may be retried if unreachable.

        One query for a whole digest run, rather than two per channel.
        """
        async with self._db.read(_RUN_STATES) as cur:
            rows = await cur.fetchall()
        return dict(
            await _each_row(
                rows,
                lambda r: (
                    channel_ref(r),
                    (
                        ChannelSettings(r[4], r[5], r[6], bool(r[7]), bool(r[8]), int(r[9])),
                        datetime.fromisoformat(r[10]) if r[10] else None,
                    ),
                ),
            )
        )

    async def schedule_slots(self, default_time: str, default_timezone: str) -> set[tuple[str, str]]:
        """The distinct (post time, timezone) of the channels that get digests, defaults applied."""
        async with self._db.read(
            "SELECT DISTINCT COALESCE(post_time, ?), COALESCE(timezone, ?) FROM channels WHERE "  # noqa: S608 - a constant
            + _DIGESTED,
            (default_time, default_timezone),
        ) as cur:
            return {(str(r[0]), str(r[1])) for r in await cur.fetchall()}

    async def at_slot(
        self, post_time: str, timezone: str | None, default_time: str, default_timezone: str
    ) -> list[ChannelRef]:
        """The channels that get digests and post at `post_time` in `timezone` (any, if None)."""
        sql = "SELECT platform, workspace, channel_id, name FROM channels WHERE COALESCE(post_time, ?) = ?"
        sql += " AND " + _DIGESTED
        params: tuple[str, ...] = (default_time, post_time)
        if timezone is not None:
            sql += " AND COALESCE(timezone, ?) = ?"
            params += (default_timezone, timezone)
        async with self._db.read(sql + " ORDER BY id", params) as cur:
            rows = await cur.fetchall()
        return await _each_row(rows, channel_ref)
