"""Stores the benchmarks build once and keep between runs: in the temp dir, never in the repository."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from storage import Store


def _partial(path: Path) -> Path | None:
    """Where to build the store at `path` (None: it is built); a half-built one is started over."""
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    return partial


async def build_once(path: Path, fill: Callable[[Store], Awaitable[None]]) -> None:
    """Create the store at `path` with `fill`, unless it is there."""
    partial = _partial(path)
    if partial is None:
        return
    async with await Store.open(partial) as store:
        await fill(store)
    partial.rename(path)
