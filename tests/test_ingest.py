"""Planning the harvest's requests, and lookups: real store, real libraries, the fake arXiv.

The harvest itself (days, catch-up, re-polls) is tested in test_harvest.py and test_catch_up.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from bot.arxiv_calendar import ARXIV_TZ
from bot.arxiv_categories import ALL_ARXIV_ARCHIVES, SUBJECTS, estimated_items
from bot.arxiv_client import ArxivClient
from bot.errors import UserError
from bot.ingest import (
    FEED_ITEM_BUDGET,
    ArxivService,
    abstract_reply,
    api_categories,
    needed_union,
    plan_feed_requests,
)
from storage import Store
from tests.fakes.arxiv_server import FakeArxiv, load_sample

PAPERS = load_sample()
WED = date(2025, 10, 15)
NOW = datetime.combine(WED, time(0, 30), ARXIV_TZ)  # the scheduled harvest time


# -- planning ------------------------------------------------------------------------------------


def test_union_dedupes_and_defaults() -> None:
    assert needed_union([frozenset({"cs.CV"}), frozenset({"cs", "math.GT"}), None], ("stat",)) == [
        "cs",
        "math.GT",
        "stat",
    ]
    assert needed_union([], ("cs", "math")) == ["cs", "math"]
    assert needed_union([frozenset(), frozenset({"cs.CV"})], ("cs",)) == ["cs"]
    assert needed_union([frozenset({"math-ph", "math.GT"})], ()) == ["math-ph", "math.GT"]  # not one archive


def test_plan_covers_everything_within_budget() -> None:
    plan = plan_feed_requests(ALL_ARXIV_ARCHIVES)
    assert plan == plan_feed_requests(reversed(ALL_ARXIV_ARCHIVES))  # deterministic
    flat = [c for group in plan for c in group]
    assert len(flat) == len(set(flat))
    assert "cs" not in flat and set(SUBJECTS["cs"]) <= set(flat)  # cs is too big for one request
    assert set(ALL_ARXIV_ARCHIVES) - {"cs"} <= set(flat)
    assert all(sum(estimated_items(c) for c in g) <= FEED_ITEM_BUDGET for g in plan)
    assert len(plan) <= 10
    assert plan_feed_requests(["cs.CV", "cs.IR"]) == [("cs.CV", "cs.IR")]
    assert plan_feed_requests(["math", "cs.CV"]) == [("math",), ("cs.CV",)]


def test_an_api_query_names_an_archive_once_not_all_its_subjects() -> None:
    units = [c for group in plan_feed_requests(ALL_ARXIV_ARCHIVES) for c in group]
    assert api_categories(units) == sorted(ALL_ARXIV_ARCHIVES)
    assert api_categories(["cs.CV", "cs.IR", "math"]) == ["cs.CV", "cs.IR", "math"]


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
