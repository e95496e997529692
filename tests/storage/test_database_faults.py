"""The database under faults: another program holding the write lock, a file paperbot cannot use.

A lock held past SQLite's busy timeout is waited out with backoff (the digest still goes out);
a database that cannot be used at start is one clear line and exit code 2, never a traceback.
Files are created readable by their owner only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Config
from bot.errors import StorageError
from bot.models import ChannelRef
from storage import Store, database
from storage.process_lock import lock_path
from tests.conftest import GENERAL
from tests.fakes.recording import RecordingAdapter
from tests.fakes.stories import HARVESTED_AT, TRACKED_AT, Clock, console, harvest, paper, parents, track


@contextmanager
def write_lock_held(path: Path, seconds: float) -> Iterator[threading.Event]:
    """Another program (a sqlite3 shell, a backup) holds the write lock for `seconds`."""
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            conn.execute("COMMIT")
        finally:
            conn.close()
            done.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    taken.wait(10)
    try:
        yield done
    finally:
        thread.join(30)


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite gives up on a lock after 0.1 s, so paperbot's own backoff is what the tests see."""
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.1)


async def test_a_write_lock_held_past_the_busy_timeout_is_waited_out_not_a_lost_digest(
    config: Config, short_busy_timeout: None, caplog: pytest.LogCaptureFixture
) -> None:
    clock, adapter = Clock(TRACKED_AT), console()
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await harvest(app, clock, [paper(i, f"Video Retrieval Part {i}") for i in range(1, 4)])
        with write_lock_held(config.database_path, 1.5) as released:
            [outcome] = await app.jobs.deliver_channels([GENERAL])
            assert released.is_set()  # the digest could only finish once the lock was gone
        assert outcome.status == "posted" and outcome.posted == 3
        assert app.reporter.count == 0
    assert len(parents(adapter)) == 1
    assert any("locked by another program; waiting" in r.getMessage() for r in caplog.records)


class LocksTheDatabaseMidDigest(RecordingAdapter):
    """After its second message lands, another program takes the database's write lock for a while."""

    def __init__(self, path: Path, seconds: float) -> None:
        super().__init__(name="console")
        self.path, self.seconds = path, seconds
        self.holder: contextlib.ExitStack = contextlib.ExitStack()

    def _message(self, channel: ChannelRef, parent: str | None, text: str, key: str) -> str:
        message_id = super()._message(channel, parent, text, key)
        if len(self.messages) == 2:
            self.holder.enter_context(write_lock_held(self.path, self.seconds))
        return message_id


async def test_a_lock_that_outlasts_the_retries_fails_the_digest_and_the_resume_job_finishes_it(
    config: Config, short_busy_timeout: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "RETRY_FOR_S", 0.3)
    clock = Clock(TRACKED_AT)
    adapter = LocksTheDatabaseMidDigest(config.database_path, 1.0)
    async with App(config, [adapter], clock=clock) as app:
        await track(app, "video retrieval")
        await harvest(app, clock, [paper(i, f"Video Retrieval Part {i}") for i in range(1, 4)])
        [outcome] = await app.jobs.deliver_channels([GENERAL])
        # The first card landed, but its id could not be written: the digest stays open.
        assert outcome.status == "failed" and "stayed locked" in outcome.detail
        adapter.holder.close()  # the other program lets go
        [resumed] = await app.jobs.resume_open_digests()
        assert resumed.status == "posted"
        assert await app.jobs.resume_open_digests() == []
    [parent] = parents(adapter)
    # The card whose id was lost was looked up, not posted twice.
    assert sorted(adapter.thread(parent)) == [f"Video Retrieval Part {i}" for i in range(1, 4)]


async def test_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "paperbot.db"
    async with await Store.open(path) as store:
        await store.subscriptions.add(GENERAL, "q", "q", "alice", HARVESTED_AT)
        for file in (path, path.with_name("paperbot.db-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


async def test_a_database_locked_at_start_is_one_clear_error(
    tmp_path: Path, short_busy_timeout: None
) -> None:
    path = tmp_path / "paperbot.db"
    async with await Store.open(path):
        pass
    with write_lock_held(path, 2.0), pytest.raises(StorageError, match="is locked by another program"):
        await Store.open(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
async def test_a_read_only_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "paperbot.db"
    async with await Store.open(path):
        pass
    path.chmod(0o400)
    with pytest.raises(StorageError, match="read-only"):
        await Store.open(path)


@pytest.mark.parametrize(
    ("sqlite_says", "we_say"),
    [
        ("attempt to write a readonly database", "is read-only for this user"),
        ("unable to open database file", "cannot be opened or created"),
        ("database disk image is malformed", "is damaged"),
        ("database is locked", "is locked by another program"),
    ],
)
def test_each_way_a_database_cannot_be_used_has_its_own_line(sqlite_says: str, we_say: str) -> None:
    # (The read-only case for real needs a user without root's rights: see the test above.)
    error = database.explain("/srv/paperbot.db", sqlite3.OperationalError(sqlite_says))
    assert str(error).startswith("/srv/paperbot.db: the database ") and we_say in str(error)
    assert "\n" not in str(error)


async def test_a_damaged_database_is_one_clear_line_and_exit_2(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "damaged.db"
    path.write_bytes(b"this is not SQLite, it is a shopping list\n" * 200)
    with pytest.raises(StorageError, match="is not a paperbot database or is damaged"):
        await Store.open(path)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "SLACK_", "DISCORD_"))}
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env={**env, "PAPERBOT_DATABASE": str(path)},
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(bot.communicate(), 60)
    log = stderr.decode()
    assert bot.returncode == 2, log
    assert "Traceback" not in log
    [line] = [x for x in log.splitlines() if x.startswith("paperbot:")]
    assert str(path) in line and "damaged" in line


async def test_the_lock_file_sits_beside_the_database_readable_by_its_owner_only(config: Config) -> None:
    async with App(replace(config), [console()]):
        lock = lock_path(config.database_path)
        assert lock.parent == config.database_path.parent
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert f"pid {os.getpid()}" in lock.read_text()
