"""Waiting for what the bot writes to its database in reaction to an event (there is no event to wait on)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Until `check()` holds, polled every 20 ms, `within` seconds at most."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - the database has no event to wait on
            await asyncio.sleep(0.02)
