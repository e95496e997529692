"""Match a day's papers against every subscription through an anchor index.

Each distinct query is indexed under one or a few "anchors": keys a paper must
carry for the query to possibly match (the rarest bigram of a phrase, an
author's surname, a category; every branch of an OR contributes its own). A
paper's keys (its tokens, adjacent token pairs, author words, categories) are
intersected with the anchor index to find candidate queries, and only those
are verified. Queries whose anchor decides the match on its own (a one- or
two-word phrase, a single category, an OR of such) skip verification.

Identical queries from many channels share one entry: each distinct query is
verified once per paper and its hit is fanned out to every key that tracks it.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bot.models import Paper
from bot.query import And, Author, Category, Leaf, Node, Not, Or, Phrase, Query, TextField
from bot.text import STOP_WORDS, WordSpans, name_matches, name_variants, stem, to_plain, tokens

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

FIELD_ORDER = ("title", "abstract", "author", "category")
_MAX_SURFACES = 3

# Anchor domains: where a paper key comes from.
_W1, _W2, _T1, _T2, _AU, _CAT, _ARCH = range(7)
_DOMAINS = 7

# Stems so frequent in arXiv abstracts that they make poor anchors.
_COMMON = frozenset(
    stem(
        [
            "model",
            "models",
            "learning",
            "learn",
            "method",
            "methods",
            "propose",
            "proposed",
            "approach",
            "results",
            "show",
            "data",
            "network",
            "networks",
            "based",
            "using",
            "use",
            "task",
            "tasks",
            "performance",
            "training",
            "train",
            "framework",
            "new",
            "novel",
            "paper",
            "work",
            "state",
            "art",
            "large",
            "deep",
            "neural",
            "language",
            "image",
            "images",
            "video",
            "text",
            "multimodal",
            "vision",
            "system",
            "systems",
            "problem",
            "information",
            "different",
            "existing",
            "two",
            "one",
            "also",
            "however",
            "can",
            "via",
            "well",
            "high",
            "low",
            "time",
        ]
    )
) | frozenset(stem(STOP_WORDS))


@dataclass(frozen=True, slots=True)
class MatchReason:
    """Why a paper matched: the field, and the words as the paper (or query) writes them."""

    field: str  # title | abstract | author | category
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hit(Generic[K]):
    """A paper that matched the query tracked under `key`."""

    key: K
    arxiv_id: str
    why: tuple[MatchReason, ...]

    @property
    def in_title(self) -> bool:
        """True when the title itself matched (such hits rank before abstract-only ones)."""
        return any(r.field == "title" for r in self.why)

    @property
    def highlights(self) -> tuple[str, ...]:
        """The matched words from title and abstract, for renderers to mark."""
        return tuple(t for r in self.why if r.field in ("title", "abstract") for t in r.terms)


class PreparedPaper:
    """A paper tokenised once for matching: token positions per field, folded authors, categories."""

    __slots__ = (
        "_spans",
        "abstract",
        "abstract_plain",
        "abstract_words",
        "archives",
        "author_words",
        "authors",
        "categories",
        "paper",
        "title",
        "title_plain",
        "title_words",
    )

    def __init__(self, paper: Paper) -> None:
        self.paper = paper
        self.title_plain = to_plain(paper.title)
        self.abstract_plain = to_plain(paper.abstract)
        self.title = tuple(tokens(self.title_plain))
        self.abstract = tuple(tokens(self.abstract_plain))
        self.title_words = frozenset(self.title)
        self.abstract_words = frozenset(self.abstract)
        self.authors = tuple((name, name_variants(name)) for name in paper.authors)
        self.author_words = frozenset(w for _, variants in self.authors for v in variants for w in v)
        self.categories = frozenset(c.lower() for c in paper.categories)
        self.archives = frozenset(c.split(".", 1)[0] for c in self.categories)
        self._spans: dict[str, WordSpans] = {}

    @property
    def arxiv_id(self) -> str:
        return self.paper.arxiv_id

    def has_phrase(self, field: TextField, toks: tuple[str, ...]) -> bool:
        """Whether the tokens occur consecutively in the title and/or abstract, as `field` says."""
        if field != "abs" and toks[0] in self.title_words and _find(self.title, toks):
            return True
        return field != "ti" and toks[0] in self.abstract_words and _find(self.abstract, toks)

    def has_author(self, words: tuple[str, ...]) -> bool:
        """Whether one author's name matches the folded name words."""
        return any(name_matches(words, v) for _, variants in self.authors for v in variants)

    def has_category(self, value: str, prefix: bool) -> bool:
        """Whether the paper is listed in the category (or, with prefix, anywhere in the archive)."""
        return value.lower() in (self.archives if prefix else self.categories)

    def surfaces(self, field: str, toks: tuple[str, ...]) -> list[str]:
        """The phrase as written in the title or abstract ('Video Retrieval'), up to three forms."""
        seq, plain = (
            (self.title, self.title_plain) if field == "title" else (self.abstract, self.abstract_plain)
        )
        out: list[str] = []
        at = _occurrences(seq, toks)
        if not at:
            return out
        spans = self._spans.get(field)
        if spans is None:
            spans = self._spans[field] = WordSpans(plain)
        if len(spans) != len(seq):  # cannot happen (both come from the same words); never misreport
            return out
        n = len(toks)
        for p in at:
            surface = plain[spans.span(p)[0] : spans.span(p + n - 1)[1]]
            if all(surface.casefold() != s.casefold() for s in out):
                out.append(surface)
                if len(out) == _MAX_SURFACES:
                    break
        return out

    def author_names(self, words: tuple[str, ...]) -> list[str]:
        """The authors (as the paper writes them) whose names match."""
        return [name for name, variants in self.authors if any(name_matches(words, v) for v in variants)]

    def category_names(self, value: str, prefix: bool) -> list[str]:
        """The paper's categories (arXiv case) that the category or archive covers."""
        v = value.lower()
        return [
            c for c in self.paper.categories if (c.lower().split(".", 1)[0] if prefix else c.lower()) == v
        ]


def prepare(paper: Paper) -> PreparedPaper:
    """Tokenise a paper once so many queries can be checked against it."""
    return PreparedPaper(paper)


# Positions are found with tuple.index, a C scan, instead of a token -> positions dict per
# paper: building those dicts for every paper cost more than all the lookups the index leaves.


def _find(seq: tuple[str, ...], toks: tuple[str, ...]) -> bool:
    """Whether `toks` occurs as consecutive whole tokens in `seq`."""
    first, n = toks[0], len(toks)
    i = -1
    try:
        while True:
            i = seq.index(first, i + 1)
            if n == 1 or seq[i : i + n] == toks:
                return True
    except ValueError:
        return False


def _occurrences(seq: tuple[str, ...], toks: tuple[str, ...]) -> list[int]:
    """Start positions of every occurrence of `toks` in `seq`."""
    first, n = toks[0], len(toks)
    out: list[int] = []
    i = -1
    try:
        while True:
            i = seq.index(first, i + 1)
            if n == 1 or seq[i : i + n] == toks:
                out.append(i)
    except ValueError:
        return out


def explain(query: Query, paper: PreparedPaper) -> tuple[MatchReason, ...]:
    """The fields and words of `paper` that the positive terms of `query` found."""
    return _merge_reasons(_leaf_reasons(leaf, paper) for leaf in query.positive_leaves())


# --- anchors -------------------------------------------------------------------

_Anchor = tuple[int, str]


def _token_score(tok: str) -> float:
    if tok in _COMMON:
        return 0.2
    return 1.0 + min(len(tok), 12) / 12


def _anchors(node: Node) -> tuple[float, list[_Anchor]] | None:
    """The keys one of which a matching paper must carry, and how selective they are (higher is rarer)."""
    if isinstance(node, Phrase):
        uni, bi = (_T1, _T2) if node.field == "ti" else (_W1, _W2)
        toks = node.toks
        if len(toks) == 1:
            return _token_score(toks[0]), [(uni, toks[0])]
        score, i = max(
            (_token_score(a) + _token_score(b), i) for i, (a, b) in enumerate(itertools.pairwise(toks))
        )
        return 2.0 + score, [(bi, f"{toks[i]} {toks[i + 1]}")]
    if isinstance(node, Author):
        return 3.0, [(_AU, node.words[-1])]
    if isinstance(node, Category):
        return (0.05, [(_ARCH, node.value.lower())]) if node.prefix else (0.1, [(_CAT, node.value.lower())])
    if isinstance(node, Not):
        return None
    if isinstance(node, And):
        options = [a for c in node.children if (a := _anchors(c)) is not None]
        return max(options, key=lambda a: a[0]) if options else None
    parts = [_anchors(c) for c in node.children]
    if any(p is None for p in parts):
        return None  # the parser refuses such queries; without an anchor we cannot index one
    found = [p for p in parts if p is not None]
    return min(p[0] for p in found), [a for p in found for a in p[1]]


def _anchor_decides(node: Node) -> bool:
    """Whether carrying the anchor key is the same as matching (no verification needed)."""
    if isinstance(node, Phrase):
        return node.field != "abs" and len(node.toks) <= 2
    if isinstance(node, Author):
        return len(node.words) == 1
    if isinstance(node, Category):
        return True
    if isinstance(node, Or):
        return all(_anchor_decides(c) for c in node.children)
    return False


# --- the index -----------------------------------------------------------------


@dataclass(slots=True)
class _Entry(Generic[K]):
    query: Query
    anchors: list[_Anchor]
    exact: bool
    evaluate: _Eval
    positives: tuple[int, ...]  # ids of the leaves not under a NOT, in query order
    keys: dict[K, None] = field(default_factory=dict)  # insertion-ordered set


# A compiled query: given "is leaf i true of this paper" (memoised per paper), is the query?
_Eval = Callable[[Callable[[int], bool]], bool]


def _compile(node: Node, leaf_id: Callable[[Leaf], int]) -> _Eval:
    if isinstance(node, Phrase | Author | Category):
        i = leaf_id(node)
        return lambda truth: truth(i)
    if isinstance(node, Not):
        inner = _compile(node.child, leaf_id)
        return lambda truth: not inner(truth)
    parts = tuple(_compile(c, leaf_id) for c in node.children)
    if isinstance(node, And):
        if len(parts) == 2:
            a, b = parts
            return lambda truth: a(truth) and b(truth)
        return lambda truth: all(p(truth) for p in parts)
    if len(parts) == 2:
        a, b = parts
        return lambda truth: a(truth) or b(truth)
    return lambda truth: any(p(truth) for p in parts)


def _leaf_true(leaf: Leaf, paper: PreparedPaper) -> bool:
    if isinstance(leaf, Phrase):
        return paper.has_phrase(leaf.field, leaf.toks)
    if isinstance(leaf, Author):
        return paper.has_author(leaf.words)
    return paper.has_category(leaf.value, leaf.prefix)


def _leaf_reasons(leaf: Leaf, paper: PreparedPaper) -> list[tuple[str, list[str]]]:
    if isinstance(leaf, Phrase):
        return [
            (fld, found)
            for fld, wanted in (("title", leaf.field != "abs"), ("abstract", leaf.field != "ti"))
            if wanted and (found := paper.surfaces(fld, leaf.toks))
        ]
    if isinstance(leaf, Author):
        return [("author", paper.author_names(leaf.words))]
    return [("category", paper.category_names(leaf.value, leaf.prefix))]


def _merge_reasons(parts: Iterable[list[tuple[str, list[str]]]]) -> tuple[MatchReason, ...]:
    found: dict[str, list[str]] = {}
    for part in parts:
        for fld, terms in part:
            bucket = found.setdefault(fld, [])
            bucket.extend(t for t in terms if t not in bucket)
    return tuple(MatchReason(f, tuple(found[f])) for f in FIELD_ORDER if found.get(f))


class MatchIndex(Generic[K]):
    """Subscriptions indexed by anchor; `match` returns the hits of a batch of papers."""

    def __init__(self) -> None:
        self._entries: list[_Entry[K] | None] = []
        self._free: list[int] = []
        self._slot_of_query: dict[Query, int] = {}
        self._slot_of_key: dict[K, int] = {}
        self._anchor: list[dict[str, set[int]]] = [{} for _ in range(_DOMAINS)]
        self._leaves: list[Leaf] = []
        self._leaf_ids: dict[Leaf, int] = {}

    @classmethod
    def build(cls, subscriptions: Iterable[tuple[K, Query]]) -> MatchIndex[K]:
        """An index of (key, query) pairs; a repeated key keeps its last query."""
        index: MatchIndex[K] = cls()
        for key, query in subscriptions:
            index.add(key, query)
        return index

    def __len__(self) -> int:
        return len(self._slot_of_key)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of_key

    @property
    def distinct_queries(self) -> int:
        return len(self._slot_of_query)

    def add(self, key: K, query: Query) -> None:
        """Track `query` under `key`, replacing what the key tracked before."""
        slot = self._slot_of_key.get(key)
        if slot is not None:
            entry = self._entries[slot]
            if entry is not None and entry.query == query:
                return
            self.remove(key)
        slot = self._slot_of_query.get(query)
        if slot is None:
            slot = self._insert(query)
        entry = self._entries[slot]
        assert entry is not None
        entry.keys[key] = None
        self._slot_of_key[key] = slot

    def remove(self, key: K) -> None:
        """Stop tracking under `key`; unknown keys are ignored."""
        slot = self._slot_of_key.pop(key, None)
        if slot is None:
            return
        entry = self._entries[slot]
        assert entry is not None
        del entry.keys[key]
        if entry.keys:
            return
        for domain, anchor in entry.anchors:
            slots = self._anchor[domain][anchor]
            slots.discard(slot)
            if not slots:
                del self._anchor[domain][anchor]
        del self._slot_of_query[entry.query]
        self._entries[slot] = None
        self._free.append(slot)

    def _insert(self, query: Query) -> int:
        found = _anchors(query.root)
        if found is None:
            raise ValueError(f"query {query.canonical!r} has no positive term to index")
        anchors = sorted(set(found[1]))
        positives = tuple(dict.fromkeys(self._leaf_id(leaf) for leaf in query.positive_leaves()))
        evaluate = _compile(query.root, self._leaf_id)
        entry: _Entry[K] = _Entry(query, anchors, _anchor_decides(query.root), evaluate, positives)
        if self._free:
            slot = self._free.pop()
            self._entries[slot] = entry
        else:
            slot = len(self._entries)
            self._entries.append(entry)
        self._slot_of_query[query] = slot
        for domain, anchor in anchors:
            self._anchor[domain].setdefault(anchor, set()).add(slot)
        return slot

    def match(self, papers: Sequence[Paper]) -> list[Hit[K]]:
        """Every (key, paper) pair whose query the paper satisfies, in paper order."""
        return self.match_prepared(prepare(p) for p in papers)

    def match_prepared(self, papers: Iterable[PreparedPaper]) -> list[Hit[K]]:
        """Like `match`, for papers already prepared."""
        with _gc_paused():
            return self._match(papers)

    def _match(self, papers: Iterable[PreparedPaper]) -> list[Hit[K]]:
        hits: list[Hit[K]] = []
        entries = self._entries
        leaves = self._leaves
        for paper in papers:
            # Distinct queries share leaves ('video retrieval' in many ANDs and ORs): each leaf is
            # tested, and each set of leaves explained, once per paper.
            truths: dict[int, bool] = {}
            reasons: dict[int, list[tuple[str, list[str]]]] = {}
            whys: dict[tuple[int, ...], tuple[MatchReason, ...]] = {}

            def truth(i: int, paper: PreparedPaper = paper, truths: dict[int, bool] = truths) -> bool:
                known = truths.get(i)
                if known is None:
                    known = truths[i] = _leaf_true(leaves[i], paper)
                return known

            arxiv_id = paper.arxiv_id
            for slot in sorted(self._candidates(paper)):
                entry = entries[slot]
                assert entry is not None
                if entry.exact or entry.evaluate(truth):
                    why = whys.get(entry.positives)
                    if why is None:
                        parts = []
                        for i in entry.positives:
                            part = reasons.get(i)
                            if part is None and truths.get(i) is False:
                                part = reasons[i] = []
                            elif part is None:
                                part = reasons[i] = _leaf_reasons(leaves[i], paper)
                            parts.append(part)
                        why = whys[entry.positives] = _merge_reasons(parts)
                    hits += [Hit(key, arxiv_id, why) for key in entry.keys]
        return hits

    def _leaf_id(self, leaf: Leaf) -> int:
        # Leaf ids are never recycled: the table only grows by the distinct terms ever tracked.
        i = self._leaf_ids.get(leaf)
        if i is None:
            i = self._leaf_ids[leaf] = len(self._leaves)
            self._leaves.append(leaf)
        return i

    def _candidates(self, paper: PreparedPaper) -> set[int]:
        found: set[int] = set()
        for domain, keys in self._paper_keys(paper):
            index = self._anchor[domain]
            if index:
                for key in index.keys() & keys:
                    found |= index[key]
        return found

    def _paper_keys(self, paper: PreparedPaper) -> Iterator[tuple[int, set[str] | frozenset[str]]]:
        anchor = self._anchor
        title_words = paper.title_words
        if anchor[_W1]:
            yield _W1, title_words | paper.abstract_words
        if anchor[_T1]:
            yield _T1, title_words
        if anchor[_W2] or anchor[_T2]:
            title_pairs = _pairs(paper.title)
            if anchor[_W2]:
                yield _W2, title_pairs | _pairs(paper.abstract)
            if anchor[_T2]:
                yield _T2, title_pairs
        if anchor[_AU]:
            yield _AU, paper.author_words
        if anchor[_CAT]:
            yield _CAT, paper.categories
        if anchor[_ARCH]:
            yield _ARCH, paper.archives


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # A big batch allocates a million small objects that all stay alive; the cyclic collector
    # would re-scan them over and over (it doubled the match time at 100k subscriptions), and
    # none of them can form a cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _pairs(seq: tuple[str, ...]) -> set[str]:
    return set(map(" ".join, itertools.pairwise(seq)))


def naive_match(subscriptions: Iterable[tuple[K, Query]], papers: Sequence[Paper]) -> list[Hit[K]]:
    """Every query verified against every paper: the reference the index must agree with."""
    prepared = [prepare(p) for p in papers]
    subs = list(subscriptions)
    hits: list[Hit[K]] = []
    for paper in prepared:
        for key, query in subs:
            if query.matches(paper):
                hits.append(Hit(key, paper.arxiv_id, explain(query, paper)))
    return hits
