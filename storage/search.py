"""The full-text index over papers (SQLite FTS5): newest matches first, counts over a recent window.

`paper_search` is a contentless FTS5 table whose rowid is the paper's search key, which orders
papers by last update (`storage.papers.search_key_second`): "the newest n matches" is FTS5 reading
its doclists backwards and stopping after n, whatever the size of the store. The harvest's upsert
keeps it in step (`PaperRepository.upsert_many`); the migration that created it filled it through
the SQL functions registered here. What goes into it, and how a query becomes an FTS5 expression,
is `bot.matching.fulltext`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiosqlite

from bot.matching.fulltext import search_text_of_row, text_tokens

if TYPE_CHECKING:  # storage.database registers this module's functions on each connection
    from storage.database import Database

log = logging.getLogger(__name__)

# How many rows one round trip fetches while the exact matcher filters a superset.
PAGE = 200


def _safe(fn: Callable[[str], str]) -> Callable[[object], str]:
    # An exception inside an SQL function aborts the statement (and a migration with it); a value
    # that cannot be read is simply not searchable.
    def call(value: object) -> str:
        try:
            return fn(value) if isinstance(value, str) else ""
        except Exception:
            log.warning("could not index a value for search", exc_info=True)
            return ""

    return call


def _author_tokens(authors_json: str) -> str:
    return search_text_of_row("", "", authors_json, "[]").authors


def _categories_of(categories_json: str) -> tuple[str, str]:
    row = search_text_of_row("", "", "[]", categories_json)
    return row.categories, row.archives


SQL_FUNCTIONS: dict[str, Callable[[object], str]] = {
    "paperbot_text_tokens": _safe(text_tokens),
    "paperbot_author_tokens": _safe(_author_tokens),
    "paperbot_category_tokens": _safe(lambda cats: _categories_of(cats)[0]),
    "paperbot_archive_tokens": _safe(lambda cats: _categories_of(cats)[1]),
}


async def register_functions(conn: aiosqlite.Connection) -> None:
    """Make the index's tokenising functions callable from SQL on `conn` (the migration uses them)."""
    for name, fn in SQL_FUNCTIONS.items():
        await conn.create_function(name, 1, fn, deterministic=True)


class SearchIndex:
    """Queries against `paper_search`: matching search keys, newest first, and counts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def newest(
        self, expression: str, limit: int, *, below: int | None = None, since: int | None = None
    ) -> list[int]:
        """Search keys of the `limit` newest papers matching the FTS5 `expression`, in [since, below)."""
        sql = "SELECT rowid FROM paper_search WHERE paper_search MATCH ?"
        params: tuple[object, ...] = (expression,)
        if below is not None:
            sql += " AND rowid < ?"
            params += (below,)
        if since is not None:
            sql += " AND rowid >= ?"
            params += (since,)
        async with self._db.read(sql + " ORDER BY rowid DESC LIMIT ?", (*params, limit)) as cur:
            return [int(r[0]) for r in await cur.fetchall()]

    async def count(self, expression: str, *, since: int) -> int:
        """How many papers with a search key of at least `since` match `expression`."""
        async with self._db.read(
            "SELECT COUNT(*) FROM paper_search WHERE paper_search MATCH ? AND rowid >= ?", (expression, since)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
