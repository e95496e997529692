"""The health check's write: one row, rewritten on every /healthz, proving the database takes writes."""

from __future__ import annotations

from datetime import datetime

from storage.database import Database


class HealthRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def touch(self, now: datetime) -> None:
        """Write the check's time; raises whatever keeps the database from taking a write."""
        await self._db.write(
            "INSERT INTO health_checks (id, checked_at) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            (now.isoformat(),),
        )
