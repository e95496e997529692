"""Planning a harvest's feed requests: the categories the subscriptions need, grouped into few requests.

The daily cost is one feed request per *category group*, whatever the number of channels and
queries: every subscription only contributes the categories it needs, and matching is local.
The harvest itself (days, catch-up, re-polls) is bot.arxiv.harvest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.arxiv.categories import SUBJECTS, archive_of, estimated_items
from bot.matching.query import parse_stored
from bot.relevance.similar import is_like
from storage.store import Store

log = logging.getLogger(__name__)

# arXiv answers at most 2000 items per feed request; plan for 1500 so a busy Monday still fits.
FEED_ITEM_BUDGET = 1500


def needed_union(needed: Iterable[frozenset[str] | None], default: Sequence[str]) -> list[str]:
    """The categories a harvest must read: the union of what subscriptions need, archives absorbing
    their own categories (`cs` makes `cs.CV` redundant). None or an empty set means `default`."""
    wanted: set[str] = set()
    any_needed = False
    for cats in needed:
        any_needed = True
        wanted.update(cats if cats else default)
    if not any_needed:
        wanted.update(default)
    archives = {c for c in wanted if "." not in c}
    return sorted(c for c in wanted if "." not in c or archive_of(c) not in archives)


def plan_feed_requests(categories: Iterable[str], budget: int = FEED_ITEM_BUDGET) -> list[tuple[str, ...]]:
    """Group categories into feed requests of at most `budget` expected items each (first-fit decreasing).

    Pure and deterministic. An archive too big for one request is replaced by its subjects.
    """
    cats = needed_union([frozenset(categories)], ())
    expanded: list[str] = []
    for c in cats:
        if "." not in c and estimated_items(c) > budget and c in SUBJECTS:
            expanded.extend(s for s in SUBJECTS[c] if s not in expanded)
        elif c not in expanded:
            expanded.append(c)
    bins: list[tuple[int, list[str]]] = []
    for c in sorted(expanded, key=lambda c: (-estimated_items(c), c)):
        size = estimated_items(c)
        for i, (used, members) in enumerate(bins):
            if used + size <= budget:
                members.append(c)
                bins[i] = (used + size, members)
                break
        else:
            bins.append((size, [c]))
    return [tuple(sorted(members)) for _, members in bins]


def api_categories(categories: Iterable[str]) -> list[str]:
    """Categories for an API query by submission window: archives stay archives (`cat:cs.*`), and
    an archive's subjects, when all are there, become the archive again (one clause, not forty)."""
    wanted = set(categories)
    for archive, subjects in SUBJECTS.items():
        if set(subjects) <= wanted:
            wanted = (wanted - set(subjects)) | {archive}
    return needed_union([frozenset(wanted)], ())


def subscription_categories(query: str) -> frozenset[str] | None:
    """The categories a subscription's query needs; None when any category can match."""
    if is_like(query):  # papers like examples can come from any category, as a plain phrase can
        return None
    parsed = parse_stored(query)
    if parsed is None:  # it matches nothing: any feed will do
        return None
    cats = {c.removesuffix(".*") for c in parsed.categories() or ()}  # `cat:cs.*`: the feed of `cs`
    return frozenset(cats) if cats else None


@dataclass(frozen=True, slots=True)
class HarvestNeeds:
    """What the stored subscriptions ask of a harvest: their categories, and since when."""

    needed: list[frozenset[str] | None]
    since: datetime | None  # when the oldest subscription was made: no earlier day is owed


async def harvest_needs(store: Store) -> HarvestNeeds:
    """The categories each subscription needs and when the first was made (one read of them all)."""
    subs = await store.subscriptions.all()
    since = min((s.created_at for s in subs), default=None)
    queries = sorted({s.query for s in subs})  # many channels track the same query: each once
    # Parsing 70,000 queries takes seconds: in a worker thread, so commands are answered meanwhile.
    return HarvestNeeds(await asyncio.to_thread(lambda: [subscription_categories(q) for q in queries]), since)
