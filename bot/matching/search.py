"""Searching the stored papers: the newest matches of a query, and how it did over the last days.

/papers and the /track preview ask here. The full-text index (`bot.matching.fulltext`, `storage.search`)
finds candidates newest first; the exact matcher (`bot.matching.query`) confirms each one, so the answers
are the matcher's, as a scan of every paper would give them, at the cost of the few shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time

from bot.matching.fulltext import to_fts
from bot.matching.paper import prepare
from bot.matching.query import Query
from bot.models import Paper
from storage import Store
from storage.papers import search_key_floor

# A query the index cannot decide alone (a multi-word author name) is verified in pages of this
# many candidates, newest first, and gives up after this many: a bound on the time it may take.
PAGE = 200
MAX_CANDIDATES = 5_000


def last_update(paper: Paper) -> datetime:
    """When the paper last appeared: its newest version, or its announcement if that came later."""
    known = [w if w.tzinfo else w.replace(tzinfo=UTC) for w in (paper.updated, paper.published) if w]
    if paper.announced is not None:
        known.append(datetime.combine(paper.announced, time(), UTC))
    return max(known, default=datetime.min.replace(tzinfo=UTC))


def _verified(query: Query, papers: Sequence[Paper]) -> list[Paper]:
    return [p for p in papers if query.matches(prepare(p))]


@dataclass(frozen=True, slots=True)
class Found:
    """Matches, newest first; `complete` unless the candidate bound stopped the search early."""

    papers: list[Paper]
    complete: bool = True


async def newest(store: Store, query: Query, n: int, *, since: datetime | None = None) -> Found:
    """The `n` newest stored papers (by last update, new versions included) that match `query`.

    The index finds candidates newest first and the exact matcher confirms each one, so the
    answer is the matcher's whatever the index holds (a query the index decides alone only
    costs the confirmation of what is shown).
    """
    fts = to_fts(query)
    floor = search_key_floor(since) if since is not None else None
    found: list[Paper] = []
    below: int | None = None
    seen = 0
    while len(found) < n:
        want = n - len(found) if fts.exact else PAGE
        keys = await store.search.newest(fts.expression, want, below=below, since=floor)
        if not keys:
            break
        papers = await store.papers.by_search_keys(keys)
        # Tokenising papers is CPU work: off the event loop.
        found += await asyncio.to_thread(_verified, query, papers)
        below, seen = keys[-1], seen + len(keys)
        if len(keys) < want:
            break
        if seen >= MAX_CANDIDATES:
            return Found(found[:n], complete=False)
    return Found(found[:n])


@dataclass(frozen=True, slots=True)
class Preview:
    """How a query did over a recent window: matches (newest first, a few), their number, the total."""

    shown: list[Paper]
    matched: int
    total: int
    complete: bool = True


async def preview(store: Store, query: Query, since: datetime, shown: int) -> Preview:
    """The papers last updated since `since` that match `query`: how many, and the newest `shown`."""
    floor = search_key_floor(since)
    total = await store.papers.count_since_key(floor)
    if not total:
        return Preview([], 0, 0)
    fts = to_fts(query)
    if fts.exact:
        matched = await store.search.count(fts.expression, since=floor)
        top = await newest(store, query, shown, since=since) if matched else Found([])
        return Preview(top.papers, matched, total)
    # The index gives a superset: count what the matcher confirms (bounded).
    every = await newest(store, query, MAX_CANDIDATES, since=since)
    return Preview(every.papers[:shown], len(every.papers), total, every.complete)
