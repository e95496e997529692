"""Papers as harvested from arXiv, one row per paper (not per version)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from bot.models import Paper
from storage.database import Database

_COLUMNS = (
    "arxiv_id, version, title, abstract, authors, categories, comment, journal_ref, doi,"
    " published, updated, announced, announce_type"
)


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert did: papers never seen, newer versions of known papers, and no-ops."""

    new: int = 0
    replaced: int = 0
    unchanged: int = 0


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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

    async def upsert_many(self, papers: Iterable[Paper], now: datetime) -> UpsertCounts:
        """Store papers idempotently, all or nothing.

        A paper already stored is only rewritten for a newer version (a
        replacement), and keeps the date it was first announced: a new version
        is not a new paper. Fields a newer record lacks (comment, DOI, ...)
        keep their stored value.
        """
        new = replaced = unchanged = 0
        stamp = now.isoformat()
        async with self._db.transaction() as conn:
            for p in papers:
                async with conn.execute(
                    "SELECT version FROM papers WHERE arxiv_id = ?", (p.arxiv_id,)
                ) as cur:
                    row = await cur.fetchone()
                # Only an announcement (from a harvest) makes a paper digest material.
                harvested = stamp if p.announced is not None else None
                if row is None:
                    await conn.execute(
                        f"INSERT INTO papers ({_COLUMNS}, harvested_at, first_seen, last_seen)"  # noqa: S608 - constant column list
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*self._values(p), harvested, stamp, stamp),
                    )
                    new += 1
                    continue
                if p.version > int(row["version"]):
                    # A replacement: the new version's text wins.
                    await conn.execute(
                        "UPDATE papers SET version = ?, title = ?, abstract = ?, authors = ?,"
                        " categories = ?, comment = COALESCE(?, comment),"
                        " journal_ref = COALESCE(?, journal_ref), doi = COALESCE(?, doi),"
                        " updated = COALESCE(?, updated) WHERE arxiv_id = ?",
                        (
                            p.version,
                            p.title,
                            p.abstract,
                            json.dumps(list(p.authors)),
                            json.dumps(list(p.categories)),
                            p.comment,
                            p.journal_ref,
                            p.doi,
                            _iso(p.updated),
                            p.arxiv_id,
                        ),
                    )
                    replaced += 1
                else:
                    unchanged += 1
                # Either way, fill what the stored row lacks; the first announcement date stays.
                await conn.execute(
                    "UPDATE papers SET last_seen = ?, comment = COALESCE(comment, ?),"
                    " journal_ref = COALESCE(journal_ref, ?), doi = COALESCE(doi, ?),"
                    " announced = COALESCE(announced, ?), announce_type = COALESCE(announce_type, ?),"
                    " harvested_at = COALESCE(harvested_at, ?) WHERE arxiv_id = ?",
                    (
                        stamp,
                        p.comment,
                        p.journal_ref,
                        p.doi,
                        _iso(p.announced),
                        p.announce_type,
                        harvested,
                        p.arxiv_id,
                    ),
                )
        return UpsertCounts(new, replaced, unchanged)

    @staticmethod
    def _values(p: Paper) -> tuple[object, ...]:
        return (
            p.arxiv_id,
            p.version,
            p.title,
            p.abstract,
            json.dumps(list(p.authors)),
            json.dumps(list(p.categories)),
            p.comment,
            p.journal_ref,
            p.doi,
            _iso(p.published),
            _iso(p.updated),
            _iso(p.announced),
            p.announce_type,
        )

    async def get(self, arxiv_id: str) -> Paper | None:
        async with self._db.read(
            f"SELECT {_COLUMNS} FROM papers WHERE arxiv_id = ?",  # noqa: S608 - constant column list
            (arxiv_id,),
        ) as cur:
            row = await cur.fetchone()
        return _row_to_paper(row) if row else None

    async def get_many(self, arxiv_ids: Sequence[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        # SQLite caps bound parameters; 500 a query stays well under every build's limit.
        for start in range(0, len(arxiv_ids), 500):
            chunk = arxiv_ids[start : start + 500]
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
        async with self._db.read(
            f"SELECT {_COLUMNS} FROM papers WHERE announced >= ?"  # noqa: S608 - constant column list
            " ORDER BY announced DESC, arxiv_id DESC",
            (since.isoformat(),),
        ) as cur:
            return [_row_to_paper(r) for r in await cur.fetchall()]

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
        return [(_row_to_paper(r), datetime.fromisoformat(r["harvested_at"])) for r in rows]

    async def latest_announced(self, limit: int) -> list[Paper]:
        """The `limit` most recently announced papers, newest first (for /papers' local search)."""
        async with self._db.read(
            f"SELECT {_COLUMNS} FROM papers WHERE announced IS NOT NULL"  # noqa: S608 - constant column list
            " ORDER BY announced DESC, arxiv_id DESC LIMIT ?",
            (limit,),
        ) as cur:
            return [_row_to_paper(r) for r in await cur.fetchall()]

    async def harvest_signature(self) -> tuple[datetime | None, int]:
        """When the last harvest stored a paper, and how many it has: changes only with a harvest."""
        async with self._db.read("SELECT MAX(harvested_at), COUNT(harvested_at) FROM papers") as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return None, 0
        return datetime.fromisoformat(row[0]), int(row[1])

    async def recent(self, limit: int) -> list[Paper]:
        """The `limit` papers stored last (harvested or looked up), newest first."""
        async with self._db.read(
            f"SELECT {_COLUMNS} FROM papers"  # noqa: S608 - constant column list
            " ORDER BY first_seen DESC, arxiv_id DESC LIMIT ?",
            (limit,),
        ) as cur:
            return [_row_to_paper(r) for r in await cur.fetchall()]
