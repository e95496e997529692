"""The record of arXiv announcement days: complete, partial or missing, and how each was read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime

import aiosqlite

from bot.models import AnnouncementDay, DayState, Source
from storage.database import Database

_COLUMNS = "day, state, sources, requests, first_read, last_tried, error, not_before"


def _in(days: Iterable[date]) -> tuple[str, tuple[str, ...]]:
    """`(?,?,?)` and the days as parameters, for `... IN (?,?,?)`."""
    wanted = tuple(d.isoformat() for d in days)
    return "(" + ",".join("?" * len(wanted)) + ")", wanted


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row_to_day(row: aiosqlite.Row) -> AnnouncementDay:
    sources = json.loads(row["sources"] or "{}")
    return AnnouncementDay(
        day=date.fromisoformat(row["day"]),
        state=DayState(row["state"]),
        sources=tuple(sorted((c, Source(s)) for c, s in sources.items())),
        requests=int(row["requests"]),
        first_read=_when(row["first_read"]),
        last_tried=_when(row["last_tried"]),
        error=row["error"],
        not_before=_when(row["not_before"]),
    )


class DayRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_many(self, days: Iterable[date]) -> dict[date, AnnouncementDay]:
        """The records of `days` that exist (a day never worked on has none: it is missing)."""
        marks, wanted = _in(days)
        async with self._db.read(
            f"SELECT {_COLUMNS} FROM announcement_days WHERE day IN {marks}",  # noqa: S608 - only "?" marks
            wanted,
        ) as cur:
            return {r.day: r for r in map(_row_to_day, await cur.fetchall())}

    async def save(self, record: AnnouncementDay) -> None:
        """Write a day's record (joins the caller's transaction, so papers and record commit together)."""
        await self._db.write(
            f"INSERT OR REPLACE INTO announcement_days ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant column list
            (
                record.day.isoformat(),
                str(record.state),
                json.dumps({c: str(s) for c, s in record.sources}, sort_keys=True),
                record.requests,
                record.first_read.isoformat() if record.first_read else None,
                record.last_tried.isoformat() if record.last_tried else None,
                record.error,
                record.not_before.isoformat() if record.not_before else None,
            ),
        )

    async def paper_counts(self, days: Iterable[date]) -> dict[date, int]:
        """Papers first announced on each of `days` (new submissions and cross-lists stored for it)."""
        marks, wanted = _in(days)
        async with self._db.read(
            f"SELECT announced, COUNT(*) FROM papers WHERE announced IN {marks} GROUP BY announced",  # noqa: S608 - only "?" marks
            wanted,
        ) as cur:
            return {date.fromisoformat(r[0]): int(r[1]) for r in await cur.fetchall()}
