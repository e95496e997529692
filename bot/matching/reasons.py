"""Why a paper matched: the fields and the words as the paper writes them, worked out on demand.

A digest shows a dozen papers per channel out of the hundreds matched: the words are found only
for the hits whose cards are made, and shared by hits of the same paper that credit the same leaves.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from bot.matching.paper import PreparedPaper
from bot.matching.query import Author, Leaf, Phrase, Query

if TYPE_CHECKING:  # the index makes the reasons and works them out for them
    from bot.matching.index import MatchIndex


K = TypeVar("K", bound=Hashable)

FIELD_ORDER = ("title", "abstract", "author", "category")


@dataclass(frozen=True, slots=True)
class MatchReason:
    """Why a paper matched: the field, and the words as the paper (or query) writes them."""

    field: str  # title | abstract | author | category
    terms: tuple[str, ...]


class Reasons:
    """Why a paper matched one or more queries, worked out on first use and shared by their hits.

    Finding the words as the paper writes them ('Video Retrieval') was half of a day's match at
    100,000 subscriptions, yet a digest shows a dozen papers per channel: only the cards shown
    need the words. Ranking needs only `in_title`, which is one token scan. Hits of the same paper
    whose queries credit the same leaves share one instance.
    """

    __slots__ = ("_explained", "_ids", "_in_title", "_index", "_paper", "_why")

    def __init__(
        self,
        index: MatchIndex[Any] | None,
        paper: PreparedPaper | None,
        ids: tuple[int, ...],
        explained: dict[int, list[tuple[str, list[str]]]],
    ) -> None:
        self._index = index
        self._paper = paper
        self._ids = ids
        self._explained = explained  # per paper: leaf id -> its reasons, shared by its Reasons
        self._why: tuple[MatchReason, ...] | None = None
        self._in_title: bool | None = None

    @classmethod
    def known(cls, why: tuple[MatchReason, ...]) -> Reasons:
        """Reasons already worked out (the naive scan, tests)."""
        reasons = cls(None, None, (), {})
        reasons._why = why
        return reasons

    @property
    def why(self) -> tuple[MatchReason, ...]:
        if self._why is None:
            assert self._index is not None and self._paper is not None
            self._why = self._index._why(self._ids, self._paper, self._explained)
        return self._why

    def explain(self) -> tuple[MatchReason, ...]:
        """`why`, worked out without being kept: for a caller that keeps what it needs of it."""
        if self._why is not None:
            return self._why
        assert self._index is not None and self._paper is not None
        return self._index._why(self._ids, self._paper, self._explained)

    def forget_words(self) -> None:
        """Drop the words worked out (a run keeps them in its records); worked out again if asked."""
        if self._index is None:  # known reasons (the naive scan): nothing to work them out from
            return
        self._why = None
        self._explained.clear()
        if self._paper is not None:
            self._paper.forget_words()

    @property
    def in_title(self) -> bool:
        if self._in_title is None:
            if self._why is not None or self._index is None or self._paper is None:
                self._in_title = any(r.field == "title" for r in self.why)
            else:
                self._in_title = self._index._in_title(self._ids, self._paper)
        return self._in_title

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reasons) and self.why == other.why

    def __hash__(self) -> int:
        return hash(self.why)

    def __repr__(self) -> str:
        return f"Reasons({self.why!r})"


class Hit(NamedTuple, Generic[K]):
    """A paper that matched the query tracked under `key`, and (on demand) why.

    A named tuple rather than a dataclass: a day at 100,000 subscriptions makes about a million
    hits, and a tuple is built in C (a frozen dataclass's __init__ took a fifth of the match).
    """

    key: K
    arxiv_id: str
    reasons: Reasons

    @property
    def why(self) -> tuple[MatchReason, ...]:
        """The fields and words of the paper that the query's positive terms found."""
        return self.reasons.why

    @property
    def in_title(self) -> bool:
        """True when the title itself matched (such hits rank before abstract-only ones)."""
        return self.reasons.in_title

    @property
    def highlights(self) -> tuple[str, ...]:
        """The matched words from title and abstract, for renderers to mark."""
        return tuple(t for r in self.why if r.field in ("title", "abstract") for t in r.terms)


def explain(query: Query, paper: PreparedPaper) -> tuple[MatchReason, ...]:
    """The fields and words of `paper` that the positive terms of `query` found."""
    return merge_reasons(leaf_reasons(leaf, paper) for leaf in query.positive_leaves())


def leaf_true(leaf: Leaf, paper: PreparedPaper) -> bool:
    if isinstance(leaf, Phrase):
        return paper.has_phrase(leaf.field, leaf.toks)
    if isinstance(leaf, Author):
        return paper.has_author(leaf.words)
    return paper.has_category(leaf.value, leaf.prefix)


def leaf_reasons(leaf: Leaf, paper: PreparedPaper) -> list[tuple[str, list[str]]]:
    if isinstance(leaf, Phrase):
        return [
            (fld, found)
            for fld, wanted in (("title", leaf.field != "abs"), ("abstract", leaf.field != "ti"))
            if wanted and (found := paper.surfaces(fld, leaf.toks))
        ]
    if isinstance(leaf, Author):
        return [("author", paper.author_names(leaf.words))]
    return [("category", paper.category_names(leaf.value, leaf.prefix))]


def merge_reasons(parts: Iterable[list[tuple[str, list[str]]]]) -> tuple[MatchReason, ...]:
    found: dict[str, list[str]] = {}
    for part in parts:
        for fld, terms in part:
            bucket = found.setdefault(fld, [])
            bucket.extend(t for t in terms if t not in bucket)
    return tuple(MatchReason(f, tuple(found[f])) for f in FIELD_ORDER if found.get(f))
