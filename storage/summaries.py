"""TL;DRs an LLM wrote, once per paper, and how many requests each day spent (the daily budget)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from storage.database import Database


class SummaryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_many(self, arxiv_ids: Sequence[str]) -> dict[str, str]:
        """The stored TL;DR of each paper that has one."""
        found: dict[str, str] = {}
        for start in range(0, len(arxiv_ids), 500):  # under SQLite's bound-parameter limit
            chunk = arxiv_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            async with self._db.read(
                f"SELECT arxiv_id, text FROM summaries WHERE arxiv_id IN ({marks})",  # noqa: S608 - only "?" marks
                tuple(chunk),
            ) as cur:
                found.update({str(r[0]): str(r[1]) for r in await cur.fetchall()})
        return found

    async def put(self, arxiv_id: str, version: int, model: str, text: str, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO summaries (arxiv_id, version, model, text, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (arxiv_id) DO NOTHING",
            (arxiv_id, version, model, text, now.isoformat()),
        )

    async def spend(self, day: date, requests: int, failures: int) -> None:
        """Count requests (and how many failed) against `day`'s budget."""
        await self._db.write(
            "INSERT INTO llm_usage (day, requests, failures) VALUES (?, ?, ?) ON CONFLICT (day) DO UPDATE"
            " SET requests = requests + excluded.requests, failures = failures + excluded.failures",
            (day.isoformat(), requests, failures),
        )

    async def spent(self, day: date) -> int:
        """Requests made on `day` (UTC), failed ones included."""
        async with self._db.read("SELECT requests FROM llm_usage WHERE day = ?", (day.isoformat(),)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
