"""The delivery ledger: which paper went (or is going) to which channel, in which digest.

The ledger is written *before* anything is posted, and then around each message: its
intent (a delivery key and the time) before the send, the platform's message id after. A
crash at any point resumes in the same thread with what is left; a message whose intent is
recorded but not its id is looked up on the platform before anything is resent; and a paper
is never offered to a channel twice (the primary key is (channel, paper)). The per-message
writes go through the database's ledger connection, which nothing else queues on.

The papers a digest shows have a row each. Those over its cap (the footer's "+27 more") are
offered too, but never posted one by one: the digest records their ids in one JSON array
(`overflow`), which every "already offered" check reads along with the rows.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.models import ChannelRef
from storage.channels import C_IS_CHANNEL, ChannelRepository, channel_key, channel_ref
from storage.database import Database


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One paper of a digest: what matched it, and its platform message once posted."""

    arxiv_id: str
    position: int  # order in the thread
    queries: tuple[str, ...]
    why: str  # JSON: per query, the fields and words that matched
    state: str  # pending | posted (overflow: in ledgers from before schema 10 whose digest is gone)
    message_id: str | None = None
    sending_at: datetime | None = None  # when a send began: set with no message_id = fate unknown


@dataclass(frozen=True, slots=True)
class DigestRecord:
    """A digest as planned in the ledger; `completed_at` is None until its last message is posted."""

    id: int
    channel: ChannelRef
    announced: str
    header: str
    lines: tuple[str, ...]
    footer: str
    parent_message_id: str | None
    entries: tuple[LedgerEntry, ...]
    completed_at: str | None = None
    key: str = ""
    parent_sending_at: datetime | None = None
    footer_message_id: str | None = None
    footer_sending_at: datetime | None = None
    overflow: tuple[str, ...] = ()  # the papers over its cap (arXiv ids, in rank order)

    @property
    def pending(self) -> tuple[LedgerEntry, ...]:
        return tuple(e for e in self.entries if e.state == "pending")

    # Delivery keys: one per message, stable across restarts, short enough for Discord's nonce
    # (25 characters), unique per digest thanks to the random `key`.

    @property
    def parent_key(self) -> str:
        return f"{self.key}.p"

    def item_key(self, entry: LedgerEntry) -> str:
        return f"{self.key}.{entry.position}"

    @property
    def footer_key(self) -> str:
        return f"{self.key}.f"


@dataclass(frozen=True, slots=True)
class NewDigest:
    """One of the digests `plan_many` writes at once; its entries are rows of the batch naming `number`."""

    channel: ChannelRef
    number: int  # its place in the batch, from 1 (numbers may skip: a channel left out)
    announced: str
    header: str
    lines: tuple[str, ...]
    footer: str
    key: str = ""  # its delivery keys' stem (random when empty)
    overflow: str = "[]"  # JSON array of the arXiv ids over its cap, in rank order


# From this many digests on, `plan_many` makes their JSON in a worker thread.
MANY_DIGESTS = 50


def _heads(digests: Sequence[NewDigest], keys: str) -> str:
    """The JSON array of `plan_many`'s digests, each with its key (from `keys`, unless it has one).

    Made digest by digest: one `json.dumps` of a whole batch is one call of tens of milliseconds
    that holds the GIL, and a digest run's event loop (slash commands) waited for it.
    """
    dumps = json.dumps
    return (
        "["
        + ",".join(
            dumps(
                [
                    d.number,
                    *channel_key(d.channel),
                    d.announced,
                    d.header,
                    dumps(list(d.lines)),
                    d.footer,
                    d.key or keys[10 * i : 10 * i + 10],
                    d.overflow,
                ],
                ensure_ascii=False,
            )
            for i, d in enumerate(digests)
        )
        + "]"
    )


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class DeliveryRepository:
    def __init__(self, db: Database, channels: ChannelRepository) -> None:
        self._db = db
        self._channels = channels

    async def delivered_ids(self, channel: ChannelRef) -> set[str]:
        """Every paper already offered to `channel` (posted, pending or summarised as overflow)."""
        async with self._db.read(
            f"SELECT d.arxiv_id FROM deliveries d JOIN channels c ON c.id = d.channel WHERE {C_IS_CHANNEL}"  # noqa: S608 - constants only
            " UNION ALL SELECT j.value FROM digests g JOIN channels c ON c.id = g.channel,"
            f" json_each(g.overflow) j WHERE {C_IS_CHANNEL}",
            channel_key(channel) * 2,
        ) as cur:
            return {row[0] for row in await cur.fetchall()}

    async def delivered_among(
        self, arxiv_ids: Collection[str], harvested_since: datetime
    ) -> dict[ChannelRef, set[str]]:
        """Which of these papers each channel was already offered: one pass for every channel.

        The papers were all harvested since `harvested_since`, so any row (or digest) offering
        one was written since then too (a paper is offered only once stored): the rows and digests
        are read by when they were written, which the ledger indexes cheaply, not paper by paper.
        """
        found: dict[ChannelRef, set[str]] = {}
        channels: dict[int, ChannelRef] = {}
        # SQLite keeps the rows about these papers (an IN over a list it indexes once): the last
        # run's 400,000 rows at 100,000 subscriptions are not all handed to Python to be sifted.
        async with self._db.read(
            "WITH wanted (id) AS (SELECT value FROM json_each(?2))"
            " SELECT d.channel, d.arxiv_id FROM deliveries d WHERE d.created_at >= ?1"
            " AND d.arxiv_id IN wanted"
            " UNION ALL SELECT g.channel, j.value FROM digests g, json_each(g.overflow) j"
            " WHERE g.created_at >= ?1 AND g.overflow != '[]' AND j.value IN wanted",
            (harvested_since.isoformat(), json.dumps(list(arxiv_ids))),
        ) as cur:
            rows = list(await cur.fetchall())
        if not rows:
            return found
        async with self._db.read("SELECT id, platform, workspace, channel_id, name FROM channels") as cur:
            for r in await cur.fetchall():
                channels[int(r[0])] = channel_ref(r, 1)
        for row, arxiv_id in rows:
            found.setdefault(channels[row], set()).add(arxiv_id)
        return found

    async def plan(
        self,
        channel: ChannelRef,
        *,
        announced: str,
        header: str,
        lines: Sequence[str],
        footer: str,
        entries: Sequence[LedgerEntry],
        now: datetime,
        overflow: Sequence[str] = (),
    ) -> DigestRecord:
        """Write a digest, its entries and the ids over its cap, before posting anything, at once."""
        key = secrets.token_hex(5)
        async with self._db.transaction() as conn:
            channel_row = await self._channels.ensure(channel, now)
            cur = await conn.execute(
                "INSERT INTO digests (channel, announced, header, lines, footer, created_at, key, overflow)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    channel_row,
                    announced,
                    header,
                    json.dumps(list(lines)),
                    footer,
                    now.isoformat(),
                    key,
                    json.dumps(list(overflow), separators=(",", ":")),  # as `plan_many`'s are made
                ),
            )
            digest_id = cur.lastrowid
            assert digest_id is not None
            await conn.executemany(
                "INSERT INTO deliveries"
                " (channel, arxiv_id, digest, position, queries, why, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        channel_row,
                        e.arxiv_id,
                        digest_id,
                        e.position,
                        json.dumps(list(e.queries)),
                        e.why,
                        e.state,
                        now.isoformat(),
                    )
                    for e in entries
                ],
            )
        return DigestRecord(
            digest_id,
            channel,
            announced,
            header,
            tuple(lines),
            footer,
            None,
            tuple(entries),
            key=key,
            overflow=tuple(overflow),
        )

    async def plan_many(self, digests: Sequence[NewDigest], rows: str, now: datetime) -> dict[int, int]:
        """Write many channels' digests and their entries in one transaction; returns number -> digest id.

        `rows` is a JSON array of `[number, position, arxiv_id, queries JSON, why JSON, state]`,
        one per shown entry, in the order of `plan`'s entries (a digest's overflow is its own,
        `NewDigest.overflow`). SQLite unpacks it in one statement: a day's 120,000 rows (at 100,000
        subscriptions) are not bound one at a time in Python, and
        the statement runs without holding Python's GIL, so the caller can make the next batch
        meanwhile. A digest whose channel has no row (it cannot be, the run read them) is skipped.
        """
        if not digests:
            return {}
        # Every digest's delivery key from one read of the system's randomness: os.urandom releases
        # the GIL, and during a run getting it back waited on the worker thread, once per digest.
        keys = secrets.token_hex(5 * len(digests))
        if len(digests) < MANY_DIGESTS:
            heads = _heads(digests, keys)
        else:  # a batch of a digest run: hundreds of digests, a megabyte of JSON
            heads = await asyncio.to_thread(_heads, digests, keys)
        when = now.isoformat()
        async with self._db.transaction() as conn:
            # Ids are given, not left to SQLite, so that the entries can name theirs: base + number.
            async with conn.execute("SELECT COALESCE(MAX(id), 0) FROM digests") as cur:
                row = await cur.fetchone()
            base = int(row[0]) if row else 0
            await conn.execute(
                "INSERT INTO digests (id, channel, announced, header, lines, footer, created_at, key,"
                " overflow)"
                " SELECT ?1 + (j.value ->> 0), c.id, j.value ->> 4, j.value ->> 5, j.value ->> 6,"
                " j.value ->> 7, ?2, j.value ->> 8, j.value ->> 9"
                " FROM json_each(?3) AS j CROSS JOIN channels AS c"
                " WHERE c.platform = j.value ->> 1 AND c.workspace = j.value ->> 2"
                " AND c.channel_id = j.value ->> 3",
                (base, when, heads),
            )
            await conn.execute(
                "INSERT INTO deliveries"
                " (channel, arxiv_id, digest, position, queries, why, state, created_at)"
                " SELECT g.channel, j.value ->> 2, g.id, j.value ->> 1, j.value ->> 3, j.value ->> 4,"
                " j.value ->> 5, ?2"
                " FROM json_each(?3) AS j CROSS JOIN digests AS g WHERE g.id = ?1 + (j.value ->> 0)",
                (base, when, rows),
            )
            async with conn.execute(
                "SELECT id FROM digests WHERE id > ? AND id <= ?",
                (base, base + max(d.number for d in digests)),
            ) as cur:
                written = [int(r[0]) for r in await cur.fetchall()]
        return {digest_id - base: digest_id for digest_id in written}

    async def open_digest(self, channel: ChannelRef) -> DigestRecord | None:
        """The channel's digest that was planned but not finished (a crash or an outage), if any."""
        async with self._db.read(
            f"SELECT g.id FROM digests g JOIN channels c ON c.id = g.channel WHERE {C_IS_CHANNEL}"  # noqa: S608 - constants only
            " AND g.completed_at IS NULL ORDER BY g.id LIMIT 1",
            channel_key(channel),
        ) as cur:
            row = await cur.fetchone()
        return await self.get(int(row[0])) if row else None

    async def get(self, digest_id: int) -> DigestRecord | None:
        async with self._db.read(
            "SELECT g.id, g.announced, g.header, g.lines, g.footer, g.parent_message_id, g.completed_at,"
            " g.key, g.parent_sending_at, g.footer_message_id, g.footer_sending_at, g.overflow,"
            " g.channel AS row,"
            " c.platform, c.workspace, c.channel_id, c.name"
            " FROM digests g JOIN channels c ON c.id = g.channel WHERE g.id = ?",
            (digest_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        async with self._db.read(
            # By channel too: its rows are together in the primary key (by digest alone: every row read).
            "SELECT arxiv_id, position, queries, why, state, message_id, sending_at FROM deliveries"
            " WHERE channel = ? AND digest = ? ORDER BY position",
            (row["row"], digest_id),
        ) as cur:
            entries = tuple(
                LedgerEntry(
                    r["arxiv_id"],
                    int(r["position"]),
                    tuple(json.loads(r["queries"])),
                    r["why"],
                    r["state"],
                    r["message_id"],
                    _when(r["sending_at"]),
                )
                for r in await cur.fetchall()
            )
        return DigestRecord(
            id=int(row["id"]),
            channel=channel_ref((row["platform"], row["workspace"], row["channel_id"], row["name"])),
            announced=row["announced"],
            header=row["header"],
            lines=tuple(json.loads(row["lines"])),
            footer=row["footer"],
            parent_message_id=row["parent_message_id"],
            entries=entries,
            completed_at=row["completed_at"],
            key=row["key"],
            parent_sending_at=_when(row["parent_sending_at"]),
            footer_message_id=row["footer_message_id"],
            footer_sending_at=_when(row["footer_sending_at"]),
            overflow=tuple(json.loads(row["overflow"])),
        )

    # Below: written around every message, on the ledger's own connection, one statement each.
    # An intent keeps its first time (COALESCE): a resend after a crash looks back from there.

    async def intend_parent(self, digest_id: int, now: datetime) -> None:
        await self._db.ledger_write(
            "UPDATE digests SET parent_sending_at = COALESCE(parent_sending_at, ?) WHERE id = ?",
            (now.isoformat(), digest_id),
        )

    async def set_parent(self, digest_id: int, message_id: str) -> None:
        await self._db.ledger_write(
            "UPDATE digests SET parent_message_id = ? WHERE id = ?", (message_id, digest_id)
        )

    # An entry is found by its primary key: the digest's channel, and the paper.

    async def intend(self, digest_id: int, arxiv_id: str, now: datetime) -> None:
        await self._db.ledger_write(
            "UPDATE deliveries SET sending_at = COALESCE(sending_at, ?3)"
            " WHERE channel = (SELECT channel FROM digests WHERE id = ?1) AND arxiv_id = ?2 AND digest = ?1",
            (digest_id, arxiv_id, now.isoformat()),
        )

    async def mark_posted(self, digest_id: int, arxiv_id: str, message_id: str, now: datetime) -> None:
        await self._db.ledger_write(
            "UPDATE deliveries SET state = 'posted', message_id = ?3, posted_at = ?4"
            " WHERE channel = (SELECT channel FROM digests WHERE id = ?1) AND arxiv_id = ?2 AND digest = ?1",
            (digest_id, arxiv_id, message_id, now.isoformat()),
        )

    async def intend_footer(self, digest_id: int, now: datetime) -> None:
        await self._db.ledger_write(
            "UPDATE digests SET footer_sending_at = COALESCE(footer_sending_at, ?) WHERE id = ?",
            (now.isoformat(), digest_id),
        )

    async def set_footer(self, digest_id: int, message_id: str) -> None:
        await self._db.ledger_write(
            "UPDATE digests SET footer_message_id = ? WHERE id = ?", (message_id, digest_id)
        )

    async def complete(self, digest_id: int, now: datetime) -> None:
        await self._db.ledger_write(
            "UPDATE digests SET completed_at = ? WHERE id = ?", (now.isoformat(), digest_id)
        )

    async def channels_with_open_digests(self) -> list[ChannelRef]:
        async with self._db.read(
            "SELECT DISTINCT c.platform, c.workspace, c.channel_id, c.name"
            " FROM digests g JOIN channels c ON c.id = g.channel WHERE g.completed_at IS NULL"
        ) as cur:
            rows = await cur.fetchall()
        return [channel_ref(r) for r in rows]
