"""Papers as harvested from arXiv, one row per paper (not per version), and their search keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiosqlite

from bot.matching.fulltext import SearchText, search_text_of_row
from bot.models import Paper
from storage.database import Database

_COLUMNS = (
    "arxiv_id, version, title, abstract, authors, categories, comment, journal_ref, doi,"
    " published, updated, announced, announce_type"
)
_ROW_FIELDS = (
    *(c.strip() for c in _COLUMNS.split(",")),
    "harvested_at",
    "first_seen",
    "last_seen",
    "search_key",
)
_ROW = ", ".join(_ROW_FIELDS)
_MUTABLE = tuple(f for f in _ROW_FIELDS if f not in ("arxiv_id", "published", "first_seen"))
# SQLite caps bound parameters; 500 a query stays well under every build's limit.
_CHUNK = 500
# A search key is the second of the paper's last update shifted by this, plus a sequence number
# within that second: keys sort by last update, and a day's feed (one timestamp) still fits.
KEY_BITS = 20
KEY_SPAN = 1 << KEY_BITS


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert did: papers never seen, newer versions of known papers, and no-ops."""

    new: int = 0
    replaced: int = 0
    unchanged: int = 0


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(value: str) -> int:
    """Unix seconds of a stored date or timestamp (naive ones are UTC, as SQLite reads them)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return 0
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def _second(row: Any) -> int:
    """The second of a stored row's last update (or announcement, if later): its search key's start."""
    return max((_seconds(row[f]) for f in ("updated", "published", "announced") if row[f]), default=0)


def search_key_floor(when: datetime) -> int:
    """The smallest search key of a paper last updated at or after `when`."""
    return _seconds(when.isoformat()) << KEY_BITS


def _new_row(p: Paper, harvested: str | None, stamp: str) -> dict[str, Any]:
    return {
        "arxiv_id": p.arxiv_id,
        "version": p.version,
        "title": p.title,
        "abstract": p.abstract,
        "authors": json.dumps(list(p.authors)),
        "categories": json.dumps(list(p.categories)),
        "comment": p.comment,
        "journal_ref": p.journal_ref,
        "doi": p.doi,
        "published": _iso(p.published),
        "updated": _iso(p.updated),
        "announced": _iso(p.announced),
        "announce_type": p.announce_type,
        "harvested_at": harvested,
        "first_seen": stamp,
        "last_seen": stamp,
        "search_key": None,
    }


def _first(*values: Any) -> Any:
    """The first value that is not None (SQL's COALESCE)."""
    return next((v for v in values if v is not None), None)


def _replace(row: dict[str, Any], p: Paper) -> None:
    """A newer version: its text wins; what it lacks keeps the stored value."""
    row.update(
        version=p.version,
        title=p.title,
        abstract=p.abstract,
        authors=json.dumps(list(p.authors)),
        categories=json.dumps(list(p.categories)),
        comment=_first(p.comment, row["comment"]),
        journal_ref=_first(p.journal_ref, row["journal_ref"]),
        doi=_first(p.doi, row["doi"]),
        updated=_first(_iso(p.updated), row["updated"]),
    )


def _fill(row: dict[str, Any], p: Paper, harvested: str | None, stamp: str) -> None:
    """Fill what the stored row lacks; its first announcement stays."""
    row.update(
        last_seen=stamp,
        comment=_first(row["comment"], p.comment),
        journal_ref=_first(row["journal_ref"], p.journal_ref),
        doi=_first(row["doi"], p.doi),
        announced=_first(row["announced"], _iso(p.announced)),
        announce_type=_first(row["announce_type"], p.announce_type),
        harvested_at=_first(row["harvested_at"], harvested),
    )


def _search_values(
    rows: Sequence[Any], known: Mapping[str, SearchText] | None = None
) -> list[tuple[object, ...]]:
    """(search key, the index's five columns) of each row (`known`: by arXiv id, worked out already)."""
    known = known or {}
    out: list[tuple[object, ...]] = []
    for r in rows:
        text = known.get(r["arxiv_id"])
        if text is None:
            text = search_text_of_row(r["title"], r["abstract"], r["authors"], r["categories"])
        out.append((r["search_key"], *text.values()))
    return out


def _row_to_paper(row: aiosqlite.Row) -> Paper:
    return Paper(
        arxiv_id=row["arxiv_id"],
        version=int(row["version"]),
        title=row["title"],
        abstract=row["abstract"],
        authors=tuple(json.loads(row["authors"])),
        categories=tuple(json.loads(row["categories"])),
        comment=row["comment"],
        journal_ref=row["journal_ref"],
        doi=row["doi"],
        published=datetime.fromisoformat(row["published"]) if row["published"] else None,
        updated=datetime.fromisoformat(row["updated"]) if row["updated"] else None,
        announced=date.fromisoformat(row["announced"]) if row["announced"] else None,
        announce_type=row["announce_type"],
    )


class PaperRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_many(
        self, papers: Iterable[Paper], now: datetime, *, search: Mapping[Paper, SearchText] | None = None
    ) -> UpsertCounts:
        """Store papers idempotently, all or nothing, and keep the search index in step.

        A paper already stored is only rewritten for a newer version (a
        replacement), and keeps the date it was first announced: a new version
        is not a new paper. Fields a newer record lacks (comment, DOI, ...)
        keep their stored value.

        The batch is merged in Python and written with one statement per kind of
        change (a 2,500-paper day took 1.1 s as three statements per paper). `search`
        holds what the index is given for some of the papers (`bot.matching.fulltext.search_text`),
        worked out before the write lock is taken (the harvest does); the rest is worked
        out here, in a worker thread.
        """
        papers = list(papers)
        if not papers:
            return UpsertCounts()
        stamp = now.isoformat()
        async with self._db.transaction() as conn:
            stored = await self._stored(conn, list(dict.fromkeys(p.arxiv_id for p in papers)))
            rows = {arxiv_id: dict(row) for arxiv_id, row in stored.items()}
            new = replaced = unchanged = 0
            text_of: dict[str, Paper] = {}  # the paper whose text a row now holds, when it changed
            for p in papers:
                row = rows.get(p.arxiv_id)
                # Only an announcement (from a harvest) makes a paper digest material.
                harvested = stamp if p.announced is not None else None
                if row is None:
                    rows[p.arxiv_id] = _new_row(p, harvested, stamp)
                    text_of[p.arxiv_id] = p
                    new += 1
                    continue
                if p.version > int(row["version"]):
                    _replace(row, p)  # the new version's text wins
                    text_of[p.arxiv_id] = p
                    replaced += 1
                else:
                    unchanged += 1
                _fill(row, p, harvested, stamp)  # either way; the first announcement date stays
            await self._write(conn, stored, rows, text_of, search or {})
        return UpsertCounts(new, replaced, unchanged)

    async def _stored(self, conn: aiosqlite.Connection, ids: list[str]) -> dict[str, aiosqlite.Row]:
        found: dict[str, aiosqlite.Row] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            async with conn.execute(
                f"SELECT {_ROW} FROM papers WHERE arxiv_id IN ({','.join('?' * len(chunk))})",  # noqa: S608 - only "?" marks
                chunk,
            ) as cur:
                for row in await cur.fetchall():
                    found[row["arxiv_id"]] = row
        return found

    async def _write(
        self,
        conn: aiosqlite.Connection,
        stored: dict[str, aiosqlite.Row],
        rows: dict[str, dict[str, Any]],
        text_of: Mapping[str, Paper],
        search: Mapping[Paper, SearchText],
    ) -> None:
        """Write the merged rows; move a paper's index entry when its text or last update changed."""
        rekey = [i for i, r in rows.items() if i in text_of or _second(r) != _second(stored[i])]
        await self._allocate_keys(conn, [rows[i] for i in rekey])
        unindex = [stored[i] for i in rekey if i in stored and stored[i]["search_key"] is not None]
        # Tokenising is the costly part of storing a day (0.1 s for 2,500 papers): in a worker
        # thread, while SQLite (which lets go of the GIL) writes the rows on the other core.
        known = {i: search[text_of[i]] for i in rekey if i in text_of and text_of[i] in search}
        tokenised = asyncio.ensure_future(
            asyncio.to_thread(
                lambda: (_search_values(unindex), _search_values([rows[i] for i in rekey], known))
            )
        )
        try:
            inserts = [r for i, r in rows.items() if i not in stored]
            if inserts:
                await conn.executemany(
                    f"INSERT INTO papers ({_ROW}) VALUES ({','.join('?' * len(_ROW_FIELDS))})",  # noqa: S608 - constant columns
                    [tuple(r[f] for f in _ROW_FIELDS) for r in inserts],
                )
            updates = [r for i, r in rows.items() if i in stored]
            if updates:
                await conn.executemany(
                    f"UPDATE papers SET {', '.join(f'{f} = ?' for f in _MUTABLE)} WHERE arxiv_id = ?",  # noqa: S608 - constant columns
                    [(*(r[f] for f in _MUTABLE), r["arxiv_id"]) for r in updates],
                )
        finally:
            old, new = await tokenised
        if old:
            await conn.executemany(
                "INSERT INTO paper_search"
                " (paper_search, rowid, title, abstract, authors, categories, archives)"
                " VALUES ('delete', ?, ?, ?, ?, ?, ?)",
                old,
            )
        if new:
            await conn.executemany(
                "INSERT INTO paper_search (rowid, title, abstract, authors, categories, archives)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                new,
            )

    @staticmethod
    async def _allocate_keys(conn: aiosqlite.Connection, rows: list[dict[str, Any]]) -> None:
        """A fresh, unique search key for each row, after every key already used in its second."""
        by_second: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            by_second.setdefault(_second(r), []).append(r)
        for second, group in by_second.items():
            base = second << KEY_BITS
            async with conn.execute(
                "SELECT MAX(search_key) FROM papers WHERE search_key BETWEEN ? AND ?",
                (base, base + KEY_SPAN - 1),
            ) as cur:
                found = await cur.fetchone()
            top = found[0] if found and found[0] is not None else base - 1
            if top + len(group) >= base + KEY_SPAN:  # a million papers in one second: keep keys unique
                async with conn.execute("SELECT MAX(search_key) FROM papers") as cur:
                    found = await cur.fetchone()
                top = max(top, found[0] if found and found[0] is not None else top)
            # Within a second, a higher arXiv id sorts as newer (as the listings do).
            for offset, r in enumerate(sorted(group, key=lambda r: r["arxiv_id"]), start=1):
                r["search_key"] = top + offset

    async def get(self, arxiv_id: str) -> Paper | None:
        async with self._db.read(
            f"SELECT {_COLUMNS} FROM papers WHERE arxiv_id = ?",  # noqa: S608 - constant column list
            (arxiv_id,),
        ) as cur:
            row = await cur.fetchone()
        return _row_to_paper(row) if row else None

    async def _papers(self, rest: str, *params: object) -> list[Paper]:
        """The papers `SELECT <columns> FROM papers <rest>` finds (`rest`: a constant of this module)."""
        async with self._db.read(f"SELECT {_COLUMNS} FROM papers {rest}", params) as cur:  # noqa: S608
            return [_row_to_paper(r) for r in await cur.fetchall()]

    async def get_many(self, arxiv_ids: Sequence[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        for start in range(0, len(arxiv_ids), _CHUNK):
            chunk = arxiv_ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            async with self._db.read(
                f"SELECT {_COLUMNS} FROM papers WHERE arxiv_id IN ({marks})",  # noqa: S608 - only "?" marks
                tuple(chunk),
            ) as cur:
                for row in await cur.fetchall():
                    found[row["arxiv_id"]] = _row_to_paper(row)
        return found

    async def announced_since(self, since: date) -> list[Paper]:
        """Papers first announced on or after `since`, newest first."""
        since_day = since.isoformat()
        return await self._papers("WHERE announced >= ? ORDER BY announced DESC, arxiv_id DESC", since_day)

    async def count(self) -> int:
        async with self._db.read("SELECT COUNT(*) FROM papers") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def harvested_since(self, since: datetime) -> list[tuple[Paper, datetime]]:
        """New and cross-listed papers a harvest stored at or after `since`, with that time.

        Replacements are left out: a new version is not a new paper.
        """
        async with self._db.read(
            f"SELECT {_COLUMNS}, harvested_at FROM papers"  # noqa: S608 - constant column list
            " WHERE harvested_at >= ? AND announce_type IN ('new', 'cross')"
            " ORDER BY announced DESC, arxiv_id DESC",
            (since.isoformat(),),
        ) as cur:
            rows = await cur.fetchall()
        # A fortnight of papers is 30,000 rows of JSON to decode: not on the event loop.
        return await asyncio.to_thread(
            lambda: [(_row_to_paper(r), datetime.fromisoformat(r["harvested_at"])) for r in rows]
        )

    async def harvest_signature(self) -> tuple[datetime | None, int]:
        """When the last harvest stored a paper, and how many it has: changes only with a harvest."""
        async with self._db.read("SELECT MAX(harvested_at), COUNT(harvested_at) FROM papers") as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return None, 0
        return datetime.fromisoformat(row[0]), int(row[1])

    async def recent(self, limit: int) -> list[Paper]:
        """The `limit` papers stored last (harvested or looked up), newest first."""
        return await self._papers("ORDER BY first_seen DESC, arxiv_id DESC LIMIT ?", limit)

    async def by_search_keys(self, keys: Sequence[int]) -> list[Paper]:
        """The papers with these search keys, in the order given."""
        found: dict[int, Paper] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            async with self._db.read(
                f"SELECT {_COLUMNS}, search_key FROM papers"  # noqa: S608 - only "?" marks
                f" WHERE search_key IN ({','.join('?' * len(chunk))})",
                chunk,
            ) as cur:
                for row in await cur.fetchall():
                    found[int(row["search_key"])] = _row_to_paper(row)
        return [found[k] for k in keys if k in found]

    async def count_since_key(self, key: int) -> int:
        """How many papers have a search key of at least `key` (were last updated since then)."""
        async with self._db.read("SELECT COUNT(*) FROM papers WHERE search_key >= ?", (key,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
