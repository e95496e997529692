"""The record of arXiv harvest runs: when, which announcement day, how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from storage.database import Database

STATUSES = ("running", "ok", "empty", "no_announcement", "failed")
_SELECT = (
    "SELECT id, started_at, finished_at, announced, status, requests, new, cross, replaced, error"
    " FROM harvest_runs"
)


@dataclass(frozen=True, slots=True)
class HarvestRun:
    """One harvest attempt as recorded."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    announced: date | None
    status: str
    requests: int
    new: int
    cross: int
    replaced: int
    error: str | None


def _row_to_run(row: aiosqlite.Row) -> HarvestRun:
    return HarvestRun(
        id=int(row["id"]),
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None,
        announced=date.fromisoformat(row["announced"]) if row["announced"] else None,
        status=row["status"],
        requests=int(row["requests"]),
        new=int(row["new"]),
        cross=int(row["cross"]),
        replaced=int(row["replaced"]),
        error=row["error"],
    )


class HarvestRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self, now: datetime, announced: date | None = None) -> int:
        """Record a run as started; returns its id."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO harvest_runs (started_at, announced, status) VALUES (?, ?, 'running')",
                (now.isoformat(), announced.isoformat() if announced else None),
            )
            run_id = cur.lastrowid
        assert run_id is not None
        return run_id

    async def finish(
        self,
        run_id: int,
        now: datetime,
        *,
        status: str,
        announced: date | None,
        requests: int,
        new: int = 0,
        cross: int = 0,
        replaced: int = 0,
        error: str | None = None,
    ) -> None:
        """Record how a run ended (joins the caller's transaction, so papers and run commit together)."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"not a final harvest status: {status!r}")
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE harvest_runs SET finished_at = ?, status = ?, announced = ?, requests = ?,"
                " new = ?, cross = ?, replaced = ?, error = ? WHERE id = ?",
                (
                    now.isoformat(),
                    status,
                    announced.isoformat() if announced else None,
                    requests,
                    new,
                    cross,
                    replaced,
                    error,
                    run_id,
                ),
            )

    async def fail(self, run_id: int, now: datetime, error: str, *, requests: int = 0) -> None:
        """Record a run as failed; whatever it fetched was not stored."""
        async with self._db.read("SELECT announced FROM harvest_runs WHERE id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        announced = date.fromisoformat(row["announced"]) if row and row["announced"] else None
        await self.finish(run_id, now, status="failed", announced=announced, requests=requests, error=error)

    async def get(self, run_id: int) -> HarvestRun | None:
        async with self._db.read(_SELECT + " WHERE id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_run(row) if row else None

    async def latest(self, statuses: tuple[str, ...] = STATUSES) -> HarvestRun | None:
        """The most recent run with one of `statuses`."""
        marks = ", ".join("?" for _ in statuses)
        sql = f"{_SELECT} WHERE status IN ({marks}) ORDER BY id DESC LIMIT 1"
        async with self._db.read(sql, statuses) as cur:
            row = await cur.fetchone()
        return _row_to_run(row) if row else None

    async def recent(self, limit: int = 20) -> list[HarvestRun]:
        """The latest runs, newest first."""
        async with self._db.read(_SELECT + " ORDER BY id DESC LIMIT ?", (limit,)) as cur:
            return [_row_to_run(r) for r in await cur.fetchall()]
