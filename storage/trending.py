"""Hugging Face's daily papers lists, as read: one row per day, its papers most upvoted first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from bot.models import TrendingDay, TrendingPaper
from storage.database import Database


class TrendingRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, day: date, papers: Sequence[TrendingPaper], now: datetime) -> None:
        """Keep `day`'s list (replacing a list read before), in the order given."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM trending_days WHERE day = ?", (day.isoformat(),))
            await conn.execute(
                "INSERT INTO trending_days (day, fetched_at, papers) VALUES (?, ?, ?)",
                (day.isoformat(), now.isoformat(), len(papers)),
            )
            await conn.executemany(
                "INSERT INTO trending_papers"
                " (day, rank, arxiv_id, upvotes, comments, title, summary, authors, published)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        day.isoformat(),
                        rank,
                        p.arxiv_id,
                        p.upvotes,
                        p.comments,
                        p.title,
                        p.summary,
                        json.dumps(list(p.authors), ensure_ascii=False),
                        p.published.isoformat() if p.published else None,
                    )
                    for rank, p in enumerate(papers)
                ],
            )

    async def days_since(self, since: date) -> set[date]:
        """The days on or after `since` whose list was read (an empty one included)."""
        async with self._db.read("SELECT day FROM trending_days WHERE day >= ?", (since.isoformat(),)) as cur:
            return {date.fromisoformat(r[0]) for r in await cur.fetchall()}

    async def latest(self, since: date) -> TrendingDay | None:
        """The newest list with papers, of `since` or later."""
        async with self._db.read(
            "SELECT day, fetched_at FROM trending_days WHERE day >= ? AND papers > 0"
            " ORDER BY day DESC LIMIT 1",
            (since.isoformat(),),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        async with self._db.read(
            "SELECT arxiv_id, upvotes, comments, title, summary, authors, published FROM trending_papers"
            " WHERE day = ? ORDER BY rank",
            (row["day"],),
        ) as cur:
            papers = tuple(
                TrendingPaper(
                    arxiv_id=r["arxiv_id"],
                    title=r["title"],
                    summary=r["summary"],
                    authors=tuple(json.loads(r["authors"])),
                    upvotes=int(r["upvotes"]),
                    published=datetime.fromisoformat(r["published"]) if r["published"] else None,
                    comments=int(r["comments"]),
                )
                for r in await cur.fetchall()
            )
        return TrendingDay(date.fromisoformat(row["day"]), papers, datetime.fromisoformat(row["fetched_at"]))
