"""Opening the SQLite database: pragmas, migrations, and a transaction helper."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.errors import StorageError
from storage.migrations import LATEST_VERSION, MIGRATIONS

log = logging.getLogger(__name__)


class Database:
    """One aiosqlite connection with explicit transactions.

    The connection runs in autocommit mode (isolation_level=None) so that
    `transaction()` is the only place a transaction begins or ends: a refused
    command rolls back everything it wrote.
    """

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        # One connection is shared by every task: the lock keeps one task's
        # transaction from swallowing another task's statements, and the
        # context variable lets a repository method join its caller's transaction.
        self._lock = asyncio.Lock()
        self._in_tx: contextvars.ContextVar[bool] = contextvars.ContextVar(f"in_tx_{id(self)}", default=False)

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open (creating if needed) and migrate the database at `path` (':memory:' works)."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        db = cls(conn, path)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA foreign_keys = ON")
            if path != ":memory:":
                await conn.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL loses no committed data on a process crash (only on power
                # loss, the last commits), and spares an fsync per commit: the ledger commits
                # once per posted message.
                await conn.execute("PRAGMA synchronous = NORMAL")
            # Another process (e.g. `paperbot harvest` beside `paperbot run`) may hold the
            # write lock briefly; wait for it rather than failing.
            await conn.execute("PRAGMA busy_timeout = 5000")
            await db._migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        current = await self.schema_version()
        if current > LATEST_VERSION:
            raise StorageError(
                f"{self.path}: database schema version {current} is newer than this paperbot "
                f"understands ({LATEST_VERSION}); upgrade paperbot or point it at another database"
            )
        for version in range(current + 1, LATEST_VERSION + 1):
            async with self.transaction():
                for statement in MIGRATIONS[version - 1]:
                    await self.conn.execute(statement)
                # PRAGMA takes no parameters; `version` is our own integer.
                await self.conn.execute(f"PRAGMA user_version = {int(version)}")
            log.info("database %s migrated to schema version %d", self.path, version)

    async def write(self, sql: str, params: tuple[object, ...] = ()) -> None:
        """One statement, atomic on its own: a single round trip instead of BEGIN/statement/COMMIT.

        Inside a caller's transaction it simply joins it.
        """
        if self._in_tx.get():
            await self.conn.execute(sql, params)
            return
        async with self._lock:  # never inside another task's open transaction
            await self.conn.execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception; a nested call joins the outer one."""
        if self._in_tx.get():
            yield self.conn
            return
        async with self._lock:
            token = self._in_tx.set(True)
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")
            finally:
                self._in_tx.reset(token)
