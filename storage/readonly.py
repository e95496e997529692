"""Opening the database to read only, beside a running bot: `paperbot export`.

SQLite itself refuses every write on this connection (`mode=ro`), so nothing it does can change
the database; it takes no process lock and no write lock, and in WAL mode it reads a consistent
snapshot while the bot writes. It neither creates a missing database nor migrates an old one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from bot.errors import StorageError
from storage.database import BUSY_TIMEOUT_S, Database, explain
from storage.migrations import LATEST_VERSION
from storage.search import register_functions
from storage.store import Store


def _existing(path: str | Path) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise StorageError(
            f"{file}: no paperbot database here (set bot.database or PAPERBOT_DATABASE to the bot's)"
        )
    return file.resolve()


async def open_readonly(path: str | Path) -> Store:
    """The store at `path`, read-only; StorageError (one line) when it cannot be read as it is."""
    file = _existing(path)
    try:
        uri = f"{file.as_uri()}?mode=ro"
        conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise explain(str(file), exc) from None
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        await register_functions(conn)
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version != LATEST_VERSION:
            newer = version > LATEST_VERSION
            raise StorageError(
                f"{file}: the database is at schema version {version}, this paperbot reads "
                f"{LATEST_VERSION}; "
                + ("upgrade paperbot" if newer else "start the bot (paperbot run) once to upgrade it")
            )
    except sqlite3.Error as exc:
        await conn.close()
        raise explain(str(file), exc) from None
    except BaseException:
        await conn.close()
        raise
    return Store(Database(conn, str(file)))
