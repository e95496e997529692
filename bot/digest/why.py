"""Why a paper is in a digest, as the ledger records it: per query, the fields and the words that matched.

The record crosses modules: the matcher's reasons become it (`bot.digest.compose.Entry.why`), the ledger keeps
it as JSON (`storage.deliveries`; `bot.digest.planning` writes the same JSON by hand, faster, and a test holds
the two equal), and cards are drawn from it (`bot.digest.compose.with_why`), also after a restart. Its shape
is typed here, and encoded and decoded here, so that every side reads the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import TypedDict, cast

# Fields beside the matcher's (title, abstract, author, category): a `like:` topic's example the
# paper reads like, a paper the channel's learned taste picked, a paper on Hugging Face's daily list.
SIMILAR, LEARNED, TRENDING = "similar", "learned", "trending"


class FieldWhy(TypedDict):
    """One field a query matched in, and the words it matched there (none for an overflow entry)."""

    field: str
    terms: list[str]


class QueryWhy(TypedDict):
    """One query that matched a paper ("" when none did: learned, trending), and where."""

    query: str
    why: list[FieldWhy]


Why = list[QueryWhy]


def dumps(why: Sequence[QueryWhy], *, ascii_only: bool = False) -> str:
    """The ledger's JSON of a record."""
    return json.dumps(list(why), ensure_ascii=ascii_only)


def loads(text: str) -> Why:
    """A record from the ledger's JSON (written by `dumps` or by `bot.digest.planning`)."""
    return cast(Why, json.loads(text))


def learned() -> Why:
    """No query matched: the channel's learned taste picked the paper ("you may also like")."""
    return [{"query": "", "why": [{"field": LEARNED, "terms": []}]}]


def trending(upvotes: int, day: date) -> Why:
    """No query matched: Hugging Face's list of `day` did, with `upvotes`."""
    return [{"query": "", "why": [{"field": TRENDING, "terms": [str(upvotes), day.isoformat()]}]}]


def similar(query: str, example_title: str) -> Why:
    """A `like:` topic found the paper: it reads like the example titled `example_title`."""
    return [{"query": query, "why": [{"field": SIMILAR, "terms": [example_title]}]}]
