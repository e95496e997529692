"""The SQLite store: migrations, pragmas, transactions, refusal of a newer schema."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.errors import StorageError
from bot.models import ChannelRef, ChannelSettings, DayState, Paper, Platform
from storage import Store
from storage import channels as channel_rows
from storage.migrations import LATEST_VERSION, MIGRATIONS
from tests.conftest import GENERAL, NOW


async def test_fresh_database_is_migrated_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "sub" / "bot.db") as store:
        assert await store.db.schema_version() == LATEST_VERSION
        async with store.db.conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"  # type: ignore[index]
        async with store.db.conn.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1  # type: ignore[index]
        async with store.db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
            tables = {r[0] for r in await cur.fetchall()}
        assert {
            "channels",
            "subscriptions",
            "papers",
            "deliveries",
            "digests",
            "harvest_runs",
            "announcement_days",
        } <= tables


async def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    async with await Store.open(path) as store:
        await store.subscriptions.add(GENERAL, "video retrieval", "video retrieval", "alice", NOW)
    async with await Store.open(path) as store:
        assert [s.query for s in await store.subscriptions.all()] == ["video retrieval"]


async def test_days_harvested_before_the_record_of_days_are_carried_over(tmp_path: Path) -> None:
    # A database as the paperbot before per-day records left it: two ok runs, one of them a fallback.
    mine = next(i for i, m in enumerate(MIGRATIONS) if any("announcement_days" in s for s in m))
    path = tmp_path / "bot.db"
    async with aiosqlite.connect(path) as conn:
        for migration in MIGRATIONS[:mine]:
            for statement in migration:
                await conn.execute(statement)
        await conn.execute(f"PRAGMA user_version = {mine}")
        runs = [
            ("2026-11-23", "ok", None),
            ("2026-11-24", "ok", "feed failed, used the API fallback for cs.CV: HTTP 503"),
            ("2026-11-25", "failed", "HTTP 503"),
        ]
        await conn.executemany(
            "INSERT INTO harvest_runs (started_at, finished_at, announced, status, requests, error)"
            " VALUES ('2026-11-25T05:30:00+00:00', '2026-11-25T05:31:00+00:00', ?, ?, 3, ?)",
            runs,
        )
        await conn.commit()
    async with await Store.open(path) as store:
        assert await store.db.schema_version() == LATEST_VERSION
        days = await store.days.get_many([date(2026, 11, d) for d in (23, 24, 25)])
    assert days[date(2026, 11, 23)].state is DayState.COMPLETE
    assert days[date(2026, 11, 24)].state is DayState.PARTIAL
    assert "API fallback" in (days[date(2026, 11, 24)].error or "")
    assert date(2026, 11, 25) not in days  # failed: missing, read again by the next harvest


async def test_database_from_a_newer_paperbot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    async with aiosqlite.connect(path) as conn:
        await conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
        await conn.commit()
    with pytest.raises(StorageError, match="newer than this paperbot understands"):
        await Store.open(path)


async def test_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.db.transaction():
            await store.subscriptions.add(GENERAL, "q", "q", "alice", NOW)
            raise RuntimeError("boom")
    assert await store.subscriptions.all() == []


async def test_deleting_a_channel_cascades_to_its_subscriptions(store: Store) -> None:
    await store.subscriptions.add(GENERAL, "q", "q", "alice", NOW)
    async with store.db.transaction() as conn:
        await conn.execute("DELETE FROM channels")
    assert await store.subscriptions.all() == []


async def test_channel_settings_round_trip_and_unreachable_marking(store: Store) -> None:
    changes = {"timezone": "Europe/Berlin", "post_time": "08:30", "max_papers": 10, "paused": True}
    saved = await store.channels.update_settings(GENERAL, changes, NOW)
    assert (
        saved == await store.channels.settings(GENERAL) == ChannelSettings("Europe/Berlin", "08:30", 10, True)
    )
    # Only what is named is written: the other settings stay as they are.
    assert await store.channels.update_settings(GENERAL, {"max_papers": 5}, NOW) == ChannelSettings(
        "Europe/Berlin", "08:30", 5, True
    )
    with pytest.raises(ValueError, match="not channel settings"):
        await store.channels.update_settings(GENERAL, {"name; DROP TABLE channels": 1}, NOW)
    await store.channels.mark_unreachable(GENERAL, "channel_not_found", NOW)
    assert await store.channels.unreachable(GENERAL) == (NOW, "channel_not_found")
    await store.channels.clear_unreachable(GENERAL)
    assert await store.channels.unreachable(GENERAL) is None


def paper(version: int, comment: str | None = None) -> Paper:
    return Paper(
        "2510.12283", version, f"Title v{version}", "Abstract.", ("A. One",), ("cs.CV", "cs.IR"),
        comment=comment, announced=date(2026, 11, 20),
    )  # fmt: skip


async def test_papers_upsert_is_idempotent_and_a_new_version_is_not_a_new_paper(store: Store) -> None:
    first = await store.papers.upsert_many([paper(1)], NOW)
    again = await store.papers.upsert_many([paper(1, comment="CVPR 2026")], NOW)
    newer = await store.papers.upsert_many([paper(2)], NOW)
    assert (first.new, again.unchanged, newer.replaced, newer.new) == (1, 1, 1, 0)
    stored = await store.papers.get("2510.12283")
    assert stored is not None
    assert (stored.version, stored.title, stored.comment) == (2, "Title v2", "CVPR 2026")
    assert stored.announced == date(2026, 11, 20)
    assert await store.papers.count() == 1


async def test_all_subscriptions_are_kept_until_one_is_added_or_removed(store: Store) -> None:
    channel = ChannelRef(Platform.SLACK, "T1", "C1", "papers")
    await store.subscriptions.add(channel, "video retrieval", "video retrieval", "U1", NOW)
    first = await store.subscriptions.all()
    assert [s.query for s in first] == ["video retrieval"]
    first.clear()  # a caller's copy: the kept list is not theirs to change
    assert [s.query for s in await store.subscriptions.all()] == ["video retrieval"]
    await store.subscriptions.add(channel, "sparse codes", "sparse codes", "U1", NOW)
    assert [s.query for s in await store.subscriptions.all()] == ["video retrieval", "sparse codes"]
    await store.subscriptions.remove(channel, "video retrieval")
    assert [s.query for s in await store.subscriptions.all()] == ["sparse codes"]


async def test_a_paper_looked_up_before_a_feed_lists_it_takes_the_harvest_time(store: Store) -> None:
    # Someone asked for it (the API: no announcement), then a feed cross-lists it days later.
    looked_up = Paper("2401.01234", 1, "Video Retrieval", "Abstract.", ("A. B.",), ("cs.IR",))
    await store.papers.upsert_many([looked_up], NOW)
    later = NOW + timedelta(days=3)
    listed = replace(looked_up, categories=("cs.IR", "cs.CV"), announced=later.date(), announce_type="cross")
    await store.papers.upsert_many([listed], later)
    assert [(p.arxiv_id, at) for p, at in await store.papers.harvested_since(later)] == [
        (listed.arxiv_id, later)
    ]
    await store.papers.upsert_many([listed], later + timedelta(hours=1))  # listed again: it keeps its time
    assert [at for _, at in await store.papers.harvested_since(later)] == [later]


async def test_many_channels_read_off_the_event_loop_are_the_same_channels(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From MANY_ROWS rows on, channel rows become objects in a worker thread: the same answers.
    refs = [ChannelRef(Platform.SLACK, "T1", f"C{i}", f"papers-{i}") for i in range(5)]
    for i, ref in enumerate(refs):
        await store.subscriptions.add(ref, "video retrieval", "video retrieval", "alice", NOW)
        await store.channels.update_settings(ref, {"paused": i == 2}, NOW)

    async def read() -> tuple[list[ChannelRef], list[ChannelRef], dict[ChannelRef, bool]]:
        return (
            await store.channels.at_slot("09:00", None, "09:00", "UTC"),
            [c for c, _ in await store.channels.with_subscriptions()],
            {c: s.paused for c, (s, _) in (await store.channels.run_states()).items()},
        )

    few = await read()
    monkeypatch.setattr(channel_rows, "MANY_ROWS", 1)
    many = await read()
    assert many == few
    slot, listed, paused = many
    assert slot == refs and listed == refs
    assert list(paused.items()) == [(r, i == 2) for i, r in enumerate(refs)]
