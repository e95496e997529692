"""The index's references: an index built from (key, query) pairs, and every query against every paper."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from bot.matching.index import MatchIndex
from bot.matching.paper import prepare
from bot.matching.query import Query
from bot.matching.reasons import Hit, Reasons, explain
from bot.models import Paper
from bot.runtime.memory import gc_paused

K = TypeVar("K")


def index_of(subscriptions: Iterable[tuple[K, Query]]) -> MatchIndex[K]:
    """An index of (key, query) pairs; a repeated key keeps its last query."""
    index: MatchIndex[K] = MatchIndex()
    with gc_paused():
        for key, query in subscriptions:
            index.add(key, query)
    return index


def naive_match(subscriptions: Iterable[tuple[K, Query]], papers: Sequence[Paper]) -> list[Hit[K]]:
    """Every query verified against every paper: the reference the index must agree with."""
    prepared = [prepare(p) for p in papers]
    subs = list(subscriptions)
    hits: list[Hit[K]] = []
    for paper in prepared:
        for key, query in subs:
            if query.matches(paper):
                hits.append(Hit(key, paper.arxiv_id, Reasons.known(explain(query, paper))))
    return hits
