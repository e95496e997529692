"""One paperbot process per database: a second one is told who holds it, a dead one holds nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from storage.process_lock import DatabaseInUse, ProcessLock, lock_path

HOLD = """
import asyncio, sys, time
from pathlib import Path
from storage.process_lock import ProcessLock
lock = asyncio.run(ProcessLock.acquire(Path(sys.argv[1])))
print("locked", flush=True)
time.sleep(600)
"""


async def test_a_second_holder_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    db = tmp_path / "paperbot.db"
    first = await ProcessLock.acquire(db)
    try:
        with pytest.raises(DatabaseInUse) as refused:
            await ProcessLock.acquire(db)
        message = str(refused.value)
        assert f"pid {os.getpid()} on {socket.gethostname()}, since " in message
        assert str(db) in message and "\n" not in message
        # Waiting briefly (a one-shot command) still ends in the same clear refusal.
        started = time.monotonic()
        with pytest.raises(DatabaseInUse, match=r"after waiting 0\.3 s"):
            await ProcessLock.acquire(db, wait=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        first.release()
    (await ProcessLock.acquire(db)).release()  # released: free again


async def test_a_waiter_gets_the_lock_as_soon_as_the_holder_lets_go(tmp_path: Path) -> None:
    db = tmp_path / "paperbot.db"
    first = await ProcessLock.acquire(db)
    asyncio.get_running_loop().call_later(0.2, first.release)
    second = await ProcessLock.acquire(db, wait=5)
    second.release()


async def test_a_holder_killed_with_sigkill_frees_the_database_at_once(tmp_path: Path) -> None:
    db = tmp_path / "paperbot.db"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD, str(db), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
        with pytest.raises(DatabaseInUse, match=f"pid {holder.pid} "):
            await ProcessLock.acquire(db)
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    # No lease to expire: the kernel dropped the lock with the process.
    (await ProcessLock.acquire(db)).release()
    assert lock_path(db).exists()


async def test_a_second_paperbot_run_on_one_database_exits_2_naming_the_first(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "SLACK_", "DISCORD_"))}
    env["PAPERBOT_DATABASE"] = str(tmp_path / "paperbot.db")

    async def run() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            stdin=asyncio.subprocess.PIPE,  # kept open: the console waits for input
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    first = await run()
    try:
        assert first.stderr is not None
        while b"running with console" not in await asyncio.wait_for(first.stderr.readline(), 60):
            pass
        second = await run()
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2
        [line] = err.decode().strip().splitlines()
        assert line.startswith("paperbot: ") and f"in use by another paperbot (pid {first.pid} on " in line
        assert "since" in line
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.communicate(b""), 60)
    assert first.returncode == 0
