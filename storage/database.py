"""Opening the SQLite database: pragmas, migrations, a transaction helper, and a ledger write path.

Two connections to one file: the main one for everything (its statements run one after
another on aiosqlite's thread, so a large read queues what comes after it), and one kept for
the delivery ledger's single-statement writes, which must land the moment a message has been
posted, whatever else is going on. SQLite in WAL mode lets them read and write side by side;
writers still take turns, and a writer that finds the database locked (another program holding
the write lock past the busy timeout) backs off and tries again rather than failing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import aiosqlite

from bot.errors import StorageError
from storage.migrations import LATEST_VERSION, MIGRATIONS
from storage.search import register_functions

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_S = 5.0  # SQLite's own wait for a lock, per attempt
RETRY_FOR_S = 300.0  # then paperbot's backoff, up to this long in all, before giving up
_MAX_BACKOFF_S = 5.0


def is_busy(exc: BaseException) -> bool:
    """Whether SQLite refused because another connection holds a lock (worth retrying)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED and their extended codes
    return "locked" in str(exc) or "busy" in str(exc)


def explain(path: str, exc: sqlite3.Error) -> StorageError:
    """One clear line for a database paperbot cannot open (locked, read-only, damaged, ...)."""
    text = str(exc)
    if is_busy(exc):
        why = "is locked by another program (a sqlite3 shell, a backup?); close it and start again"
    elif "readonly" in text or "read-only" in text:
        why = "is read-only for this user; fix its permissions (and its folder's) or set bot.database"
    elif "unable to open" in text:
        why = "cannot be opened or created; check that its folder exists and is writable, or set bot.database"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        why = "is not a paperbot database or is damaged; restore a backup or point bot.database elsewhere"
    else:
        why = "cannot be used"
    return StorageError(f"{path}: the database {why} (SQLite: {text})")


class Database:
    """One aiosqlite connection with explicit transactions, plus one for ledger writes.

    The connections run in autocommit mode (isolation_level=None) so that `transaction()` is
    the only place a transaction begins or ends: a refused command rolls back everything it wrote.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: str,
        *,
        ledger: aiosqlite.Connection | None = None,
        retry_for: float = RETRY_FOR_S,
    ) -> None:
        self.conn = conn
        self.path = path
        self._ledger = ledger or conn
        self.retry_for = retry_for
        # One connection is shared by every task: the lock keeps one task's
        # transaction from swallowing another task's statements, and the
        # context variable lets a repository method join its caller's transaction.
        self._lock = asyncio.Lock()
        self._in_tx: contextvars.ContextVar[bool] = contextvars.ContextVar(f"in_tx_{id(self)}", default=False)

    @classmethod
    async def open(
        cls, path: str | Path, *, busy_timeout: float | None = None, retry_for: float | None = None
    ) -> Database:
        """Open (creating if needed, readable by its owner only) and migrate the database at `path`.

        ':memory:' works (with one connection). A database that cannot be used raises
        StorageError with one line saying why. The timeouts default to the module's constants.
        """
        path = str(path)
        busy_timeout = BUSY_TIMEOUT_S if busy_timeout is None else busy_timeout
        retry_for = RETRY_FOR_S if retry_for is None else retry_for
        conns: list[aiosqlite.Connection] = []
        try:
            if path != ":memory:":
                _create_private(Path(path))
            main = await cls._connect(path, busy_timeout)
            conns.append(main)
            ledger = None
            if path != ":memory:":
                ledger = await cls._connect(path, busy_timeout)
                conns.append(ledger)
            # No retries while opening: a database locked at start is an error to report at once.
            db = cls(main, path, ledger=ledger, retry_for=0)
            await db._migrate()
            # Take the write lock once and let go: a read-only or locked database says so now,
            # in one clear line, rather than at the first digest.
            await main.execute("BEGIN IMMEDIATE")
            await main.execute("ROLLBACK")
            db.retry_for = retry_for
        except sqlite3.Error as exc:
            for conn in conns:
                await conn.close()
            raise explain(path, exc) from None
        except BaseException:
            for conn in conns:
                await conn.close()
            raise
        return db

    @staticmethod
    async def _connect(path: str, busy_timeout: float) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA foreign_keys = ON")
            # Another program may hold the write lock briefly; SQLite waits this long first.
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if path != ":memory:":
                await conn.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL loses no committed data on a process crash (only on power
                # loss, the last commits), and spares an fsync per commit: the ledger commits
                # twice per posted message.
                await conn.execute("PRAGMA synchronous = NORMAL")
            await register_functions(conn)  # the search index's tokenisers (a migration uses them)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def close(self) -> None:
        if self._ledger is not self.conn:
            await self._ledger.close()
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

    @asynccontextmanager
    async def read(self, sql: str, params: Iterable[object] = ()) -> AsyncIterator[aiosqlite.Cursor]:
        """A query's cursor, to fetch from inside the `async with`.

        It takes its turn with the transactions: aiosqlite runs one connection's statements in
        arrival order, so a read slipped between a transaction's statements would keep that
        transaction (and SQLite's write lock, which the ledger's connection then waits for) open
        for as long as the read takes. Inside the caller's own transaction it simply joins it.
        """
        if self._in_tx.get():
            async with self.conn.execute(sql, params) as cur:
                yield cur
            return
        async with self._lock, self.conn.execute(sql, params) as cur:
            yield cur

    async def write(self, sql: str, params: tuple[object, ...] = ()) -> None:
        """One statement, atomic on its own: a single round trip instead of BEGIN/statement/COMMIT.

        Inside a caller's transaction it simply joins it.
        """
        if self._in_tx.get():
            await self.conn.execute(sql, params)
            return
        async with self._lock:  # never inside another task's open transaction
            await self._retrying(lambda: self.conn.execute(sql, params))

    async def ledger_write(self, sql: str, params: tuple[object, ...] = ()) -> None:
        """One statement on the ledger's own connection: it never waits behind the main one's queue."""
        await self._retrying(lambda: self._ledger.execute(sql, params))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception; a nested call joins the outer one.

        BEGIN IMMEDIATE takes the write lock up front, so that is the one statement that can
        find the database locked; it is retried with backoff. Once it succeeds, nothing else
        in the transaction waits for another writer.
        """
        if self._in_tx.get():
            yield self.conn
            return
        async with self._lock:
            token = self._in_tx.set(True)
            try:
                await self._retrying(lambda: self.conn.execute("BEGIN IMMEDIATE"))
                try:
                    yield self.conn
                except BaseException:
                    await self.conn.execute("ROLLBACK")
                    raise
                else:
                    await self.conn.execute("COMMIT")
            finally:
                self._in_tx.reset(token)

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt`, retrying with backoff while the database is locked, up to `retry_for` s."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        warned = False
        while True:
            try:
                return await attempt()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or self.retry_for <= 0:
                    raise
                if time.monotonic() + delay > deadline:
                    raise StorageError(
                        f"{self.path}: the database stayed locked by another program for over "
                        f"{self.retry_for:g} s; paperbot will try again later"
                    ) from exc
                if not warned:
                    log.warning("%s is locked by another program; waiting for it", self.path)
                    warned = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only: it holds who tracks what, and where.

    SQLite gives its -wal and -shm files the same permissions as the database file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageError(f"{path}: cannot create the database: {exc.strerror}") from None
    os.close(fd)
