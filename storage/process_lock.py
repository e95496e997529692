"""One paperbot process per database: an OS lock on a file beside it.

Two `paperbot run` on one database would each deliver the same digests. The lock is the
operating system's (flock on POSIX), so the kernel releases it the moment its holder exits,
kill -9 included: a restart never waits for a stale lease to expire. The file holds who has
it (pid, host, since) for the message the next process prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import StorageError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class DatabaseInUse(StorageError):
    """Another paperbot process holds the database."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class ProcessLock:
    """The exclusive right of this process to write `database`; release() or exit gives it up."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    async def acquire(cls, database: Path, *, wait: float = 0.0, poll: float = 0.1) -> ProcessLock:
        """Take the lock, waiting up to `wait` seconds; DatabaseInUse names the holder if it cannot."""
        path = lock_path(database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(
                f"{path}: cannot create the lock file beside the database: {exc.strerror}"
            ) from None
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                holder = _read(fd)
                os.close(fd)
                waited = f" after waiting {wait:g} s" if wait else ""
                raise DatabaseInUse(
                    f"{database} is in use by another paperbot ({holder or 'holder unknown'}){waited}; "
                    "stop it first, or point this one at another database (bot.database)"
                )
            await asyncio.sleep(poll)
        since = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {since}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            _unlock(fd)
        os.close(fd)


def _read(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 500).decode("utf-8", "replace").strip()
    except OSError:
        return ""
