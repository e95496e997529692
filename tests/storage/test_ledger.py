"""The ledger's record of what each channel was offered: shown papers as rows, the rest per digest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiosqlite

from bot.models import ChannelRef, Platform
from storage import Store
from storage.deliveries import LedgerEntry, NewDigest
from storage.migrations import LATEST_VERSION, MIGRATIONS
from storage.search import register_functions
from tests.conftest import GENERAL, NOW
from tests.fakes.stories import paper

VISION = ChannelRef(Platform.CONSOLE, "local", "vision", "vision")
PAPERS = [paper(n, f"Paper {n}") for n in range(1, 7)]
IDS = [p.arxiv_id for p in PAPERS]


def shown(*ids: str) -> list[LedgerEntry]:
    return [LedgerEntry(a, i, ("video retrieval",), "[]", "pending") for i, a in enumerate(ids)]


async def test_papers_over_the_cap_count_as_offered_on_both_ways_of_planning(store: Store) -> None:
    await store.papers.upsert_many(PAPERS, NOW)
    # One digest planned alone (/digest), one with a run's others: two shown, the rest over the cap.
    record = await store.deliveries.plan(
        GENERAL,
        announced="2026-11-20",
        header="h",
        lines=[],
        footer="+2 more",
        entries=shown(*IDS[:2]),
        now=NOW,
        overflow=IDS[2:4],
    )
    assert record.overflow == tuple(IDS[2:4])
    await store.channels.ensure(VISION, NOW)
    rows = f'[1,0,"{IDS[4]}","[]","[]","pending"]'
    numbers = await store.deliveries.plan_many(
        [NewDigest(VISION, 1, "2026-11-20", "h", (), "+1 more", overflow=f'["{IDS[5]}","{IDS[0]}"]')],
        f"[{rows}]",
        NOW,
    )
    [(_, digest_id)] = numbers.items()
    got = await store.deliveries.get(digest_id)
    assert got is not None
    assert [e.arxiv_id for e in got.entries] == [IDS[4]] and got.overflow == (IDS[5], IDS[0])

    assert await store.deliveries.delivered_ids(GENERAL) == set(IDS[:4])
    assert await store.deliveries.delivered_ids(VISION) == {IDS[4], IDS[5], IDS[0]}
    among = await store.deliveries.delivered_among(IDS, NOW - timedelta(hours=1))
    assert among == {GENERAL: set(IDS[:4]), VISION: {IDS[4], IDS[5], IDS[0]}}
    # Only the papers asked about, and only digests written since then.
    assert await store.deliveries.delivered_among([IDS[3], IDS[5]], NOW - timedelta(hours=1)) == {
        GENERAL: {IDS[3]},
        VISION: {IDS[5]},
    }
    assert await store.deliveries.delivered_among(IDS, NOW + timedelta(seconds=1)) == {}


async def test_a_batch_gives_each_digest_its_own_random_delivery_key(store: Store) -> None:
    # Delivery keys name a digest's messages on the platform (a Discord nonce, Slack metadata):
    # each digest of a batch has its own, ten hex digits as `plan` makes them, unless given one.
    channels = [ChannelRef(Platform.CONSOLE, "local", f"c{n}", f"c{n}") for n in range(50)]
    for channel in channels:
        await store.channels.ensure(channel, NOW)
    digests = [NewDigest(c, n + 1, "2026-11-20", "h", (), "") for n, c in enumerate(channels)]
    digests[0] = NewDigest(channels[0], 1, "2026-11-20", "h", (), "", key="given")
    numbers = await store.deliveries.plan_many(digests, "[]", NOW)
    keys = []
    for digest_id in numbers.values():
        got = await store.deliveries.get(digest_id)
        assert got is not None
        keys.append(got.key)
    assert keys[0] == "given" and len(set(keys)) == len(channels)
    assert all(len(k) == 10 and int(k, 16) >= 0 for k in keys[1:])
    again = await store.deliveries.plan_many(digests[1:2], "[]", NOW + timedelta(minutes=1))
    [other] = again.values()
    got = await store.deliveries.get(other)
    assert got is not None and got.key not in keys


async def test_the_migration_moves_overflow_rows_into_their_digest_in_order(tmp_path: Path) -> None:
    # A ledger as schema 9 left it: a digest showing one paper, three over its cap as rows.
    path = tmp_path / "bot.db"
    async with aiosqlite.connect(path) as conn:
        await register_functions(conn)
        for migration in MIGRATIONS[:9]:
            for statement in migration:
                await conn.execute(statement)
        await conn.execute("PRAGMA user_version = 9")
        await conn.execute(
            "INSERT INTO channels (id, platform, workspace, channel_id, name, created_at)"
            " VALUES (1, 'console', 'local', 'general', 'general', ?)",
            (NOW.isoformat(),),
        )
        await conn.executemany(
            "INSERT INTO papers (arxiv_id, version, title, abstract, authors, categories, first_seen,"
            " last_seen) VALUES (?, 1, 't', 'a', '[]', '[]', ?, ?)",
            [(a, NOW.isoformat(), NOW.isoformat()) for a in IDS],
        )
        await conn.execute(
            "INSERT INTO digests (id, channel, announced, header, lines, footer, created_at, key)"
            " VALUES (7, 1, '2026-11-20', 'h', '[]', '+3 more', ?, 'k')",
            (NOW.isoformat(),),
        )
        rows = [
            (IDS[0], 0, "posted"),
            (IDS[3], 3, "overflow"),
            (IDS[1], 1, "overflow"),
            (IDS[2], 2, "overflow"),
        ]
        await conn.executemany(
            "INSERT INTO deliveries (channel, arxiv_id, digest, position, queries, why, state, created_at)"
            " VALUES (1, ?, 7, ?, '[\"q\"]', '[]', ?, ?)",
            [(a, position, state, NOW.isoformat()) for a, position, state in rows],
        )
        await conn.commit()
    async with await Store.open(path) as store:
        assert await store.db.schema_version() == LATEST_VERSION
        record = await store.deliveries.get(7)
        assert record is not None
        assert [(e.arxiv_id, e.state) for e in record.entries] == [(IDS[0], "posted")]
        assert record.overflow == (IDS[1], IDS[2], IDS[3])  # by position, as the digest ranked them
        assert await store.deliveries.delivered_ids(GENERAL) == set(IDS[:4])
        assert await store.deliveries.delivered_among(IDS, NOW - timedelta(hours=1)) == {
            GENERAL: set(IDS[:4])
        }
