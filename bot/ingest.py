"""Ingesting arXiv: planning the harvest's requests, lookups, backfill and enrichment.

The daily cost is one feed request per *category group*, whatever the number of channels and
queries: every subscription only contributes the categories it needs, and matching is local.
The harvest itself (days, catch-up, re-polls) is bot.harvest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.arxiv_categories import SUBJECTS, archive_of, estimated_items
from bot.arxiv_client import ArxivClient
from bot.arxiv_ids import parse_arxiv_id
from bot.errors import UserError
from bot.models import Card, Paper, Reply
from bot.normalize import is_unspecific, words
from bot.query import parse_stored
from bot.similar import is_like
from storage.store import Store

log = logging.getLogger(__name__)

# arXiv answers at most 2000 items per feed request; plan for 1500 so a busy Monday still fits.
FEED_ITEM_BUDGET = 1500

TITLE_MIN_WORDS = 3  # shorter text sent to the bot is a greeting, not a title


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


# Someone is waiting for a lookup: one retry (a few seconds), then "arXiv is not answering",
# rather than the harvest's full backoff of half a minute.
INTERACTIVE_RETRIES = 1


class ArxivService:
    """Paper lookups for commands: the local store first, then the API (and what it fetched is kept)."""

    def __init__(
        self, client: ArxivClient, store: Store, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.client = client
        self.store = store
        self._now = clock or (lambda: datetime.now(UTC))

    async def lookup(self, arxiv_id: str) -> Paper | None:
        """The paper `arxiv_id` (no version), from the store or else arXiv; None if arXiv has none."""
        paper = await self.store.papers.get(arxiv_id)
        if paper is not None:
            return paper
        fetched = await self.client.fetch_by_ids([arxiv_id], retries=INTERACTIVE_RETRIES)
        if not fetched:
            return None
        await self.store.papers.upsert_many(fetched, self._now())
        return await self.store.papers.get(arxiv_id) or fetched[0]

    async def lookup_text(self, text: str) -> Paper:
        """The paper named by an id or URL in `text`; UserError when it is not an id or not on arXiv."""
        parsed = parse_arxiv_id(text)
        if parsed is None:
            raise UserError(
                f"{text.strip()[:80]!r} is not an arXiv id or link (try 2401.01234 or https://arxiv.org/abs/2401.01234)"
            )
        paper = await self.lookup(parsed[0])
        if paper is None:
            raise UserError(f"arXiv has no paper {parsed[0]}.")
        return paper

    async def lookup_title(self, title: str) -> Paper | None:
        """The paper with this title (case, accents and punctuation aside), asking arXiv by phrase."""
        wanted = words(title)
        if len(wanted) < TITLE_MIN_WORDS or is_unspecific(wanted):  # "what is this" is not a title
            return None
        # Only letters and digits reach arXiv's query syntax: a title cannot inject operators.
        found = await self.client.search(f'ti:"{" ".join(wanted)}"', 5, retries=INTERACTIVE_RETRIES)
        exact = [p for p in found if words(p.title) == wanted]
        return exact[0] if exact else (found[0] if len(found) == 1 else None)

    async def search(self, query: str, n: int, *, by_update: bool = False) -> list[Paper]:
        """The newest `n` papers for an API query (backfill); stored, but not as announcements."""
        found = await self.client.search(query, n, retries=INTERACTIVE_RETRIES, by_update=by_update)
        if found:
            await self.store.papers.upsert_many(found, self._now())
        return found

    async def enrich(self, ids: Sequence[str]) -> int:
        """Fill in comment, journal ref and DOI of stored papers from the API; returns papers fetched."""
        if not ids:
            return 0
        found = await self.client.fetch_by_ids(ids)
        # upsert keeps a stored paper's first announcement date and fills only missing fields.
        await self.store.papers.upsert_many(found, self._now())
        return len(found)


def abstract_reply(paper: Paper) -> Reply:
    """The answer to `/abstract <id>` or a DM'd id: title, authors, abstract and links."""
    authors = ", ".join(paper.authors[:10]) + (" et al." if len(paper.authors) > 10 else "")
    meta = tuple(
        x
        for x in (
            paper.primary_category,
            f"v{paper.version}",
            paper.published.date().isoformat() if paper.published else "",
            paper.journal_ref or "",
        )
        if x
    )
    card = Card(
        title=paper.title,
        url=paper.abs_url,
        authors=authors,
        meta=meta,
        body=paper.abstract,
        links=paper.links(),
        footer=paper.comment or "",
    )
    return Reply(text=f"{paper.title} ({paper.arxiv_id})", cards=(card,))


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
