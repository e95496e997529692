"""Lookups for people (bot.arxiv.lookups): the store first, then the API; bad ids; the abstract reply."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.client import ArxivClient
from bot.arxiv.lookups import ArxivService, abstract_reply
from bot.errors import UserError
from storage import Store
from tests.fakes.arxiv_server import FakeArxiv, load_sample

PAPERS = load_sample()
WED = date(2025, 10, 15)
NOW = datetime.combine(WED, time(0, 30), ARXIV_TZ)  # the scheduled harvest time


# -- lookups -------------------------------------------------------------------------------------


async def test_lookup_reads_the_store_first(
    arxiv_client: ArxivClient, store: Store, arxiv_server: FakeArxiv
) -> None:
    service = ArxivService(arxiv_client, store, clock=lambda: NOW)
    paper = await service.lookup(PAPERS[3].arxiv_id)
    assert paper is not None and paper.title == PAPERS[3].title and paper.doi == PAPERS[3].doi
    assert len(arxiv_server.requests) == 1
    again = await service.lookup_text(f"https://arxiv.org/abs/{PAPERS[3].arxiv_id}v1")
    assert again.arxiv_id == PAPERS[3].arxiv_id and len(arxiv_server.requests) == 1  # from the store


async def test_lookup_of_unknown_and_malformed_ids(
    arxiv_client: ArxivClient, store: Store, arxiv_server: FakeArxiv
) -> None:
    service = ArxivService(arxiv_client, store)
    assert await service.lookup("2401.99999") is None
    with pytest.raises(UserError, match=r"no paper 2401\.99999"):
        await service.lookup_text("2401.99999")
    with pytest.raises(UserError, match="not an arXiv id"):
        await service.lookup_text("2401.999")
    assert len(arxiv_server.requests) == 2  # the malformed id never reached arXiv


async def test_search_and_enrich(arxiv_client: ArxivClient, store: Store, arxiv_server: FakeArxiv) -> None:
    service = ArxivService(arxiv_client, store, clock=lambda: NOW)
    found = await service.search('abs:"video retrieval"', 5)
    assert len(found) == 5 and await store.papers.count() == 5
    bare = replace(PAPERS[10], comment=None, journal_ref=None, doi=None, announced=WED, announce_type="new")
    arxiv_server.add_papers([replace(PAPERS[10], comment="CVPR 2026", doi="10.1/x")])
    await store.papers.upsert_many([bare], NOW)
    assert await service.enrich([bare.arxiv_id]) == 1
    stored = await store.papers.get(bare.arxiv_id)
    assert stored is not None and stored.comment == "CVPR 2026" and stored.doi == "10.1/x"
    assert stored.announced == WED


def test_abstract_reply() -> None:
    reply = abstract_reply(replace(PAPERS[3], published=datetime(2025, 2, 1, tzinfo=UTC)))
    (card,) = reply.cards
    assert card.title == PAPERS[3].title and card.body == PAPERS[3].abstract
    assert [link.label for link in card.links] == ["abs", "pdf", "doi"]
    assert card.url == f"https://arxiv.org/abs/{PAPERS[3].arxiv_id}"
