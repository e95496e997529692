"""Looking papers up for people: an arXiv id, link or title to its abstract, from the store or the API.

DMs and /papers-style commands wait on these, so a lookup retries once, not with a harvest's patience;
what the API returns is stored, and enrichment fills in what the feeds leave out (comments, DOIs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.arxiv.client import ArxivClient
from bot.arxiv.ids import parse_arxiv_id
from bot.errors import UserError
from bot.matching.normalize import is_unspecific, words
from bot.models import Card, Paper, Reply
from storage.store import Store

log = logging.getLogger(__name__)

TITLE_MIN_WORDS = 3  # shorter text sent to the bot is a greeting, not a title

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
